"""`jupyter layers explore`: run a notebook, explore a question against its live kernel, keep the steps as cells.

The agent and the model calls run here; scratch code runs in the kernel's sandbox (a fork of its state), so
the steps see exactly what the notebook built and change none of it. Each step becomes a tagged scratch cell
after the last executed cell (``jupyter layers clean`` removes them), the findings a markdown cell that stays.
"""

from __future__ import annotations

import json
import os
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell
from traitlets import Bool, Float, Int, Unicode

from ..context.notebook import SCRATCH_TAG
from ..context.situation import focus_names, situation_from_notebook
from ..engine import recipes
from ..engine.recipes import place_cursor
from ..errors import ConfigError
from ..explore.agent import Agent, Exploration, StepFinished, StepStarted, ToolUsed
from ..headless.notebook_file import NotebookError, output_path, read_notebook, write_notebook
from ..headless.notebook_kernel import NotebookKernel
from ..headless.terminal_run import TerminalRun
from ..models.router import Router
from .base import CancellableSubcommand, LayersSubcommand, in_place_flag

USAGE = 'jupyter layers explore NOTEBOOK "why is total too high?" [--upto N] [-o OUT | --in-place] [--clean]'


class ExploreApp(CancellableSubcommand):
    name = "jupyter-layers-explore"
    description = f"Execute a notebook, explore a question against its live kernel. Usage: {USAGE}"

    upto = Int(-1, help="Execute cells 0..N-1 first (default: all cells).").tag(config=True)
    output = Unicode("", help="Write the notebook with the scratch cells and findings here.").tag(config=True)
    in_place = Bool(False, help="Write into the input notebook itself.").tag(config=True)
    clean = Bool(False, help="Write only the findings, no scratch cells.").tag(config=True)
    steps = Int(0, help="Most model turns (default: JupyterLayers.explore_max_steps).").tag(config=True)
    timeout = Float(0.0, help="Seconds per scratch cell (default: JupyterLayers.explore_step_timeout).").tag(
        config=True
    )
    live = Bool(False, help="Run scratch cells in the live namespace instead of a fork.").tag(config=True)
    model = Unicode("", help="Model for this exploration (e.g. claude-sonnet-5-5, openai:llama3).").tag(config=True)

    aliases = {
        **LayersSubcommand.aliases,
        ("o", "output"): "ExploreApp.output",
        "upto": "ExploreApp.upto",
        "steps": "ExploreApp.steps",
        "timeout": "ExploreApp.timeout",
        ("m", "model"): "ExploreApp.model",
    }
    flags = {
        **LayersSubcommand.flags,
        **in_place_flag("ExploreApp"),
        "clean": ({"ExploreApp": {"clean": True}}, "Keep the findings, write no scratch cells."),
        "live": ({"ExploreApp": {"live": True}}, "Scratch cells run in the live namespace (no fork)."),
    }

    def run(self) -> None:
        if not self.extra_args:
            raise ConfigError("give a notebook and a question", USAGE)
        path, question = self.extra_args[0], " ".join(self.extra_args[1:]).strip()
        nb = read_notebook(path)
        target = output_path(path, self.output or None, self.in_place)
        upto = len(nb.cells) if self.upto < 0 else self.upto
        if not nb.cells or upto > len(nb.cells):
            raise NotebookError(f"{path} has {len(nb.cells)} cells: --upto {upto} is outside it")
        config = self.layers_config()
        router = Router(config, notebook=os.path.abspath(path))
        route = router.route("explore", self.model)
        self.say(router.offline_notice())
        with NotebookKernel(nb, os.path.dirname(os.path.abspath(path))) as kernel:
            last = kernel.execute_upto(upto)
            cursor = last if last is not None else 0
            context = kernel.context(focus_names(nb.cells[cursor].source))
            situation = situation_from_notebook(nb, cursor, path=path, kernel_context=context, instruction=question)
            prepared = recipes.explore(
                route, place_cursor("explore", situation, nb), config, max_steps=self.steps, step_timeout=self.timeout
            )
            exploration = Exploration(prepared.question)
            model_run = TerminalRun(
                route,
                "explore",
                quiet=self.json_output,
                on_usage=lambda usage: agent.count(usage.input_tokens + usage.output_tokens),
            )
            with kernel.workspace(exploration.id, live=self.live) as workspace:
                self.say(f"scratch cells: {workspace.protections}")
                self.say(workspace.warning)
                agent = Agent(route, workspace, model_run, prepared.limits, self.show)
                result = agent.explore(prepared.request, exploration)
        if result is None:  # the model call failed or was cancelled: already said on stderr
            self.exit(1)
        self.record(nb, exploration, 0 if last is None else last + 1)
        if target:
            write_notebook(nb, target)
        self.report(exploration, target)

    def record(self, nb, exploration: Exploration, at: int) -> None:
        """Scratch cells (unless --clean), then the findings, inserted at ``at`` in step order."""
        cells = [] if self.clean else [scratch_cell(exploration, step) for step in exploration.steps]
        findings = new_markdown_cell(
            exploration.findings.markdown(),
            metadata={"jupyter_layers": {"exploration": exploration.id, "findings": True}},
        )
        nb.cells[at:at] = [*cells, findings]

    def report(self, exploration: Exploration, target: str | None) -> None:
        findings = exploration.findings
        if self.json_output:
            result = {
                "question": exploration.question,
                "findings": {
                    "answer": findings.answer,
                    "evidence": list(findings.evidence),
                    "fix": findings.fix,
                    "complete": findings.complete,
                },
                "steps": [
                    {"code": s.code, "error": s.result.error, "timed_out": s.result.timed_out}
                    for s in exploration.steps
                ],
                "output": target,
            }
            print(json.dumps(result, indent=1, ensure_ascii=False))
            return
        print(findings.markdown())
        self.say(f"wrote {target}" if target else "nothing written: give -o OUT or --in-place to keep the cells")

    def show(self, event) -> None:
        """Progress on stderr."""
        self.say(scratch_line(event))

    def say(self, text: str | None) -> None:
        if text and not self.json_output:
            print(text, file=sys.stderr)


def scratch_line(event) -> str | None:
    """An agent's progress as text (its step's code, the step's output, another tool's first line), or None."""
    if isinstance(event, StepStarted):
        return f"── scratch step {event.number} ──\n{event.code}"
    if isinstance(event, StepFinished):
        return f"── output ──\n{event.step.result.as_text(2000)}"
    if isinstance(event, ToolUsed):
        return f"[{event.name}] {event.result.splitlines()[0] if event.result else ''}"
    return None


def scratch_cell(exploration: Exploration, step) -> dict:
    """One step as a code cell whose output is what the agent read, tagged so `clean` can remove it."""
    cell = new_code_cell(
        step.code,
        metadata={"tags": [SCRATCH_TAG], "jupyter_layers": {"exploration": exploration.id, "step": step.number}},
    )
    cell.outputs = [nbformat.from_dict(output) for output in step.outputs()]
    return cell
