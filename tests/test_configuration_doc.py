"""docs/configuration.md is what jupyter_layers.config_doc renders, and it documents every environment variable read."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_layers import config_doc
from jupyter_layers.config import JupyterLayers

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "configuration.md"


def test_the_committed_doc_is_current():
    assert DOC.read_text(encoding="utf-8") == config_doc.render(), (
        "regenerate it: python -m jupyter_layers.config_doc > docs/configuration.md"
    )


def test_the_module_prints_the_doc():
    done = subprocess.run([sys.executable, "-m", "jupyter_layers.config_doc"], capture_output=True, check=True)
    assert done.stdout.decode("utf-8") == config_doc.render()


def test_every_option_is_documented_with_its_help():
    doc = DOC.read_text(encoding="utf-8")
    for name, trait in JupyterLayers.class_own_traits(config=True).items():
        assert f"| `{name}` |" in doc
        assert config_doc.table_cell(trait.help) in doc


def test_an_option_in_no_topic_is_refused(monkeypatch):
    monkeypatch.setattr(config_doc, "TOPICS", config_doc.TOPICS[1:])
    with pytest.raises(ValueError, match="add \\['complete_model', 'edit_model'"):
        config_doc.render()


def environment_reads(path: Path) -> set[str]:
    """Names read with os.environ.get(X), os.getenv(X) or os.environ[X]; X a literal or a module constant."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    constants = {
        node.targets[0].id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }
    keys = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("os.environ.get", "os.getenv") and node.args:
            keys.append(node.args[0])
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            if ast.unparse(node.value) == "os.environ":
                keys.append(node.slice)
    names = set()
    for key in keys:
        if isinstance(key, ast.Constant):
            names.add(key.value)
        else:
            assert isinstance(key, ast.Name) and key.id in constants, f"{path}: {ast.unparse(key)}"
            names.add(constants[key.id])
    return names


def test_every_environment_variable_the_package_reads_is_documented():
    read = set().union(*(environment_reads(path) for path in (ROOT / "jupyter_layers").rglob("*.py")))
    assert read >= {"ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"}  # the scan finds what it should
    assert read == {name for name, _ in config_doc.ENVIRONMENT}
