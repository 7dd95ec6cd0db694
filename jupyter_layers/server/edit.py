"""Layer 2 for the browser: rewrite the selection (or the cell) by an instruction, streamed, never applied here.

The browser shows the streamed region as it comes, then reviews the whole new source as a diff in the cell;
only the browser, on the user's accept, changes the notebook.
"""

from __future__ import annotations

from ..context.situation import focus_names
from ..engine.rewrite import rewrite as rewrite_cell
from .document import notebook, situation
from .threaded import SocketRun, in_thread, thread_sender


async def rewrite(state, message: dict, send) -> None:
    instruction = str(message["instruction"]).strip()
    nb = notebook(message)
    source = nb.cells[int(message["cell"])].source
    context = await state.contexts.get(message.get("kernel_id"), focus_names(source))
    route = state.router.route("edit", message.get("model", ""))
    run = SocketRun(route, thread_sender(send), state.ledger(message.get("path", "")))
    edit = situation(message, nb, context, instruction)
    result = await in_thread(lambda: rewrite_cell(route, edit, state.settings, run), run)
    if result is None:  # cancelled
        return
    send(
        {
            "type": "rewrite",
            "source": result.source,
            "replacement": result.replacement,
            "syntax_error": result.syntax_error,
            "model": result.model,
            "provenance": result.provenance(),
            "done": True,
        }
    )
