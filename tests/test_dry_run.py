"""The prompt dry-run ("see exactly what leaves your machine"): `jupyter layers prompt` and `%layers prompt`."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

SECRET = "sk-ant-api03-" + "Zx9Yw8Vu7Ts6Rq5Po4Nm" * 4 + "-QQQQQQ"


@pytest.fixture
def analysis(tmp_path):
    """A notebook that reads a CSV next to it, fails once, and ends with a half-typed line."""
    (tmp_path / "orders.csv").write_text("order_id,customer,amount_eur\n1,ann,9.5\n2,bob,12.0\n")
    cells = [
        new_markdown_cell("# Orders"),
        new_code_cell(f"import pandas as pd\norders = pd.read_csv('orders.csv')\napi_key = '{SECRET}'"),
        new_code_cell("orders['amount_usd']"),
        new_code_cell("orders.groupby('customer')['amo"),
    ]
    path = tmp_path / "orders.ipynb"
    nbformat.write(new_notebook(cells=cells), path)
    return path


def prompt(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "jupyter_layers", "prompt", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


def test_execute_makes_the_kernel_state_real_and_secrets_stay_home(analysis, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    done = prompt(str(analysis), "--cell", "3", "--layer", "complete", "--execute", "--format", "json")
    assert done.returncode == 0, done.stderr
    request = json.loads(done.stdout)
    assert {"system", "messages", "estimated_tokens"} <= request.keys()
    assert request["model"] == "claude-haiku-5-5" and request["estimated_tokens"] <= 2000
    assert request["cache_breakpoints"] == 2 and request["system"][0]["cache_control"] == {"type": "ephemeral"}
    blocks = [b["text"] for b in request["messages"][0]["content"]]
    kernel = next(b for b in blocks if b.startswith("<kernel_state>"))
    assert "orders: DataFrame 2 rows × 3 columns" in kernel  # read from the CSV in the notebook's folder
    assert "float64: amount_eur" in kernel
    error = next(b for b in blocks if b.startswith("<last_error>"))
    assert "KeyError: 'amount_usd'" in error
    assert blocks[-1].endswith("['amo<CURSOR>\n</cell>")
    assert SECRET not in done.stdout and "REDACTED" in done.stdout


def test_without_execute_the_saved_outputs_stand_in(analysis, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    done = prompt(str(analysis), "--cell", "3", "--layer", "edit", "--instruction", "sum the amounts")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("layer edit → anthropic:claude-sonnet-5-5")
    assert "No live kernel state is available" in done.stdout
    assert "system · cache breakpoint after this" in done.stdout
    assert "Instruction: sum the amounts" in done.stdout


def test_the_offline_route_shows_the_local_model_payload(analysis):
    pytest.importorskip("llama_cpp")
    done = prompt(str(analysis), "--cell", "3", "--layer", "explore", "--question", "what is in orders?", "--json")
    assert done.returncode == 0, done.stderr
    request = json.loads(done.stdout)
    assert request["provider"] == "embedded"
    assert request["response_format"]["type"] == "json_object"  # tool calls through a grammar
    assert request["messages"][0]["role"] == "system"


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "is not valid notebook JSON"), ('{"cells": 3}', "is not a valid notebook")],
)
def test_malformed_notebooks_give_one_line_and_change_nothing(tmp_path, content, message):
    path = tmp_path / "broken.ipynb"
    path.write_text(content)
    done = prompt(str(path), "--cell", "0")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr
    assert path.read_text() == content


def test_a_cell_out_of_range_is_one_line(analysis):
    done = prompt(str(analysis), "--cell", "9")
    assert done.returncode == 2 and "has no cell 9 (it has 4 cells" in done.stderr


def test_layers_prompt_magic_in_a_kernel(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    nb = new_notebook(
        cells=[
            new_code_cell("%load_ext jupyter_layers"),
            new_code_cell("import pandas as pd\nprices = pd.DataFrame({'ticker': ['A'], 'close': [1.5]})"),
            new_code_cell("prices['open']"),
            new_code_cell("%%layers prompt complete --json\nprices.groupby('ticker')['cl"),
            new_code_cell("%layers prompt escalate why does the lookup fail?"),
        ]
    )
    NotebookClient(nb, timeout=120, allow_errors=True).execute()
    request = json.loads(nb.cells[3].outputs[0]["text"])
    blocks = [b["text"] for b in request["messages"][0]["content"]]
    assert any("prices: DataFrame 1 row × 2 columns" in b and "float64: close" in b for b in blocks)
    assert any(b.startswith("<last_error>\nKeyError: 'open' in cell In [3]") for b in blocks)
    assert "open: def open" not in json.dumps(request)  # IPython's own names are not user state
    assert "# [cell 3] In [3]\nprices['open']" in blocks[0]
    assert blocks[-1].endswith("['cl<CURSOR>\n</cell>")
    text = nb.cells[4].outputs[0]["text"]
    assert text.startswith("layer escalate → anthropic:claude-opus-5-5")
    assert "Question: why does the lookup fail?" in text


def test_question_marks_reach_our_magics_and_help_still_works_elsewhere():
    from jupyter_layers.magics.questions import keep_question_marks

    assert keep_question_marks(["%layers prompt escalate why is it NaN?\n"]) == [
        "get_ipython().run_line_magic('layers', 'prompt escalate why is it NaN?')\n"
    ]
    assert keep_question_marks(["len?\n", "%timeit?\n", "%%layers prompt edit why?\n"]) == [
        "len?\n",
        "%timeit?\n",
        "%%layers prompt edit why?\n",
    ]
