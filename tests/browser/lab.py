"""A real `jupyter lab` (or Notebook 7) on 127.0.0.1 whose models are the fake Anthropic server, and a real
Chromium (Debian's package) driven by Playwright, for the browser tests.

Nothing leaves the machine: the server listens on loopback, its model base URL is the fake server, JupyterLab's
update and news checks are off, and Chromium runs with background networking disabled.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class JupyterServer:
    """``with JupyterServer(root, fake_url, app="lab") as server: server.url("lab/tree/x.ipynb")``."""

    def __init__(self, root: Path, model_url: str, api_key: str, app: str = "lab"):
        self.root, self.app = root, app
        self.port, self.token = free_port(), secrets.token_hex(16)
        home = root.parent / f"{app}-home"
        self.env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTER_DATA_DIR": str(home / "data"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "IPYTHONDIR": str(home / "ipython"),
        }
        for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
            self.env.pop(name, None)
        app_class = "LabApp" if app == "lab" else "JupyterNotebookApp"
        self.command = [
            sys.executable,
            "-m",
            "jupyterlab" if app == "lab" else "notebook",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={root}",
            *(
                [f"--{app_class}.expose_app_in_browser=True", f"--{app_class}.workspaces_dir={home / 'workspaces'}"]
                if app != "server"
                else []
            ),
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",  # no PyPI queries from the extension manager
            "--ServerApp.allow_root=True",
            "--JupyterLayers.provider=anthropic",
            f"--JupyterLayers.anthropic_api_key={api_key}",
            f"--JupyterLayers.anthropic_base_url={model_url}",
            "--JupyterLayers.max_retries=0",
            "--JupyterLayers.kernel_models=server",  # a kernel's magics reach the model through the server's relay
        ]
        self.log = home / "server.log"

    def __enter__(self) -> JupyterServer:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        # No "get notified about Jupyter news?" toast: it would cover the sidebar's buttons (and fetch a feed).
        settings = Path(self.env["JUPYTER_CONFIG_DIR"]) / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True, exist_ok=True)
        (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
        self.log_file = open(self.log, "w")
        self.process = subprocess.Popen(self.command, env=self.env, stdout=self.log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter {self.app} exited:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=2) as response:
                    json.load(response)
                return self
            except OSError:
                time.sleep(0.3)
        self.__exit__(None, None, None)
        raise TimeoutError(f"jupyter {self.app} did not start:\n{self.log.read_text()}")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log_file.close()

    def url(self, path: str) -> str:
        separator = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path}{separator}token={self.token}"


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is not None


def screenshot(page, name: str) -> Path:
    """Saved under test-artifacts/screenshots (the README and lab_walkthrough.md show copies of these)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


# The notebook model seen from the page (JupyterLab exposes the app with expose_app_in_browser).
CELLS_JS = """() => window.jupyterapp.shell.currentWidget.content.model.sharedModel.cells.map(c => c.toJSON())"""
KERNEL_IDLE_JS = """() => {
  const widget = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = widget?.sessionContext?.session?.kernel;
  return !!kernel && kernel.status === 'idle';
}"""


def cells(page) -> list[dict]:
    return page.evaluate(CELLS_JS)


def run_command(page, command: str, args: dict | None = None) -> None:
    page.evaluate("([command, args]) => window.jupyterapp.commands.execute(command, args)", [command, args or {}])


def open_notebook(page, server: JupyterServer, name: str, app_path: str = "") -> None:
    """Open ``name`` alone: in JupyterLab, in a fresh workspace of its own (no documents restored from others)."""
    app_path = app_path or f"lab/workspaces/{name.replace('.', '-')}/tree"
    page.goto(server.url(f"{app_path}/{name}?reset"))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_function(KERNEL_IDLE_JS, timeout=60_000)
    page.evaluate("() => window.jupyterapp.shell.collapseLeft && window.jupyterapp.shell.collapseLeft()")


def run_all(page) -> None:
    run_command(page, "notebook:run-all-cells")
    page.wait_for_function(
        """() => window.jupyterapp.shell.currentWidget.content.model.sharedModel.cells
              .every(c => c.cell_type !== 'code' || !c.getSource().trim() || c.execution_count !== null)""",
        timeout=60_000,
    )
    page.wait_for_function(KERNEL_IDLE_JS, timeout=60_000)


def write_notebook(path: Path, sources: list[tuple[str, str]]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
        for kind, source in sources
    ]
    nbformat.write(nb, path)
