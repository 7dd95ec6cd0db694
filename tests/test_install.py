"""The installed package registers both halves with Jupyter: the prebuilt JupyterLab extension and the server
extension, enabled and loadable (what `pip install` must give a user without Node)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import jupyter_layers


def jupyter(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "jupyter", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)  # colours off


def test_the_labextension_is_prebuilt_enabled_and_ok():
    built = Path(jupyter_layers.__file__).parent / "labextension"
    assert (built / "package.json").exists() and list((built / "static").glob("remoteEntry.*.js"))
    assert re.search(r"jupyter-layers v[\d.]+ enabled OK", jupyter("labextension", "list"))


def test_the_server_extension_is_enabled_and_ok():
    listed = jupyter("server", "extension", "list")
    assert re.search(r"jupyter_layers enabled", listed) and re.search(r"jupyter_layers [\d.]+ OK", listed)
