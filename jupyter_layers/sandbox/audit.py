"""The sandbox child's audit hook (PEP 578): names, before the call is made, what would reach outside the child.

It is the friendly layer: the operating system (``landlock``, ``network``, ``seccomp``, ``seal``) is what
binds C code; the hook makes a Python-level attempt fail early with a message the agent can act on.

Refused: opening a file for writing, creating, deleting, renaming, linking, truncating or changing the
metadata of a path outside the sandbox's folder; starting processes (``subprocess``, ``os.system``,
``os.exec*``, ``os.posix_spawn``, ``os.spawn*``, ``os.fork``); signals to other processes; network
connections, binds, datagrams and name lookups; SQLite databases outside the folder (SQLite writes its files
from C, where no ``open`` event is raised). Allowed: reading anything, ``os.chdir`` (the child has its own
working directory), writing inside the folder and to ``/dev/null``, ``ctypes`` (numpy and others load
libraries with it; what its C calls attempt is the operating system's to refuse).

A refusal raises ``PermissionError("jupyter_layers sandbox: <what>")`` where the scratch code made the call,
and is recorded, so the agent learns of it even if the code swallowed the exception. An audit hook sees only
what Python raises events for, and code can get around it; the operating system's refusals are the guarantee.
"""

from __future__ import annotations

import os
import sys

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
ALWAYS_WRITABLE = ("/dev/null",)
NO_DIR_FD = (None, -1)

# event -> (what it does, [(index of a path argument, index of its dir_fd argument or None)])
PATH_EVENTS = {
    "os.remove": ("file deletion", [(0, 1)]),
    "os.rmdir": ("directory deletion", [(0, 1)]),
    "shutil.rmtree": ("directory tree deletion", [(0, 1)]),
    "os.mkdir": ("directory creation", [(0, 2)]),
    "os.rename": ("rename", [(0, 2), (1, 3)]),
    "os.link": ("hard link", [(0, 2), (1, 3)]),
    "os.symlink": ("symbolic link", [(1, 2)]),
    "os.truncate": ("file truncation", [(0, None)]),
    "os.chmod": ("permission change", [(0, 2)]),
    "os.chown": ("owner change", [(0, 3)]),
    "os.utime": ("timestamp change", [(0, 3)]),
    "os.chflags": ("file flag change", [(0, None)]),
    "os.lchflags": ("file flag change", [(0, None)]),
    "os.setxattr": ("extended attribute change", [(0, None)]),
    "os.removexattr": ("extended attribute removal", [(0, None)]),
}
PROCESS_EVENTS = {
    "subprocess.Popen": lambda args: f"starting a process: {args[1]!r}"[:300],
    "os.system": lambda args: f"starting a shell command: {os.fsdecode(args[0])!r}"[:300],
    "os.exec": lambda args: f"replacing the process (os.exec*): {os.fsdecode(args[0])!r}",
    "os.posix_spawn": lambda args: f"starting a process (posix_spawn): {os.fsdecode(args[0])!r}",
    "os.spawn": lambda args: f"starting a process (os.spawn*): {os.fsdecode(args[1])!r}",
    "os.fork": lambda args: "starting a process (os.fork)",
    "os.forkpty": lambda args: "starting a process (os.forkpty)",
    "os.startfile": lambda args: f"opening a file with its application: {args[0]!r}",
    "os.killpg": lambda args: f"signal to process group {args[0]}",
}
NETWORK_EVENTS = {
    "socket.connect": lambda args: f"network connection to {_address(args[1])}",
    "socket.bind": lambda args: f"binding a socket to {_address(args[1])}",
    "socket.sendto": lambda args: f"sending a datagram to {_address(args[1])}",
    "socket.sendmsg": lambda args: f"sending a message to {_address(args[1])}",
    "socket.getaddrinfo": lambda args: f"name lookup for {args[0]!r}",
    "socket.gethostbyname": lambda args: f"name lookup for {args[0]!r}",
    "socket.gethostbyaddr": lambda args: f"address lookup for {args[0]!r}",
    "socket.getnameinfo": lambda args: f"address lookup for {args[0]!r}",
}


