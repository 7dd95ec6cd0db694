"""Junk never shown as an answer, on every surface: magics in a real kernel, `jupyter layers` commands, the server's
WebSocket, with the fake Anthropic server scripted to answer as the embedded model did in the tour (the prompt's
scaffolding echoed back, one line over and over, an exploration going round in circles); and on the embedded
model itself. Each time the user sees the one honest line, the junk is not the answer, and no cell changed.
"""

from __future__ import annotations

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from jupyter_layers.engine import junk
from jupyter_layers.models.messages import Request
from tests.fakes.model_server import Text, ToolUse, Turn
from tests.test_cli_layers import last_line, layers, messages
from tests.test_explore import PLANTED_BUG, displays
from tests.test_server_completion import jp_server_config, replies  # noqa: F401 (the server's fixture)

LOOP = "The instruction was not run.\n\n" + "The AI edit was not run.\n\n" * 30  # what %escalate showed in the tour
ECHO = "<notebook>\nNotebook: the other cells, in notebook order.\n\n# [cell 1] In [1]\n%load_ext jupyter_layers\n"
HINT = "(hint: ask again, or give this layer a stronger model (c.JupyterLayers.{}_model))"
BODY = "squares = []\nfor n in range(5):\n    squares.append(n * n)"


def final_texts(execution) -> list[str]:
    """The plain text of every display as it was left: what a saved notebook keeps."""
    return [d["data"].get("text/plain", "") for d in displays(execution).values()]


def test_escalate_magic_shows_the_one_line_instead_of_a_loop(kernel, fake):
    kernel.run("values = [1, 2, 3]")
    fake.script(Turn([Text(LOOP)], chunk_chars=7))
    done = kernel.run("%escalate how do I sum values?")
    assert done.reply["content"]["status"] == "ok"
    assert done.stderr == (
        '%escalate: anthropic:claude-opus-5-5 gave no usable answer for escalation: it repeated "The AI edit was not '
        f'run." over and over {HINT.format("escalate")}\n'
    )
    assert all("The AI edit" not in text for text in final_texts(done))  # taken off the display
    streamed = [m["content"]["data"]["text/plain"] for m in done.of_type("update_display_data")]
    assert all(text.count("The AI edit was not run.") <= 1 for text in streamed)  # not even while it streamed
    assert done.next_input is None and kernel.run("print(values)").stdout == "[1, 2, 3]\n"
    fake.script(Turn([Text("Use sum(values).")]))
    kernel.run("%escalate and now?")
    assert len(fake.requests[-1].body["messages"]) == 1  # the junk was not kept as a conversation to follow up


def test_rewrite_magic_shows_the_one_line_instead_of_the_echoed_prompt(kernel, fake):
    fake.script(Turn([Text(ECHO)], chunk_chars=5))
    done = kernel.run(f"%%rewrite use a list comprehension\n{BODY}")
    assert done.stderr.startswith(
        "%rewrite: anthropic:claude-sonnet-5-5 gave no usable answer for rewriting code: it echoed the prompt's "
        "<notebook>"
    )
    assert done.stderr.count("\n") == 1 and done.next_input is None
    assert all("<notebook>" not in text and "Notebook:" not in text for text in final_texts(done))
    assert len(fake.requests) == 1  # junk is not worth a retry


def test_rewrite_magic_withholds_code_that_still_does_not_parse(kernel, fake):
    prose = "You can use a list comprehension to make the squares."
    fake.script(Turn([Text(prose)]), Turn([Text(prose)]))
    done = kernel.run(f"%%rewrite use a list comprehension\n{BODY}")
    assert done.stderr == (
        "%rewrite: anthropic:claude-sonnet-5-5 gave no usable answer for rewriting code: its code does not parse "
        f"(line 1: invalid syntax), even after a retry {HINT.format('edit')}\n"
    )
    assert done.next_input is None and all(prose not in text for text in final_texts(done))
    assert len(fake.requests) == 2


def test_explore_magic_ends_an_exploration_going_round_in_circles(kernel, fake):
    kernel.run(PLANTED_BUG)
    fake.respond_with(lambda request: Turn([ToolUse("list_variables", {})]))
    done = kernel.run("%explore why is total too high?")
    assert done.stderr.startswith(
        "%explore: anthropic:claude-sonnet-5-5 gave no usable answer for exploration: it made the same "
        "list_variables call again and again"
    )
    assert len(fake.requests) == 3
    shown = displays(done).values()
    assert not any(d["metadata"].get("jupyter_layers", {}).get("layer") == "explore" for d in shown)  # no findings
    assert kernel.run("print(total)").stdout == "395.0\n"


@pytest.fixture
def summing(tmp_path):
    path = tmp_path / "sum.ipynb"
    source = "values = [1, 2, 3]\ntotal = 0\nfor v in values:\n    total += v"
    nbformat.write(
        new_notebook(cells=[new_markdown_cell("# Sum"), new_code_cell(source), new_code_cell("1 / 0")]), path
    )
    return path


