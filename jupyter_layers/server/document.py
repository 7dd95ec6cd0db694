"""The notebook a browser request carries, as the engine's Situation.

A request has ``"cells": [{cell_type, source, outputs?, execution_count?, id?, metadata?}]`` (the browser
trims outputs to text), ``"cell"`` (the active cell's index), and optionally ``"offset"``, ``"selection":
[start, end]``, ``"kernel_id"``, ``"path"`` and ``"model"`` (a per-request model spec).
"""

from __future__ import annotations

import nbformat

from ..context.situation import Situation, situation_from_notebook


def notebook(message: dict) -> nbformat.NotebookNode:
    cells = []
    for cell in message["cells"]:
        node = {"metadata": {}, **cell}
        if node["cell_type"] == "code":
            node.setdefault("outputs", [])
            node.setdefault("execution_count", None)
        else:
            node.pop("outputs", None)
            node.pop("execution_count", None)
        cells.append(nbformat.from_dict(node))
    return nbformat.from_dict({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def situation(message: dict, nb: nbformat.NotebookNode, context: dict | None, instruction: str = "") -> Situation:
    """The active cell at the cursor (or selection); the kernel's context when there is one, else (as on the
    command line) the notebook's saved error output stands in for the last error."""
    selection = message.get("selection")
    return situation_from_notebook(
        nb,
        int(message["cell"]),
        offset=int(message["offset"]) if message.get("offset") is not None else None,
        selection=(int(selection[0]), int(selection[1])) if selection else None,
        path=message.get("path", ""),
        kernel_context=context,
        instruction=instruction,
    )
