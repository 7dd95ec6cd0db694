"""A live kernel for one notebook, driven from the command line: the cells run, then the layers ask it things.

nbclient is async; the agent and the model streams are sync. The session therefore owns a private event loop
and runs each kernel request to completion on it (``run_until_complete``), on the caller's thread. Model streams
iterate on their own background loop (``models/stream.py``), so the two never share a loop. Everything the CLI
asks of the kernel goes through silent ``user_expressions`` requests (no output, no history, no execution
count), the same channel the server uses, built and decoded by ``kernel/rpc.py``: ``kernel/remote.py`` for the
context, ``sandbox/remote.py`` for the exploration sandbox. Every subcommand that needs a kernel (``prompt
--execute``, ``explore``, ``escalate``) uses this one. Leaving it shuts the kernel down, at once after Ctrl-C.
"""

from __future__ import annotations

import asyncio

import nbformat
from nbclient import NotebookClient

from ..context.notebook import is_unreviewed
from ..explore.notebook_workspace import NotebookWorkspace
from ..kernel import remote, rpc

REQUEST_TIMEOUT = 60.0  # seconds for a context or variable request


class NotebookKernel:
    """``with NotebookKernel(nb, folder) as kernel: kernel.execute_upto(n); kernel.context(focus)``."""

    def __init__(self, nb: nbformat.NotebookNode, folder: str, cell_timeout: float = 600.0):
        self.nb = nb
        self.loop = asyncio.new_event_loop()
        self.client = NotebookClient(
            nb,
            timeout=cell_timeout,
            allow_errors=True,
            kernel_name=nb.metadata.get("kernelspec", {}).get("name", "python3"),
            resources={"metadata": {"path": folder}},
        )

    def __enter__(self) -> NotebookKernel:
        # Not nbclient's async_setup_kernel: it installs a SIGINT handler that would swallow Ctrl-C.
        self.client.km = self.client.create_kernel_manager()
        try:
            self._wait(self.client.async_start_new_kernel())
            self._wait(self.client.async_start_new_kernel_client())
            self._wait(
                self.client.kc.execute_interactive(
                    "%load_ext jupyter_layers", silent=True, store_history=False, timeout=REQUEST_TIMEOUT
                )
            )
        except BaseException:
            self.shutdown(now=True)
            raise
        return self

    def __exit__(self, kind, error, traceback) -> None:
        self.shutdown(now=kind is not None and issubclass(kind, KeyboardInterrupt))

    def shutdown(self, now: bool) -> None:
        """Stop the kernel; after Ctrl-C at once (a busy kernel would not answer a graceful request soon)."""
        if self.client.km is not None:
            self.client.shutdown_kernel = "immediate" if now else "graceful"
            self._wait(self.client._async_cleanup_kernel())
        self.loop.close()

    def _wait(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def execute_upto(self, upto: int) -> int | None:
        """Run code cells ``0..upto-1`` (not scratch cells); errors do not stop the run, outputs land in the
        notebook. Returns the index of the last cell run, or None when none was."""
        last = None
        for index in range(upto):
            cell = self.nb.cells[index]
            if cell.cell_type == "code" and not is_unreviewed(cell):
                self._wait(self.client.async_execute_cell(cell, index))
                last = index
        return last

    def _ask(self, expression: str, timeout: float = REQUEST_TIMEOUT) -> dict:
        """The execute_reply to one silent user_expressions request (the expression under the name "value")."""
        request = rpc.silent_request({"value": expression})
        return self._wait(
            self.client.kc.execute_interactive(**request, timeout=timeout, output_hook=lambda message: None)
        )

    def evaluate(self, expression: str, timeout: float = REQUEST_TIMEOUT) -> str:
        """The str an expression returns in the kernel."""
        return rpc.value(self._ask(expression, timeout), "value")

    def context(self, focus: tuple[str, ...] = (), budget_ms: float | None = None) -> dict:
        """The kernel context (snapshot and last error) that the layers' prompts read."""
        return rpc.json_value(self._ask(remote.expression(focus, budget_ms)), "value")

    def workspace(self, exploration_id: str, live: bool = False) -> NotebookWorkspace:
        return NotebookWorkspace(self, self.nb, exploration_id, live)
