"""Landlock (Linux 5.13+): the kernel itself refuses the child's writes outside the sandbox's folder.

This binds what the audit hook cannot see: C libraries, ``ctypes`` and programs the child executes. Reads stay
allowed everywhere; writing, creating, deleting, renaming and truncating are allowed only beneath the folder
(and writing to ``/dev/null``). From ABI 4 every TCP bind and connect is refused; from ABI 6 signals to
processes outside the child and connections to abstract UNIX sockets are too. The ABI version is read at run
time and only the rights it knows are asked for.

The three system calls are made through ``ctypes``: they are stable and take two small structures, while the
Python bindings on PyPI are young single-maintainer releases (a ``.dev`` pre-release, a 0.1) and would be one
more compiled or pinned dependency for ninety lines. The numbers below are the kernel's UAPI
(``<linux/landlock.h>``); the system call numbers are the same on every architecture that has them.
"""

from __future__ import annotations

import ctypes
import os

CREATE_RULESET, ADD_RULE, RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR, MAKE_REG = 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 8
MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15  # ABI 2, 3, 5
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6

WRITES = (
    WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_CHAR | MAKE_DIR | MAKE_REG | MAKE_SOCK | MAKE_FIFO | MAKE_BLOCK
) | MAKE_SYM
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # the only rights a rule on a file may grant
ALWAYS_WRITABLE = ("/dev/null",)


class RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 where Landlock is missing, disabled, or the call is filtered."""
    if not os.path.isdir("/proc/self"):  # not Linux
        return 0
    version = _libc().syscall(CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    return max(version, 0)


def handled_rights(abi: int) -> tuple[int, int, int]:
    """(filesystem, network, scope) rights this ABI knows that the sandbox restricts."""
    fs = WRITES | (REFER if abi >= 2 else 0) | (TRUNCATE if abi >= 3 else 0) | (IOCTL_DEV if abi >= 5 else 0)
    net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    return fs, net, scoped


def _attr_size(abi: int) -> int:
    """Older kernels reject fields they do not know, so the structure is passed only as far as the ABI goes."""
    return 8 if abi < 4 else 16 if abi < 6 else 24


def _check(result: int, what: str) -> int:
    if result < 0:
        number = ctypes.get_errno()
        raise OSError(number, f"landlock {what}: {os.strerror(number)}")
    return result


def _allow_beneath(libc, ruleset: int, path: str, rights: int) -> None:
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        rule = PathBeneathAttr(rights, fd)
        _check(libc.syscall(ADD_RULE, ruleset, RULE_PATH_BENEATH, ctypes.byref(rule), ctypes.c_uint32(0)), path)
    finally:
        os.close(fd)


def restrict(writable: str, abi: int) -> None:
    """Restricts this process and every process it starts, for good. Raises OSError if the kernel refuses."""
    libc = _libc()
    fs, net, scoped = handled_rights(abi)
    attr = RulesetAttr(fs, net, scoped)
    ruleset = _check(libc.syscall(CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(_attr_size(abi)), 0), "ruleset")
    try:
        _allow_beneath(libc, ruleset, writable, fs)
        for path in ALWAYS_WRITABLE:
            _allow_beneath(libc, ruleset, path, fs & FILE_RIGHTS)
        _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        _check(libc.syscall(RESTRICT_SELF, ruleset, ctypes.c_uint32(0)), "restrict_self")
    finally:
        os.close(ruleset)
