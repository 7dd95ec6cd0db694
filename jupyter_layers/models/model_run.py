"""One loop that drives a model stream for a surface: the only place model events are consumed.

Every layer of the engine takes a ``run(request) -> Stop | None`` callable (the edit's retry, the exploration
agent's turns, escalation); ``ModelRun`` is that callable for every surface. It sends text and thinking to the
surface's ``Sink`` (the kernel's display, the browser's socket, a terminal), records usage, and decides once
what a failure and a cancellation are: a failure goes to the sink (which says it in its own way, or raises it),
a cancellation (``cancel()`` from another thread, or Ctrl-C, which closes the model stream) returns None after
the sink is told. Ctrl-C propagates only for a sink that asks for it (a command that must shut its kernel down).

The answers of the edit, exploration and escalation layers pass through ``engine.junk.Screen`` on their way to
the sink: a passage that has begun to repeat, or a line that may become one of the prompt's section tags, is
held back until it proves harmless; an answer that is junk (echoed scaffolding, one passage over and over) has
its model stream closed, what was shown of it withdrawn, and ``UnusableAnswer`` raised: one line on every
surface, naming the model and the layer, instead of the junk.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from ..engine import junk
from ..errors import LayersError
from ..usage import UsageLedger, cost_at
from .events import Failure, Stop, TextDelta, ThinkingDelta, Usage
from .messages import Request
from .router import Route


class Sink(Protocol):
    """Where one surface shows a model call. ``so_far`` is the whole text (or thinking) received until now."""

    propagate_interrupt: bool  # Ctrl-C goes on up after the sink is told (a terminal command), or ends here

    def text(self, delta: str, so_far: str) -> None: ...

    def thinking(self, delta: str, so_far: str) -> None: ...

    def failed(self, error: LayersError, text: str) -> None: ...

    def cancelled(self, text: str, interrupted: bool) -> None: ...  # interrupted: by Ctrl-C

    def finished(self, text: str) -> None: ...

    def withdrawn(self, shown: str) -> None: ...  # ``shown`` was part of an answer that is junk: take it back


class ModelRun:
    """``run(request) -> Stop | None`` bound to a route, a sink and a usage ledger; None when the call failed or
    was cancelled (the sink was told)."""

    def __init__(
        self, route: Route, sink: Sink, ledger: UsageLedger | None, on_usage: Callable[[Usage], None] | None = None
    ):
        """``ledger``: a kernel's running totals for `%layers usage`; None where the route's meter (the usage
        record on disk) is the only account kept, as in the server."""
        self.route, self.sink, self.ledger, self.on_usage = route, sink, ledger, on_usage
        self.stopped = threading.Event()  # cancel() was called: no more calls, nothing more shown
        self._stream = None
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Stop | None:
        with self._lock:
            if self.stopped.is_set():
                return None
            stream = self._stream = self.route.stream(request)
        screen = junk.Screen(request) if self.route.layer in junk.SCREENED_LAYERS else None
        text = thinking = ""
        shown = 0  # how much of the text the sink has: the screen may hold back the end
        try:
            for event in stream:
                if isinstance(event, TextDelta):
                    text += event.text
                    upto = len(text) if screen is None else screen.update(text)
                    if screen is not None and screen.verdict:
                        stream.cancel()
                        self.reject(screen.verdict, text[:shown])
                    if upto > shown:
                        self.sink.text(text[shown:upto], text[:upto])
                        shown = upto
                elif isinstance(event, ThinkingDelta):
                    thinking += event.text
                    self.sink.thinking(event.text, thinking)
                elif isinstance(event, Usage):
                    if self.ledger is not None:
                        self.ledger.record(self.route.layer, self.route.model, event, cost_at(self.route.price, event))
                    if self.on_usage:
                        self.on_usage(event)
                elif isinstance(event, Failure):
                    self.sink.failed(event.error, text[:shown])
                    return None
                elif isinstance(event, Stop):
                    if event.reason == "cancelled":
                        self.sink.cancelled(text[:shown], interrupted=False)
                        return None
                    verdict = screen.finish(text, final=not event.message.tool_uses) if screen is not None else ""
                    if verdict:
                        self.reject(verdict, text[:shown])
                    if len(text) > shown:
                        self.sink.text(text[shown:], text)
                    self.sink.finished(text)
                    return event
        except KeyboardInterrupt:
            stream.cancel()
            self.sink.cancelled(text[:shown], interrupted=True)
            if self.sink.propagate_interrupt:
                raise
        return None

    def reject(self, verdict: str, shown: str) -> None:
        """The answer is junk: the sink takes back what it showed of it, and the one line is raised in its place."""
        self.sink.withdrawn(shown)
        raise junk.unusable(self.route, verdict)

    def cancel(self) -> None:
        """From another thread: no further call starts, and the one in flight has its model stream closed."""
        with self._lock:
            self.stopped.set()
            if self._stream is not None:
                self._stream.cancel()
