"""The taste check in the edit layer: what it finds goes back to the model for one revision turn, and what remains
is shown beside the diff (a real kernel's %%rewrite, the server's socket, the fake model server)."""

from __future__ import annotations

import json

from tests.fakes.model_server import Text, Turn
from tests.test_server_completion import jp_server_config, replies  # noqa: F401 (the server's fixture)

CELL = "prices = [1.5, 2.0, 3.25]\ntotal = sum(prices)"
SWALLOWED = "try:\n    total = sum(prices) * 1.2\nexcept Exception:\n    pass"
PLAIN = "total = sum(prices) * 1.2"


def messages_sent(fake) -> list[dict]:
    return [r.body for r in fake.requests if r.path == "/v1/messages"]


def test_a_swallowing_try_goes_back_for_one_revision_and_the_plain_code_is_offered(kernel, fake):
    kernel.run("prices = [1.5, 2.0, 3.25]")
    fake.script(Turn([Text(SWALLOWED)]), Turn([Text(PLAIN)]))
    done = kernel.run(f"%%rewrite --lines 2 add the 20% tax\n{CELL}")
    assert done.reply["content"]["status"] == "ok" and done.stderr == ""
    first, revision = messages_sent(fake)
    note = revision["messages"][-1]["content"][0]["text"]
    assert note.startswith("Revise the code, keeping what it does") and "try/except" in note
    assert done.next_input == "prices = [1.5, 2.0, 3.25]\ntotal = sum(prices) * 1.2"
    assert "taste:" not in done.stdout
    assert "the simplest code that works" in json.dumps(first["system"])  # asked for from the start


def test_what_the_revision_leaves_is_shown_beside_the_diff(kernel, fake):
    kernel.run("prices = [1.5, 2.0, 3.25]")
    fake.script(Turn([Text(SWALLOWED)]), Turn([Text(SWALLOWED)]))
    done = kernel.run(f"%%rewrite --lines 2 add the 20% tax\n{CELL}")
    shown = [line for line in done.stdout.splitlines() if line.startswith("taste: ")]
    assert len(shown) == 1 and "line 4" in shown[0] and "except Exception" in shown[0]  # the cell's lines, shown
    assert len(messages_sent(fake)) == 2  # one revision turn, no more
    note = messages_sent(fake)[1]["messages"][-1]["content"][0]["text"]
    assert "line 3:" in note and "line 4" not in note  # the model's note counts lines in the region it wrote
    assert done.next_input.endswith("except Exception:\n    pass")  # still offered: the user decides


async def test_the_servers_rewrite_reply_carries_what_remains(jp_ws_fetch, fake):
    fake.script(Turn([Text(SWALLOWED)]), Turn([Text(SWALLOWED)]))
    ws = await jp_ws_fetch("jupyter-layers", "ws")
    cells = [{"cell_type": "code", "source": CELL}]
    request = {
        "type": "rewrite",
        "id": "t1",
        "stream": "s",
        "cells": cells,
        "cell": 0,
        "instruction": "add tax",
        "selection": [26, len(CELL)],
    }
    ws.write_message(json.dumps(request))
    final = (await replies(ws, "t1", timeout=60))[-1]
    assert final["type"] == "rewrite" and len(final["taste"]) == 1 and "except Exception" in final["taste"][0]
    ws.close()


def test_an_escalation_fix_shows_what_the_taste_check_finds_in_it():
    """No revision turn for the costly model's answer: the findings go beside the fix for the user to weigh."""
    from jupyter_layers.engine.escalate import parse_fixes

    sources = {1: "import pandas as pd\norders = pd.read_csv('orders.csv')", 2: "total = orders['amount'].sum()"}
    wrapped = SWALLOWED.replace("sum(prices)", "orders['amount'].sum()")
    answer = f'Wrap it.\n<fix cell="2">\n{wrapped}\n</fix>'
    (fix,) = parse_fixes(answer, sources)
    assert len(fix.taste) == 1 and "except Exception" in fix.taste[0]
    (clean,) = parse_fixes('<fix cell="2">\ntotal = orders["amount"].sum() * 1.2\n</fix>', sources)
    assert clean.taste == ()


def test_escalate_prints_the_findings_under_the_fix(kernel, fake):
    kernel.run("prices = [1.5, 2.0, 3.25]")
    cell = kernel.run("total = sum(prices) * 1.2").reply["content"]["execution_count"]
    fake.script(Turn([Text(f'Keep going.\n<fix cell="{cell}">\n{SWALLOWED}\n</fix>')]))
    done = kernel.run("%escalate why is total off?")
    shown = [line for line in done.stdout.splitlines() if line.startswith("taste: ")]
    assert shown and shown[0].startswith(f"taste: In[{cell}] line 3") and "except Exception" in shown[0]
