"""The sandbox child: everything the forked copy of the kernel does, from the fork to ``os._exit``.

Only the forking thread exists in the child. The kernel's other threads (ZMQ I/O, heartbeat, IOPub, our model
layer's event loop) are gone, and any lock they held stays held, so the child never touches what they share:
it first points every output path at in-memory buffers (``sys.stdout``/``sys.stderr`` are ipykernel streams
with a lock and a ZMQ socket behind them), sends nothing over inherited ZMQ sockets (kernel messages are
refused), sets SIGINT and SIGALRM back to their defaults (the kernel's handlers belong to the parent's event
loop) and leaves with ``os._exit``, so no atexit handler or buffer flush of the parent's runs twice.
"""

from __future__ import annotations

import ctypes
import faulthandler
import gc
import os
import signal
import sys
import tempfile
import traceback

from . import audit, refusals
from .capture import Capture, Redirection
from .execute import run_code
from .pipe import read_message, write_message
from .protections import protect
from .result import StepResult

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
INTERNAL_ERROR = 70  # EX_SOFTWARE: the sandbox's own code failed, not the scratch code


def serve(requests: int, replies: int, namespace: dict, workdir: str, native: tuple[int, int], parent: int):
    """The child's whole life: answer each scratch cell until the parent closes the pipe. Never returns."""
    status = 0
    try:
        capture = Capture()
        redirection = Redirection(capture, kernel_streams=True)
        redirection.apply()  # first of all: nothing may reach the kernel's streams
        _detach(native, parent)
        _settle(workdir)
        applied, sealed = protect(workdir, keep={requests, replies, *native, 1, 2})
        guard = audit.install(workdir)
        _refuse_kernel_messages(guard)
        _refuse_unaudited_process_starts(guard)
        number = 0
        while (request := read_message(requests)) is not None:
            number += 1
            redirection.undo()  # the previous cell may have replaced sys.stdout and friends: point them back
            redirection.apply()
            value, error, exception = run_code(request["code"], namespace, number)
            os_refused, hint = refusals.explain(exception, workdir, sealed, applied.network)
            stdout, stderr, outputs = capture.take()
            error = f"{error}\n{hint}" if hint else error
            reply = StepResult(stdout, stderr, value, outputs, error, guard.take() + tuple(os_refused))
            write_message(replies, {**reply.to_dict(), "protections": applied.to_dict()})
            del exception  # its frames hold the cell's locals
    except BaseException:  # noqa: B036 - a failure of the sandbox itself: written to the child's stderr file,
        # which the parent reads and reports with the exit status
        os.write(2, traceback.format_exc().encode(errors="replace"))
        status = INTERNAL_ERROR
    finally:
        os._exit(status)


def _detach(native: tuple[int, int], parent: int) -> None:
    """Signals, file descriptors 1 and 2, and the child's tie to its parent's life."""
    for number in (signal.SIGINT, signal.SIGALRM):
        signal.signal(number, signal.SIG_DFL)
    sys.settrace(None)  # a debugger's tracer would wait on its threads, which did not survive the fork
    sys.setprofile(None)
    # Output written by C code goes to descriptors 1 and 2. In ipykernel those are pipes that the kernel reads
    # and forwards to the notebook, so the child gives them files of its own, which the parent reads.
    os.dup2(native[0], 1)
    os.dup2(native[1], 2)
    faulthandler.enable(file=2, all_threads=False)
    if sys.platform == "linux":
        # killed with the kernel: a kernel that dies (or is restarted) leaves no sandbox behind
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)  # the parent died before the line above took effect


def _settle(workdir: str) -> None:
    """Process state that keeps the child's work inside the child."""
    # The pre-fork objects go to the permanent generation, so the child's collector never walks them and so
    # never writes to (and copies) the pages they sit on.
    gc.freeze()
    sys.dont_write_bytecode = True  # a .pyc write next to an imported module would be refused noisily
    tempfile.tempdir = workdir
    os.environ["TMPDIR"] = workdir


def _refuse_kernel_messages(guard: audit.AuditGuard) -> None:
    """Widgets and comms send kernel messages over the parent's ZMQ sockets; in the child that is refused."""
    session = sys.modules.get("jupyter_client.session")
    if session is None:
        return

    def send(self, stream, msg_or_type, *args, **kwargs):
        kind = msg_or_type if isinstance(msg_or_type, str) else msg_or_type.get("msg_type", "?")
        guard.refuse(f"sending a kernel message ({kind}): widgets and comms do not work in the sandbox")

    session.Session.send = send


def _refuse_unaudited_process_starts(guard: audit.AuditGuard) -> None:
    """``subprocess`` raises an audit event before it forks, but multiprocessing's "spawn" and "forkserver"
    start their processes through ``_posixsubprocess.fork_exec`` directly, which raises none."""
    if os.name != "posix":
        return
    import _posixsubprocess

    def fork_exec(*args, **kwargs):
        guard.refuse("starting a process (_posixsubprocess.fork_exec, e.g. multiprocessing)")

    _posixsubprocess.fork_exec = fork_exec
