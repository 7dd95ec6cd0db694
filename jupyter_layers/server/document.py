"""The document a browser request is about, as the engine's Situation, built incrementally.

The browser sends a document whole (``cells``) or as changes to the copy the server keeps for its socket
(``sync``, documents.py); either way it becomes a ``NotebookDocument``: cells by id, each with the browser's
version, in document order. Each cell is converted to nbformat and rendered for prompts once per version, so a
keystroke in a 500-cell notebook costs the cell it changed, not the notebook. A cell has ``cell_type``,
``source``, and optionally ``outputs`` (text only, trimmed by the browser), ``execution_count``, ``id`` and
``metadata``; the request names the active cell by index (``cell``), with ``offset``, ``selection``,
``kernel_id``, ``path`` and ``model`` as protocol.py describes.
"""

from __future__ import annotations

import dataclasses
import os

import nbformat
from nbformat import NotebookNode

from ..context.notebook import CellView, cell_views, out_of_order, saved_last_error
from ..context.rules import project_rules
from ..context.situation import Cursor, Situation

LATE = "ran out of order"  # cell_views' note for a cell re-run after cells below it


def as_node(cell: dict) -> NotebookNode:
    """One cell as nbformat has it, with what the browser leaves out filled in."""
    node = {"metadata": {}, **cell}
    node.pop("version", None)
    if node["cell_type"] == "code":
        node.setdefault("outputs", [])
        node.setdefault("execution_count", None)
    else:
        node.pop("outputs", None)
        node.pop("execution_count", None)
    return nbformat.from_dict(node)


class HeldCell:
    """One cell at one version: its nbformat node, and its prompt view rendered once (outputs as text)."""

    def __init__(self, cell: dict, version: int):
        self.version = version
        self.node = as_node(cell)
        self.failed = any(output.get("output_type") == "error" for output in self.node.get("outputs", []))
        self._alone: list[CellView] | None = None  # its view as a notebook of its own; [] for a scratch cell
        self._view: CellView | None = None

    def view(self, index: int, late: bool) -> CellView | None:
        """Its view at ``index`` of the notebook (``late``: re-run after cells below it); None for a scratch cell."""
        if self._alone is None:
            self._alone = cell_views({"cells": [self.node]})
        if not self._alone:
            return None
        alone = self._alone[0]
        note = LATE if late else alone.note
        if self._view is None or self._view.index != index or self._view.note != note:
            self._view = dataclasses.replace(alone, index=index, note=note)
        return self._view


class NotebookDocument:
    """A document's cells by id with their versions, in order; brought up to date by changes (``update``)."""

    def __init__(self):
        self.cells: dict[str, HeldCell] = {}
        self.order: list[str] = []

    @classmethod
    def whole(cls, cells: list[dict]) -> NotebookDocument:
        """A document sent whole with its request (its cells need no ids: they are held by position)."""
        document = cls()
        document.order = [str(index) for index in range(len(cells))]
        document.cells = {str(index): HeldCell(cell, 0) for index, cell in enumerate(cells)}
        return document

    def __len__(self) -> int:
        return len(self.order)

    def mismatch(self, cells: list[dict], order: list[str] | None) -> str:
        """Why ``cells`` (each with ``id`` and ``version``) and ``order`` do not apply to this copy ("" if they do):
        the browser's copy and this one differ, and only sending it whole again mends that."""
        for cell in cells:
            held = self.cells.get(cell["id"])
            if held is None and order is None:
                return f"cell {cell['id']} is new here but the changes do not place it"
            if held is not None and cell["version"] < held.version:
                return f"cell {cell['id']} is at version {held.version} here, older in the changes"
        if order is not None:
            sent = {cell["id"] for cell in cells}
            unknown = [cell_id for cell_id in order if cell_id not in self.cells and cell_id not in sent]
            if unknown:
                return f"cell {unknown[0]} is in the order but was never sent"
        return ""

    def update(self, cells: list[dict], order: list[str] | None) -> None:
        """Apply changes that ``mismatch`` accepts: the cells sent replace the held ones, ``order`` (when given)
        becomes the order, and cells missing from it are deleted."""
        for cell in cells:
            self.cells[cell["id"]] = HeldCell(cell, cell["version"])
        if order is not None:
            self.order = list(order)
            if len(self.cells) != len(self.order):
                self.cells = {cell_id: self.cells[cell_id] for cell_id in self.order}

    def held(self) -> list[HeldCell]:
        return [self.cells[cell_id] for cell_id in self.order]

    def source(self, index: int) -> str:
        return self.cells[self.order[index]].node.source

    def notebook(self) -> NotebookNode:
        """The document as an nbformat notebook (its cells are the held nodes: read them, never change them)."""
        return NotebookNode(
            cells=[held.node for held in self.held()], metadata=NotebookNode(), nbformat=4, nbformat_minor=5
        )

    def views(self) -> tuple[CellView, ...]:
        """``context.notebook.cell_views`` of the document, from the views each cell keeps."""
        held = self.held()
        late = out_of_order([cell.node for cell in held])
        views = (cell.view(index, index in late) for index, cell in enumerate(held))
        return tuple(view for view in views if view is not None)

    def situation(
        self,
        cell: int,
        *,
        offset: int | None = None,
        selection: tuple[int, int] | None = None,
        path: str = "",
        kernel_context: dict | None = None,
        instruction: str = "",
    ) -> Situation:
        """As ``context.situation.situation_from_notebook`` (tests/test_server_document.py holds them equal)."""
        return Situation(
            cursor=Cursor(cell, self.source(cell), offset, selection),
            cells=self.views(),
            kernel=kernel_context["snapshot"] if kernel_context else None,
            last_error=kernel_context["last_error"] if kernel_context else self.saved_last_error(cell),
            path=os.path.basename(path),
            instruction=instruction,
        )

    def saved_last_error(self, upto: int) -> dict | None:
        """``context.notebook.saved_last_error``, read only in the cells that have an error output."""
        failed = [held.node for held in self.held()[:upto] if held.failed]
        return saved_last_error(NotebookNode(cells=failed), len(failed))


def notebook(message: dict) -> NotebookNode:
    """The request's document as an nbformat notebook."""
    return message["document"].notebook()


def situation(message: dict, context: dict | None, instruction: str = "", root_dir: str = "") -> Situation:
    """The active cell at the cursor (or selection); the kernel's context when there is one, else (as on the
    command line) the notebook's saved error output stands in for the last error. The project's rules are found
    from the notebook's folder, up to the server's ``root_dir`` at most."""
    selection = message.get("selection")
    path = message.get("path", "")
    rules = project_rules(os.path.join(root_dir, os.path.dirname(path)), stop=root_dir) if root_dir else ()
    found = message["document"].situation(
        int(message["cell"]),
        offset=int(message["offset"]) if message.get("offset") is not None else None,
        selection=(int(selection[0]), int(selection[1])) if selection else None,
        path=path,
        kernel_context=context,
        instruction=instruction,
    )
    return dataclasses.replace(found, rules=rules)
