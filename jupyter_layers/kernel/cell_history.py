"""What the kernel remembers between cells: the last error, and when each name was last bound.

Registered as IPython ``pre_run_cell`` / ``post_run_cell`` hooks by the extension. It must stay cheap (it runs
after every user cell): an identity diff of the namespace plus an AST walk of the cell, no formatting of values.
"""

from __future__ import annotations

import ast
import collections
import re
import traceback
from dataclasses import asdict, dataclass

from . import state

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
MAX_TRACEBACK_CHARS = 6000


@dataclass(frozen=True)
class LastError:
    execution_count: int | None
    cell: str
    ename: str
    evalue: str
    traceback: str
    names: tuple[str, ...]

    def to_dict(self) -> dict:
        return asdict(self)


_last_error: LastError | None = None
_errors: collections.deque[LastError] = collections.deque(maxlen=20)
_ids_before: dict[str, int] = {}


def last_error() -> LastError | None:
    return _last_error


def recent_errors() -> list[LastError]:
    """The last errors of this session, oldest first (at most 20)."""
    return list(_errors)


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def bound_names(source: str) -> set[str]:
    """Names a cell assigns to or mutates through subscripts/attributes (``df["x"] = ...`` touches ``df``)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Name)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, ast.Store):
            root = node.value
            while isinstance(root, (ast.Subscript, ast.Attribute)):
                root = root.value
            if isinstance(root, ast.Name):
                names.add(root.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def referenced_names(source: str) -> tuple[str, ...]:
    """Every name a cell reads or writes, in order of first appearance."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return tuple(dict.fromkeys(re.findall(r"[A-Za-z_]\w*", source)))
    return tuple(dict.fromkeys(n.id for n in ast.walk(tree) if isinstance(n, ast.Name)))


def user_frames_traceback(error: BaseException) -> str:
    """The traceback without IPython's own frames and without ANSI colour codes."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "/IPython/" not in f.filename.replace("\\", "/")]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)]
    lines += traceback.format_exception_only(type(error), error)
    text = strip_ansi("".join(lines))
    if len(text) > MAX_TRACEBACK_CHARS:
        half = MAX_TRACEBACK_CHARS // 2
        text = text[:half] + "\n… (traceback shortened) …\n" + text[-half:]
    return text


def pre_run_cell(info, shell) -> None:
    global _ids_before
    _ids_before = {name: id(value) for name, value in shell.user_ns.items() if not name.startswith("_")}


def post_run_cell(result, shell) -> None:
    """Record the names this cell (re)bound, and its error if it raised."""
    global _last_error
    count = result.execution_count
    source = result.info.raw_cell if result.info is not None else ""
    namespace = shell.user_ns
    changed = {
        name for name, value in namespace.items() if not name.startswith("_") and _ids_before.get(name) != id(value)
    }
    for name in changed | (bound_names(source) & namespace.keys()):
        state.DEFINED[name] = count
    for name in set(state.DEFINED) - namespace.keys():
        del state.DEFINED[name]
    error = result.error_in_exec or result.error_before_exec
    if error is not None and not isinstance(error, KeyboardInterrupt):
        _last_error = LastError(
            execution_count=count,
            cell=source,
            ename=type(error).__name__,
            evalue=strip_ansi(str(error))[:2000],
            traceback=user_frames_traceback(error),
            names=tuple(n for n in referenced_names(source) if n in namespace),
        )
        _errors.append(_last_error)


def register(shell) -> None:
    shell.events.register("pre_run_cell", lambda info: pre_run_cell(info, shell))
    shell.events.register("post_run_cell", lambda result: post_run_cell(result, shell))