def test_escalate_command_prints_the_one_line_and_writes_nothing(claude, summing, tmp_path):
    before, out = summing.read_bytes(), tmp_path / "out.ipynb"
    claude.script(Turn([Text(LOOP)], chunk_chars=7))
    done = layers("escalate", str(summing), "--apply", "-o", str(out))
    assert done.returncode == 2
    assert last_line(done.stderr) == (
        'jupyter layers: anthropic:claude-opus-5-5 gave no usable answer for escalation: it repeated "The AI edit '
        f'was not run." over and over {HINT.format("escalate")}'
    )
    assert done.stdout.count("The AI edit was not run.") <= 1  # held back as it streamed, then stopped
    assert not out.exists() and summing.read_bytes() == before


def test_rewrite_command_prints_the_one_line_and_applies_nothing(claude, summing, tmp_path):
    before, out = summing.read_bytes(), tmp_path / "out.ipynb"
    claude.script(Turn([Text(ECHO)], chunk_chars=5))
    done = layers("rewrite", str(summing), "--cell", "1", "use sum", "--apply", "-o", str(out))
    assert done.returncode == 2 and done.stdout == ""
    assert "gave no usable answer for rewriting code: it echoed the prompt's <notebook>" in last_line(done.stderr)
    assert "<notebook>" not in done.stderr.replace(last_line(done.stderr), "")
    assert not out.exists() and summing.read_bytes() == before and len(messages(claude)) == 1


def test_explore_command_prints_the_one_line_and_writes_nothing(claude, summing, tmp_path):
    before, out = summing.read_bytes(), tmp_path / "out.ipynb"
    claude.respond_with(lambda request: Turn([ToolUse("read_cells", {"indices": [1]})]))
    done = layers("explore", str(summing), "why does the last cell fail?", "-o", str(out))
    assert done.returncode == 2 and done.stdout == ""
    assert last_line(done.stderr).endswith(
        "gave no usable answer for exploration: it made the same read_cells call again and again "
        + HINT.format("explore")
    )
    assert not out.exists() and summing.read_bytes() == before


CELLS = [{"id": "c0", "cell_type": "code", "source": BODY}, {"id": "c1", "cell_type": "code", "source": "1 / 0"}]


async def test_the_browser_gets_the_one_line_and_not_the_loop(jp_ws_fetch, fake):
    fake.script(Turn([Text(LOOP)], chunk_chars=7))
    ws = await jp_ws_fetch("jupyter-layers", "ws")
    ws.write_message(
        json.dumps({"type": "escalate", "id": "j1", "stream": "s", "cells": CELLS, "cell": 1, "question": "why?"})
    )
    received = await replies(ws, "j1", timeout=60)
    streamed = "".join(m["text"] for m in received if m["type"] == "text")
    assert streamed.count("The AI edit was not run.") <= 1
    assert received[-1]["type"] == "error" and received[-1]["message"].startswith(
        'anthropic:claude-opus-5-5 gave no usable answer for escalation: it repeated "The AI edit was not run."'
    )
    fake.script(Turn([Text(ECHO)], chunk_chars=5))
    rewrite = {"type": "rewrite", "id": "j2", "stream": "r", "cells": CELLS, "cell": 0, "instruction": "use sum"}
    ws.write_message(json.dumps({**rewrite, "selection": [0, len(BODY)]}))
    received = await replies(ws, "j2", timeout=60)
    assert "<notebook>" not in "".join(m["text"] for m in received if m["type"] == "text")
    assert [m["type"] for m in received if m["type"] == "rewrite"] == []  # nothing to review or apply
    assert "it echoed the prompt's <notebook>" in received[-1]["message"]
    ws.close()


@pytest.mark.embedded
def test_the_embedded_model_never_shows_junk_as_an_answer(tmp_path):
    """Whatever the tiny model says to an escalation: an answer that is not junk, or the one honest line."""
    pytest.importorskip("llama_cpp")
    path = tmp_path / "shares.ipynb"
    cells = [new_code_cell("values = [1, 2, 0]"), new_code_cell("inverse = [1 / v for v in values]")]
    nbformat.write(new_notebook(cells=cells), path)
    done = layers(
        "escalate", str(path), "--JupyterLayers.max_tokens={'escalate': 120}", "--question", "why?", timeout=300
    )
    if done.returncode == 0:
        assert junk.judge(done.stdout, Request(messages=(), metadata={"layer": "escalate"})) == ""
    else:
        assert done.returncode == 2, done.stderr
        assert last_line(done.stderr).startswith(
            "jupyter layers: the embedded model (SmolLM2-135M-Instruct) is too small for escalation: "
        )
        assert last_line(done.stderr).endswith(
            "(hint: set ANTHROPIC_API_KEY, or point c.JupyterLayers.openai_base_url to a local server)"
        )
