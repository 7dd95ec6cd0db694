"""`jupyter layers run` and `jupyter layers clean` on real notebooks, in subprocesses, as a user runs them.

Each run starts a real kernel; magics talk to the fake Anthropic server (the demo notebooks, on the embedded
model, are run by test_demo_notebooks.py).
The safety promises are checked on the files themselves: the input is byte-identical unless --in-place, nothing
is written for malformed input or on Ctrl-C, and Ctrl-C leaves no kernel behind.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from rich.console import Console

from jupyter_layers.context.notebook import SCRATCH_TAG
from jupyter_layers.headless.execute import CellError
from jupyter_layers.headless.progress import RichProgress
from tests.conftest import API_KEY
from tests.fakes.model_server import Text, Turn


def layers(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "jupyter_layers", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def save(path: Path, *cells) -> Path:
    nbformat.write(new_notebook(cells=list(cells)), path)
    return path


def files(folder: Path) -> list[str]:
    """The files in the folder (the isolated IPython and Jupyter config folders of conftest are not files)."""
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".jupyter-layers-"))


@pytest.fixture
def failing(tmp_path) -> Path:
    """Cell 2 fails; cell 3 shows whether the run went on."""
    return save(
        tmp_path / "failing.ipynb",
        new_markdown_cell("# fails"),
        new_code_cell("x = 1"),
        new_code_cell("{}['x']"),
        new_code_cell("print('after', x)"),
    )


def test_magics_work_headless_and_the_output_holds_the_completed_code(tmp_path, claude):
    (tmp_path / "prices.csv").write_text("item,price\napple,1.5\npear,2.0\n")
    path = save(
        tmp_path / "analysis.ipynb",
        new_code_cell("%load_ext jupyter_layers\n%config JupyterLayers.max_retries = 0"),
        new_code_cell("import csv\nrows = list(csv.DictReader(open('prices.csv')))"),  # the kernel runs in its folder
        new_code_cell("%%complete\ntotal = "),
    )
    before = path.read_bytes()
    claude.script(Turn([Text("sum(float(r['price']) for r in rows)")]))
    done = layers("run", str(path), "-o", str(tmp_path / "out.ipynb"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("executed 3/3 cells in ") and "wrote " in done.stdout
    progress = [line for line in done.stderr.splitlines() if line.startswith("cell ")]
    assert [re.fullmatch(r"cell (\d)/3 ok \d+\.\ds", line)[1] for line in progress] == ["1", "2", "3"]
    assert path.read_bytes() == before
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    shown = [o for o in out.cells[2].outputs if o.output_type == "display_data"][-1]
    assert shown.data["text/plain"] == "total = sum(float(r['price']) for r in rows)"
    assert out.metadata.language_info["name"] == "python"
    assert "rows" in json.dumps(claude.requests[-1].body)  # the live kernel state reached the model
    assert leftovers(tmp_path) == []


def test_layers_options_given_to_run_reach_the_notebooks_kernel(tmp_path, fake, monkeypatch):
    """`jupyter layers run --JupyterLayers.x=...` configures the magics in the kernel (they read its config);
    a key given as an option travels in the kernel's environment, never on its command line."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    path = save(tmp_path / "nb.ipynb", new_code_cell("%load_ext jupyter_layers"), new_code_cell("%%complete\nx = "))
    fake.script(Turn([Text("41 + 1")]))
    done = layers(
        "run",
        str(path),
        "-o",
        str(tmp_path / "out.ipynb"),
        "--JupyterLayers.provider=anthropic",
        "--JupyterLayers.complete_model=claude-sonnet-5-5",
        "--JupyterLayers.max_retries=0",
        f"--JupyterLayers.anthropic_api_key={API_KEY}",
    )
    assert done.returncode == 0, done.stderr
    assert fake.requests[-1].body["model"] == "claude-sonnet-5-5"  # not the default claude-haiku-5-5
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert "41 + 1" in json.dumps(out.cells[1].outputs)


def test_a_key_given_to_run_goes_to_the_kernels_environment_not_its_arguments():
    from jupyter_layers.cli.run import RunApp

    app = RunApp()
    app.initialize(
        ["nb.ipynb", "--JupyterLayers.complete_model=claude-sonnet-5-5", "--JupyterLayers.anthropic_api_key=sk-test"]
    )
    arguments, environment = app.kernel_options()
    assert arguments == ["--JupyterLayers.complete_model=claude-sonnet-5-5"]
    assert environment == {"ANTHROPIC_API_KEY": "sk-test"}


def test_without_output_it_runs_and_writes_nothing(tmp_path):
    path = save(tmp_path / "plain.ipynb", new_code_cell("print(6 * 7)"))
    before = path.read_bytes()
    done = layers("run", str(path))
    assert done.returncode == 0, done.stderr
    assert "nothing written (give -o OUT or --in-place)" in done.stdout
    assert path.read_bytes() == before and files(tmp_path) == ["plain.ipynb"]


def test_in_place_rewrites_the_input(tmp_path):
    path = save(tmp_path / "plain.ipynb", new_code_cell("print(6 * 7)"))
    done = layers("run", str(path), "--in-place", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["output"] == str(path)
    assert nbformat.read(path, as_version=4).cells[0].outputs[0].text == "42\n"
    assert leftovers(tmp_path) == []


def test_output_and_in_place_together_are_refused(tmp_path):
    path = save(tmp_path / "plain.ipynb", new_code_cell("1"))
    done = layers("run", str(path), "--in-place", "-o", str(tmp_path / "x.ipynb"))
    assert done.returncode == 2 and done.stderr.startswith("jupyter layers: give -o OUT or --in-place, not both")


def test_a_failing_cell_stops_the_run_with_one_line(failing, tmp_path):
    done = layers("run", str(failing), "-o", str(tmp_path / "out.ipynb"))
    assert done.returncode == 1
    assert "cell 2: KeyError: 'x'" in done.stderr.splitlines()
    assert "Traceback" not in done.stderr
    assert "executed 2/3 cells, 1 with errors" in done.stdout
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)  # written: the traceback is there to read
    assert out.cells[2].outputs[0].ename == "KeyError" and out.cells[3].outputs == []


