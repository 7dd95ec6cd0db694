"""`jupyter layers prompt`: print exactly the request a layer would send for a cell of a notebook."""

from __future__ import annotations

import json
import os

from traitlets import Bool, CaselessStrEnum, Int, Unicode

from ..context.selection import edit_selection
from ..context.situation import Situation, focus_names, situation_from_notebook
from ..dry_run import as_text, describe, plan
from ..engine import recipes
from ..engine.recipes import place_cursor
from ..errors import ConfigError
from ..headless.notebook_file import check_cell, read_notebook
from ..headless.notebook_kernel import NotebookKernel
from .base import LayersSubcommand
from .escalate import escalation_situation


class PromptApp(LayersSubcommand):
    name = "jupyter-layers-prompt"
    description = (
        "Print exactly the request a layer would send for cell N of a notebook (nothing is sent). "
        "Usage: jupyter layers prompt NOTEBOOK --cell N [--offset K] --layer complete|edit|explore|build|escalate "
        "[--execute] [--format json|text] [--instruction TEXT] [--lines A-B]; with --execute, escalate runs the "
        "whole notebook as `jupyter layers escalate` does"
    )

    cell = Int(-1, help="The active cell (0-based, in notebook order).").tag(config=True)
    offset = Int(-1, help="The cursor's character offset in the active cell (-1: the end).").tag(config=True)
    layer = CaselessStrEnum(
        tuple(recipes.RECIPES), default_value="complete", help="Which layer's request to show."
    ).tag(config=True)
    execute = Bool(
        False,
        help="First run cells 0..N-1 (build: 0..N) in a fresh kernel in the notebook's folder, so the kernel state "
        "is real.",
    ).tag(config=True)
    output_format = CaselessStrEnum(("text", "json"), default_value="text", help="text or json.").tag(config=True)
    instruction = Unicode("", help="The edit instruction, the question (explore, escalate) or the task (build).").tag(
        config=True
    )
    check = Unicode("", help="Build: the check its cells must pass, as `jupyter layers build --check`.").tag(
        config=True
    )
    lines = Unicode("", help="Edit: only lines A-B of the cell (1-based, inclusive), as `rewrite --lines`.").tag(
        config=True
    )

    aliases = {
        "cell": "PromptApp.cell",
        "offset": "PromptApp.offset",
        "layer": "PromptApp.layer",
        "format": "PromptApp.output_format",
        "instruction": "PromptApp.instruction",
        "question": "PromptApp.instruction",
        "lines": "PromptApp.lines",
        "check": "PromptApp.check",
        "task": "PromptApp.instruction",
    }
    flags = {
        **LayersSubcommand.flags,
        "execute": ({"PromptApp": {"execute": True}}, "Run the cells above first, in a fresh kernel."),
        "json": ({"PromptApp": {"output_format": "json"}}, "Same as --format json."),
    }

    def situation(self, nb, cell: int, path: str) -> Situation:
        """The active cell, with the cells above it run first when asked; edit takes the same selection as
        ``jupyter layers rewrite`` (``--lines``, else the whole cell)."""
        context = None
        if self.execute:
            with NotebookKernel(nb, os.path.dirname(os.path.abspath(path))) as kernel:
                kernel.execute_upto(recipes.cells_run_before(self.layer, cell))
                context = kernel.context(focus_names(nb.cells[cell].source))
        source = nb.cells[cell].source
        situation = situation_from_notebook(
            nb,
            cell,
            offset=None if self.offset < 0 else self.offset,
            selection=edit_selection(source, self.lines) if self.layer == "edit" else None,
            path=path,
            kernel_context=context,
            instruction=self.instruction,
        )
        return place_cursor(self.layer, situation, nb)

    def run(self) -> None:
        if len(self.extra_args) != 1:
            raise ConfigError("give exactly one notebook", "jupyter layers prompt NOTEBOOK --cell N --layer complete")
        path = self.extra_args[0]
        nb = read_notebook(path)
        cell = self.cell if self.cell >= 0 else len(nb.cells) - 1
        check_cell(nb, cell, path)
        config = self.layers_config()
        if self.layer == "escalate" and self.execute:
            situation = escalation_situation(nb, path, self.instruction)  # as `jupyter layers escalate` runs it
        else:
            situation = self.situation(nb, cell, path)
        history = {"check": self.check, "below": cell} if self.layer == "build" else {}  # as `layers build` asks
        described = describe(plan(self.layer, situation, config, **history))
        print(
            json.dumps(described, indent=1, ensure_ascii=False) if self.output_format == "json" else as_text(described)
        )