def _address(address) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return repr(address)


def _fd_path(fd: int) -> str | None:
    """The path an open descriptor refers to (Linux), or None where that cannot be known."""
    link = f"/proc/self/fd/{fd}"
    return os.readlink(link) if os.path.lexists(link) else None


class AuditGuard:
    """The hook itself. ``refused`` lists every refusal since the last ``take()``."""

    def __init__(self, workdir: str):
        self.workdir = os.path.realpath(workdir)
        self.refused: list[str] = []
        self._checks = {"open": self._open, "os.kill": self._kill, "sqlite3.connect": self._sqlite}
        for event, (what, paths) in PATH_EVENTS.items():
            self._checks[event] = self._path_check(what, paths, creates=event == "os.mkdir")
        for event, describe in {**PROCESS_EVENTS, **NETWORK_EVENTS}.items():
            self._checks[event] = describe

    def __call__(self, event: str, args: tuple) -> None:
        check = self._checks.get(event)
        if check is None:
            return
        what = check(args)
        if what is not None:
            self.refuse(what)

    def refuse(self, what: str):
        """Records the refusal and raises it where the scratch code made the call."""
        self.refused.append(what)
        raise PermissionError(f"jupyter_layers sandbox: {what}")

    def take(self) -> tuple[str, ...]:
        refused, self.refused = tuple(self.refused), []
        return refused

    def resolve(self, path, dir_fd=None) -> str:
        """An absolute, symlink-free path, relative ones taken from ``dir_fd`` or the working directory."""
        if isinstance(path, int):
            target = _fd_path(path)
            return target if target and os.path.isabs(target) else f"file descriptor {path} ({target or 'unknown'})"
        path = os.fsdecode(path)
        if not os.path.isabs(path) and dir_fd not in NO_DIR_FD:
            base = _fd_path(dir_fd)
            if base is None:
                return f"<{path} relative to file descriptor {dir_fd}>"
            path = os.path.join(base, path)
        return os.path.realpath(path)

    def inside(self, resolved: str) -> bool:
        return resolved == self.workdir or resolved.startswith(self.workdir + os.sep) or resolved in ALWAYS_WRITABLE

    def _open(self, args) -> str | None:
        path, _mode, flags = args
        if not flags & WRITE_FLAGS:
            return None
        resolved = self.resolve(path)
        return None if self.inside(resolved) else f"file write outside the sandbox: {resolved}"

    def _path_check(self, what: str, paths: list[tuple[int, int | None]], creates: bool):
        def check(args) -> str | None:
            outside = []
            for index, dir_fd_index in paths:
                resolved = self.resolve(args[index], None if dir_fd_index is None else args[dir_fd_index])
                if creates and os.path.lexists(resolved):
                    continue  # mkdir of an existing directory changes nothing and fails on its own
                if not self.inside(resolved):
                    outside.append(resolved)
            return f"{what} outside the sandbox: {' -> '.join(outside)}" if outside else None

        return check

    def _kill(self, args) -> str | None:
        pid, signal_number = args
        return None if pid == os.getpid() else f"signal {signal_number} to another process (pid {pid})"

    def _sqlite(self, args) -> str | None:
        database = args[0]
        if isinstance(database, (str, bytes, os.PathLike)):
            name = os.fsdecode(database)
            if name in ("", ":memory:") or (name.startswith("file:") and ("mode=ro" in name or "immutable=1" in name)):
                return None
            if not self.inside(self.resolve(name.removeprefix("file:").split("?")[0])):
                return f"opening a database file outside the sandbox: {name}"
        return None


def install(workdir: str) -> AuditGuard:
    """Adds the hook to this process for good: an audit hook cannot be removed, so only the child calls this."""
    guard = AuditGuard(workdir)
    sys.addaudithook(guard)
    return guard
