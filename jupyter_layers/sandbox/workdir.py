"""The sandbox's temporary folder: the one place scratch code may write, removed when the sandbox closes."""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref


def remove_tree(path: str) -> None:
    """Removes a folder even where scratch code took away its own permissions inside it."""
    os.chmod(path, 0o700)
    for root, folders, _files in os.walk(path):
        for folder in folders:
            inner = os.path.join(root, folder)
            if not os.path.islink(inner):  # chmod follows links, and a link may point anywhere
                os.chmod(inner, 0o700)  # before os.walk descends into it
    shutil.rmtree(path)


def _remove_if_ours(path: str, creator: int) -> None:
    if os.getpid() == creator and os.path.isdir(path):  # never from a forked copy of the creator
        remove_tree(path)


class Workdir:
    """A new temporary folder (removed by ``remove()``, or when its owner is dropped, at the latest at exit),
    or a given one (created if missing, never removed)."""

    def __init__(self, owner, path: str | None = None):
        if path is None:
            self.path = os.path.realpath(tempfile.mkdtemp(prefix="jupyter-layers-sandbox-"))
            self._finalizer = weakref.finalize(owner, _remove_if_ours, self.path, os.getpid())
        else:
            os.makedirs(path, exist_ok=True)
            self.path = os.path.realpath(path)
            self._finalizer = None

    def remove(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
