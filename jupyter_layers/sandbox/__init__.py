"""Where the exploration agent's scratch cells run: a fork of the kernel, or (when that is unsafe) live.

Fork mode (Linux): one child process, forked from the kernel when the exploration's first cell runs, serves the
whole exploration and sees the kernel's whole state copy-on-write. Before its first scratch line it seals what
the kernel holds open and gives up, for good, every way to write outside its folder. docs/sandbox.md states the
guarantees and their limits; each module does one part:

- ``fork``: the parent's side (fork, send a cell, wait with a deadline, kill and reap);
- ``child``: the child's side, from the fork to ``os._exit``;
- ``protections``: the order in which the child protects itself, and what holds on this machine;
- ``seal``: inherited descriptors (files read-only, sockets and pipes cut off);
- ``mappings``: shared memory made private at the same addresses;
- ``network``: a network namespace of the child's own;
- ``landlock``: the kernel refuses writes outside the folder, TCP, signals out;
- ``audit``: the audit hook that names what Python-level calls were refused;
- ``refusals``: the operating system's refusals, told to the agent;
- ``capture``, ``render``, ``execute``, ``result``, ``pipe``, ``workdir``: output, values, running a cell, the
  step's result, the messages between the two processes, the folder;
- ``live``: scratch cells in the live namespace, when forking is unsafe or asked for;
- ``safety``: whether forking is safe here; ``remote``: driving a sandbox from another process.
"""

from __future__ import annotations

from typing import Protocol

from .fork import ForkSandbox
from .live import LiveSandbox
from .protections import Protections, here
from .result import StepResult
from .safety import fork_unsafe_reason

LIVE_WARNING = (
    "scratch cells run in your live namespace: they can change your variables (names they create are removed "
    "afterwards)"
)

__all__ = [
    "LIVE_WARNING",
    "ForkSandbox",
    "LiveSandbox",
    "Protections",
    "Sandbox",
    "StepResult",
    "fork_unsafe_reason",
    "open_sandbox",
]


class Sandbox(Protocol):
    mode: str  # "fork" | "live"
    protections: Protections

    def run(self, code: str, timeout: float = 30.0) -> StepResult: ...

    def close(self) -> None: ...


_told_missing = False  # a reduced fork sandbox is explained once per process


def open_sandbox(namespace: dict, *, live: bool = False) -> tuple[Sandbox, str | None]:
    """A sandbox for one exploration, and what to tell the user (None when every protection holds, or when what
    is missing here was already said in this process)."""
    global _told_missing
    reason = "you asked for --live" if live else fork_unsafe_reason()
    if reason is None:
        sandbox = ForkSandbox(namespace)
        missing = here().missing
        if not missing or _told_missing:
            return sandbox, None
        _told_missing = True
        return sandbox, f"scratch cells run in a fork ({here().summary()}); not available here: {'; '.join(missing)}"
    warning = (
        f"{LIVE_WARNING}. Why: {reason}. File writes, subprocesses and network access are not blocked in this mode."
    )
    return LiveSandbox(namespace), warning
