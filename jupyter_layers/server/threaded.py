"""The engine's synchronous layers (edit, exploration, escalation) driven from the server's event loop.

``rewrite``, ``Agent`` and escalation take a ``run(request) -> Stop | None`` callable, as the magics and the
command line give them. Here that callable runs in a worker thread and forwards text and thinking to the
browser through the loop; cancelling the asyncio task (a superseded request, Stop, a closed tab) sets a flag
and closes the model stream in flight, so the worker ends within a token.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from ..models.events import Failure, Stop, TextDelta, ThinkingDelta, Usage
from ..models.messages import Request
from ..models.router import Route
from ..usage import UsageLedger


class SocketRun:
    """``run(request) -> Stop | None`` for the engine, streaming to the browser; None once cancelled."""

    def __init__(self, route: Route, send: Callable[[dict], None], ledger: UsageLedger, on_usage=None):
        self.route, self.send, self.ledger, self.on_usage = route, send, ledger, on_usage
        self.cancelled = threading.Event()
        self.stream = None
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Stop | None:
        with self.lock:
            if self.cancelled.is_set():
                return None
            self.stream = self.route.provider.stream(request)
        for event in self.stream:
            if isinstance(event, TextDelta):
                self.post({"type": "text", "text": event.text})
            elif isinstance(event, ThinkingDelta):
                self.post({"type": "thinking", "text": event.text})
            elif isinstance(event, Usage):
                self.ledger.record(self.route.layer, self.route.model, event)
                if self.on_usage:
                    self.on_usage(event)
            elif isinstance(event, Failure):
                raise event.error
            elif isinstance(event, Stop):
                return None if event.reason == "cancelled" else event
        return None

    def post(self, payload: dict) -> None:
        """Send to the browser from the worker thread, unless the request was cancelled (its panel moved on)."""
        if not self.cancelled.is_set():
            self.send(payload)

    def cancel(self) -> None:
        with self.lock:
            self.cancelled.set()
            if self.stream is not None:
                self.stream.cancel()


def thread_sender(send: Callable[[dict], None]) -> Callable[[dict], None]:
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
