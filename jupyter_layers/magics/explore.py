"""``%explore QUESTION``: layer 3. An agent runs throwaway cells against a copy of the live state and reports.

Each scratch step appears as a collapsible block while it runs; ``%explore --clean`` empties those blocks in
one step and keeps the findings. The findings of the last exploration stay available to ``%escalate``.
``%explore --remember`` proposes a one-line project rule from them for the nearest AGENTS.md, which
``%explore --remember --accept`` (or ``--accept "EDITED RULE"``) writes (engine/remember.py).
"""

from __future__ import annotations

import html
from pathlib import Path

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display, update_display

from ..context.notebook import SCRATCH_TAG
from ..context.rule_writing import add_rule, one_line
from ..context.rules import project_root, project_rules, rules_file_for
from ..engine import recipes, remember
from ..errors import LayersError
from ..explore.agent import Agent, Exploration, Limits, StepFinished, StepStarted, ToolUsed
from ..explore.kernel_workspace import KernelWorkspace
from ..sandbox import open_sandbox
from ..usage import cost_at
from .kernel_situation import layer_situation, notebook_folder
from .live import LiveOutput, error_line
from .session import KernelSession, report_errors


class NothingToAccept(LayersError):
    hint = 'propose one with %explore --remember, or give it: %explore --remember --accept "RULE"'


def step_bundle(
    exploration: Exploration, number: int, code: str, note: str, output: str | None, of: str = "exploration"
) -> dict:
    """One scratch step (of an exploration or a build) as a collapsible block (HTML) with a plain-text form for
    terminals and files."""
    status = "running…" if output is None else output
    title = f"scratch step {number} · {of} {exploration.id}"
    note_html = f"<div><i>{html.escape(note)}</i></div>" if note else ""
    return {
        "text/html": (
            f'<details open class="{SCRATCH_TAG}"><summary>{html.escape(title)}</summary>{note_html}'
            f'<pre>{html.escape(code)}</pre><pre style="opacity:.8">{html.escape(status)}</pre></details>'
        ),
        "text/plain": f"── {title} ──\n{code}\n── output ──\n{status}",
    }


class ScratchBlocks:
    """An agent's scratch steps in the cell's output (an exploration's, or a build's tries): a collapsible block per
    step, shown as it starts and filled in when it ends; other tools as one line each. ``displays`` collects the
    blocks' display ids, for ``--clean``."""

    def __init__(self, record: Exploration, of: str, displays: list[str]):
        self.record, self.of, self.displays = record, of, displays
        self.shown: dict[int, str] = {}  # step number -> its block's display id

    def __call__(self, event) -> None:
        if isinstance(event, StepStarted):
            bundle = self.bundle(event.number, event.code, event.note, None)
            handle = display(bundle, display_id=True, **self.options(event.number))
            self.shown[event.number] = handle.display_id
            self.displays.append(handle.display_id)
        elif isinstance(event, StepFinished):
            step = event.step
            bundle = self.bundle(step.number, step.code, step.note, step.result.as_text(3000))
            update_display(bundle, display_id=self.shown[step.number], **self.options(step.number))
        elif isinstance(event, ToolUsed):
            print(f"[{event.name}] {event.result.splitlines()[0] if event.result else ''}")

    def bundle(self, number: int, code: str, note: str, output: str | None) -> dict:
        return step_bundle(self.record, number, code, note, output, self.of)

    def options(self, number: int) -> dict:
        """A block's display options: raw, and its tags in the metadata (``jupyter layers clean`` reads them)."""
        metadata = {"jupyter_layers": {"tags": [SCRATCH_TAG], self.of: self.record.id, "step": number}}
        return {"raw": True, "metadata": metadata}


