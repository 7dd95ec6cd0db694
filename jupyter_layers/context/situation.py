"""Everything a layer may put into a prompt, gathered by a surface (kernel, server or command line)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from .notebook import CellView, cell_views, saved_last_error
from .relevance import WORD
from .rules import project_rules


@dataclass(frozen=True)
class Cursor:
    """Where the user is: the active cell's index and text, the cursor offset, and a selection if any."""

    cell: int
    source: str
    offset: int | None = None  # None: the end of the cell
    selection: tuple[int, int] | None = None

    @property
    def position(self) -> int:
        return len(self.source) if self.offset is None else min(max(self.offset, 0), len(self.source))


@dataclass(frozen=True)
class Situation:
    cursor: Cursor
    cells: tuple[CellView, ...] = ()  # the notebook's cells (the active one's saved copy may be among them)
    kernel: dict | None = None  # jupyter_layers.kernel.snapshot(); None when no kernel state is available
    last_error: dict | None = None  # LastError.to_dict(), or rebuilt from the notebook's saved error output
    path: str = ""
    instruction: str = ""  # the edit instruction or the question
    notes: tuple[tuple[str, str], ...] = field(default=())  # extra (title, text) sections, e.g. exploration findings
    rules: tuple[tuple[str, str], ...] = field(default=())  # (path, text) of the project's AGENTS.md files (rules.py)


def focus_names(source: str, limit: int = 12) -> tuple[str, ...]:
    """Identifiers of the active cell, for the kernel to summarise in detail."""
    return tuple(dict.fromkeys(WORD.findall(source)))[:limit]


def as_new_cell(situation: Situation, nb) -> Situation:
    """The situation with the cursor in a new, empty cell after the notebook, as the magics ask from a new cell.

    Explore and escalate prompts show only the *other* cells: with the cursor on a real cell, that cell (the
    one that failed, say) would be missing from the prompt.
    """
    return dataclasses.replace(situation, cursor=Cursor(len(nb.cells), ""))


def situation_from_notebook(
    nb,
    cell: int,
    *,
    offset: int | None = None,
    path: str = "",
    kernel_context: dict | None = None,
    instruction: str = "",
    selection: tuple[int, int] | None = None,
) -> Situation:
    """Cell ``cell`` is the active one; without a kernel context the saved error outputs stand in for the kernel.
    The project's rules are found from the notebook file's folder (``path``, a file on this machine)."""
    source = nb.cells[cell].source
    last_error = kernel_context["last_error"] if kernel_context else saved_last_error(nb, cell)
    return Situation(
        cursor=Cursor(cell, source, offset, selection),
        cells=tuple(cell_views(nb)),
        kernel=kernel_context["snapshot"] if kernel_context else None,
        last_error=last_error,
        path=os.path.basename(path),
        instruction=instruction,
        rules=project_rules(os.path.dirname(os.path.abspath(path))) if path else (),
    )
