"""`jupyter layers escalate`: run the whole notebook, then ask the reasoning model with the whole picture.

A failing cell is the point, so execution goes on past errors. The kernel is shut down before the model call
(the answer needs its context, not the kernel). Cells are numbered by notebook index in the prompt, so the
``<fix cell="N">`` blocks name notebook cells; ``--apply`` writes those cells and nothing else.
"""

from __future__ import annotations

import copy
import json
import os
import sys

from traitlets import Bool, Float, Unicode

from ..context.notebook import is_unreviewed
from ..context.situation import Situation, focus_names, situation_from_notebook
from ..engine import recipes
from ..engine.escalate import check_cost, failing_cell, parse_fixes
from ..engine.recipes import SITUATION, place_cursor
from ..engine.rewrite import now
from ..errors import ConfigError
from ..headless.notebook_file import NotebookError, read_notebook, write_notebook
from ..headless.notebook_kernel import NotebookKernel
from ..headless.terminal_run import TerminalRun, error_line
from ..models.router import Router
from .base import CancellableSubcommand, LayersSubcommand, in_place_flag
from .rewrite import apply_source, writing_target

USAGE = 'jupyter layers escalate NOTEBOOK [--question "why is X?"] [--apply -o OUT | --apply --in-place]'


def escalation_situation(nb, path: str, question: str = "") -> Situation:
    """What ``jupyter layers escalate`` asks about (and ``prompt --layer escalate --execute`` shows): a copy of
    the notebook run whole in a fresh kernel in its folder, the kernel summarised with escalation's budget,
    the cursor after the notebook. ``nb`` itself is left as it was (``--apply`` writes only the fixed cells)."""
    executed = copy.deepcopy(nb)
    with NotebookKernel(executed, os.path.dirname(os.path.abspath(path))) as kernel:
        kernel.execute_upto(len(executed.cells))
        cursor = failing_cell(executed)
        context = kernel.context(focus_names(executed.cells[cursor].source), SITUATION["escalate"].snapshot_ms)
    situation = situation_from_notebook(executed, cursor, path=path, kernel_context=context, instruction=question)
    return place_cursor("escalate", situation, executed)


class EscalateApp(CancellableSubcommand):
    name = "jupyter-layers-escalate"
    description = f"Execute a notebook and escalate with the whole picture. Usage: {USAGE}"

    question = Unicode("", help="What to ask (default: why the last error happens).").tag(config=True)
    apply = Bool(False, help="Write the fixed cells (needs -o OUT or --in-place).").tag(config=True)
    output = Unicode("", help="Write the notebook with the fixed cells here.").tag(config=True)
    in_place = Bool(False, help="Write into the input notebook itself.").tag(config=True)
    model = Unicode("", help="Reasoning model for this call.").tag(config=True)
    max_cost = Float(0.0, help="Refuse if the worst case could cost more, USD (default: escalate_max_cost).").tag(
        config=True
    )

    aliases = {
        **LayersSubcommand.aliases,
        "question": "EscalateApp.question",
        ("o", "output"): "EscalateApp.output",
        ("m", "model"): "EscalateApp.model",
        "max-cost": "EscalateApp.max_cost",
    }
    flags = {
        **LayersSubcommand.flags,
        **in_place_flag("EscalateApp"),
        "apply": ({"EscalateApp": {"apply": True}}, "Write the fixed cells (with -o OUT or --in-place)."),
    }

    def run(self) -> None:
        if len(self.extra_args) != 1:
            raise ConfigError("give exactly one notebook", USAGE)
        path = self.extra_args[0]
        nb = read_notebook(path)
        if not nb.cells:
            raise NotebookError(f"{path} has no cells")
        target = writing_target(path, self.output, self.in_place, self.apply)
        config = self.layers_config()
        router = Router(config, notebook=os.path.abspath(path))
        route = router.route("escalate", self.model)
        notice = router.offline_notice()
        if notice and not self.json_output:
            print(notice, file=sys.stderr)
        prepared = recipes.escalate(route, escalation_situation(nb, path, self.question), config)
        request, question = prepared.request, prepared.question
        check_cost(route, request, self.max_cost or config.escalate_max_cost)
        stop = TerminalRun(route, "escalate", out=sys.stdout, quiet=self.json_output)(request)
        if stop is None:
            self.exit(1)
        answer = stop.message.text
        sources = {i: c.source for i, c in enumerate(nb.cells) if c.cell_type == "code" and not is_unreviewed(c)}
        fixes = parse_fixes(answer, sources)
        applied = []
        if target:
            provenance = {"layer": "escalate", "question": question, "model": route.label, "time": now()}
            for fix in fixes:
                if fix.syntax_error:
                    error_line("escalate", f"the fix for cell {fix.cell} does not parse ({fix.syntax_error}); skipped")
                    continue
                apply_source(nb.cells[fix.cell], fix.after, {**provenance, "cell": fix.cell})
                applied.append(fix.cell)
            if applied:
                write_notebook(nb, target)
        diffs = [{"cell": fix.cell, "diff": fix.diff(), "taste": list(fix.taste)} for fix in fixes]
        if self.json_output:
            result = {"answer": answer, "fixes": diffs, "applied": applied, "output": target if applied else None}
            print(json.dumps(result, indent=1, ensure_ascii=False))
            return
        for diff in diffs:
            print(f"\n{diff['diff']}", end="")
        if target:
            print(
                f"wrote {target} (cells {', '.join(map(str, applied))} fixed)" if applied else "nothing written",
                file=sys.stderr,
            )
        elif fixes:
            print("nothing written: give --apply with -o OUT or --in-place to apply the fixes", file=sys.stderr)