@magics_class
class ExploreMagics(Magics):
    def __init__(self, shell, session: KernelSession):
        super().__init__(shell)
        self.session = session
        self.displays: list[str] = []  # display ids of the last exploration's scratch blocks

    @magic_arguments()
    @argument("--steps", type=int, default=None, help="Most model turns (default: explore_max_steps, 12).")
    @argument("--timeout", type=float, default=None, help="Seconds per scratch cell (default 30).")
    @argument("--live", action="store_true", help="Run scratch cells in the live namespace instead of a fork.")
    @argument("--model", "-m", default="", help="Model for this exploration.")
    @argument("--clean", action="store_true", help="Remove the last exploration's scratch blocks; keep findings.")
    @argument("--remember", action="store_true", help="Propose a project rule (AGENTS.md) from the last findings.")
    @argument(
        "--accept",
        nargs="?",
        const="",
        default=None,
        metavar="RULE",
        help="With --remember: write the proposed rule to AGENTS.md, or RULE (your edit of it) instead.",
    )
    @argument("question", nargs="*", help="What to find out.")
    @line_magic
    @report_errors("%explore")
    def explore(self, line: str) -> None:
        """Investigate a question (default: the last error) with throwaway cells run against a copy of the live
        state; ends with findings. %explore --clean removes the scratch blocks of the last exploration;
        %explore --remember proposes a project rule from its findings, --remember --accept writes it."""
        args = parse_argstring(self.explore, line)
        if args.clean:
            self.clean()
            return
        if args.remember or args.accept is not None:
            typed = " ".join([args.accept or "", *args.question]).strip()
            if args.accept is None:
                if typed:
                    raise LayersError("--remember takes no question", 'to give the rule: --accept "RULE"')
                return self.remember(args.model)
            return self.accept(typed.strip("'\""))
        question = " ".join(args.question).strip().strip("'\"")
        route = self.session.route("explore", args.model)
        situation = layer_situation(self.shell, "explore", instruction=question)
        prepared = recipes.explore(
            route, situation, self.session.settings, max_steps=args.steps, step_timeout=args.timeout
        )
        exploration = Exploration(prepared.question)
        self.displays = []
        sandbox, warning = open_sandbox(self.shell.user_ns, live=args.live)
        print(f"scratch cells: {sandbox.protections.summary()}")
        if warning:
            print(warning)
        try:
            self.run_agent(route, prepared.request, exploration, sandbox, prepared.limits)
        except KeyboardInterrupt:
            error_line("%explore", "cancelled: the scratch sandbox was stopped")
        finally:
            sandbox.close()

    def run_agent(self, route, request, exploration: Exploration, sandbox, limits: Limits) -> Exploration | None:
        on_event = ScratchBlocks(exploration, "exploration", self.displays)

        def run(turn_request):
            live = LiveOutput(self.shell, f"{route.label} is exploring")
            if live.display_id:
                self.displays.append(live.display_id)
            return self.session.run(
                "%explore",
                route,
                turn_request,
                live,
                lambda text: {"text/markdown": text, "text/plain": text},
                on_usage=lambda usage: agent.count(usage.input_tokens + usage.output_tokens),
            )

        agent = Agent(route, KernelWorkspace(self.shell, sandbox), run, limits, on_event)
        result = agent.explore(request, exploration)
        if result is None:
            return None
        findings = result.findings
        display(
            {"text/markdown": findings.markdown(), "text/plain": findings.markdown()},
            raw=True,
            metadata={
                "jupyter_layers": {
                    "layer": "explore",
                    "exploration": exploration.id,
                    "model": route.label,
                    "steps": len(result.steps),
                    "complete": findings.complete,
                }
            },
        )
        if result.steps:
            print(f"{len(result.steps)} scratch steps; `%explore --clean` removes them and keeps these findings.")
        self.session.last_exploration = result
        if not findings.complete and self.session.offer_escalation:
            self.session.offer_escalation("The exploration stopped without findings")
        return result

    def remember(self, model: str) -> None:
        """Ask the explore layer's model for one rule from the last findings; it waits for --accept."""
        remember.findings_of(self.session.last_exploration)  # no findings: that one line, before any model is chosen
        route = self.session.route("explore", model)
        folder = notebook_folder()
        request = remember.request(route, self.session.last_exploration, project_rules(folder))
        reply = route.stream(request).final()
        self.session.ledger.record("explore", reply.model, reply.usage, cost_at(route.price, reply.usage))
        rule = remember.rule_from(route, reply.text, request)
        target = rules_file_for(folder)
        self.session.pending_rule = (rule, target)
        print(f"proposed rule for {shown(target, folder)}:\n- {rule}")
        print('%explore --remember --accept adds it; --accept "EDITED RULE" adds your wording instead')

    def accept(self, typed: str) -> None:
        """Write the proposed rule, or the user's own wording of it, to the nearest AGENTS.md."""
        pending = self.session.pending_rule
        if not typed and pending is None:
            raise NothingToAccept("no proposed rule to accept")
        folder = notebook_folder()
        target = pending[1] if pending else rules_file_for(folder)
        rule = one_line(typed or pending[0])
        added = add_rule(target, rule)
        self.session.pending_rule = None
        where = shown(target, folder)
        print(f"added to {where}: - {rule}" if added else f"already in {where}: {rule}")

    def clean(self) -> None:
        empty_blocks(self.displays, "exploration", "the findings stay")


def empty_blocks(displays: list[str], of: str, kept: str) -> None:
    """``--clean``: the last run's scratch blocks emptied in place (and forgotten), what stays said."""
    if not displays:
        print(f"nothing to clean: no {of} in this kernel left scratch blocks")
        return
    for display_id in displays:
        update_display({"text/plain": ""}, raw=True, display_id=display_id)
    print(f"removed {len(displays)} scratch blocks; {kept}")
    displays.clear()


def shown(target: Path, folder: str) -> str:
    """The rules file as the prompts name it: relative to the project's root."""
    root = project_root(Path(folder).resolve())
    return str(target.relative_to(root)) if target.is_relative_to(root) else str(target)
