"""The engine's synchronous layers (edit, exploration, escalation) driven from the server's event loop.

``rewrite``, ``Agent`` and escalation take a ``run(request) -> Stop | None`` callable, as the magics and the
command line give them. Here that callable runs in a worker thread and forwards text and thinking to the
browser through the loop; cancelling the asyncio task (a superseded request, Stop, a closed tab) sets a flag
and closes the model stream in flight, so the worker ends within a token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..errors import LayersError
from ..models.model_run import ModelRun
from ..models.router import Route
from ..usage import UsageLedger
from .protocol import ServerReply, TextReply, ThinkingReply


class SocketSink:
    """A model call streamed to the browser: deltas as they come; a failure raised for the socket to report in
    one line (so is an answer that is junk: ``ModelRun`` raises it); a cancelled request is ended by the socket
    (``cancelled``)."""

    propagate_interrupt = False

    def __init__(self, post: Callable[[ServerReply], None]):
        self.post = post

    def text(self, delta: str, so_far: str) -> None:
        self.post(TextReply(text=delta))

    def thinking(self, delta: str, so_far: str) -> None:
        self.post(ThinkingReply(text=delta))

    def failed(self, error: LayersError, text: str) -> None:
        raise error

    def cancelled(self, text: str, interrupted: bool) -> None:
        return None

    def finished(self, text: str) -> None:
        return None

    def withdrawn(self, shown: str) -> None:
        return None  # the request ends with the error line; the screen held the junk back from the browser


class SocketRun(ModelRun):
    """``run(request) -> Stop | None`` for the engine in a worker thread, streaming to the browser; ``post``
    sends the layer's own messages (steps, notices) the same way, and nothing once the request is cancelled."""

    def __init__(self, route: Route, send: Callable[[ServerReply], None], ledger: UsageLedger | None, on_usage=None):
        self.send = send
        super().__init__(route, SocketSink(self.post), ledger, on_usage)

    def post(self, payload: ServerReply) -> None:
        """Send to the browser from the worker thread, unless the request was cancelled (its panel moved on)."""
        if not self.stopped.is_set():
            self.send(payload)


def thread_sender(send: Callable[[ServerReply], None]) -> Callable[[ServerReply], None]:
    """``send`` made safe to call from a worker thread: the message is written by the loop's thread."""
    loop = asyncio.get_running_loop()
    return lambda payload: loop.call_soon_threadsafe(send, payload)


async def in_thread(work: Callable[[], object], run: SocketRun):
    """Run ``work`` in a thread; if the task is cancelled, cancel ``run`` and let the thread end by itself."""
    future = asyncio.ensure_future(asyncio.to_thread(work))
    # After a cancel nobody awaits the thread's outcome: retrieve it, so a late error is not reported as lost.
    future.add_done_callback(lambda done: done.cancelled() or done.exception())
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        run.cancel()
        raise
