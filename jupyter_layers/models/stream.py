"""A model response as a cancellable event stream, usable from sync and from async code.

Providers are written once, as async generators. The server iterates them on its own event loop
(``async for``). Magics run inside a kernel whose event loop is already running on the main thread, where
``asyncio.run`` fails, so sync iteration (``for``) runs the same generator on one private background loop
thread and hands events over through a queue. Either way ``cancel()`` (from any thread), leaving the loop
early, or Ctrl-C in the consumer stops the provider's task, which closes its HTTP stream or token loop.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

from ..errors import LayersError
from .events import Event, Failure, Stop, TextDelta, Usage
from .messages import Message

EventSource = Callable[[], AsyncIterator[Event]]


@dataclass(frozen=True)
class Reply:
    """A whole response, for callers that do not display it as it streams."""

    message: Message
    usage: Usage
    stop_reason: str
    model: str

    @property
    def text(self) -> str:
        return self.message.text


class ModelStream:
    """Events of one model call. Iterate it once, with ``for`` or ``async for``."""

    def __init__(self, source: EventSource, model: str):
        self._source = source
        self.model = model
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._cancel_requested = False

    @property
    def active(self) -> bool:
        """True while the provider is still producing (its HTTP stream or token loop is open)."""
        return self._task is not None and not self._task.done()

    def cancel(self) -> None:
        """Stop the call; the stream then ends with ``Stop(reason="cancelled")``. Safe from any thread."""
        self._cancel_requested = True
        if self._loop is not None and self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)

    async def _pump(self, put: Callable[[object], None]) -> None:
        """Run the provider to its end, turning errors and cancellation into terminal events."""
        self._task = asyncio.current_task()
        shown: list[str] = []
        try:
            if self._cancel_requested:
                raise asyncio.CancelledError
            async for event in self._source():
                if isinstance(event, TextDelta):
                    shown.append(event.text)
                put(event)
        except asyncio.CancelledError:
            put(Stop("cancelled", Message.assistant("".join(shown)), self.model))
        except LayersError as error:
            put(Failure(error))
        except Exception as bug:  # not a provider fault: hand it to the consumer to raise
            put(bug)

    async def __aiter__(self) -> AsyncIterator[Event]:
        inbox: asyncio.Queue = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        task = self._loop.create_task(self._pump(inbox.put_nowait))
        try:
            while True:
                event = await inbox.get()
                if isinstance(event, Exception):
                    raise event
                yield event
                if isinstance(event, (Stop, Failure)):
                    return
        finally:
            task.cancel()

    def __iter__(self) -> Iterator[Event]:
        inbox: queue.Queue = queue.Queue()
        self._loop = background_loop()
        done = None
        try:  # entered before the call is handed over: a Ctrl-C right after it still cancels it
            done = asyncio.run_coroutine_threadsafe(self._pump(inbox.put), self._loop)
            while True:
                event = inbox.get()
                if isinstance(event, Exception):
                    raise event
                yield event
                if isinstance(event, (Stop, Failure)):
                    return
        finally:
            if done is None or not done.done():
                self.cancel()

    def final(self) -> Reply:
        """Consume the stream; raise its error, if any, as a LayersError."""
        return _reply(list(self), self.model)

    async def afinal(self) -> Reply:
        return _reply([event async for event in self], self.model)


def _reply(events: list, model: str) -> Reply:
    usage = Usage()
    for event in events:
        if isinstance(event, Failure):
            raise event.error
        if isinstance(event, Usage):
            usage = usage + event
    stop = events[-1]
    return Reply(stop.message, usage, stop.reason, stop.model or model)


_background: asyncio.AbstractEventLoop | None = None
_background_lock = threading.Lock()


def background_loop() -> asyncio.AbstractEventLoop:
    """The process's private event loop for sync callers, started on first use."""
    global _background
    with _background_lock:
        if _background is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="jupyter-layers-models", daemon=True).start()
            _background = loop
        return _background


def _forget_background_loop() -> None:
    # A forked child (the exploration sandbox) inherits the loop object but not its thread.
    global _background, _background_lock
    _background = None
    _background_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_background_loop)
