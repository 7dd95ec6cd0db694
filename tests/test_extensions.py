"""The three entry points: the IPython extension in a real kernel, the server extension, the command."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient
from tornado.httpclient import HTTPClientError

from jupyter_layers.sandbox.protections import Protections
from jupyter_layers.status import format_sandbox
from tests.kernels import HERE, protections_here


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


def test_layers_status_names_what_protects_scratch_cells_in_this_kernel(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    nb = run_notebook("%load_ext jupyter_layers", "%layers status", f"import json\nprint(json.dumps({HERE}.to_dict()))")
    lines = text_of(nb.cells[1]).splitlines()
    kernel = Protections.from_dict(json.loads(text_of(nb.cells[2])))  # the kernel's own answer, asked apart
    at = lines.index(f"sandbox   {kernel.summary()}")
    assert lines[at - 1].startswith("spending  ") and lines[at - 2] == "limits    any provider and model"
    assert lines[at - 4].startswith("escalate  anthropic:")  # after the layers' lines (each with why, below it)
    assert lines[at + 1 :] == [*(f"          {item}" for item in kernel.missing), lines[-1]]
    assert lines[-1].startswith("kernel state: ")


def test_the_sandbox_line_lists_what_is_missing_indented_under_it():
    reduced = Protections(
        descriptors=True,
        shared_memory=True,
        audit=True,
        missing=(
            "no network namespace: unprivileged user namespaces are not available here (Operation not permitted)",
            "no Landlock in this kernel (Linux 5.13+): writes from C code are not refused",
        ),
    )
    assert format_sandbox(reduced).splitlines() == [
        "sandbox   fork · descriptors sealed · shared memory private",
        "          no network namespace: unprivileged user namespaces are not available here (Operation not permitted)",
        "          no Landlock in this kernel (Linux 5.13+): writes from C code are not refused",
    ]
    assert format_sandbox(Protections(mode="live")) == (
        "sandbox   live (scratch cells run in your kernel: nothing is isolated)"
    )


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
        "reason": "c.JupyterLayers.provider is set; model: the layer's default",
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
    status = json.loads(out)
    assert status["escalate"]["model"] == "claude-opus-5-5"  # the layers' keys where they always were
    here = protections_here()
    assert Protections.from_dict(status["sandbox"]) == here  # this machine's, probed by the command itself
    shown = subprocess.run(["jupyter", "layers", "status"], capture_output=True, text=True, check=True).stdout
    lines = shown.splitlines()
    assert lines[6].startswith("escalate  anthropic:claude-opus-5-5")  # each layer, with why on the line below
    assert lines[7] == "          an Anthropic key is set; model: the layer's default"
    assert lines[8] == "limits    any provider and model" and lines[9].startswith("spending  ")
    assert lines[10:] == [f"sandbox   {here.summary()}", *(f"          {item}" for item in here.missing)]
    failed = subprocess.run(
        ["jupyter", "layers", "status", "--JupyterLayers.provider=openai"], capture_output=True, text=True
    )
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines() == [
        "jupyter layers: the OpenAI-compatible provider needs a base URL "
        "(hint: set c.JupyterLayers.openai_base_url, or OPENAI_BASE_URL / OLLAMA_HOST)"
    ]


def test_loading_the_extension_stays_light():
    """`%load_ext` runs in every kernel: it must not pull in nbformat's validator (0.85 s) or an SDK's client."""
    heavy = ("nbformat", "nbclient", "llama_cpp")
    code = f"import sys, jupyter_layers.magics; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
