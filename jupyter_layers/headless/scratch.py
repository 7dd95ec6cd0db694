"""Removing an exploration's scratch cells from a notebook file, leaving everything else as it was saved."""

from __future__ import annotations

import json

import nbformat

from ..context.notebook import is_scratch
from .notebook_file import read_notebook


def without_scratch(path: str) -> tuple[nbformat.NotebookNode, dict[int, str]]:
    """The notebook without its scratch cells, and the removed cells' sources by their index.

    ``read_notebook`` checks the file; a v4 file is then edited as its raw JSON, because nbformat's reader may
    repair it (e.g. add missing cell ids), and the cells the user kept should stay as they were saved.
    """
    checked = read_notebook(path)
    with open(path, encoding="utf-8") as file:
        raw = json.load(file)
    nb = nbformat.from_dict(raw) if raw.get("nbformat") == 4 else checked
    removed = {index: _text(cell.get("source", "")) for index, cell in enumerate(nb.cells) if is_scratch(cell)}
    nb.cells = [cell for cell in nb.cells if not is_scratch(cell)]
    return nb, removed


def _text(source: str | list[str]) -> str:
    return "".join(source) if isinstance(source, list) else source
