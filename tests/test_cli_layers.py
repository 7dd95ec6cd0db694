"""`jupyter layers explore|rewrite|escalate` as subprocesses: real notebooks, real kernels, the fake model server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from tests.fakes.model_server import Text, Thinking, ToolUse, Turn
from tests.kernels import protections_here
from tests.test_escalate import FAILING, answer
from tests.test_explore import FINISH, PLANTED_BUG

SCRATCH = ["jupyter-layers-scratch"]


def messages(fake) -> list:
    """The model calls (not the SDK's model lookups)."""
    return [r for r in fake.requests if r.method == "POST"]


def last_line(stderr: str) -> str:
    """The command's own last line (a kernel may log its own warnings to the same stderr)."""
    return stderr.strip().splitlines()[-1]


def layers(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "jupyter_layers", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def bug(tmp_path):
    """The planted merge bug; the last cell comes after --upto 3."""
    cells = [
        new_markdown_cell("# Orders"),
        new_code_cell(PLANTED_BUG),
        new_code_cell("total"),
        new_code_cell("later = 1"),
    ]
    path = tmp_path / "bug.ipynb"
    nbformat.write(new_notebook(cells=cells), path)
    return path


@pytest.fixture
def failing(tmp_path):
    cells = [new_markdown_cell("# Shares"), new_code_cell(PLANTED_BUG), new_code_cell(FAILING)]
    path = tmp_path / "shares.ipynb"
    nbformat.write(new_notebook(cells=cells), path)
    return path


def explore_turns(fake) -> None:
    fake.script(
        Turn([Text("Compare row counts."), ToolUse("run_cell", {"code": "print(len(orders), len(report))"})]),
        Turn([ToolUse("run_cell", {"code": "print(customers[customers.customer_id.duplicated(keep=False)])"})]),
        Turn([FINISH]),
    )


def test_explore_writes_scratch_cells_after_the_last_executed_cell_and_the_findings(claude, bug, tmp_path):
    explore_turns(claude)
    before = bug.read_bytes()
    out = tmp_path / "out.ipynb"
    done = layers("explore", str(bug), "why is total higher than the sum of the orders?", "--upto", "3", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "customer 10 is listed twice" in done.stdout and "- step 1: 5 orders became 7 rows" in done.stdout
    assert "scratch step 1" in done.stderr
    said = [line for line in done.stderr.splitlines() if line.startswith("scratch cells: ")]
    assert said == [f"scratch cells: {protections_here().summary()}"]  # once: what protects the kernel's fork
    assert bug.read_bytes() == before

    cells = nbformat.read(out, as_version=4).cells
    assert [c.source for c in cells[:3]] == ["# Orders", PLANTED_BUG, "total"]
    assert "395.0" in cells[2].outputs[0]["data"]["text/plain"]  # executed: the planted bug's total
    scratch = cells[3:5]
    assert [c.metadata.tags for c in scratch] == [SCRATCH, SCRATCH]
    assert [c.metadata.jupyter_layers.step for c in scratch] == [1, 2]
    assert scratch[0].source == "print(len(orders), len(report))" and "5 7" in scratch[0].outputs[0].text
    assert "north" in scratch[1].outputs[0].text  # customer 10, listed twice, from the live kernel's state
    findings = cells[5]
    assert findings.cell_type == "markdown" and "customer 10 is listed twice" in findings.source
    assert findings.metadata.jupyter_layers == {
        "exploration": scratch[0].metadata.jupyter_layers.exploration,
        "findings": True,
    }
    assert "tags" not in findings.metadata
    assert cells[6].source == "later = 1" and cells[6].outputs == []  # after --upto: not run

    first = json.dumps(messages(claude)[0].body, ensure_ascii=False)
    assert (
        "orders: DataFrame 5 rows × 3 columns" in first
        and "# [cell 2] In [2]\ntotal" in json.loads(first)["messages"][0]["content"][0]["text"]
    )
    assert messages(claude)[1].body["messages"][-1]["content"][0]["content"].startswith("[scratch step 1]")


def test_explore_clean_and_json(claude, bug, tmp_path):
    explore_turns(claude)
    out = tmp_path / "out.ipynb"
    done = layers("explore", str(bug), "why?", "--clean", "--json", "-o", str(out))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["question"] == "why?" and result["output"] == str(out)
    assert result["findings"]["complete"] is True and "customer 10" in result["findings"]["answer"]
    assert result["findings"]["fix"] == "customers = customers.drop_duplicates('customer_id')"
    assert [s["code"] for s in result["steps"]][0] == "print(len(orders), len(report))"
    assert result["steps"][0]["error"] is None and result["steps"][0]["timed_out"] is False
    cells = nbformat.read(out, as_version=4).cells
    assert not [c for c in cells if "tags" in c.metadata]
    assert [c.cell_type for c in cells] == ["markdown", "code", "code", "code", "markdown"]  # findings after all
    assert cells[4].metadata.jupyter_layers.findings is True


def test_explore_without_output_writes_nothing(claude, bug):
    claude.script(Turn([FINISH]))
    done = layers("explore", str(bug), "why?")
    assert done.returncode == 0, done.stderr
    assert last_line(done.stderr).startswith("nothing written") and [p.name for p in bug.parent.glob("*.ipynb")] == [
        "bug.ipynb"
    ]


@pytest.mark.embedded
def test_explore_on_the_embedded_model_runs_to_its_end(bug, tmp_path):
    pytest.importorskip("llama_cpp")
    out = tmp_path / "out.ipynb"
    done = layers(
        "explore",
        str(bug),
        "why is total higher than the sum of the orders?",
        "--JupyterLayers.max_tokens={'explore': 200}",
        "--steps",
        "2",  # each turn re-reads a long prompt on the CPU: two keep this test near a minute
        "--timeout",
        "10",
        "--json",
        "-o",
        str(out),
        timeout=300,
    )
    if done.returncode == 2:  # findings that were junk, or no progress: one line instead (engine/junk.py)
        assert last_line(done.stderr).startswith(
            "jupyter layers: the embedded model (SmolLM2-135M-Instruct) is too small for exploration: "
        )
        assert done.stdout == "" and not out.exists()
        return
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["findings"]["answer"] and len(result["steps"]) <= 2
    cells = nbformat.read(out, as_version=4).cells
    assert sum(1 for c in cells if c.metadata.get("jupyter_layers", {}).get("findings")) == 1


@pytest.fixture
def summing(tmp_path):
    source = "values = [1, 2, 3]\ntotal = 0\nfor v in values:\n    total += v"
    path = tmp_path / "sum.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# Sum"), new_code_cell(source)]), path)
    return path


