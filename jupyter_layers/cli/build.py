"""`jupyter layers build`: run a notebook up to a cell, build what a task asks for against its live kernel, and
insert the verified cells below that cell for review.

The agent tries code in the kernel's sandbox (a fork of its state) and proposes cells; each proposal runs in a
fresh fork, then the user's ``--check``, before anyone sees it. The result is the proposed cells right after
cell N, tagged ``jupyter-layers-proposed`` with their fork outputs and provenance (no headless run executes
them, ``jupyter layers clean --proposals`` removes them), or with ``--apply`` as ordinary, unrun cells.
"""

from __future__ import annotations

import copy
import json
import os
import sys

from traitlets import Bool, Float, Int, Unicode

from ..building.agent import Build, Builder, Proposal, verification_line
from ..context.situation import focus_names, situation_from_notebook
from ..engine import recipes
from ..engine.recipes import place_cursor
from ..errors import ConfigError, UnusableAnswer
from ..headless.notebook_file import check_cell, output_path, read_notebook, write_notebook
from ..headless.notebook_kernel import NotebookKernel
from ..headless.proposals import proposal_cells
from ..headless.terminal_run import TerminalRun, error_line
from ..models.router import Router
from .base import CancellableSubcommand, LayersSubcommand, in_place_flag
from .explore import scratch_line

USAGE = (
    'jupyter layers build NOTEBOOK "add a revenue column" [--cell N] [--check "assert ..."] [--apply] '
    "[-o OUT | --in-place]"
)


class BuildApp(CancellableSubcommand):
    name = "jupyter-layers-build"
    description = (
        "Execute a notebook up to cell N, build what a task asks for against its live kernel, and insert the "
        f"verified cells after cell N (tagged for review, or with --apply as ordinary unrun cells). Usage: {USAGE}"
    )

    cell = Int(-1, help="Execute cells 0..N, put the proposed cells after cell N (default: the last cell).").tag(
        config=True
    )
    check = Unicode("", help='Code that must run clean after the cells, e.g. "assert df.x.notna().all()".').tag(
        config=True
    )
    apply = Bool(False, help="Insert the cells accepted: untagged, unrun, without their fork outputs.").tag(config=True)
    output = Unicode("", help="Write the notebook with the proposed cells here.").tag(config=True)
    in_place = Bool(False, help="Write into the input notebook itself.").tag(config=True)
    steps = Int(0, help="Most model turns (default: JupyterLayers.build_max_steps).").tag(config=True)
    timeout = Float(0.0, help="Seconds per scratch cell (default: JupyterLayers.explore_step_timeout).").tag(
        config=True
    )
    live = Bool(False, help="Run the tries in the live namespace (verification is always in a fork).").tag(config=True)
    model = Unicode("", help="Model for this build (e.g. claude-sonnet-5-5, openai:llama3).").tag(config=True)

    aliases = {
        **LayersSubcommand.aliases,
        ("o", "output"): "BuildApp.output",
        "cell": "BuildApp.cell",
        "check": "BuildApp.check",
        "steps": "BuildApp.steps",
        "timeout": "BuildApp.timeout",
        ("m", "model"): "BuildApp.model",
    }
    flags = {
        **LayersSubcommand.flags,
        **in_place_flag("BuildApp"),
        "apply": ({"BuildApp": {"apply": True}}, "Insert the cells as ordinary, unrun cells (accepted)."),
        "live": ({"BuildApp": {"live": True}}, "The tries run in the live namespace (verification: a fork)."),
    }

    def run(self) -> None:
        path, task = (self.extra_args or [""])[0], " ".join(self.extra_args[1:]).strip()
        if not task:  # before a kernel is started for nothing
            raise ConfigError("give a notebook and a task", USAGE)
        nb = read_notebook(path)
        target = output_path(path, self.output or None, self.in_place)
        cell = self.cell if self.cell >= 0 else len(nb.cells) - 1
        check_cell(nb, cell, path)
        config = self.layers_config()
        router = Router(config, notebook=os.path.abspath(path))
        route = router.route("explore", self.model)
        self.say(router.offline_notice())
        executed = copy.deepcopy(nb)  # the run's outputs stay there: the written notebook keeps the cells as saved
        with NotebookKernel(executed, os.path.dirname(os.path.abspath(path))) as kernel:
            kernel.execute_upto(recipes.cells_run_before("build", cell))
            context = kernel.context(focus_names(executed.cells[cell].source))
            situation = situation_from_notebook(executed, cell, path=path, kernel_context=context, instruction=task)
            situation = place_cursor("build", situation, executed)
            prepared = recipes.build(
                route,
                situation,
                config,
                check=self.check,
                below=cell,
                max_steps=self.steps,
                step_timeout=self.timeout,
            )
            record = Build(prepared.question, prepared.check)
            model_run = TerminalRun(
                route,
                "build",
                quiet=self.json_output,
                on_usage=lambda usage: builder.count(usage.input_tokens + usage.output_tokens),
            )
            with kernel.workspace(record.id, live=self.live) as workspace:
                self.say(f"scratch cells: {workspace.protections}")
                self.say(workspace.warning)
                builder = Builder(prepared, workspace, model_run, self.show)
                try:
                    built = builder.build(record)
                except UnusableAnswer as error:  # no cells ran clean: one line, exit 1 (not a usage error)
                    error_line("build", error)
                    built = None
        if built is None or built.proposal is None:  # failed, cancelled or unusable: already said on stderr
            self.exit(1)
        proposal = built.proposal
        nb.cells[cell + 1 : cell + 1] = proposal_cells(proposal, accepted=self.apply)
        if target:
            write_notebook(nb, target)
        self.report(proposal, target)

    def report(self, proposal: Proposal, target: str | None) -> None:
        verified = proposal.provenance(0)["verified"]
        if self.json_output:
            result = {
                "task": proposal.task,
                "summary": proposal.summary,
                "cells": [
                    {"source": cell.source, "outputs": cell.outputs(), "taste": list(cell.taste)}
                    for cell in proposal.cells
                ],
                "check": proposal.check,
                "verified": verified,
                "output": target,
            }
            print(json.dumps(result, indent=1, ensure_ascii=False))
            return
        if proposal.summary:
            print(proposal.summary)
        count = len(proposal.cells)
        for number, cell in enumerate(proposal.cells, 1):
            print(f"── proposed cell {number} of {count} ──\n{cell.source}")
            if cell.outputs():
                print(f"── output in the fork ──\n{cell.result.as_text(3000)}")
            for note in cell.taste:
                print(f"taste: {note}")
        self.say(f"verified: {verified}")
        kept = "as ordinary cells (unrun)" if self.apply else "for review (tagged jupyter-layers-proposed)"
        self.say(
            f"wrote {target}: {count} cell{'s' if count != 1 else ''} {kept}"
            if target
            else "nothing written: give -o OUT or --in-place to keep the cells"
        )

    def show(self, event) -> None:
        """Progress on stderr: each scratch step's code and output, each proposal's verification."""
        self.say(verification_line(event) or scratch_line(event))

    def say(self, text: str | None) -> None:
        if text and not self.json_output:
            print(text, file=sys.stderr)
