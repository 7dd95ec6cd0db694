"""One loop that drives a model stream for a surface: the only place model events are consumed.

Every layer of the engine takes a ``run(request) -> Stop | None`` callable (the edit's retry, the exploration
agent's turns, escalation); ``ModelRun`` is that callable for every surface. It sends text and thinking to the
surface's ``Sink`` (the kernel's display, the browser's socket, a terminal), records usage, and decides once
what a failure and a cancellation are: a failure goes to the sink (which says it in its own way, or raises it),
a cancellation (``cancel()`` from another thread, or Ctrl-C, which closes the model stream) returns None after
the sink is told. Ctrl-C propagates only for a sink that asks for it (a command that must shut its kernel down).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from ..errors import LayersError
from ..usage import UsageLedger
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


class ModelRun:
    """``run(request) -> Stop | None`` bound to a route, a sink and a usage ledger; None when the call failed or
    was cancelled (the sink was told)."""

    def __init__(self, route: Route, sink: Sink, ledger: UsageLedger, on_usage: Callable[[Usage], None] | None = None):
        self.route, self.sink, self.ledger, self.on_usage = route, sink, ledger, on_usage
        self.stopped = threading.Event()  # cancel() was called: no more calls, nothing more shown
        self._stream = None
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Stop | None:
        with self._lock:
            if self.stopped.is_set():
                return None
            stream = self._stream = self.route.provider.stream(request)
        text = thinking = ""
        try:
            for event in stream:
                if isinstance(event, TextDelta):
                    text += event.text
                    self.sink.text(event.text, text)
                elif isinstance(event, ThinkingDelta):
                    thinking += event.text
                    self.sink.thinking(event.text, thinking)
                elif isinstance(event, Usage):
                    self.ledger.record(self.route.layer, self.route.model, event)
                    if self.on_usage:
                        self.on_usage(event)
                elif isinstance(event, Failure):
                    self.sink.failed(event.error, text)
                    return None
                elif isinstance(event, Stop):
                    if event.reason == "cancelled":
                        self.sink.cancelled(text, interrupted=False)
                        return None
                    self.sink.finished(text)
                    return event
        except KeyboardInterrupt:
            stream.cancel()
            self.sink.cancelled(text, interrupted=True)
            if self.sink.propagate_interrupt:
                raise
        return None

    def cancel(self) -> None:
        """From another thread: no further call starts, and the one in flight has its model stream closed."""
        with self._lock:
            self.stopped.set()
            if self._stream is not None:
                self._stream.cancel()
