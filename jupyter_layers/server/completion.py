"""Layer 1 for the browser: stream a completion as cumulative, cleaned ghost text.

This path runs on the server's event loop (no thread hop) because its latency is the product. The cleaned text
is sent only while it extends what was sent before (JupyterLab animates each reply as an addition), so an echo
of the code before the cursor that becomes recognisable only after a few more tokens is never shown; the last
message carries the final text whatever it is.
"""

from __future__ import annotations

from ..context.situation import focus_names
from ..engine import recipes
from ..engine.complete import clean_answer, syntax_problem
from ..models.events import Failure, Stop, TextDelta
from .document import situation
from .protocol import StreamReply

AMBIGUOUS_ECHO = 3  # drop_echo removes overlaps of 3+ characters: shorter answers may still turn out to be echo


async def prepare(state, message: dict) -> recipes.Prepared:
    """The completion request for the cursor in the message (also what the ``prompt`` request shows); the kernel's
    context comes from the server's copy (kernel_context.py), so a keystroke does not wait on the kernel."""
    source = message["document"].source(int(message["cell"]))
    offset = min(int(message.get("offset", len(source))), len(source))
    context = await state.contexts.get(message.get("kernel_id"), focus_names(source[:offset]))
    route = state.router.route("complete", message.get("model", ""), notebook=message.get("path", ""))
    return recipes.complete(route, situation(message, context, root_dir=state.root_dir), state.settings)


async def complete(state, message: dict, send) -> None:
    prepared = await prepare(state, message)
    route, request, cursor = prepared.route, prepared.request, prepared.situation.cursor
    before, text, sent = cursor.source[: cursor.position], "", ""

    def cleaned(text: str) -> str:
        return clean_answer(before, text, route.prompt_format, "line")

    async for event in route.stream(request):
        if isinstance(event, TextDelta):
            text += event.text
            so_far = cleaned(text)
            if len(so_far) >= AMBIGUOUS_ECHO and so_far.startswith(sent) and so_far != sent:
                sent = so_far
                send(StreamReply(text=sent, done=False))
        elif isinstance(event, Failure):
            raise event.error
        elif isinstance(event, Stop):  # ghost text that cannot be Python is no suggestion: it disappears
            final = cleaned(event.message.text)
            send(StreamReply(text="" if syntax_problem(before, final, "line") else final, done=True))
