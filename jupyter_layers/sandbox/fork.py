"""Scratch cells in a forked copy of the kernel: the whole live state, copy-on-write, and none of it shared back.

One child serves a whole exploration, so a cell sees what earlier cells defined. The parent sends each cell
over a pipe and waits with a deadline; on timeout it kills the child (SIGKILL: the child may be stuck in C
code) and reaps it, and the next cell forks afresh. Ctrl-C while waiting kills the child and propagates.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import select
import signal
import tempfile
import threading
import time
import warnings
import weakref

from .child import INTERNAL_ERROR, serve
from .pipe import MessageReader, write_message
from .protections import Protections, here
from .result import StepResult, clip
from .workdir import Workdir

NATIVE_CHARS = 4000
POLL_WITHOUT_PIDFD = 0.05  # seconds between liveness checks where pidfd_open is missing (macOS, old Linux)


class _TimedOut(Exception):
    pass


class _InterruptsHeld:
    """Ctrl-C during ``os.fork`` is held until the fork is done and the child is known (``caught``).

    Python runs its at-fork handlers (logging's lock release among them) right after the fork; a
    KeyboardInterrupt raised inside one is printed as "Exception ignored" and lost, so the exploration would go on.
    Only the main thread sets signal handlers: elsewhere (no Ctrl-C reaches that code) nothing is changed."""

    def __enter__(self) -> _InterruptsHeld:
        self.caught = False
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._hold)
        return self

    def _hold(self, signum, frame) -> None:
        self.caught = True

    def restore(self) -> None:
        """Put the handler back (also the first thing a forked child does)."""
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

    def __exit__(self, *exc_info) -> None:
        self.restore()


def describe_status(status: int | None) -> str:
    if status is None:
        return "ended (something else in this process collected its exit status)"
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    if code == INTERNAL_ERROR:
        return "failed inside the sandbox's own code"
    return f"exited with status {code}"


def _terminate(pid: int, creator: int) -> None:
    """Last resort when a sandbox is dropped without close(): kill and reap its child."""
    if os.getpid() != creator:
        return  # a copy of this finalizer inherited by another fork must not kill its sibling
    # at interpreter exit the child may already be gone or reaped by someone else: nothing is left to do then
    with contextlib.suppress(ProcessLookupError, ChildProcessError):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when the child exits (Linux 5.3+), so waiting needs no polling."""
    if not hasattr(os, "pidfd_open"):
        return None
    try:
        return os.pidfd_open(pid)
    except OSError:  # a kernel without the system call (ENOSYS) or a seccomp filter: fall back to polling
        return None


class _Child:
    """One forked sandbox process, seen from the parent: its pid, pipe ends and native output files."""

    def __init__(self, namespace: dict, workdir: str):
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        self.native = (tempfile.TemporaryFile(dir=workdir), tempfile.TemporaryFile(dir=workdir))
        native_fds = (self.native[0].fileno(), self.native[1].fileno())
        parent = os.getpid()
        started = time.perf_counter()
        try:
            with warnings.catch_warnings(), _InterruptsHeld() as held:
                # Python 3.12+ warns that forking a multi-threaded process may deadlock the child on a lock
                # another thread held. The child never takes the kernel threads' locks: it replaces the streams
                # and display machinery they share before anything else, uses raw pipes, and leaves with os._exit.
                warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*fork.*")
                pid = os.fork()
                if pid == 0:
                    held.restore()
                    held.caught = False  # the parent's Ctrl-C is the parent's
        except OSError:  # e.g. ENOMEM under strict overcommit: release what was made for the child, then report
            for fd in (request_read, request_write, reply_read, reply_write):
                os.close(fd)
            for file in self.native:
                file.close()
            raise
        if pid == 0:
            try:
                os.close(request_write)
                os.close(reply_read)
                serve(request_read, reply_write, namespace, workdir, native_fds, parent)
            finally:
                os._exit(INTERNAL_ERROR)  # serve() never returns; this only guards the two lines before it
        self.fork_seconds = time.perf_counter() - started
        os.close(request_read)
        os.close(reply_write)
        self.pid = pid
        self.requests = request_write
        self.replies = reply_read
        self.status: int | None = None  # the wait status, once reaped
        self.reaped = False
        self.pidfd = _pidfd(pid)
        self._native_read = [0, 0]
        self._finalizer = weakref.finalize(self, _terminate, pid, parent)
        if held.caught:  # Ctrl-C came during the fork: the child is known now, so end it and go on as for any Ctrl-C
            self.stop()
            raise KeyboardInterrupt

    def exchange(self, code: str, deadline: float) -> dict | None:
        """Sends one cell and waits for its reply; None if the child died first. Raises _TimedOut."""
        try:
            write_message(self.requests, {"code": code})
        except BrokenPipeError:
            return None  # it died between two cells; the caller reports how
        reader = MessageReader()
        poller = select.poll()
        poller.register(self.replies, select.POLLIN)
        if self.pidfd is not None:
            poller.register(self.pidfd, select.POLLIN)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _TimedOut
            wait = remaining if self.pidfd is not None else min(remaining, POLL_WITHOUT_PIDFD)
            ready = {fd for fd, _ in poller.poll(math.ceil(wait * 1000))}
            if self.replies in ready:
                chunk = os.read(self.replies, 1 << 20)
                if not chunk:
                    return None
                message = reader.feed(chunk)
                if message is not None:
                    return message
            elif self.pidfd in ready or (self.pidfd is None and self.exited()):
                return self._last_words(reader)

    def _last_words(self, reader: MessageReader) -> dict | None:
        """A reply the child wrote just before it exited is still in the pipe."""
        while select.select([self.replies], [], [], 0)[0]:
            chunk = os.read(self.replies, 1 << 20)
            if not chunk:
                return None
            message = reader.feed(chunk)
            if message is not None:
                return message
        return None

    def exited(self) -> bool:
        """Reaps the child if it has ended."""
        if not self.reaped:
            self._reap(os.WNOHANG)
        return self.reaped

    def _reap(self, options: int) -> None:
        try:
            pid, status = os.waitpid(self.pid, options)
        except ChildProcessError:  # something else in the process reaped it (a waitpid(-1) loop): gone all the same
            self.reaped = True
            return
        if pid:
            self.status, self.reaped = status, True

    def native_output(self) -> tuple[str, str]:
        """What C code (or a crash report) wrote to descriptors 1 and 2 since the last call."""
        texts = []
        for index, file in enumerate(self.native):
            size = os.fstat(file.fileno()).st_size
            data = os.pread(file.fileno(), size - self._native_read[index], self._native_read[index])
            self._native_read[index] = size
            texts.append(clip(data.decode(errors="replace"), NATIVE_CHARS))
        return texts[0], texts[1]

    def stop(self) -> None:
        """Kill (if still running) and reap, then close everything the parent held for it."""
        if not self.reaped:
            os.kill(self.pid, signal.SIGKILL)  # an unreaped child can always be signalled, even as a zombie
            self._reap(0)
        self._finalizer.detach()
        for fd in (self.requests, self.replies, self.pidfd):
            if fd is not None:
                os.close(fd)
        for file in self.native:
            file.close()


class ForkSandbox:
    """Scratch cells in a fork of this process, seeing ``namespace`` as it was at the fork."""

    mode = "fork"

    def __init__(self, namespace: dict, *, workdir: str | None = None):
        self.namespace = namespace
        self._workdir = Workdir(self, workdir)
        self.workdir = self._workdir.path
        self.fork_seconds: float | None = None  # how long the last os.fork took in this process
        self._child: _Child | None = None
        self._applied: Protections | None = None  # what the last child reported it applied
        self._lost = False  # a child was killed or died: the next one is a restart
        self._closed = False

    @property
    def protections(self) -> Protections:
        """What the sandbox's child applied, or before it has run a cell, what this machine allows."""
        return self._applied or here()

    @property
    def pid(self) -> int | None:
        """The running child's pid, if there is one."""
        return None if self._child is None else self._child.pid

    def run(self, code: str, timeout: float = 30.0) -> StepResult:
        if self._closed:
            raise RuntimeError("this sandbox is closed")
        started = time.monotonic()
        if self._child is not None and self._child.exited():
            self._drop()  # it died between cells (e.g. killed from outside)
        restarted = self._child is None and self._lost
        if self._child is None:
            try:
                self._child = _Child(self.namespace, self.workdir)
            except OSError as error:
                return StepResult(
                    error=f"ForkError: the kernel could not be forked for a sandbox ({error}); scratch cells cannot "
                    "run in fork mode now (--live runs them in the kernel itself)",
                    elapsed=time.monotonic() - started,
                )
            self.fork_seconds = self._child.fork_seconds
            self._lost = False
        child = self._child
        try:
            reply = child.exchange(code, started + timeout)
        except _TimedOut:
            self._drop()
            return StepResult(
                error=(
                    f"TimeoutError: the scratch cell ran longer than {timeout:g} s, so its sandbox process was "
                    "killed: names defined by earlier scratch cells are gone, and the next cell starts from a "
                    "fresh copy of the kernel's state"
                ),
                timed_out=True,
                restarted=restarted,
                elapsed=time.monotonic() - started,
            )
        except BaseException:  # Ctrl-C (or any failure) while waiting: the child must not outlive the wait
            self._drop()
            raise
        stdout, stderr = child.native_output()
        if reply is None:
            child.exited()
            self._drop()
            how = describe_status(child.status)
            return StepResult(
                stdout=stdout,
                stderr=stderr,
                error=f"SandboxCrash: the sandbox process {how} while running this cell",
                restarted=restarted,
                elapsed=time.monotonic() - started,
            )
        self._applied = Protections.from_dict(reply.pop("protections"))
        result = StepResult.from_dict(reply)
        return dataclasses.replace(
            result,
            stdout=result.stdout + stdout,
            stderr=result.stderr + stderr,
            restarted=restarted,
            elapsed=time.monotonic() - started,
        )

    def _drop(self) -> None:
        if self._child is not None:
            self._child.stop()
            self._child = None
            self._lost = True

    def close(self) -> None:
        """Kill and reap the child and remove the sandbox's folder (if it made it). Safe to call twice."""
        self._drop()
        self._closed = True
        self._workdir.remove()

    def __enter__(self) -> ForkSandbox:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
