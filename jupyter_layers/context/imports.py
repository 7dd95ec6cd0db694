"""The notebook's import statements, so imported names cost one short line instead of a summary each.

A completion needs to know that ``train_test_split`` or ``np`` exist far more than their signatures, and the
cell that imported them is often too far up to fit the budget.
"""

from __future__ import annotations

import ast
import functools

from IPython.core.inputtransformer2 import TransformerManager

from .situation import Situation

_ipython_syntax = TransformerManager()


def import_statements(sources: list[str]) -> dict[str, str]:
    """Each name bound by an import in ``sources`` -> the statement that binds it (the latest one wins)."""
    bound: dict[str, str] = {}
    for source in sources:
        bound.update(imports_in(source))
    return bound


@functools.lru_cache(maxsize=1024)
def parse_cell(source: str) -> ast.Module | None:
    """A cell as the kernel would run it (IPython's transformer turns magics and ``!shell`` lines into Python), or
    None when it does not parse; cached, since the same cells are parsed again and again. Read it, never change it."""
    try:
        return ast.parse(_ipython_syntax.transform_cell(source))
    except SyntaxError:
        return None


@functools.lru_cache(maxsize=512)
def imports_in(source: str) -> dict[str, str]:
    """One cell's imports; cached, since the same cells are parsed again on every keystroke of a completion."""
    tree = parse_cell(source)
    if tree is None:
        return {}
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            statement = ast.unparse(node)
            for alias in node.names:
                if alias.name != "*":
                    bound[(alias.asname or alias.name).split(".")[0]] = statement
    return bound


def imported_names(situation: Situation) -> dict[str, str]:
    """Imports of the notebook's code cells and of the active cell's complete lines above the cursor."""
    cursor = situation.cursor
    above = cursor.source[: cursor.source.rfind("\n", 0, cursor.position) + 1]
    return import_statements([v.source for v in situation.cells if v.cell_type == "code"] + [above])
