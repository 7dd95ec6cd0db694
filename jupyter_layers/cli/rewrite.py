"""`jupyter layers rewrite`: rewrite one cell (or lines of it) by an instruction; print the diff, apply on request.

No kernel is started: the saved outputs stand in for the kernel, as in `jupyter layers prompt` without
``--execute``. A result that does not parse is shown, never applied.
"""

from __future__ import annotations

import json
import os
import sys

from traitlets import Bool, Int, Unicode

from ..context.selection import edit_selection
from ..context.situation import situation_from_notebook
from ..engine import recipes
from ..engine.rewrite import rewrite, unified_diff
from ..errors import ConfigError
from ..headless.notebook_file import check_cell, output_path, read_notebook, write_notebook
from ..headless.terminal_run import TerminalRun, error_line
from ..models.router import Router
from .base import CancellableSubcommand, LayersSubcommand, in_place_flag

USAGE = 'jupyter layers rewrite NOTEBOOK --cell N "INSTRUCTION" [--lines A-B] [--apply -o OUT | --apply --in-place]'


def apply_source(cell: dict, source: str, provenance: dict) -> None:
    """Replace a cell's source and record who changed it. Its outputs belonged to the old code: they go, so the
    next model call does not read them as outputs of the new code."""
    cell["source"] = source
    cell["outputs"] = []
    cell["execution_count"] = None
    cell.setdefault("metadata", {}).setdefault("jupyter_layers", {})["provenance"] = provenance


def writing_target(path: str, output: str, in_place: bool, apply: bool) -> str | None:
    """Where --apply writes; -o or --in-place without --apply would silently do nothing, so they are errors."""
    target = output_path(path, output or None, in_place)
    if apply and target is None:
        raise ConfigError("--apply needs -o OUT or --in-place", "the input notebook is only changed with --in-place")
    if target and not apply:
        raise ConfigError("-o and --in-place write only with --apply", "add --apply to write the change")
    return target


class RewriteApp(CancellableSubcommand):
    name = "jupyter-layers-rewrite"
    description = f"Rewrite a cell by an instruction; print the diff. Usage: {USAGE}"

    cell = Int(-1, help="The cell to rewrite (0-based, in notebook order).").tag(config=True)
    lines = Unicode("", help="Only lines A-B of the cell (1-based, inclusive).").tag(config=True)
    apply = Bool(False, help="Write the rewritten cell (needs -o OUT or --in-place).").tag(config=True)
    output = Unicode("", help="Write the notebook with the rewritten cell here.").tag(config=True)
    in_place = Bool(False, help="Write into the input notebook itself.").tag(config=True)
    model = Unicode("", help="Model for this call.").tag(config=True)

    aliases = {
        **LayersSubcommand.aliases,
        "cell": "RewriteApp.cell",
        "lines": "RewriteApp.lines",
        ("o", "output"): "RewriteApp.output",
        ("m", "model"): "RewriteApp.model",
    }
    flags = {
        **LayersSubcommand.flags,
        **in_place_flag("RewriteApp"),
        "apply": ({"RewriteApp": {"apply": True}}, "Write the change (with -o OUT or --in-place)."),
    }

    def run(self) -> None:
        if not self.extra_args or self.cell < 0:
            raise ConfigError("give a notebook, --cell N and an instruction", USAGE)
        path, instruction = self.extra_args[0], " ".join(self.extra_args[1:]).strip()
        if not instruction:
            raise ConfigError("say what to change", USAGE)
        nb = read_notebook(path)
        check_cell(nb, self.cell, path)
        if nb.cells[self.cell].cell_type != "code":
            raise ConfigError(f"cell {self.cell} is a {nb.cells[self.cell].cell_type} cell, not code")
        target = writing_target(path, self.output, self.in_place, self.apply)
        source = nb.cells[self.cell].source
        selection = edit_selection(source, self.lines)
        situation = situation_from_notebook(nb, self.cell, path=path, instruction=instruction, selection=selection)
        config = self.layers_config()
        router = Router(config, notebook=os.path.abspath(path))
        route = router.route("edit", self.model)
        notice = router.offline_notice()
        if notice and not self.json_output:
            print(notice, file=sys.stderr)
        result = rewrite(recipes.edit(route, situation, config), TerminalRun(route, "rewrite", quiet=self.json_output))
        if result is None:
            self.exit(1)
        applied = bool(target and result.changed and not result.syntax_error)
        if applied:
            apply_source(nb.cells[self.cell], result.source, {**result.provenance(), "cell": self.cell})
            write_notebook(nb, target)
        diff = unified_diff(result.original, result.source, f"cell {self.cell}")
        if self.json_output:
            print(
                json.dumps(
                    {
                        "cell": self.cell,
                        "diff": diff,
                        "source": result.source,
                        "applied": applied,
                        "syntax_error": result.syntax_error or None,
                        "taste": list(result.taste),
                    },
                    indent=1,
                    ensure_ascii=False,
                )
            )
        else:
            print(diff or "no change\n", end="")
            for line in result.taste:  # what the revision turn left: for the reviewer to weigh
                print(f"taste: {line}", file=sys.stderr)
        if result.syntax_error:
            problem = result.syntax_error
            error_line("rewrite", f"the rewritten cell does not parse ({problem}), nor did it before; nothing applied")
            self.exit(1)
        if applied and not self.json_output:
            print(f"wrote {target}", file=sys.stderr)
