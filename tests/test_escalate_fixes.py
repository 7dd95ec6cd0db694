"""Escalation's `<fix cell="N">` blocks parsed into per-cell fixes (engine/escalate.py parse_fixes, CellFix).

Every surface applies only what this parser returns, so what it drops matters as much as what it keeps: fixes for
cells that do not exist, fixes that change nothing, and blocks that are not well formed.
"""

from __future__ import annotations

import pytest

from jupyter_layers.config import JupyterLayers
from jupyter_layers.engine.escalate import CellFix, parse_fixes
from jupyter_layers.models.events import Stop, TextDelta, ThinkingDelta
from jupyter_layers.models.messages import Message, Request
from jupyter_layers.models.router import Router
from tests.conftest import API_KEY
from tests.fakes.model_server import Text, Thinking, Turn

SOURCES = {
    1: "import pandas as pd\norders = pd.read_csv('orders.csv')",
    2: "report = orders.merge(customers, on='customer_id')",
    3: "total = report['amount'].sum()",
}
MERGE_FIX = "customers = customers.drop_duplicates('customer_id')\nreport = orders.merge(customers, on='customer_id')"


def test_fixes_streamed_by_the_reasoning_model_come_back_per_cell(fake):
    """The answer arrives in small deltas after the thinking; the fixes are parsed from the whole text, sorted by
    cell, and a fix for a cell the notebook does not have is dropped."""
    answer = (
        "Customer 10 is listed twice.\n"
        f'<fix cell="3">\ntotal = report.drop_duplicates("order_id")["amount"].sum()\n</fix>\n'
        f'Then:\n<fix cell="2">\n{MERGE_FIX}\n</fix>\n'
        '<fix cell="7">\nprint("no such cell")\n</fix>'
    )
    fake.script(Turn([Thinking("Orders 1 and 4 appear twice."), Text(answer)], chunk_chars=5))
    config = JupyterLayers(provider="anthropic", anthropic_api_key=API_KEY, anthropic_base_url=fake.url)
    route = Router(config).route("escalate")
    events = list(route.stream(Request(messages=(Message.user("why is total too high?"),))))
    stop = events[-1]
    assert isinstance(stop, Stop) and stop.reason == "end_turn"
    assert sum(isinstance(e, ThinkingDelta) for e in events) >= 2 and sum(isinstance(e, TextDelta) for e in events) > 20
    (sent,) = [r for r in fake.requests if r.path == "/v1/messages"]
    assert sent.body["thinking"] == {"type": "adaptive"} and sent.body["model"] == "claude-opus-5-5"

    fixes = parse_fixes(stop.message.text, SOURCES)
    assert [fix.cell for fix in fixes] == [2, 3]
    assert fixes[0] == CellFix(2, SOURCES[2], MERGE_FIX)
    assert fixes[1].after == 'total = report.drop_duplicates("order_id")["amount"].sum()'
    assert fixes[0].diff().splitlines() == [
        "--- cell 2 (before)",
        "+++ cell 2 (after)",
        "@@ -1 +1,2 @@",
        "+customers = customers.drop_duplicates('customer_id')",
        " report = orders.merge(customers, on='customer_id')",
    ]
    assert all(fix.syntax_error == "" for fix in fixes)


def test_the_last_block_for_a_cell_wins_and_unchanged_fixes_are_dropped():
    """A model that revises its fix mid-answer means the later one; a 'fix' equal to the cell is no fix."""
    answer = (
        '<fix cell="2">\nreport = orders.merge(customers)\n</fix>\n'
        "On second thought, keep the key:\n"
        f'<fix cell="2">\n{MERGE_FIX}\n</fix>\n'
        f'<fix cell="3">\n{SOURCES[3]}\n</fix>'
    )
    assert parse_fixes(answer, SOURCES) == [CellFix(2, SOURCES[2], MERGE_FIX)]


def test_blank_lines_around_a_fix_go_and_its_indentation_stays():
    answer = '<fix cell="3">\n\n\n    total = 0\n    for a in report["amount"]:\n        total += a\n\n</fix>'
    (fix,) = parse_fixes(answer, SOURCES)
    assert fix.after == '    total = 0\n    for a in report["amount"]:\n        total += a'


def test_a_fix_on_one_line_is_the_cell_exactly():
    (fix,) = parse_fixes('<fix cell="3">total = report["amount"].sum() / 2</fix>', SOURCES)
    assert fix.after == 'total = report["amount"].sum() / 2'


@pytest.mark.parametrize(
    "block",
    [
        "<fix cell='3'>\ntotal = 0\n</fix>",  # single quotes
        '<fix cell="three">\ntotal = 0\n</fix>',  # not a number
        '<fix cell="3" lang="python">\ntotal = 0\n</fix>',  # an attribute the format does not have
        '<FIX cell="3">\ntotal = 0\n</FIX>',  # another case
        '<fix cell="3">\ntotal = 0\n',  # never closed
        "```python\n# cell 3\ntotal = 0\n```",  # a fence instead of a block
    ],
)
def test_blocks_not_in_the_format_are_not_fixes(block):
    """Nothing is offered from a block the surfaces cannot attribute to a cell with certainty."""
    assert parse_fixes(f"Here is the fix.\n{block}\nDone.", SOURCES) == []


def test_a_fix_cut_short_by_a_closing_tag_inside_its_code_shows_a_syntax_error():
    """The format cannot quote `</fix>`: the block ends there, and the surface is told the result does not parse
    instead of offering it silently."""
    answer = '<fix cell="3">\ntotal = report["amount"].sum()\nmarker = "</fix>"\n</fix>'
    (fix,) = parse_fixes(answer, SOURCES)
    assert fix.after == 'total = report["amount"].sum()\nmarker = "'
    assert fix.syntax_error.startswith("line 2: ")


def test_syntax_errors_are_the_parsers_and_magics_are_code():
    assert CellFix(3, SOURCES[3], "total = (report['amount'].sum()").syntax_error.startswith("line 1: ")
    assert CellFix(3, SOURCES[3], "%timeit total = report['amount'].sum()\n!ls").syntax_error == ""


def test_a_line_appended_to_a_cell_is_one_added_line_in_its_diff():
    """Cells rarely end with a newline; appending a line must not show the old last line as changed."""
    fix = CellFix(3, SOURCES[3], SOURCES[3] + "\nprint(total)")
    added = [line for line in fix.diff().splitlines()[2:] if line.startswith(("+", "-"))]
    assert added == ["+print(total)"]
