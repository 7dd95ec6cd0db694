"""The exploration agent's tools against a kernel driven from another process (the command line, the server).

Scratch cells run in a sandbox registered under the exploration's id (opened on entry, closed on exit), state is
read by the kernel's own workspace, and cells are read from the notebook document (with outputs, notebook
indices) rather than the kernel's input history. Every request is a silent ``user_expressions`` evaluation built
by ``jupyter_layers.kernel.rpc``.
"""

from __future__ import annotations

import json
from typing import Protocol

import nbformat

from ..building.verify import Verification
from ..context.notebook import cell_views
from ..kernel import rpc
from ..sandbox import StepResult

STEP_MARGIN = 30.0  # beyond the step timeout: the sandbox kills a step itself, this only guards a stuck kernel
SANDBOX = "jupyter_layers.sandbox.remote"
VERIFY = "jupyter_layers.building.verify"
WORKSPACE = "jupyter_layers.explore.kernel_workspace"


class Evaluator(Protocol):
    def evaluate(self, expression: str, timeout: float = ...) -> str:
        """The str an expression returns in the kernel."""


class NotebookWorkspace:
    """The agent's tools against the session's kernel: scratch cells in a sandbox registered under the
    exploration's id (opened on entry, closed on exit), state read by the kernel's own workspace, cells read
    from the notebook document (with outputs, notebook indices) rather than the kernel's input history."""

    def __init__(self, session: Evaluator, nb: nbformat.NotebookNode, exploration_id: str, live: bool = False):
        self.session, self.nb, self.id, self.live = session, nb, exploration_id, live
        self.warning = ""
        self.protections = ""  # the sandbox's protections, one summary line, once it is open

    def __enter__(self) -> NotebookWorkspace:
        opened = json.loads(self.session.evaluate(rpc.call(SANDBOX, "open_json", self.id, self.live)))
        self.warning = opened["warning"] or ""
        self.protections = opened["protections"]
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None or not issubclass(kind, KeyboardInterrupt):  # after Ctrl-C the kernel is shut down instead
            self.session.evaluate(rpc.call(SANDBOX, "close_json", self.id))

    def run(self, code: str, timeout: float) -> StepResult:
        reply = self.session.evaluate(rpc.call(SANDBOX, "run_json", self.id, code, timeout), timeout + STEP_MARGIN)
        return StepResult.from_dict(json.loads(reply))

    def verify(self, cells: list[str], check: str, timeout: float) -> Verification:
        """A build's proposal, in a sandbox of its own (``build/verify.py``)."""
        margin = timeout * (len(cells) + 1) + STEP_MARGIN
        reply = self.session.evaluate(rpc.call(VERIFY, "verify_json", cells, check, timeout), margin)
        return Verification.from_dict(json.loads(reply))

    def variables(self) -> str:
        return self.session.evaluate(rpc.call(WORKSPACE, "list_variables"))

    def inspect(self, name: str) -> str:
        return self.session.evaluate(rpc.call(WORKSPACE, "inspect_variable", name))

    def cells(self, indices: list[int]) -> str:
        views = {view.index: view for view in cell_views(self.nb)}
        shown = [views[i].render() if i in views else f"# there is no cell {i}" for i in indices]
        return "\n\n".join(shown) or "no cells asked for"

    def last_error(self) -> str:
        return self.session.evaluate(rpc.call(WORKSPACE, "read_last_error"))
