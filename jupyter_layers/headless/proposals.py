"""A build's proposal in a notebook file: the cells it becomes, proposed or (``--apply``) accepted.

A proposed cell is a code cell tagged ``jupyter-layers-proposed`` with the outputs of its verification run (in a
fork of the live state), its provenance in ``metadata.jupyter_layers.provenance`` and the taste check's notes in
``metadata.jupyter_layers.taste``. No prompt reads it and no headless run executes it
(``context.notebook.is_unreviewed``) until it is accepted: then it is an ordinary cell, unrun (no tag, no outputs,
no execution count, no taste notes), and keeps its provenance. ``jupyter layers clean --proposals``
removes the ones not accepted.
"""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell

from ..building.agent import Proposal
from ..context.notebook import PROPOSED_TAG


def proposal_cells(proposal: Proposal, accepted: bool = False) -> list[nbformat.NotebookNode]:
    """The proposal's cells in order: tagged with their fork outputs, or (``accepted``) ordinary and unrun."""
    cells = []
    for number, proposed in enumerate(proposal.cells):
        cell = new_code_cell(
            proposed.source,
            metadata={"tags": [PROPOSED_TAG], "jupyter_layers": proposal.review_notes(number)},
        )
        cell.outputs = [nbformat.from_dict(output) for output in proposed.outputs()]
        if accepted:
            accept_cell(cell)
        cells.append(cell)
    return cells


def accept_cell(cell: dict) -> None:
    """A proposed cell made ordinary: untagged, its fork outputs gone (it has not run in the notebook's kernel)."""
    metadata = cell.setdefault("metadata", {})
    tags = [tag for tag in metadata.get("tags", []) if tag != PROPOSED_TAG]
    if tags:
        metadata["tags"] = tags
    else:
        metadata.pop("tags", None)
    metadata.get("jupyter_layers", {}).pop("taste", None)  # the review's notes go with the review
    cell["outputs"] = []
    cell["execution_count"] = None
