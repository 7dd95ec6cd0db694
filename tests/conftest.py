"""Shared fixtures: an isolated environment and the fake model server on 127.0.0.1."""

from __future__ import annotations

import pytest

from tests.fakes.model_server import FakeModelServer

pytest_plugins = ("pytest_jupyter.jupyter_server",)

API_KEY = "test-key"


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch, tmp_path):
    """No test may pick up a developer's key, profile, base URL or Jupyter configuration."""
    for name in (
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_PROFILE",
        "ANTHROPIC_CUSTOM_HEADERS",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OLLAMA_HOST",
        "JUPYTERHUB_USER",
        "JUPYTERHUB_API_TOKEN",
        "JUPYTER_LAYERS_RELAY",
    ):
        monkeypatch.setenv(name, "")  # recorded, so a value a server extension sets is gone after the test
        monkeypatch.delenv(name)
    monkeypatch.setenv("ANTHROPIC_CONFIG_DIR", str(tmp_path / "anthropic-config"))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "jupyter-config"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))  # where usage is recorded


@pytest.fixture(scope="session")
def model_server():
    with FakeModelServer(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def fake(model_server):
    """The session's fake server, emptied before and after each test."""
    model_server.reset()
    yield model_server
    model_server.reset()


@pytest.fixture
def claude(fake, monkeypatch):
    """The fake server as the Anthropic API of every process this test starts (kernels, `jupyter layers`)."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    return fake


@pytest.fixture
def kernel(claude):
    """A real ipykernel with jupyter_layers loaded, talking to the fake server, with no retries (faults show)."""
    from tests.kernels import Kernel

    running = Kernel()
    running.run("%config JupyterLayers.max_retries = 0")
    yield running
    running.close()