def test_rewrite_prints_the_diff_and_applies_with_provenance(claude, summing, tmp_path):
    before = summing.read_bytes()
    claude.script(Turn([Text("```python\ntotal = sum(values)\n```")]))
    done = layers("rewrite", str(summing), "--cell", "1", "--lines", "2-4", "use sum")
    assert done.returncode == 0, done.stderr
    assert "-for v in values:" in done.stdout and "+total = sum(values)" in done.stdout
    assert "--- cell 1 (before)" in done.stdout
    assert "Instruction: use sum" in json.dumps(messages(claude)[0].body)
    assert summing.read_bytes() == before

    out = tmp_path / "out.ipynb"
    claude.script(Turn([Text("total = sum(values)")]))
    done = layers(
        "rewrite", str(summing), "--cell", "1", "--lines", "2-4", "use sum", "--apply", "-o", str(out), "--json"
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["applied"] is True and result["syntax_error"] is None and result["cell"] == 1
    assert result["source"] == "values = [1, 2, 3]\ntotal = sum(values)" and "+total = sum(values)" in result["diff"]
    cell = nbformat.read(out, as_version=4).cells[1]
    assert cell.source == result["source"]
    provenance = cell.metadata.jupyter_layers.provenance
    assert provenance["layer"] == "edit" and provenance["instruction"] == "use sum"
    assert provenance["model"] == "anthropic:claude-sonnet-5-5" and provenance["time"]
    assert summing.read_bytes() == before


def test_rewrite_apply_without_a_target_is_one_line(claude, summing):
    done = layers("rewrite", str(summing), "--cell", "1", "use sum", "--apply")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "--apply needs -o OUT or --in-place" in done.stderr and messages(claude) == []


def test_escalate_prints_the_answer_and_the_diff_and_applies_only_that_cell(claude, failing):
    before = nbformat.read(failing, as_version=4)
    claude.script(Turn([Thinking("Orders 1 and 4 appear twice."), Text(answer(1))], chunk_chars=12))
    done = layers("escalate", str(failing), "--apply", "--in-place")
    assert done.returncode == 0, done.stderr
    assert "The merge duplicates orders of customer 10" in done.stdout
    assert (
        "--- cell 1 (before)" in done.stdout and '+customers = customers.drop_duplicates("customer_id")' in done.stdout
    )
    assert "is thinking…" in done.stderr

    body = messages(claude)[0].body
    assert body["model"] == "claude-opus-5-5" and body["thinking"] == {"type": "adaptive"}
    text = json.dumps(body, ensure_ascii=False)
    assert "# [cell 2]" in text and "AssertionError" in text and "report: DataFrame 7 rows" in text
    assert "Why does the last error happen, and how do I fix it?" in text

    after = nbformat.read(failing, as_version=4)
    assert 'validate="many_to_one"' in after.cells[1].source
    assert after.cells[1].metadata.jupyter_layers.provenance["layer"] == "escalate"
    assert [after.cells[0], after.cells[2]] == [before.cells[0], before.cells[2]]  # untouched, not even re-run


def test_escalate_json_with_a_question(claude, failing):
    before = failing.read_bytes()
    claude.script(Turn([Text(answer(1))]))
    done = layers("escalate", str(failing), "--question", "why does the share not add up?", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["applied"] == [] and result["output"] is None
    assert [f["cell"] for f in result["fixes"]] == [1] and "drop_duplicates" in result["fixes"][0]["diff"]
    assert "The merge duplicates" in result["answer"]
    assert "Question: why does the share not add up?" in json.dumps(messages(claude)[0].body)
    assert failing.read_bytes() == before


def test_the_cost_guard_refuses_before_any_request(claude, failing):
    done = layers("escalate", str(failing), "--JupyterLayers.escalate_max_cost=0.01")
    assert done.returncode == 2 and last_line(done.stderr).startswith("jupyter layers: this escalation could cost")
    assert "could cost up to $" in done.stderr and "(limit $0.01)" in done.stderr
    assert messages(claude) == []


@pytest.mark.parametrize(
    "command",
    [
        ["explore", "why?"],
        ["rewrite", "--cell", "0", "fix it", "--apply", "--in-place"],
        ["escalate", "--apply", "--in-place"],
    ],
)
def test_a_malformed_notebook_is_one_line_and_stays_byte_identical(claude, tmp_path, command):
    path = tmp_path / "broken.ipynb"
    path.write_bytes(b'{"cells": 3, "nbformat": 4}')
    done = layers(command[0], str(path), *command[1:])
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "is not a valid notebook" in done.stderr
    assert path.read_bytes() == b'{"cells": 3, "nbformat": 4}' and [p.name for p in tmp_path.glob("*")] == [path.name]
    assert messages(claude) == []


def test_ctrl_c_shuts_the_kernel_down_and_writes_nothing(claude, bug, tmp_path):
    claude.script(Turn([ToolUse("run_cell", {"code": "import time\ntime.sleep(60)"})]))
    command = [sys.executable, "-m", "jupyter_layers", "explore", str(bug), "why?", "-o", str(tmp_path / "out.ipynb")]
    running = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not messages(claude) and time.monotonic() < deadline:  # the step is running once the model asked for it
        time.sleep(0.2)
    time.sleep(2)
    kernel = subprocess.run(["pgrep", "-P", str(running.pid)], capture_output=True, text=True).stdout.split()
    running.send_signal(signal.SIGINT)
    _, stderr = running.communicate(timeout=60)
    assert running.returncode == 130 and last_line(stderr) == "jupyter layers explore: cancelled; nothing was written"
    assert kernel and not [pid for pid in kernel if os.path.exists(f"/proc/{pid}")]
    assert [p.name for p in tmp_path.glob("*.ipynb")] == ["bug.ipynb"]
