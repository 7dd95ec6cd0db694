"""Scratch sandboxes driven from another process (the Jupyter server, the command line).

Each function returns one JSON string, so a driver calls it through a silent ``execute_request``'s
``user_expressions`` (built and decoded by ``jupyter_layers.kernel.rpc``) and Jupyter's display formatter only
ever sees a ``str``. Sandboxes
live in a module-level registry keyed by exploration id, over the shell's ``user_ns``. A Ctrl-C (kernel
interrupt) during ``run_json`` stops the whole exploration: its sandbox is closed and forgotten, and the
interrupt propagates to the driver.
"""

from __future__ import annotations

import json

from . import Sandbox, open_sandbox

OPEN: dict[str, Sandbox] = {}


def _namespace() -> dict:
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("jupyter_layers.sandbox.remote runs inside an IPython kernel")
    return shell.user_ns


def open_json(exploration_id: str, live: bool = False) -> str:
    """Opens the exploration's sandbox: {"id", "mode", "warning", "protections"} (the protections' summary line).
    An id already open is closed and reopened."""
    close_json(exploration_id)
    sandbox, warning = open_sandbox(_namespace(), live=live)
    OPEN[exploration_id] = sandbox
    summary = sandbox.protections.summary()
    return json.dumps({"id": exploration_id, "mode": sandbox.mode, "warning": warning, "protections": summary})


def run_json(exploration_id: str, code: str, timeout: float = 30.0) -> str:
    """One scratch cell: the StepResult as JSON."""
    sandbox = OPEN.get(exploration_id)
    if sandbox is None:
        raise LookupError(f"no open exploration sandbox {exploration_id!r}: call open_json first")
    try:
        result = sandbox.run(code, timeout)
    except KeyboardInterrupt:
        OPEN.pop(exploration_id, None)
        sandbox.close()
        raise
    return json.dumps(result.to_dict())


def close_json(exploration_id: str) -> str:
    """Closes the exploration's sandbox: {"id", "closed": whether one was open}."""
    sandbox = OPEN.pop(exploration_id, None)
    if sandbox is not None:
        sandbox.close()
    return json.dumps({"id": exploration_id, "closed": sandbox is not None})
