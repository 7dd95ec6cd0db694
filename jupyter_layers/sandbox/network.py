"""No network for the child: a fresh network namespace, whose only interface (loopback) is down.

Every socket the child creates afterwards lives in that namespace, so TCP, UDP and ICMP reach nothing, not even
the machine's own servers on 127.0.0.1. Sockets inherited from the kernel keep their namespace, which is why
``seal`` cuts them off first. A process with CAP_SYS_ADMIN (root) enters a network namespace directly; anyone
else first enters a user namespace of their own (unprivileged user namespaces), mapping their uid and gid to
themselves, so files keep their owners and permissions. ``unshare`` needs a single-threaded process: the forked
child is one.
"""

from __future__ import annotations

import ctypes
import errno
import os

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000


def _unshare(flags: int) -> int:
    result = ctypes.CDLL(None, use_errno=True).unshare(flags)
    return 0 if result == 0 else ctypes.get_errno()


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def isolate() -> str | None:
    """Moves this process into a network namespace of its own; None when done, else why it could not be."""
    failure = _unshare(CLONE_NEWNET)
    if failure == 0:
        return None
    if failure != errno.EPERM:
        return f"unshare(CLONE_NEWNET) failed: {os.strerror(failure)}"
    uid, gid = os.getuid(), os.getgid()
    failure = _unshare(CLONE_NEWUSER | CLONE_NEWNET)
    if failure:
        return f"unprivileged user namespaces are not available here ({os.strerror(failure)})"
    try:
        _write("/proc/self/setgroups", "deny")  # required before an unprivileged gid_map
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    except PermissionError:
        # A process that is not dumpable (one that changed its uid) may not write its own maps. The namespace
        # is entered all the same; os.getuid() then shows the overflow uid, while the kernel still checks file
        # access against the real one.
        pass
    return None
