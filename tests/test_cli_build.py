"""`jupyter layers build` as a subprocess: a real notebook, a real kernel, the fake model server.

A planted task (a revenue column on a sales DataFrame): the scripted model tries it in a scratch cell, proposes
cells that only work because of that scratch cell (verification fails), then good ones. The verified cells land
after cell N, tagged for review with their fork outputs and provenance; ``--apply`` makes them ordinary unrun
cells; a build that never verifies is one line and exit 1; the dry-run is the request the build sends; `jupyter
layers run` leaves the proposals alone and `jupyter layers clean --proposals` removes them.
"""

from __future__ import annotations

import json
import shutil

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from jupyter_layers.building.agent import Proposal, ProposedCell
from jupyter_layers.headless.proposals import accept_cell, proposal_cells
from jupyter_layers.sandbox import StepResult
from tests.fakes.model_server import Text, ToolUse, Turn
from tests.test_build import CLEAN, RELIES_ON_SCRATCH, SALES, SCRATCH, TASK
from tests.test_cli_layers import last_line, layers, messages
from tests.test_dry_run_exact import assert_same_payload

PROPOSED = ["jupyter-layers-proposed"]
CHECK = "assert (sales.revenue >= 0).all()"
SUMMARY = "A revenue column and the revenue per region."
ORIGINAL = ["# Sales", SALES, "sales.price.mean()", "later = 1"]


@pytest.fixture
def sales(tmp_path):
    """The sales notebook; the build goes below cell 2, cell 3 comes after it (not run)."""
    cells = [new_markdown_cell(ORIGINAL[0]), *(new_code_cell(source) for source in ORIGINAL[1:])]
    path = tmp_path / "sales.ipynb"
    nbformat.write(new_notebook(cells=cells), path)
    return path


def build_turns(fake) -> None:
    fake.script(
        Turn([Text("Try the column first."), ToolUse("run_cell", {"code": SCRATCH})]),
        Turn([ToolUse("propose", {"cells": RELIES_ON_SCRATCH, "summary": "sorted totals"})]),
        Turn([ToolUse("propose", {"cells": CLEAN, "summary": SUMMARY})]),
    )


def build(path, *args: str):
    return layers("build", str(path), TASK, "--cell", "2", "--check", CHECK, *args)


