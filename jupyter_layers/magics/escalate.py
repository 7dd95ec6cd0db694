"""``%escalate [QUESTION]``: layer 4. The whole picture to a reasoning model; fixes come back as cell diffs.

Without a question it asks about the last error, or the open question of an exploration that stopped without
findings. Follow-ups continue the conversation (thinking blocks go back with their signatures). Escalation is
offered, with its estimated cost, when an AI-edited cell fails again or an exploration hits its step limit;
``--auto`` makes those offers escalate by themselves, within the cost limit.
"""

from __future__ import annotations

import dataclasses
import html
from collections import Counter

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display, update_display

from ..context.input_history import history_cells
from ..engine import recipes
from ..engine.escalate import check_cost, cost_bounds, parse_fixes
from ..engine.rewrite import Rewrite, html_diff, unified_diff
from ..kernel import cell_history
from .kernel_situation import layer_situation
from .live import LiveOutput, error_line
from .session import KernelSession, report_errors


def escalation_history(session: KernelSession) -> dict:
    """What this kernel's escalation takes besides the situation: the recipe's keyword arguments."""
    return {
        "exploration": session.last_exploration,
        "attempts": tuple(attempts_so_far(session)),
        "conversation": session.escalation,
    }


def attempts_so_far(session: KernelSession) -> list[str]:
    """What was already tried in this kernel: AI edits that failed again or were not used, recurring errors."""
    notes = list(session.failed_edits)
    for source, edit in session.offered_edits.items():
        notes.append(f"An AI edit was offered and not run (instruction {edit.instruction!r}); it proposed:\n{source}")
    repeated = Counter((e.ename, e.evalue) for e in cell_history.recent_errors())
    for (ename, evalue), times in repeated.items():
        if times > 1:
            notes.append(f"The error {ename}: {evalue} occurred {times} times in this session.")
    return notes


@magics_class
class EscalateMagics(Magics):
    def __init__(self, shell, session: KernelSession):
        super().__init__(shell)
        self.session = session
        session.offer_escalation = self.offer
        shell.events.register("post_run_cell", self.watch_edited_cells)

    @magic_arguments()
    @argument("--new", action="store_true", help="Start a new conversation instead of following up.")
    @argument("--auto", action="store_true", help="From now on, escalate by itself when escalation is offered.")
    @argument("--model", "-m", default="", help="Reasoning model for this call.")
    @argument("--max-cost", type=float, default=None, help="Refuse if the worst case could cost more (USD).")
    @argument("question", nargs="*", help="What to ask (default: the last error).")
    @line_magic
    @report_errors("%escalate")
    def escalate(self, line: str) -> None:
        """Send the hardest problems to a reasoning model with everything known: cells and outputs, the kernel
        state, the last error, the last exploration, earlier attempts. Fixes come back as cell diffs."""
        args = parse_argstring(self.escalate, line)
        if args.auto:
            self.session.settings.escalate_auto = True
            print("escalation offers will now escalate by themselves (within the cost limit)")
            if not args.question:
                return
        if args.new:
            self.session.escalation = None
        self.ask(" ".join(args.question).strip().strip("'\""), args.model, args.max_cost)

    def prepare(self, question: str, model: str) -> recipes.Prepared:
        """This kernel's escalation: a follow-up to the last one unless ``--new``, with the last exploration and
        what was tried. ``%layers prompt escalate`` shows the same (it calls ``escalation_history``)."""
        route = self.session.route("escalate", model)
        situation = layer_situation(self.shell, "escalate", instruction=question)
        return recipes.escalate(route, situation, self.session.settings, **escalation_history(self.session))

    def ask(self, question: str, model: str = "", max_cost: float | None = None) -> None:
        prepared = self.prepare(question, model)
        route, request = prepared.route, prepared.request
        check_cost(route, request, max_cost or self.session.settings.escalate_max_cost)
        thinking = None  # shown when the first thinking arrives: a model that does not think gets no placeholder

        def show_thinking(text: str) -> None:
            nonlocal thinking
            bundle = {
                "text/html": f"<details><summary>thinking ({len(text):,} characters)</summary>"
                f"<pre style='white-space:pre-wrap'>{html.escape(text)}</pre></details>",
                "text/plain": f"thinking… ({len(text):,} characters)",
            }
            if thinking is None:
                thinking = display(bundle, raw=True, display_id=True)
            else:
                update_display(bundle, raw=True, display_id=thinking.display_id)

        live = LiveOutput(self.shell, f"{route.label} is reasoning")
        stop = self.session.run(
            "%escalate",
            route,
            request,
            live,
            lambda text: {"text/markdown": text, "text/plain": text},
            on_thinking=show_thinking,
        )
        if stop is None:
            return
        self.session.escalation = dataclasses.replace(request, messages=(*request.messages, stop.message))
        metadata = {"jupyter_layers": {"layer": "escalate", "model": route.label, "question": prepared.question}}
        live.finish({"text/markdown": stop.message.text, "text/plain": stop.message.text}, metadata)
        self.offer_fixes(stop.message.text, route.label)

    def offer_fixes(self, answer: str, model: str) -> None:
        sources = {cell.index: cell.source for cell in history_cells(self.shell)}
        fixes = parse_fixes(answer, sources)
        for fix in fixes:
            name = f"In[{fix.cell}]"
            display(
                {
                    "text/html": html_diff(fix.before, fix.after, f"fix for {name}"),
                    "text/plain": unified_diff(fix.before, fix.after, name),
                },
                raw=True,
                metadata={"jupyter_layers": {"layer": "escalate", "fix_for_cell": fix.cell, "model": model}},
            )
            for line in fix.taste:  # for the reviewer to weigh
                print(f"taste: {name} {line}")
            if fix.syntax_error:
                error_line("%escalate", f"the fix for {name} does not parse ({fix.syntax_error}); check it first")
        if fixes:
            first = fixes[0]
            span = (0, len(first.before))
            self.session.offered_edits[first.after.strip()] = Rewrite(
                first.before, first.after, first.after, span, "escalation fix", model
            )
            self.shell.set_next_input(first.after, replace=False)
            print(f"The fix for In[{first.cell}] is offered as the next cell; run it to keep it.")

    def offer(self, reason: str) -> None:
        """Say that escalation could help and what it would cost; escalate at once in auto mode."""
        prepared = self.prepare("", "")
        expected, worst = cost_bounds(prepared.route, prepared.request)
        if self.session.settings.escalate_auto:
            print(f"{reason}: escalating to {prepared.route.label} (auto)")
            self.ask("")
            return
        print(
            f"{reason}. `%escalate` would send ~{prepared.request.metadata['estimated_tokens']:,} tokens to "
            f"{prepared.route.label} (estimated ${expected:.2f}, at most ${worst:.2f})."
        )

    @report_errors("%escalate")
    def watch_edited_cells(self, result) -> None:
        """After each cell: an AI edit that was run and failed again is recorded and escalation offered (in auto
        mode escalated: its errors are one line too, as from the magic)."""
        source = (result.info.raw_cell if result.info else "").strip()
        edit = self.session.offered_edits.pop(source, None)
        error = result.error_in_exec or result.error_before_exec
        if edit is None or error is None:
            return
        self.session.failed_edits.append(
            f"An AI edit ({edit.instruction!r}, {edit.model}) was run and failed again with "
            f"{type(error).__name__}: {error}:\n{edit.source}"
        )
        self.offer("This cell failed again after an AI edit")
