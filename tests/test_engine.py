"""Surface-independent layer logic: cleaning completions, rewriting regions, diffs, cost estimates."""

from __future__ import annotations

import pytest

from jupyter_layers.context.selection import line_selection
from jupyter_layers.engine.complete import clean_completion, drop_echo, strip_fences
from jupyter_layers.engine.rewrite import Rewrite, html_diff, region_text, syntax_error, unified_diff
from jupyter_layers.errors import ConfigError
from jupyter_layers.models.events import Usage
from jupyter_layers.usage import UsageLedger, cost


@pytest.mark.parametrize(
    ("before", "raw", "inserted"),
    [
        ("total = ", "sum(values)", "sum(values)"),
        ("total = ", "```python\nsum(values)\n```", "sum(values)"),
        ("total = ", "```\nsum(values)", "sum(values)"),  # a fence cut off by max_tokens
        ("def f(x):\n    return ", "def f(x):\n    return x * 2", "x * 2"),  # the whole cell echoed
        ("df.groupby('reg", "df.groupby('region')", "ion')"),  # the line echoed
        ("df.groupby('reg", "'region')", "ion')"),  # the model restarted the token: the overlap goes
        ("print(", "(x)", "(x)"),  # an overlap of one character is kept: as likely a real continuation
        ("    x = compu", "    x = compute()\n", "te()"),
        ("for i in range(3):\n    ", "    print(i)", "print(i)"),
    ],
)
def test_completion_cleaning(before, raw, inserted):
    assert clean_completion(before, raw) == inserted


def test_fences_and_echo_helpers_leave_plain_text_alone():
    assert strip_fences("x = 1\ny = 2") == "x = 1\ny = 2"
    assert drop_echo("a = ", "b + 1") == "b + 1"


def rewritten(before: str, after: str) -> Rewrite:
    return Rewrite(before, after, after, (0, len(before)), "do it", "anthropic:claude-sonnet-5-5")


def test_region_text_keeps_the_regions_trailing_newline():
    assert region_text("```python\ny = 2\n```", "y = 1\n") == "y = 2\n"
    assert region_text("y = 2\n\n", "y = 1") == "y = 2"


def test_syntax_check_accepts_magics_and_reports_the_line():
    assert syntax_error("%timeit f()\n!ls\nx = 1") == ""
    assert syntax_error("x = (1,\ny = 2") == "line 1: '(' was never closed"


def test_diffs():
    change = rewritten("a = 1\nb = 2\n", "a = 1\nb = 3\n")
    diff = unified_diff(change.original, change.source, "In[4]")
    assert diff.splitlines()[:2] == ["--- In[4] (before)", "+++ In[4] (after)"]
    assert "-b = 2" in diff and "+b = 3" in diff
    html = html_diff(change.original, change.source)
    assert html.count("#ffebe9") == 1 and html.count("#dafbe1") == 1
    assert "<script" not in html_diff("x = '<script>'", "x = 1")
    assert change.provenance()["instruction"] == "do it"


def test_line_selection():
    source = "a\nbb\nccc"
    assert line_selection(source, "2-3") == (2, 8)
    assert line_selection(source, "1") == (0, 2)
    with pytest.raises(ConfigError, match="outside the cell's 3 lines"):
        line_selection(source, "2-5")
    with pytest.raises(ConfigError, match="A-B"):
        line_selection(source, "two")


def test_costs_and_ledger():
    assert cost("claude-opus-5-5", Usage(1_000_000, 0)) == 5.0
    assert cost("claude-opus-4-1", Usage(0, 1_000_000)) == 75.0
    assert cost("claude-haiku-5-5", Usage(0, 0, cache_read_tokens=1_000_000, cache_write_tokens=1_000_000)) == 1.35
    assert cost("SmolLM2-135M-Instruct.Q4_1.gguf", Usage(10**6, 10**6)) == 0.0
    ledger = UsageLedger()
    ledger.record("edit", "claude-sonnet-5-5", Usage(100, 10))
    ledger.record("edit", "claude-sonnet-5-5", Usage(100, 10))
    assert ledger.as_dict()["edit"]["calls"] == 2 and ledger.as_dict()["edit"]["input_tokens"] == 200


def test_a_line_appended_to_a_cell_without_a_final_newline_is_one_added_line():
    diff = unified_diff("a = 1\nb = 2", "a = 1\nb = 2\nc = 3", "cell 1")
    assert [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")] == ["+c = 3"]
