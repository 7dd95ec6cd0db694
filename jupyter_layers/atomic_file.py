"""Replacing a user's file atomically: a crash, Ctrl-C or a full disk never leaves it half-written.

The new content goes to a temporary file in the same folder (so the rename stays on one file system), is flushed
and synced to disk, gets the mode of the file it replaces (or the usual mode of a new file), and is renamed over
it: the rename either happened or it did not. A symbolic link is followed, so the file it points to is replaced
and the link stays.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import IO


def replace_atomically(path: str | os.PathLike, write: Callable[[IO[str]], None], suffix: str = ".tmp") -> None:
    """Write the file at ``path`` with ``write(file)`` (a text file, UTF-8), atomically."""
    target = os.path.realpath(path)
    handle, temporary = tempfile.mkstemp(prefix=".jupyter-layers-", suffix=suffix, dir=os.path.dirname(target))
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        # mkstemp makes the file private (0600): the file keeps its mode, or gets the usual one if new
        os.chmod(temporary, os.stat(target).st_mode & 0o777 if os.path.exists(target) else 0o666 & ~current_umask())
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
