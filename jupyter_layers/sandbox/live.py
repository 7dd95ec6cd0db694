"""Scratch cells in the live namespace, for when forking is unsafe (Windows, CUDA) or the user asks for it.

Weaker by nature, and the user is told so: in-place changes to objects (``df.drop(..., inplace=True)``,
``list.append``), rebinding and deleting the user's names all happen to the real variables. Names the scratch
code created are removed at ``close()`` and the working directory is put back. No audit hook: one cannot be
removed from a process once added, and it would stay in the user's kernel. A timeout raises an exception in
the running code at its next Python instruction; code blocked inside one C call (``time.sleep``, a socket
read) runs on until that call returns.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time

from .capture import Capture, Redirection
from .execute import run_code
from .protections import LIVE
from .result import StepResult
from .workdir import Workdir


class ScratchTimeout(BaseException):
    """Raised into the scratch code at its deadline; a BaseException, so ``except Exception`` cannot swallow it."""


class _Deadline:
    """Raises ScratchTimeout in this thread after ``seconds`` unless the block has finished."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.thread = threading.get_ident()
        self._lock = threading.Lock()
        self._active = False
        self._fired = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        with self._lock:
            if self._active:
                self._fired = True
                raise_in = ctypes.pythonapi.PyThreadState_SetAsyncExc
                raise_in(ctypes.c_ulong(self.thread), ctypes.py_object(ScratchTimeout))

    def __enter__(self) -> _Deadline:
        self._active = True
        self._timer.start()
        return self

    def __exit__(self, *exc_info) -> None:
        with self._lock:
            self._active = False
            if self._fired:
                # the exception may not have been delivered yet; clear it so it cannot strike after the block
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.thread), None)
        self._timer.cancel()


class LiveSandbox:
    """Scratch cells in ``namespace`` itself; names they create are removed on ``close()``."""

    mode = "live"
    protections = LIVE

    def __init__(self, namespace: dict, *, workdir: str | None = None):
        self.namespace = namespace
        self._workdir = Workdir(self, workdir)
        self.workdir = self._workdir.path
        self._initial = set(namespace)
        self._created: set[str] = set()
        self._cwd = os.getcwd()
        self._number = 0
        self._closed = False

    def run(self, code: str, timeout: float = 30.0) -> StepResult:
        if self._closed:
            raise RuntimeError("this sandbox is closed")
        self._number += 1
        started = time.monotonic()
        before = set(self.namespace)
        capture = Capture()
        redirection = Redirection(capture)
        redirection.apply()
        value = error = None
        timed_out = False
        try:
            with _Deadline(timeout):
                stops = (KeyboardInterrupt, ScratchTimeout)
                value, error, _exception = run_code(code, self.namespace, self._number, passthrough=stops)
        except ScratchTimeout:
            timed_out = True
            error = (
                f"TimeoutError: the scratch cell ran longer than {timeout:g} s and was interrupted; what it changed "
                "before that stays changed (live mode)"
            )
        finally:
            redirection.undo()
            self._created |= (set(self.namespace) - before) - self._initial
        stdout, stderr, outputs = capture.take()
        return StepResult(
            stdout, stderr, value, outputs, error, timed_out=timed_out, elapsed=time.monotonic() - started
        )

    def close(self) -> None:
        """Removes the names scratch code created and restores the working directory. Safe to call twice."""
        for name in self._created:
            self.namespace.pop(name, None)
        self._created.clear()
        os.chdir(self._cwd)
        self._closed = True
        self._workdir.remove()

    def __enter__(self) -> LiveSandbox:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