def test_allow_errors_runs_everything_and_reports_json(failing, tmp_path):
    done = layers("run", str(failing), "-o", str(tmp_path / "out.ipynb"), "--allow-errors", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {"notebook", "output", "cells", "executed", "errors", "seconds"}
    assert result["notebook"] == str(failing) and result["output"] == str(tmp_path / "out.ipynb")
    assert (result["cells"], result["executed"]) == (3, 3)
    assert result["errors"] == [{"cell": 2, "ename": "KeyError", "evalue": "'x'"}]
    assert isinstance(result["seconds"], float)
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert out.cells[3].outputs[0].text == "after 1\n"


def test_json_on_failure_still_prints_one_object(failing):
    done = layers("run", str(failing), "--json")
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["executed"] == 2 and result["output"] is None and len(result["errors"]) == 1


@pytest.mark.parametrize("command", ["run", "clean"])
@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid notebook JSON"),
        ('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code"}]}', "not a valid"),
    ],
)
def test_malformed_input_is_one_line_and_changes_nothing(tmp_path, command, content, message):
    path = tmp_path / "broken.ipynb"
    path.write_text(content)
    before = path.read_bytes()
    done = layers(command, str(path), "-o", str(tmp_path / "out.ipynb"))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr
    assert path.read_bytes() == before
    assert files(tmp_path) == ["broken.ipynb"]


def test_ctrl_c_shuts_the_kernel_down_and_writes_nothing(tmp_path):
    pid_file = tmp_path / "kernel.pid"
    path = save(
        tmp_path / "slow.ipynb",
        new_code_cell(f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))"),
        new_code_cell("time.sleep(120)"),
    )
    before = path.read_bytes()
    command = [sys.executable, "-m", "jupyter_layers", "run", str(path), "-o", str(tmp_path / "out.ipynb")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in process.stderr:  # the first cell's line: the sleep has started
        if line.startswith("cell 1/2 ok"):
            break
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted; the kernel is shut down and nothing was written" in stderr
    assert "Traceback" not in stderr
    kernel = int(pid_file.read_text())
    assert kernel != process.pid
    deadline = time.monotonic() + 10
    while alive(kernel) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(kernel)
    assert path.read_bytes() == before
    assert files(tmp_path) == ["kernel.pid", "slow.ipynb"]


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting for a parent that is not this test to reap it."""
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        return "\nState:\tZ" not in status.read_text()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_terminal_display_shows_each_cell():
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    with RichProgress(console) as progress:
        progress.start(1, 1, 2, "x = [1]\nprint(x)")
        progress.done(1, 1, 2, 0.42, None)
        progress.start(3, 2, 2, "{}['x']")
        progress.done(3, 2, 2, 0.1, CellError(3, "KeyError", "'x'"))
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", console.file.getvalue())
    assert "cell 1 (1/2) 0.4s" in shown and "KeyError" in shown and "cell 3 (2/2) 0.1s" in shown


def scratch(source: str, tags: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    cell = new_code_cell(source)
    cell.metadata["tags"] = [SCRATCH_TAG, *tags]
    return cell


@pytest.fixture
def explored(tmp_path) -> tuple[Path, list]:
    kept = [
        new_markdown_cell("# Findings"),
        new_code_cell("x = 1", metadata={"tags": ["parameters"], "collapsed": True}),
        new_code_cell("x + 1", outputs=[nbformat.v4.new_output("execute_result", {"text/plain": "2"})]),
        new_markdown_cell("scratch is mentioned here but not tagged"),
    ]
    cells = [kept[0], scratch("probe = x * 2"), kept[1], kept[2], scratch("print(probe)", ("other",)), kept[3]]
    path = tmp_path / "explored.ipynb"
    nbformat.write(new_notebook(cells=cells), path)
    return path, kept


def test_clean_removes_exactly_the_tagged_cells(explored, tmp_path):
    path, kept = explored
    before = path.read_bytes()
    done = layers("clean", str(path), "-o", str(tmp_path / "clean.ipynb"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"2 scratch cells removed; wrote {tmp_path / 'clean.ipynb'}"
    assert path.read_bytes() == before
    expected = new_notebook(cells=kept)
    assert (tmp_path / "clean.ipynb").read_text() == nbformat.writes(expected) + "\n"  # byte-for-byte the rest
    assert leftovers(tmp_path) == []


def test_clean_without_output_lists_and_writes_nothing(explored, tmp_path):
    path, _ = explored
    before = path.read_bytes()
    done = layers("clean", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "cell 1: probe = x * 2",
        "cell 4: print(probe)",
        "2 scratch cells would be removed; nothing written (give -o OUT or --in-place)",
    ]
    assert path.read_bytes() == before and files(tmp_path) == ["explored.ipynb"]


def test_clean_in_place_with_json(explored):
    path, kept = explored
    done = layers("clean", str(path), "--in-place", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"removed": 2, "cells": [1, 4], "output": str(path)}
    assert [c.source for c in nbformat.read(path, as_version=4).cells] == [c.source for c in kept]
    again = layers("clean", str(path), "--json")
    assert json.loads(again.stdout) == {"removed": 0, "cells": [], "output": None}
