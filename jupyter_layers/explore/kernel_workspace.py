"""The exploration tools inside the kernel: scratch cells in a sandbox, state read through the snapshot.

``list_variables``, ``inspect_variable`` and ``read_last_error`` (the agent's tools of those names) are module
functions, so a driver in another process (the command line, the server) calls them through ``kernel/rpc.py``.
"""

from __future__ import annotations

from ..building.verify import Verification, verify
from ..context.input_history import history_cells
from ..kernel import cell_history, snapshot
from ..sandbox import Sandbox, StepResult

LIST_CHARS = 12_000
INSPECT_DETAIL = {"focus_chars": 4000, "head_rows": 5, "head_columns": 12}


def list_variables() -> str:
    state = snapshot()
    text = "\n".join(f"{v['name']}: {v['text']}" for v in state["variables"])
    more = f"\n({state['skipped']} more not listed)" if state["skipped"] else ""
    return (text or "no variables")[:LIST_CHARS] + more


def inspect_variable(name: str) -> str:
    state = snapshot(focus=[name], detail=INSPECT_DETAIL)
    found = [v for v in state["variables"] if v["name"] == name]
    if not found:
        return f"there is no variable named {name!r}; list_variables shows them"
    return f"{name} ({found[0]['type']}): {found[0]['text']}"


def read_last_error() -> str:
    error = cell_history.last_error()
    if error is None:
        return "no error has been recorded in this kernel"
    return f"{error.ename}: {error.evalue} (cell In [{error.execution_count}])\n{error.cell}\n\n{error.traceback}"


class KernelWorkspace:
    def __init__(self, shell, sandbox: Sandbox):
        self.shell = shell
        self.sandbox = sandbox

    def run(self, code: str, timeout: float) -> StepResult:
        return self.sandbox.run(code, timeout)

    def verify(self, cells: list[str], check: str, timeout: float) -> Verification:
        """A build's proposal, in a fork of its own (``building/verify.py``)."""
        return verify(self.shell.user_ns, cells, check, timeout)

    def variables(self) -> str:
        return list_variables()

    def inspect(self, name: str) -> str:
        return inspect_variable(name)

    def cells(self, indices: list[int]) -> str:
        by_count = {cell.index: cell for cell in history_cells(self.shell)}
        shown = [by_count[i].render() if i in by_count else f"# there is no cell In [{i}]" for i in indices]
        return "\n\n".join(shown) or "no cells asked for"

    def last_error(self) -> str:
        return read_last_error()
