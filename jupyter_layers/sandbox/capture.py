"""Where a scratch cell's output goes: capped in-memory text and a list of rendered displays.

``Redirection`` points every way Python code can print or display at one ``Capture``: ``sys.stdout`` and
``sys.stderr``, ``sys.displayhook``, the ``display`` builtin, and an IPython shell's display formatter and
publisher. In the forked child it also rewires ipykernel's ``OutStream`` class, because objects created
before the fork (a logging handler, a library's saved ``sys.stderr``) still hold the kernel's streams, and
ipykernel deliberately forwards a forked child's writes on them to the user's notebook.
"""

from __future__ import annotations

import builtins
import collections
import io
import sys
from functools import cache

from .render import render, render_bundle

STREAM_CHARS = 20_000
MAX_OUTPUTS = 20
_MISSING = object()


class CappedText(io.TextIOBase):
    """A text stream keeping the first and last ``limit // 2`` characters, so a runaway loop costs no memory."""

    encoding = "utf-8"

    def __init__(self, name: str, limit: int = STREAM_CHARS):
        self.name = name
        self.limit = limit
        self._head: list[str] = []
        self._head_size = 0
        self._tail: collections.deque[str] = collections.deque()
        self._tail_size = 0
        self._cut = 0

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        size = len(text)
        room = self.limit // 2 - self._head_size
        if room > 0:
            self._head.append(text[:room])
            self._head_size += len(self._head[-1])
            text = text[room:]
        if text:
            self._tail.append(text)
            self._tail_size += len(text)
            self._trim_tail()
        return size

    def _trim_tail(self) -> None:
        keep = self.limit - self.limit // 2
        while self._tail_size > keep:
            first = self._tail[0]
            excess = self._tail_size - keep
            if len(first) <= excess:
                self._tail.popleft()
                self._tail_size -= len(first)
                self._cut += len(first)
            else:
                self._tail[0] = first[excess:]
                self._tail_size -= excess
                self._cut += excess

    def take(self) -> str:
        """The text so far, and start afresh."""
        cut = f"\n...[{self._cut} characters cut]...\n" if self._cut else ""
        text = "".join(self._head) + cut + "".join(self._tail)
        self._head, self._head_size, self._tail, self._tail_size, self._cut = [], 0, collections.deque(), 0, 0
        return text


class Capture:
    """One sandbox's output sink; ``take()`` returns a step's stdout, stderr and displays and empties it."""

    def __init__(self):
        self.stdout = CappedText("stdout")
        self.stderr = CappedText("stderr")
        self.outputs: list[str] = []
        self._dropped = 0

    def add_output(self, text: str) -> None:
        if len(self.outputs) < MAX_OUTPUTS:
            self.outputs.append(text)
        else:
            self._dropped += 1

    def display(self, *objects, raw: bool = False, **_options) -> None:
        """The ``display`` builtin where IPython provides none (a plain Python process)."""
        for value in objects:
            self.add_output(render_bundle(value) if raw and isinstance(value, dict) else render(value))

    def displayhook(self, value) -> None:
        if value is not None:
            self.add_output(render(value))

    def format(self, value, include=None, exclude=None) -> tuple[dict, dict]:
        """Stands in for IPython's display formatter: our text instead of every mimetype's rendering."""
        return {"text/plain": render(value)}, {}

    def take(self) -> tuple[str, str, tuple[str, ...]]:
        outputs = self.outputs + ([f"[{self._dropped} more displays not kept]"] if self._dropped else [])
        self.outputs, self._dropped = [], 0
        return self.stdout.take(), self.stderr.take(), tuple(outputs)


@cache
def _publisher_class():
    from IPython.core.displaypub import DisplayPublisher

    class CapturePublisher(DisplayPublisher):
        """An IPython display publisher that keeps displays as text instead of sending them to the frontend."""

        def __init__(self, capture: Capture, **kwargs):
            super().__init__(**kwargs)
            self.capture = capture

        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs) -> None:
            self.capture.add_output(render_bundle(data))

        def clear_output(self, wait=False) -> None:
            return None

    return CapturePublisher


def _running_shell():
    """The IPython shell of this process, if one was started; never imports IPython."""
    module = sys.modules.get("IPython.core.interactiveshell")
    if module is None or not module.InteractiveShell.initialized():
        return None
    return module.InteractiveShell.instance()


def _to_capture(capture: Capture):
    def write(stream, text: str) -> int:
        return (capture.stdout if stream.name == "stdout" else capture.stderr).write(text)

    return write


def _no_flush(stream) -> None:
    return None


class Redirection:
    """Points the process's output machinery at a ``Capture``; ``undo`` puts back exactly what was there."""

    def __init__(self, capture: Capture, *, kernel_streams: bool = False):
        self.capture = capture
        self.kernel_streams = kernel_streams
        self._undo: list = []

    def _swap(self, owner, name: str, value) -> None:
        has_trait = getattr(owner, "has_trait", None)
        if not isinstance(owner, type) and callable(has_trait) and has_trait(name):
            previous = getattr(owner, name)  # a traitlets value lives outside __dict__
        else:
            previous = vars(owner).get(name, _MISSING)
        self._undo.append((owner, name, previous))
        setattr(owner, name, value)

    def apply(self) -> None:
        capture = self.capture
        stream_class = getattr(sys.modules.get("ipykernel.iostream"), "OutStream", None)
        kernel_streams = [s for s in (sys.stdout, sys.stderr) if stream_class and isinstance(s, stream_class)]
        self._swap(sys, "stdout", capture.stdout)
        self._swap(sys, "stderr", capture.stderr)
        self._swap(sys, "displayhook", capture.displayhook)
        shell = _running_shell()
        if shell is None:
            self._swap(builtins, "display", capture.display)
        else:
            self._swap(shell, "display_pub", _publisher_class()(capture, shell=shell))
            self._swap(shell.display_formatter, "format", capture.format)
        if self.kernel_streams and stream_class is not None:
            # The class, for streams made elsewhere; and the kernel's two instances, because IPython wraps
            # their ``write`` in an instance attribute while a cell runs (to record outputs in its history).
            self._swap(stream_class, "write", _to_capture(capture))
            self._swap(stream_class, "flush", _no_flush)
            for stream in kernel_streams:
                self._swap(stream, "write", _to_capture(capture).__get__(stream))
                self._swap(stream, "flush", _no_flush.__get__(stream))

    def undo(self) -> None:
        while self._undo:
            owner, name, previous = self._undo.pop()
            if previous is _MISSING:
                if name in vars(owner):  # scratch code may have deleted it already
                    delattr(owner, name)
            else:
                setattr(owner, name, previous)
