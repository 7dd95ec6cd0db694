"""The snapshot of a namespace: which variables, in what order, within what time, and its JSON form.

It runs inside the kernel, often blocking it (after a cell, or for a silent ``user_expressions`` request
while the user waits for a completion), so it works to a time budget: focus variables first and always,
then the most recently defined, stopping when the budget is spent and saying how many were left out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import sys
import time
from collections.abc import Iterable, Mapping

from ..errors import LayersError
from ..redact import redact_value
from . import render, safe, state, summaries
from .summaries import Detail, View

VERSION = 1
DEFAULT_BUDGET_MS = 100.0
DEFAULT_DETAIL = Detail()
HIDDEN = frozenset({"In", "Out", "exit", "quit", "get_ipython"})


class NoNamespaceError(LayersError):
    hint = "run it in an IPython kernel, or pass the namespace: snapshot(globals())"


def shell_namespace() -> tuple[Mapping, Mapping]:
    """IPython's user namespace and the names IPython itself put there (``user_ns_hidden``)."""
    if "IPython" in sys.modules:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:
            return shell.user_ns, shell.user_ns_hidden
    raise NoNamespaceError("snapshot() needs a namespace: no IPython shell is running in this process")


def as_detail(detail: Detail | Mapping) -> Detail:
    if type(detail) is Detail:
        return detail
    if isinstance(detail, Mapping):
        return dataclasses.replace(DEFAULT_DETAIL, **detail)
    raise TypeError(f"detail must be a Detail or a mapping of its fields, not {type(detail).__name__}")


def defined(name: str) -> int | None:
    count = state.DEFINED.get(name)
    return count if type(count) is int else None


def listed(items: Iterable[tuple], hidden: Mapping) -> list[tuple[str, object]]:
    """The names worth showing: no ``_private`` or IPython-internal names, nothing IPython put there itself."""
    return [
        (name, value)
        for name, value in items
        if type(name) is str
        and not name.startswith("_")
        and name not in HIDDEN
        and hidden.get(name, safe.MISSING) is not value
    ]


def recent_first(pairs: list[tuple[str, object]]) -> list[tuple[str, object]]:
    """Most recently defined first, then by name; names with no known definition last."""
    counts = state.DEFINED

    def key(pair: tuple[str, object]) -> tuple:
        count = counts.get(pair[0])
        return (0, -count, pair[0]) if type(count) is int else (1, 0, pair[0])

    return sorted(pairs, key=key)


def entry(name: str, value, view: View) -> tuple[dict, int]:
    """One variable's JSON entry (redacted, then capped) and the number of redactions made in it."""
    summary = summaries.summarize(value, view)
    redaction = redact_value(name, summary.text)
    item = {
        "name": render.clean(name),
        "type": render.clean(summary.type),
        "text": render.clean(render.cap(redaction.text, view.chars)),
    }
    if summary.columns is not None:
        item["columns"] = [[render.clean(label), render.clean(dtype)] for label, dtype in summary.columns]
    item["defined"] = defined(name)
    return item, len(redaction.kinds)


def snapshot(
    namespace: Mapping | None = None,
    *,
    budget_ms: float = DEFAULT_BUDGET_MS,
    focus: Iterable[str] = (),
    detail: Detail | Mapping = DEFAULT_DETAIL,
) -> dict:
    """The variables of ``namespace`` (IPython's user namespace by default) as JSON-ready summaries.

    ``focus`` names come first with more detail and are never dropped; the rest, most recently defined first,
    until ``budget_ms`` is spent. ``detail`` sets the per-variable caps (a ``Detail`` or a dict of its fields).
    """
    with gc_paused():
        return _snapshot(namespace, budget_ms, focus, detail)


@contextlib.contextmanager
def gc_paused():
    """No cyclic collection during the few milliseconds of a snapshot.

    In a kernel holding millions of objects one automatic collection takes tens of milliseconds, which would
    land on the completion path and eat the time budget; the snapshot allocates little, so the garbage it
    leaves for later is small.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _snapshot(namespace, budget_ms: float, focus: Iterable[str], detail) -> dict:
    started = time.perf_counter()
    detail = as_detail(detail)
    hidden: Mapping = {}
    if namespace is None:
        namespace, hidden = shell_namespace()
    items = list(namespace.items())
    values = {name: value for name, value in items if type(name) is str}  # a user object as key would be hashed
    wanted = [name for name in dict.fromkeys(focus) if type(name) is str and name in values]
    chosen = set(wanted)
    rest = recent_first([pair for pair in listed(items, hidden) if pair[0] not in chosen])

    variables = []
    redactions = 0
    focus_view = View(True, detail.focus_chars, detail.call_ms / 1000, detail)
    for name in wanted:
        item, count = entry(name, values[name], focus_view)
        variables.append(item)
        redactions += count
    deadline = started + budget_ms / 1000
    skipped = 0
    for position, (name, value) in enumerate(rest):
        left = deadline - time.perf_counter()
        if left <= 0:
            skipped = len(rest) - position
            break
        view = View(False, detail.other_chars, min(detail.call_ms / 1000, left), detail)
        item, count = entry(name, value, view)
        variables.append(item)
        redactions += count
    return {
        "version": VERSION,
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 2),
        "truncated": skipped > 0,
        "total": len(wanted) + len(rest),
        "skipped": skipped,
        "variables": variables,
        "redactions": redactions,
    }


def snapshot_json(
    namespace: Mapping | None = None,
    *,
    budget_ms: float = DEFAULT_BUDGET_MS,
    focus: Iterable[str] = (),
    detail: Detail | Mapping = DEFAULT_DETAIL,
) -> str:
    """``snapshot()`` as one JSON string, for a silent ``user_expressions`` request.

    The display formatter then only ever sees a str, so it renders no user object (no ``_repr_html_``).
    """
    result = snapshot(namespace, budget_ms=budget_ms, focus=focus, detail=detail)
    return json.dumps(result, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
