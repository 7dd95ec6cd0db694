"""Everything a layer may put into a prompt, gathered by a surface (kernel, server or command line)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .notebook import CellView


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
