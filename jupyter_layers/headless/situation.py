"""A Situation from a notebook file: its cells and saved outputs, and optionally a freshly executed kernel."""

from __future__ import annotations

import ast
import dataclasses
import json
import os

import nbformat
from nbclient import NotebookClient

from ..context.notebook import cell_views, is_scratch, output_text
from ..context.relevance import WORD
from ..context.situation import Cursor, Situation
from ..errors import LayersError
from ..kernel import remote
from ..kernel.cell_history import referenced_names


class KernelContextError(LayersError):
    hint = "is jupyter_layers installed in the notebook's kernel environment?"


def saved_last_error(nb: nbformat.NotebookNode, upto: int) -> dict | None:
    """The most recently executed error output among cells before ``upto``, as the kernel would have recorded it."""
    latest = None
    for index, cell in enumerate(nb.cells[:upto]):
        if cell.cell_type != "code" or is_scratch(cell):
            continue
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                count = cell.get("execution_count") or 0
                if latest is None or count >= latest[0]:
                    latest = (count, index, cell, output)
    if latest is None:
        return None
    count, _, cell, output = latest
    return {
        "execution_count": cell.get("execution_count"),
        "cell": cell.source,
        "ename": output.ename,
        "evalue": output.evalue,
        "traceback": output_text(output, 6000),
        "names": list(referenced_names(cell.source)),
    }


def focus_names(source: str, limit: int = 12) -> tuple[str, ...]:
    """Identifiers of the active cell, for the kernel to summarise in detail."""
    return tuple(dict.fromkeys(WORD.findall(source)))[:limit]


async def execute_upto(
    nb: nbformat.NotebookNode, upto: int, folder: str, focus: tuple[str, ...], timeout: float = 120
) -> dict:
    """Run cells ``0..upto-1`` in a fresh kernel started in ``folder`` and return its context.

    A cell that raises does not stop the run: its error becomes the last error in the context. Outputs are
    written into ``nb``'s cells, as nbclient does.
    """
    client = NotebookClient(
        nb,
        timeout=timeout,
        allow_errors=True,
        kernel_name=nb.metadata.get("kernelspec", {}).get("name", "python3"),
        resources={"metadata": {"path": folder}},
    )
    async with client.async_setup_kernel():
        await client.kc.execute_interactive("%load_ext jupyter_layers", silent=True, store_history=False, timeout=60)
        for index in range(upto):
            if nb.cells[index].cell_type == "code" and not is_scratch(nb.cells[index]):
                await client.async_execute_cell(nb.cells[index], index)
        reply = await client.kc.execute_interactive(
            "", silent=True, store_history=False, user_expressions={"ctx": remote.expression(focus)}, timeout=60
        )
    result = reply["content"]["user_expressions"]["ctx"]
    if result["status"] != "ok":
        raise KernelContextError(
            f"the kernel could not report its state: {result.get('ename')}: {result.get('evalue')}"
        )
    return json.loads(ast.literal_eval(result["data"]["text/plain"]))


def situation_from_notebook(
    nb: nbformat.NotebookNode,
    cell: int,
    *,
    offset: int | None = None,
    path: str = "",
    kernel_context: dict | None = None,
    instruction: str = "",
    selection: tuple[int, int] | None = None,
) -> Situation:
    """Cell ``cell`` is the active one; without a kernel context the saved error outputs stand in for the kernel."""
    source = nb.cells[cell].source
    last_error = kernel_context["last_error"] if kernel_context else saved_last_error(nb, cell)
    return Situation(
        cursor=Cursor(cell, source, offset, selection),
        cells=tuple(cell_views(nb)),
        kernel=kernel_context["snapshot"] if kernel_context else None,
        last_error=last_error,
        path=os.path.basename(path),
        instruction=instruction,
    )


def as_new_cell(situation: Situation, nb) -> Situation:
    """The situation with the cursor in a new, empty cell after the notebook, as the magics ask from a new cell.

    Explore and escalate prompts show only the *other* cells: with the cursor on a real cell, that cell (the
    one that failed, say) would be missing from the prompt.
    """
    return dataclasses.replace(situation, cursor=Cursor(len(nb.cells), ""))
