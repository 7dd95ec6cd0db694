"""What the kernel holds open, sealed in the child: reads keep working, nothing is written through it.

A forked child inherits every descriptor of the kernel and shares its open file description: the same file,
the same position, the same connection. Before any scratch code runs, each inherited descriptor is replaced at
its own number, in the child only:

- a regular file becomes a fresh read-only descriptor of the same file at the same position (so reading moves
  only the child's position, and writing fails with EBADF);
- a socket, pipe, terminal, device or kernel object (eventfd, epoll, ...) becomes a descriptor on which every
  read, write and socket call fails (an ``O_PATH`` descriptor of the sandbox's folder);
- the standard input reads from ``/dev/null``.

Directories (reading them is harmless; creating beneath them is Landlock's to refuse), ``/dev/null``,
``/dev/zero`` and the random devices are left as they are, and so are the sandbox's own pipes and output files.
The kernel's descriptors are untouched: ``dup2`` in the child changes only the child's table.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import stat
from dataclasses import dataclass

HARMLESS_DEVICES = {(1, 3), (1, 5), (1, 8), (1, 9)}  # /dev/null, /dev/zero, /dev/random, /dev/urandom


@dataclass(frozen=True)
class Sealed:
    """One inherited descriptor, what it was in the kernel, and what it is in the child."""

    fd: int
    what: str
    now: str  # "read-only" | "cut off"

    def __str__(self) -> str:
        return f"descriptor {self.fd} ({self.what}): {self.now}"


def _describe_socket(fd: int) -> str:
    with socket.socket(fileno=os.dup(fd)) as sock:
        family = {socket.AF_INET: "TCP/IP", socket.AF_INET6: "TCP/IPv6", socket.AF_UNIX: "UNIX"}.get(
            sock.family, sock.family.name
        )
        if sock.type == socket.SOCK_DGRAM:
            family = family.replace("TCP", "UDP")
        try:
            peer = sock.getpeername()
        except OSError:
            peer = None
    return f"{family} socket" + (f" connected to {peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "")


def describe(fd: int, info: os.stat_result) -> str:
    """What a descriptor is, in words a user recognises."""
    target = os.readlink(f"/proc/self/fd/{fd}")
    if stat.S_ISSOCK(info.st_mode):
        return _describe_socket(fd)
    if stat.S_ISFIFO(info.st_mode):
        return "pipe"
    return target


def _reopen_read_only(fd: int) -> int:
    fresh = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
    os.lseek(fresh, os.lseek(fd, 0, os.SEEK_CUR), os.SEEK_SET)
    return fresh


def _replace(fd: int, by: int) -> None:
    os.dup2(by, fd, inheritable=os.get_inheritable(fd))
    os.close(by)


def inherited() -> list[int]:
    """The descriptors open in this process (the listing's own one is among them, closed by now)."""
    return [int(name) for name in os.listdir("/proc/self/fd")]


def seal(keep: set[int], folder: str) -> list[Sealed]:
    """Seals every descriptor but ``keep``; what was sealed (files open for reading only are just given a
    position of their own, and are not listed)."""
    sealed = []
    dead = os.open(folder, os.O_PATH | os.O_CLOEXEC)  # dup2'd onto each descriptor that is cut off
    for fd in inherited():
        if fd in keep or fd == dead:
            continue
        try:
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        except OSError as error:
            if error.errno == errno.EBADF:
                continue  # the listing's own descriptor
            raise
        info = os.fstat(fd)
        if flags & os.O_PATH or stat.S_ISDIR(info.st_mode):
            continue  # nothing is read or written through these
        if stat.S_ISCHR(info.st_mode) and (os.major(info.st_rdev), os.minor(info.st_rdev)) in HARMLESS_DEVICES:
            continue
        if fd == 0:
            _replace(0, os.open(os.devnull, os.O_RDONLY))
            continue
        if stat.S_ISREG(info.st_mode):
            try:
                _replace(fd, _reopen_read_only(fd))
            except PermissionError:  # a write-only file the user may not read: cut off instead
                sealed.append(Sealed(fd, describe(fd, info), "cut off"))
                os.dup2(dead, fd, inheritable=os.get_inheritable(fd))
                continue
            if flags & os.O_ACCMODE != os.O_RDONLY:
                sealed.append(Sealed(fd, describe(fd, info), "read-only"))
            continue
        sealed.append(Sealed(fd, describe(fd, info), "cut off"))
        os.dup2(dead, fd, inheritable=os.get_inheritable(fd))
    os.close(dead)
    return sealed