def test_build_inserts_the_verified_cells_tagged_after_cell_n(claude, sales, tmp_path):
    build_turns(claude)
    before = sales.read_bytes()
    out = tmp_path / "out.ipynb"
    done = build(sales, "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert sales.read_bytes() == before

    # progress on stderr: the scratch step, the failed proposal, the verified one
    assert "── scratch step 1 ──" in done.stderr
    assert "verifying proposal 1 (2 cells)" in done.stderr and "✗ cell 1 of your proposal failed:" in done.stderr
    assert "NameError" in done.stderr and "verifying proposal 2 (2 cells)" in done.stderr
    assert "✓ ran clean" in done.stderr and last_line(done.stderr).startswith(f"wrote {out}: 2 cells for review")
    assert SUMMARY in done.stdout and CLEAN[0] in done.stdout  # the cells, as the terminal shows them

    cells = nbformat.read(out, as_version=4).cells
    assert [c.source for c in cells[:3]] + [cells[5].source] == ORIGINAL  # the user's cells, in place
    assert all("tags" not in c.metadata and "jupyter_layers" not in c.metadata for c in cells[:3] + cells[5:])
    assert all(c.get("outputs", []) == [] for c in cells[:3] + cells[5:])  # kept as saved, not as the run left them
    proposed = cells[3:5]
    assert [c.source for c in proposed] == CLEAN
    assert [c.metadata.tags for c in proposed] == [PROPOSED, PROPOSED]
    assert [c.execution_count for c in proposed] == [None, None]
    assert proposed[0].outputs == []  # an assignment prints nothing
    assert "north" in proposed[1].outputs[0]["data"]["text/plain"]  # the per-region totals, from the fork's run
    provenance = [c.metadata.jupyter_layers.provenance for c in proposed]
    assert [p["cell"] for p in provenance] == [0, 1] and {p["layer"] for p in provenance} == {"build"}
    assert provenance[0]["task"] == TASK and "claude" in provenance[0]["model"]
    assert provenance[0]["verified"] == f"ran clean in a fork of the live state; check passed: {CHECK}"
    assert provenance[0]["build"] == provenance[1]["build"]

    # the first request: the task below cell 2, the check, the state cells 0..2 built
    first = json.dumps(messages(claude)[0].body, ensure_ascii=False)
    assert f"Task: {TASK}\\nYour cells go below cell 2." in first and f"this check must pass: {CHECK}" in first
    assert "sales: DataFrame 4 rows × 3 columns" in first


def test_the_dry_run_is_the_request_the_build_sends(claude, sales, tmp_path):
    shown = layers(
        "prompt", str(sales), "--cell", "2", "--layer", "build", "--task", TASK, "--check", CHECK, "--execute", "--json"
    )
    assert shown.returncode == 0, shown.stderr
    build_turns(claude)
    done = build(sales)
    assert done.returncode == 0, done.stderr
    assert_same_payload(json.loads(shown.stdout), messages(claude)[0].body)
    assert last_line(done.stderr).startswith("nothing written") and sorted(
        p.name for p in tmp_path.glob("*.ipynb")
    ) == ["sales.ipynb"]


def test_apply_inserts_ordinary_unrun_cells_and_json(claude, sales, tmp_path):
    build_turns(claude)
    copy = tmp_path / "copy.ipynb"
    shutil.copy(sales, copy)
    done = build(copy, "--apply", "--in-place", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["task"] == TASK and result["summary"] == SUMMARY and result["check"] == CHECK
    assert result["output"] == str(copy) and result["verified"].endswith(f"check passed: {CHECK}")
    assert [c["source"] for c in result["cells"]] == CLEAN and "north" in json.dumps(result["cells"][1]["outputs"])

    cells = nbformat.read(copy, as_version=4).cells
    assert [c.source for c in cells] == [*ORIGINAL[:3], *CLEAN, ORIGINAL[3]]
    for cell in cells[3:5]:
        assert "tags" not in cell.metadata and cell.outputs == [] and cell.execution_count is None
        assert cell.metadata.jupyter_layers.provenance["layer"] == "build"


def test_a_build_that_never_verifies_is_one_line_exit_1_and_writes_nothing(claude, sales, tmp_path):
    claude.script(
        Turn([ToolUse("propose", {"cells": RELIES_ON_SCRATCH, "summary": "sorted totals"})]),
        Turn([ToolUse("propose", {"cells": ["by_region = helper"], "summary": "totals"})]),
    )
    out = tmp_path / "out.ipynb"
    done = build(sales, "--steps", "2", "-o", str(out))
    assert done.returncode == 1, done.stderr
    line = last_line(done.stderr)
    assert line.startswith("jupyter layers build: ") and "none of its 2 proposals ran clean" in line
    assert "NameError" in line and not out.exists() and done.stdout == ""


def test_run_leaves_the_proposals_alone_and_clean_removes_them(claude, sales, tmp_path):
    build_turns(claude)
    built = tmp_path / "built.ipynb"
    assert build(sales, "-o", str(built)).returncode == 0
    ran = tmp_path / "ran.ipynb"
    done = layers("run", str(built), "-o", str(ran))
    assert done.returncode == 0, done.stderr
    cells = nbformat.read(ran, as_version=4).cells
    assert [c.execution_count for c in cells[1:]] == [1, 2, None, None, 3]  # the proposals were not executed
    assert cells[3:5] == nbformat.read(built, as_version=4).cells[3:5]  # their fork outputs, as written

    kept = layers("clean", str(built), "--json")
    assert json.loads(kept.stdout) == {"removed": 0, "cells": [], "output": None}  # default: scratch cells only
    cleaned = layers("clean", str(built), "--proposals", "--json")
    assert json.loads(cleaned.stdout) == {"removed": 2, "cells": [3, 4], "output": None}


def proposal() -> Proposal:
    cells = (ProposedCell("x = 1", StepResult(), ("line 1: a note",)), ProposedCell("x", StepResult(result="1")))
    return Proposal("b1", "set x", "", cells, "claude-test")


def test_proposal_cells_proposed_and_accepted():
    tagged = proposal_cells(proposal())
    assert [c.metadata.tags for c in tagged] == [PROPOSED, PROPOSED]
    assert (
        tagged[0].metadata.jupyter_layers.taste == ["line 1: a note"]
        and "taste" not in tagged[1].metadata.jupyter_layers
    )
    assert tagged[1].outputs[0]["data"] == {"text/plain": "1"}
    tagged[1].metadata.tags.append("keep")
    for cell in tagged:
        accept_cell(cell)
    assert "tags" not in tagged[0].metadata and tagged[1].metadata.tags == ["keep"]  # only the proposal's tag goes
    assert list(tagged[0].metadata.jupyter_layers) == ["provenance"]  # the review's taste notes went with it
    assert tagged[1].outputs == [] and tagged[1].metadata.jupyter_layers.provenance["cell"] == 1
    accepted = proposal_cells(proposal(), accepted=True)
    assert [c.outputs for c in accepted] == [[], []] and all("tags" not in c.metadata for c in accepted)
    assert [c.execution_count for c in accepted] == [None, None]


def test_a_build_without_a_task_is_one_line_before_any_kernel(claude, sales):
    done = layers("build", str(sales), "--cell", "2")
    assert done.returncode == 2 and done.stderr.startswith("jupyter layers: give a notebook and a task")
    assert len(done.stderr.strip().splitlines()) == 1 and messages(claude) == []
