"""A Situation from inside the kernel: the input history (``context/input_history.py``) stands in for the
notebook's cells, the live snapshot for the kernel state."""

from __future__ import annotations

import os

from ..context.input_history import history_cells
from ..context.rules import project_rules
from ..context.situation import Cursor, Situation
from ..engine.recipes import SITUATION
from ..kernel import cell_history, snapshot


def notebook_folder() -> str:
    """The notebook's folder (a Jupyter server names the notebook in JPY_SESSION_NAME), else the kernel's own."""
    notebook = os.environ.get("JPY_SESSION_NAME", "")
    return os.path.dirname(notebook) if os.path.isabs(notebook) else os.getcwd()


def kernel_situation(
    shell,
    source: str = "",
    instruction: str = "",
    offset: int | None = None,
    selection: tuple[int, int] | None = None,
    asking: bool = True,
    snapshot_options: dict | None = None,
) -> Situation:
    """The current state, with ``source`` as a new cell after the history and the cursor in it."""
    error = cell_history.last_error()
    return Situation(
        cursor=Cursor(shell.execution_count, source, offset, selection),
        cells=tuple(history_cells(shell, asking)),
        kernel=snapshot(
            **(snapshot_options or {})
        ),  # the shell's namespace, less what IPython itself put there (user_ns_hidden)
        last_error=error.to_dict() if error else None,
        instruction=instruction,
        rules=project_rules(notebook_folder()),
    )


def layer_situation(shell, layer: str, source: str = "", instruction: str = "", **cursor) -> Situation:
    """The situation a layer's recipe takes, collected as that layer needs it (escalation: a larger snapshot).
    The cursor is already in a new cell after the history, as explore and escalate ask."""
    needs = SITUATION[layer]
    options = {"budget_ms": needs.snapshot_ms, "detail": needs.snapshot_detail} if needs.snapshot_ms else None
    return kernel_situation(shell, source, instruction, snapshot_options=options, **cursor)
