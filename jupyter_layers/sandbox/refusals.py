"""Refusals made by the operating system, told to the agent in words it can act on.

The audit hook names what it refuses itself. What the kernel refuses (Landlock's EACCES, EBADF on a sealed
descriptor, a socket call on a cut-off one, an unreachable network, SQLite failing to write through the user's
connection) reaches Python as an ordinary error, from Python or from C code. ``explain`` walks a step's
exception (with its causes) and returns what was refused, so it is listed in ``StepResult.refused`` and a hint
is added to the error: the model learns that the sandbox said no, and stops trying. A refusal that C code
swallows (a ``ctypes`` call whose -1 return is ignored) raises nothing and cannot be seen here; its effect is
still stopped.
"""

from __future__ import annotations

import errno
import os
import re
import traceback

from .seal import Sealed

WRITE_REFUSED = {errno.EACCES, errno.EPERM, errno.EROFS}
SEALED_ERRORS = {errno.EBADF, errno.ENOTSOCK}
NETWORK_ERRORS = {errno.ENETUNREACH, errno.ENETDOWN, errno.EADDRNOTAVAIL, errno.EHOSTUNREACH}
TEXT_PATTERNS = [  # errors that carry no errno: SQLite through the user's connection, Arrow and other C libraries
    (
        re.compile(r"attempt to write a readonly database|disk I/O error|unable to open database|database is locked"),
        "database",
    ),
    (re.compile(r"Permission denied|Read-only file system|Operation not permitted"), "write"),
    (re.compile(r"Bad file descriptor|Socket operation on non-socket"), "sealed"),
    (re.compile(r"Network is unreachable|Network is down"), "network"),
]
OUR_PREFIX = "jupyter_layers sandbox:"
SHOWN_SEALED = 3


def _chain(error: BaseException):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _truncating(error: BaseException) -> bool:
    """ftruncate on a descriptor not open for writing fails with EINVAL, which alone says nothing."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and "truncate" in (frames[-1].line or "")


def _kind(error: BaseException, folder: str, offline: bool) -> str | None:
    if str(error).startswith(OUR_PREFIX):
        return "ours"
    if isinstance(error, OSError) and error.errno is not None:
        if error.errno in WRITE_REFUSED:
            name = os.fsdecode(error.filename) if isinstance(error.filename, (str, bytes)) else None
            if name is None:
                return "refused"
            inside = os.path.realpath(name).startswith(folder + os.sep)
            readable = os.access(name, os.R_OK) or os.access(os.path.dirname(name) or ".", os.R_OK)
            return "write" if readable and not inside else None  # unreadable: a real permission error
        if error.errno in SEALED_ERRORS or (error.errno == errno.EINVAL and _truncating(error)):
            return "sealed"
        if error.errno in NETWORK_ERRORS:
            return "network" if offline else None
    text = str(error)
    kind = next((kind for pattern, kind in TEXT_PATTERNS if pattern.search(text)), None)
    return None if kind == "network" and not offline else kind


def _sealed_list(sealed: list[Sealed]) -> str:
    """The files first (what a user opened), then connected sockets; the kernel's own are among the rest."""
    files = [entry for entry in sealed if entry.now == "read-only"]
    sockets = [entry for entry in sealed if entry.now != "read-only" and "connected to" in entry.what]
    shown = "; ".join(str(entry) for entry in (files + sockets)[:SHOWN_SEALED])
    more = len(sealed) - min(len(files + sockets), SHOWN_SEALED)
    return shown + (f"; {more} more" if more > 0 else "")


HINTS = {
    "write": "the operating system refused a write outside the sandbox's folder (scratch code may write only "
    "under {folder}; reading anything works)",
    "database": "a database write through the kernel's open connection was refused (its file is read-only in "
    "the sandbox; queries that read work)",
    "sealed": "a write through something the kernel holds open was refused: in the sandbox, files the kernel "
    "has open are read-only and its sockets and pipes are cut off",
    "network": "the sandbox has no network",
    "refused": "the operating system refused it: in the sandbox, writes go only under {folder}, and there is no "
    "network and no connection to other processes",
}


def explain(
    error: BaseException | None, folder: str, sealed: list[Sealed], offline: bool
) -> tuple[list[str], str | None]:
    """(what was refused, a hint line for the error) for a step's exception; ([], None) when it was no refusal.
    ``offline``: the child is in a network namespace of its own, so an unreachable network is the sandbox's."""
    if error is None:
        return [], None
    refused, hints = [], []
    for link in _chain(error):
        kind = _kind(link, folder, offline)
        if kind is None or kind == "ours":
            continue
        refused.append(f"refused by the operating system: {type(link).__name__}: {link}"[:300])
        hint = HINTS[kind].format(folder=folder)
        if kind in ("sealed", "database") and sealed:
            hint += f" ({_sealed_list(sealed)})"
        if hint not in hints:
            hints.append(hint)
    if not refused:
        return [], None
    return refused[:1], "sandbox: " + "; ".join(hints) + ". Read instead, or copy what you need into the folder."
