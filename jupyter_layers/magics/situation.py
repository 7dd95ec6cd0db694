"""A Situation from inside the kernel: the input history stands in for the notebook's cells.

A kernel does not see the notebook document, only what was executed: ``In`` (sources) and ``Out`` (results).
Results are user objects, so only plain builtin values are shown (their repr cannot misbehave); anything
else appears by type name, and the kernel snapshot describes it safely.
"""

from __future__ import annotations

from ..context.notebook import CellView, shorten
from ..context.situation import Cursor, Situation
from ..kernel import cell_history, snapshot

PLAIN = (int, float, complex, bool, type(None))


def result_text(value) -> str:
    if isinstance(value, PLAIN):
        return repr(value)
    if type(value) is str:
        return shorten(repr(value), 400)
    return f"<{type(value).__module__}.{type(value).__qualname__} object>"


def history_cells(shell, asking: bool = True) -> list[CellView]:
    """Every earlier input of this session as a code cell, as typed (magics untransformed), numbered by count.

    ``asking``: the last input is the cell running now (a magic asking), so it is left out; at the terminal's
    prompt nothing runs and the last input is a finished cell.
    """
    inputs = shell.history_manager.input_hist_raw[1:]
    inputs = inputs[:-1] if asking else inputs
    outputs = shell.history_manager.output_hist
    return [
        CellView(count, "code", source, count, result_text(outputs[count]) if count in outputs else "")
        for count, source in enumerate(inputs, start=1)
        if source.strip()
    ]


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
    )
