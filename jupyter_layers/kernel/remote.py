"""Kernel context for another process (the server, the command line), as one JSON string.

Called through a silent ``user_expressions`` request (``rpc.py``), so it returns a str and Jupyter's display
formatter never touches user objects. Works whether or not the extension is loaded; without it there is no last
error record and no definition order, so the last error falls back to ``sys.last_value``.
"""

from __future__ import annotations

import json
import sys

from . import cell_history, rpc


def expression(focus: tuple[str, ...] = (), budget_ms: float | None = None) -> str:
    """The user_expression that fetches the context (decode its reply with ``rpc.json_value``)."""
    return rpc.call(__name__, "context_json", list(focus), budget_ms)


def current_error() -> dict | None:
    recorded = cell_history.last_error()
    if recorded is not None:
        return recorded.to_dict()
    error = getattr(sys, "last_value", None)
    if error is None:
        return None
    return {
        "execution_count": None,
        "cell": "",
        "ename": type(error).__name__,
        "evalue": str(error)[:2000],
        "traceback": cell_history.user_frames_traceback(error),
        "names": [],
    }


def context_json(focus: list[str] = (), budget_ms: float | None = None) -> str:
    from . import snapshot

    options = {} if budget_ms is None else {"budget_ms": budget_ms}
    return json.dumps({"snapshot": snapshot(focus=tuple(focus), **options), "last_error": current_error()})
