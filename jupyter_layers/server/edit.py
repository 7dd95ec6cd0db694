"""Layer 2 for the browser: rewrite the selection (or the cell) by an instruction, streamed, never applied here.

The browser shows the streamed region as it comes, then reviews the whole new source as a diff in the cell;
only the browser, on the user's accept, changes the notebook.
"""

from __future__ import annotations

from ..context.situation import focus_names
from ..engine import recipes
from ..engine.rewrite import rewrite as rewrite_cell
from .document import situation
from .protocol import RewriteReply
from .threaded import SocketRun, in_thread, thread_sender


async def prepare(state, message: dict) -> recipes.Prepared:
    """The edit request for the selection in the message (also what the ``prompt`` request shows)."""
    instruction = str(message["instruction"]).strip()
    focus = focus_names(message["document"].source(int(message["cell"])))
    context = await state.contexts.fresh(message.get("kernel_id"), focus)
    route = state.router.route("edit", message.get("model", ""), notebook=message.get("path", ""))
    return recipes.edit(route, situation(message, context, instruction, state.root_dir), state.settings)


async def rewrite(state, message: dict, send) -> None:
    prepared = await prepare(state, message)
    run = SocketRun(prepared.route, thread_sender(send), None)
    result = await in_thread(lambda: rewrite_cell(prepared, run), run)
    if result is None:  # cancelled
        return
    send(
        RewriteReply(
            source=result.source,
            replacement=result.replacement,
            syntax_error=result.syntax_error,
            taste=list(result.taste),
            model=result.model,
            provenance=result.provenance(),
        )
    )
