"""Executing a whole notebook headless, cell by cell, so progress can be shown and Ctrl-C stops cleanly.

The cells are driven one at a time (not ``NotebookClient.execute``) to report each one as it starts and ends.
Errors are recorded from the cells' outputs rather than raised, so ``--allow-errors`` and the default stop
share one path.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Protocol

import nbformat
from jupyter_client.kernelspec import NoSuchKernel
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from ..context.notebook import is_unreviewed
from ..errors import LayersError


class KernelError(LayersError):
    hint = "install ipykernel in this environment (pip install ipykernel) or fix the notebook's kernelspec"


@dataclass(frozen=True)
class CellError:
    cell: int  # the cell's index in the notebook (0-based, all cell types counted)
    ename: str
    evalue: str

    def line(self) -> str:
        return f"cell {self.cell}: {self.ename}: {self.evalue}" if self.evalue else f"cell {self.cell}: {self.ename}"


@dataclass
class RunResult:
    cells: int  # code cells that run would execute (non-empty, not scratch)
    executed: int = 0
    errors: list[CellError] = field(default_factory=list)
    seconds: float = 0.0


class Progress(Protocol):
    def start(self, index: int, position: int, total: int, source: str) -> None: ...

    def done(self, index: int, position: int, total: int, seconds: float, error: CellError | None) -> None: ...


def runnable(nb: nbformat.NotebookNode) -> list[int]:
    """Indices of the cells to execute. Scratch cells are an exploration's record, run in a fork of the kernel:
    re-running them in the notebook's own namespace could change its state, so they keep their saved outputs."""
    return [
        index
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and cell.source.strip() and not is_unreviewed(cell)
    ]


def cell_error(index: int, cell: nbformat.NotebookNode) -> CellError | None:
    """The cell's error output, unless the cell is tagged ``raises-exception`` (nbclient's convention)."""
    if "raises-exception" in cell.get("metadata", {}).get("tags", []):
        return None
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            return CellError(index, output.ename, output.evalue)
    return None


async def execute_notebook(
    nb: nbformat.NotebookNode,
    folder: str,
    progress: Progress,
    *,
    timeout: float | None,
    allow_errors: bool,
    kernel_arguments: list[str] = (),
    kernel_environment: dict[str, str] | None = None,
) -> RunResult:
    """Run the notebook's code cells in a fresh kernel started in ``folder``; outputs land in ``nb``.

    Stops at the first failing cell unless ``allow_errors``. A cell over ``timeout`` seconds is interrupted and
    fails with the kernel's KeyboardInterrupt. On SIGINT the running cell is abandoned, the kernel is shut down
    (the ``async with`` exit) and KeyboardInterrupt is raised. ``kernel_arguments`` and ``kernel_environment``
    (added to this process's) configure the kernel, e.g. the JupyterLayers options the magics read.
    """
    order = runnable(nb)
    result = RunResult(cells=len(order))
    client = NotebookClient(
        nb,
        timeout=timeout,
        interrupt_on_timeout=True,
        allow_errors=True,  # errors are read from the outputs below, so stopping is decided in one place
        kernel_name=nb.metadata.get("kernelspec", {}).get("name", "python3"),
        resources={"metadata": {"path": folder}},
        extra_arguments=list(kernel_arguments),
    )
    started = time.perf_counter()
    interrupted = False
    try:
        async with client.async_setup_kernel(env={**os.environ, **(kernel_environment or {})}):
            # nbclient's own SIGINT handler only schedules the kernel's shutdown and lets the cell wait on a dead
            # kernel; cancelling the task instead unwinds through the context manager, which shuts it down. The
            # kernel is busy in a cell the user gave up on, so it is stopped at once rather than asked to finish.
            loop, task = asyncio.get_running_loop(), asyncio.current_task()

            def on_interrupt() -> None:
                nonlocal interrupted
                interrupted = True
                client.shutdown_kernel = "immediate"
                task.cancel()

            loop.add_signal_handler(signal.SIGINT, on_interrupt)
            info = await client.async_wait_for_reply(client.kc.kernel_info())
            if info:
                nb.metadata["language_info"] = info["content"]["language_info"]
            for position, index in enumerate(order, start=1):
                cell = nb.cells[index]
                progress.start(index, position, len(order), cell.source)
                cell_started = time.perf_counter()
                await client.async_execute_cell(cell, index)
                error = cell_error(index, cell)
                result.executed += 1
                progress.done(index, position, len(order), time.perf_counter() - cell_started, error)
                if error:
                    result.errors.append(error)
                    if not allow_errors:
                        break
    except NoSuchKernel as error:
        raise KernelError(f"no kernel named {error.name!r} is installed") from None
    except DeadKernelError as error:
        if interrupted:  # nbclient reports the cancelled wait for a cell's reply as a dead kernel
            raise KeyboardInterrupt from None
        raise KernelError(f"the kernel died: {error}", "the notebook may exhaust memory or crash the kernel") from None
    except asyncio.CancelledError:
        if interrupted:  # Ctrl-C: the kernel is already shut down; say so as the interrupt it was
            raise KeyboardInterrupt from None
        raise
    result.seconds = time.perf_counter() - started
    return result
