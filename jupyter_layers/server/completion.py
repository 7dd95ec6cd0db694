"""Layer 1 for the browser: stream a completion as cumulative, cleaned ghost text.

This path runs on the server's event loop (no thread hop) because its latency is the product. The cleaned text
is sent only while it extends what was sent before (JupyterLab animates each reply as an addition), so an echo
of the code before the cursor that becomes recognisable only after a few more tokens is never shown; the last
message carries the final text whatever it is.
"""

from __future__ import annotations

from ..context.situation import focus_names
from ..engine import recipes
from ..engine.complete import clean_completion
from ..models.events import Failure, Stop, TextDelta, Usage
from .document import notebook, situation
from .protocol import StreamReply

AMBIGUOUS_ECHO = 3  # drop_echo removes overlaps of 3+ characters: shorter answers may still turn out to be echo


async def prepare(state, message: dict) -> recipes.Prepared:
    """The completion request for the cursor in the message (also what the ``prompt`` request shows)."""
    nb = notebook(message)
    source = nb.cells[int(message["cell"])].source
    offset = min(int(message.get("offset", len(source))), len(source))
    context = await state.contexts.get(message.get("kernel_id"), focus_names(source[:offset]))
    route = state.router.route("complete", message.get("model", ""))
    return recipes.complete(route, situation(message, nb, context), state.settings)


async def complete(state, message: dict, send) -> None:
    prepared = await prepare(state, message)
    route, request, cursor = prepared.route, prepared.request, prepared.situation.cursor
    before, text, sent = cursor.source[: cursor.position], "", ""
    async for event in route.provider.stream(request):
        if isinstance(event, TextDelta):
            text += event.text
            cleaned = clean_completion(before, text)
            if len(cleaned) >= AMBIGUOUS_ECHO and cleaned.startswith(sent) and cleaned != sent:
                sent = cleaned
                send(StreamReply(text=sent, done=False))
        elif isinstance(event, Usage):
            state.ledger(message.get("path", "")).record("complete", route.model, event)
        elif isinstance(event, Failure):
            raise event.error
        elif isinstance(event, Stop):
            send(StreamReply(text=clean_completion(before, event.message.text), done=True))
