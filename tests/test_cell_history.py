"""The kernel's memory between cells: when each name was bound, and the last error, in a real kernel."""

from __future__ import annotations

import json

from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from jupyter_layers.kernel.cell_history import bound_names, referenced_names


def run(*sources: str):
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    NotebookClient(nb, timeout=60, allow_errors=True).execute()
    return nb


def test_definition_order_and_last_error_are_recorded():
    nb = run(
        "%load_ext jupyter_layers",
        "import pandas as pd\nframe = pd.DataFrame({'x': [1]})\nunused = 0",
        "total = 1",
        "frame['y'] = frame['x'] * 2\ndel unused",  # mutation through a subscript counts as (re)binding
        "def f(v):\n    return v['missing']\nf(frame)",
        "from jupyter_layers.kernel import state, cell_history\n"
        "import json\nprint(json.dumps({'defined': state.DEFINED, 'error': cell_history.last_error().to_dict()}))",
    )
    report = json.loads(nb.cells[5].outputs[0]["text"])
    defined = report["defined"]
    assert (defined["pd"], defined["total"], defined["frame"], defined["f"]) == (2, 3, 4, 5)
    assert "unused" not in defined  # deleted names are forgotten
    error = report["error"]
    assert (error["execution_count"], error["ename"], error["evalue"]) == (5, "KeyError", "'missing'")
    assert error["cell"].startswith("def f(v):")
    assert set(error["names"]) == {"f", "frame"}
    assert "\x1b" not in error["traceback"] and "return v['missing']" in error["traceback"]
    assert "/IPython/" not in error["traceback"]


def test_bound_and_referenced_names():
    source = "import numpy as np\nx, y = 1, 2\ndf.loc[0, 'a'] = x\nclass K: pass\nfor i in y: print(i)"
    assert bound_names(source) == {"np", "x", "y", "df", "K", "i"}
    assert referenced_names("a = b + c(a)") == ("a", "b", "c")
    assert bound_names("this is not python(") == set()
