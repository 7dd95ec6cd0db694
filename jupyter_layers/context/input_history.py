"""A kernel's input history as cells: inside a kernel it stands in for the notebook, which the kernel never sees.

A kernel only knows what was executed: ``In`` (sources) and ``Out`` (results). Results are user objects, so only
plain builtin values are shown (their repr cannot misbehave); anything else appears by type name, and the kernel
snapshot describes it safely.
"""

from __future__ import annotations

from .notebook import CellView, shorten

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
