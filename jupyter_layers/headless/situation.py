"""A freshly executed kernel for a notebook file: its cells run, then its context read (for `jupyter layers prompt`)."""

from __future__ import annotations

import ast
import json

import nbformat
from nbclient import NotebookClient

from ..context.notebook import is_scratch
from ..errors import LayersError
from ..kernel import remote


class KernelContextError(LayersError):
    hint = "is jupyter_layers installed in the notebook's kernel environment?"


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
