"""The three entry points: the IPython extension in a real kernel, the server extension, the command."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient
from tornado.httpclient import HTTPClientError


def run_notebook(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    return nb


def text_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_ipython_extension_in_a_real_kernel(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    nb = run_notebook(
        "%load_ext jupyter_layers",
        "%layers status",
        "%config JupyterLayers.complete_model = 'claude-haiku-4-5'\n%layers status",
        "%layers frobnicate",
    )
    assert "complete  anthropic:claude-haiku-5-5" in text_of(nb.cells[1])
    assert "escalate  anthropic:claude-opus-5-5" in text_of(nb.cells[1])
    assert "complete  anthropic:claude-haiku-4-5" in text_of(nb.cells[2])
    assert "unknown subcommand 'frobnicate'" in text_of(nb.cells[3])
    assert all(o.output_type != "error" for cell in nb.cells for o in cell.outputs)


def test_ipython_extension_reports_misconfiguration_in_one_line(monkeypatch):
    nb = run_notebook("%load_ext jupyter_layers", "%config JupyterLayers.provider = 'anthropic'\n%layers status")
    out = nb.cells[1].outputs
    assert [o.output_type for o in out] == ["stream"]
    assert out[0].text.strip().splitlines() == [
        "%layers: no Anthropic API key is configured (hint: set ANTHROPIC_API_KEY, or c.JupyterLayers.provider "
        "= 'embedded' to stay offline)"
    ]


@pytest.fixture
def jp_server_config():
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_layers": True}, "allow_unauthenticated_access": False},
        "JupyterLayers": {"provider": "anthropic", "anthropic_api_key": "sk-ant-test"},
    }


async def test_server_status_endpoint(jp_fetch):
    response = await jp_fetch("jupyter-layers", "status")
    layers = json.loads(response.body)["layers"]
    assert layers["edit"] == {
        "provider": "anthropic",
        "model": "claude-sonnet-5-5",
        "label": "anthropic:claude-sonnet-5-5",
        "offline": False,
    }


async def test_server_status_endpoint_rejects_unauthenticated_requests(jp_fetch):
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("jupyter-layers", "status", headers={"Authorization": ""})
    assert caught.value.code == 403


def test_jupyter_layers_command(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    help_text = subprocess.run(["jupyter", "layers"], capture_output=True, text=True, check=True).stdout
    assert "status" in help_text
    out = subprocess.run(
        [sys.executable, "-m", "jupyter_layers", "status", "--json"], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out)["escalate"]["model"] == "claude-opus-5-5"
    failed = subprocess.run(
        ["jupyter", "layers", "status", "--JupyterLayers.provider=openai"], capture_output=True, text=True
    )
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines() == [
        "jupyter layers: the OpenAI-compatible provider needs a base URL (hint: set c.JupyterLayers.openai_base_url)"
    ]


def test_loading_the_extension_stays_light():
    """`%load_ext` runs in every kernel: it must not pull in nbformat's validator (0.85 s) or an SDK's client."""
    heavy = ("nbformat", "nbclient", "llama_cpp")
    code = f"import sys, jupyter_layers.magics; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
