"""`jupyter layers clean`: remove every scratch cell (tag jupyter-layers-scratch) an exploration left, and with
``--proposals`` a build's proposed cells (tag jupyter-layers-proposed) too."""

from __future__ import annotations

import json

from traitlets import Bool, Unicode

from ..context.notebook import PROPOSED_TAG, SCRATCH_TAG
from ..errors import ConfigError
from ..headless.notebook_file import output_path, write_notebook
from ..headless.progress import line_preview
from ..headless.scratch import without_scratch
from .base import LayersSubcommand


class CleanApp(LayersSubcommand):
    name = "jupyter-layers-clean"
    description = (
        f"Remove every cell tagged {SCRATCH_TAG}; other cells are kept as saved. "
        f"Usage: jupyter layers clean NOTEBOOK [--proposals] [-o OUT | --in-place] [--json]; --proposals also removes "
        f"the cells tagged {PROPOSED_TAG}. Without -o or --in-place it lists "
        "the cells it would remove and writes nothing; the input is only rewritten with --in-place."
    )

    output = Unicode("", help="Write the cleaned notebook here (atomically).").tag(config=True)
    in_place = Bool(False, help="Write the cleaned notebook over the input.").tag(config=True)
    proposals = Bool(False, help=f"Also remove a build's proposed cells ({PROPOSED_TAG}).").tag(config=True)

    aliases = {"o": "CleanApp.output", "output": "CleanApp.output"}
    flags = {
        **LayersSubcommand.flags,
        "in-place": ({"CleanApp": {"in_place": True}}, "Write the cleaned notebook over the input."),
        "proposals": ({"CleanApp": {"proposals": True}}, "Also remove the proposed cells a build left for review."),
    }

    def run(self) -> None:
        if len(self.extra_args) != 1:
            raise ConfigError(
                "give exactly one notebook", "jupyter layers clean NOTEBOOK [--proposals] [-o OUT | --in-place]"
            )
        path = self.extra_args[0]
        target = output_path(path, self.output or None, self.in_place)
        nb, removed = without_scratch(path, self.proposals)
        if target:
            write_notebook(nb, target)
        if self.json_output:
            print(json.dumps({"removed": len(removed), "cells": list(removed), "output": target}))
            return
        if not target:
            for index, text in removed.items():
                print(f"cell {index}: {line_preview(text)}")
        kind = "scratch or proposed" if self.proposals else "scratch"
        count = f"{len(removed)} {kind} cell{'' if len(removed) == 1 else 's'}"
        if target:
            print(f"{count} removed; wrote {target}")
        else:
            print(f"{count} would be removed; nothing written (give -o OUT or --in-place)")
