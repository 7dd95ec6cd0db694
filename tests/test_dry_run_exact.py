"""The dry-run is the request: what `%layers prompt` and `jupyter layers prompt` show equals, key for key, the body
the model server receives (the server's ``prompt`` request: tests/test_server_dry_run.py).

Each pair runs in one cell (the dry-run, then the layer), so both see the same history, execution count and
kernel state; the layers' own recipes (``engine.recipes``) build both. Escalation is checked after an
exploration (its findings must be in both) and as a follow-up (the conversation so far must be in both).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tests.fakes.model_server import Text, ToolUse, Turn
from tests.test_escalate import FAILING
from tests.test_explore import FINISH, PLANTED_BUG


def shown_and_sent(kernel, fake, cell: str) -> tuple[dict, dict]:
    """Runs ``cell`` (a dry-run printing JSON, then the layer); the dry-run's payload and the body received."""
    count = len(fake.requests)
    done = kernel.run(cell, timeout=120)
    assert done.reply["content"]["status"] == "ok", done.reply["content"]
    start = done.stdout.index("{")
    shown = json.JSONDecoder().raw_decode(done.stdout[start:])[0]
    sent = [r.body for r in fake.requests[count:] if r.path == "/v1/messages"]
    assert sent, done.stdout
    return shown, sent[0]


def assert_same_payload(shown: dict, sent: dict) -> None:
    wire = {key: value for key, value in sent.items() if key != "stream"}  # the SDK's call adds stream=true
    assert {key: shown.get(key) for key in wire} == wire


def dry_run_then(layer: str, magic: str, words: str) -> str:
    return f"%layers prompt {layer} --json {words}\n{magic} {words}"


@pytest.mark.parametrize(
    ("magic", "layer", "words", "body", "answer"),
    [
        ("complete", "complete", "", "total = report['amount'].", "sum()"),
        ("rewrite", "edit", "vectorise it", "total = 0\nfor a in report['amount']:\n    total += a\n", "total = 1\n"),
    ],
)
def test_completion_and_edit_show_what_they_send(kernel, fake, magic, layer, words, body, answer):
    """Cell magics both: called through IPython's own ``run_cell_magic``, so both run in one cell."""
    kernel.run(PLANTED_BUG)
    fake.script(Turn([Text(answer)]))
    cell = (
        f"get_ipython().run_cell_magic('layers', 'prompt {layer} --json {words}', {body!r})\n"
        f"get_ipython().run_cell_magic({magic!r}, {words!r}, {body!r})"
    )
    assert_same_payload(*shown_and_sent(kernel, fake, cell))


def test_exploration_shows_what_it_sends(kernel, fake):
    kernel.run(PLANTED_BUG)
    kernel.run(FAILING)
    fake.script(Turn([FINISH]))
    assert_same_payload(*shown_and_sent(kernel, fake, dry_run_then("explore", "%explore", "")))  # the error's


def test_a_build_shows_what_it_sends(kernel, fake):
    kernel.run(PLANTED_BUG)
    fake.script(Turn([ToolUse("propose", {"cells": ["dupes = customers.customer_id.duplicated().sum()"]})]))
    shown, sent = shown_and_sent(kernel, fake, dry_run_then("build", "%build", "count the duplicated customers"))
    assert_same_payload(shown, sent)
    assert "Task: count the duplicated customers" in json.dumps(sent) and sent["tools"][-1]["name"] == "propose"


def test_escalation_after_an_exploration_and_as_a_follow_up_shows_what_it_sends(kernel, fake):
    kernel.run(PLANTED_BUG)
    kernel.run(FAILING)
    fake.script(Turn([ToolUse("run_cell", {"code": "print(len(orders), len(report))"})]), Turn([FINISH]))
    kernel.run("%explore why does the share not add up to 1?")

    fake.script(Turn([Text("Customer 10 is listed twice.")]))
    shown, sent = shown_and_sent(kernel, fake, dry_run_then("escalate", "%escalate", "why is the share off?"))
    assert_same_payload(shown, sent)
    assert "<exploration>" in json.dumps(sent)  # what the exploration found is in both

    fake.script(Turn([Text("Drop the duplicate first.")]))
    shown, sent = shown_and_sent(kernel, fake, dry_run_then("escalate", "%escalate", "and how do I fix it?"))
    assert_same_payload(shown, sent)
    assert "Customer 10 is listed twice." in json.dumps(sent)  # the follow-up carries the conversation


# --- the command line: `jupyter layers prompt` against the command that sends -----------------------------------


def layers(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "jupyter_layers", *args], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def failing_notebook(tmp_path):
    cells = [
        new_code_cell(PLANTED_BUG),
        new_code_cell(FAILING),
        new_code_cell("total = 0\nfor a in report['amount']:\n    total += a"),
    ]
    path = tmp_path / "failing.ipynb"
    nbformat.write(new_notebook(cells=cells), path)
    return path


def test_the_command_line_edit_shows_what_it_sends(failing_notebook, claude):
    shown = json.loads(
        layers(
            "prompt",
            str(failing_notebook),
            "--cell",
            "2",
            "--layer",
            "edit",
            "--lines",
            "2-3",
            "--instruction",
            "vectorise it",
            "--json",
        )
    )
    claude.script(Turn([Text("total = report['amount'].sum()\n")]))
    layers("rewrite", str(failing_notebook), "vectorise it", "--cell", "2", "--lines", "2-3")
    assert_same_payload(shown, claude.requests[-1].body)


def without_kernel_pid(payload: dict) -> dict:
    """Tracebacks name the cell's file by the kernel's pid (/tmp/ipykernel_1234/…): two runs, two kernels."""
    return json.loads(re.sub(r"ipykernel_\d+", "ipykernel_PID", json.dumps(payload)))


def test_the_command_line_escalation_shows_what_it_sends(failing_notebook, claude):
    """Both run the whole notebook in a fresh kernel, as `jupyter layers escalate` does."""
    shown = json.loads(layers("prompt", str(failing_notebook), "--layer", "escalate", "--execute", "--json"))
    claude.script(Turn([Text("Customer 10 is listed twice.")]))
    layers("escalate", str(failing_notebook))
    assert_same_payload(without_kernel_pid(shown), without_kernel_pid(claude.requests[-1].body))
    assert "AssertionError" in json.dumps(claude.requests[-1].body)  # the error the whole notebook's run raised
