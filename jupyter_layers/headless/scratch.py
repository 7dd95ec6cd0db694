"""Removing an exploration's scratch cells from a notebook file, leaving everything else as it was saved."""

from __future__ import annotations

import json

import nbformat

from ..context.notebook import is_scratch, is_unreviewed
from .notebook_file import read_notebook


def without_scratch(path: str, proposals: bool = False) -> tuple[nbformat.NotebookNode, dict[int, str]]:
    """The notebook without its scratch cells (and, with ``proposals``, a build's proposed cells not yet accepted),
    and the removed cells' sources by their index.

    ``read_notebook`` checks the file; a v4 file is then edited as its raw JSON, because nbformat's reader may
    repair it (e.g. add missing cell ids), and the cells the user kept should stay as they were saved.
    """
    checked = read_notebook(path)
    with open(path, encoding="utf-8") as file:
        raw = json.load(file)
    nb = nbformat.from_dict(raw) if raw.get("nbformat") == 4 else checked
    removing = is_unreviewed if proposals else is_scratch
    removed = {index: _text(cell.get("source", "")) for index, cell in enumerate(nb.cells) if removing(cell)}
    nb.cells = [cell for cell in nb.cells if not removing(cell)]
    return nb, removed


def _text(source: str | list[str]) -> str:
    return "".join(source) if isinstance(source, list) else source
