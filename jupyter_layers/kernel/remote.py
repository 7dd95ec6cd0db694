"""Kernel context for another process (the server, the command line), as one JSON string.

Called through a silent ``user_expressions`` request, so it returns a str and Jupyter's display formatter never
touches user objects. Works whether or not the extension is loaded; without it there is no last error record
and no definition order, so the last error falls back to ``sys.last_value``.
"""

from __future__ import annotations

import ast
import json
import sys

from ..errors import LayersError
from . import cell_history

EXPRESSION = "__import__('jupyter_layers.kernel.remote', fromlist=['x']).context_json({focus!r}, {budget_ms!r})"


def expression(focus: tuple[str, ...] = (), budget_ms: float | None = None) -> str:
    """The user_expression that fetches the context."""
    return EXPRESSION.format(focus=list(focus), budget_ms=budget_ms)


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


class KernelRequestError(LayersError):
    hint = "is jupyter_layers installed in the notebook's kernel environment?"


def expression_value(reply: dict, name: str = "value") -> str:
    """For the driver: the str a user_expression evaluated to, from the execute_reply."""
    result = reply["content"]["user_expressions"][name]
    if result["status"] != "ok":
        raise KernelRequestError(f"the kernel could not answer: {result.get('ename')}: {result.get('evalue')}")
    return ast.literal_eval(result["data"]["text/plain"])
