"""Where the exploration agent's scratch cells run: a fork of the kernel, or (when that is unsafe) live.

Fork mode (Linux): one child process, forked from the kernel when the exploration's first cell runs, serves
the whole exploration, so scratch cell 2 sees what scratch cell 1 defined. It sees the kernel's whole state
copy-on-write. What it guarantees:

- Changes to objects never reach the user's namespace: in-place mutation of lists, dicts, DataFrames and
  arrays, rebinding or deleting names, ``globals().clear()``, changing the working directory or environment,
  all happen in the child's private copy.
- Output returns over a pipe, never through the kernel's streams or display machinery (C-level writes to
  descriptors 1 and 2 included).
- Files the kernel has open get a position of their own in the child (reopened through /proc), so reading a
  file object the user holds does not move the user's position.
- An audit hook (PEP 578, see ``sandbox_audit``) refuses file writes, deletions and renames outside the
  sandbox's temporary folder, subprocesses, signals to other processes, and network connections and lookups.
  A refusal is a ``PermissionError`` in the scratch code and is listed in ``StepResult.refused``. Process
  pools are refused with the rest (``multiprocessing``, ``concurrent.futures.ProcessPoolExecutor``, joblib's
  process backends); threads work.
- A cell that runs past its timeout gets its child killed (SIGKILL) and reaped; the next cell forks afresh
  (``restarted``), without what earlier scratch cells defined. Ctrl-C while waiting kills the child and
  propagates. ``close()`` kills and reaps the child and removes the folder; the child also dies with the
  kernel (``PR_SET_PDEATHSIG``; it is tied to the thread that forked it, the kernel's main thread).

Its limits, stated plainly:

- The audit hook guards against accidents, not against deliberately malicious code. It sees only what
  Python raises audit events for: ``ctypes`` (allowed, numpy needs it) can call anything; file writes made by
  C libraries (HDF5, Arrow/Parquet writers) raise no event; writing to a file the kernel already holds open
  for writing (``os.write``, ``file.write``) is not checked.
- Memory the kernel shares with other processes stays shared: writing to a ``numpy.memmap`` opened
  ``r+``, ``multiprocessing.shared_memory`` or a CUDA/IPC buffer changes the real data.
- Connections opened before the fork are inherited: using a database connection or an open HTTP session
  can change remote state (``send`` on a connected socket raises no event) and confuses the kernel's own use
  of that connection.
- The child starts from the state at the fork; it does not see later changes in the kernel.
- Forking copies nothing up front, but every page the child writes is copied: a cell that writes to 10% of
  2 GB of arrays costs about 200 MB (``benchmarks/bench_fork.py``).
- Widgets and comms do not work in the child (kernel messages are refused). Magics work, except those that
  write to IPython's own files outside the folder (``%cd`` records its history in the profile: refused).

Live mode (Windows, a CUDA context in the process, macOS by default, or ``--live``) runs scratch code in
the user's namespace with output captured the same way. It cannot undo in-place mutation, rebinding or
deletion; it removes names the scratch code created and restores the working directory at ``close()``.
There is no audit hook in live mode (a hook cannot be removed from the kernel afterwards), so file writes,
subprocesses and network access are not blocked, and the user is told so by ``open_sandbox``'s warning.
"""

from __future__ import annotations

from typing import Protocol

from .sandbox_fork import ForkSandbox
from .sandbox_live import LiveSandbox
from .sandbox_result import StepResult
from .sandbox_safety import fork_unsafe_reason

LIVE_WARNING = (
    "scratch cells run in your live namespace: they can change your variables (names they create are removed "
    "afterwards)"
)

__all__ = [
    "LIVE_WARNING",
    "ForkSandbox",
    "LiveSandbox",
    "Sandbox",
    "StepResult",
    "fork_unsafe_reason",
    "open_sandbox",
]


class Sandbox(Protocol):
    mode: str  # "fork" | "live"

    def run(self, code: str, timeout: float = 30.0) -> StepResult: ...

    def close(self) -> None: ...


def open_sandbox(namespace: dict, *, live: bool = False) -> tuple[Sandbox, str | None]:
    """A sandbox for one exploration, and the warning to show the user (None when scratch cells are forked)."""
    reason = "you asked for --live" if live else fork_unsafe_reason()
    if reason is None:
        return ForkSandbox(namespace), None
    warning = (
        f"{LIVE_WARNING}. Why: {reason}. File writes, subprocesses and network access are not blocked in this mode."
    )
    return LiveSandbox(namespace), warning
