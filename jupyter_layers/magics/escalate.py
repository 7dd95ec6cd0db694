"""``%escalate [QUESTION]``: layer 4. The whole picture to a reasoning model; fixes come back as cell diffs.

Without a question it asks about the last error, or the open question of an exploration that stopped without
findings. Follow-ups continue the conversation (thinking blocks go back with their signatures). Escalation is
offered, with its estimated cost, when an AI-edited cell fails again or an exploration hits its step limit;
``--auto`` makes those offers escalate by themselves, within the cost limit.
"""

from __future__ import annotations

import dataclasses
import html
import json
from collections import Counter

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display, update_display

from ..context.budget import estimate_tokens
from ..engine.escalate import ERROR_QUESTION, SNAPSHOT_BUDGET_MS, check_cost, cost_bounds, parse_fixes, with_history
from ..engine.rewrite import Rewrite, html_diff, unified_diff
from ..errors import ConfigError
from ..kernel import cell_history
from ..models.messages import Message, Request
from ..prompts import build_request
from .live import LiveOutput, error_line
from .session import KernelSession, report_errors
from .situation import history_cells, kernel_situation

SNAPSHOT_FOR_ESCALATION = {"budget_ms": SNAPSHOT_BUDGET_MS, "detail": {"other_chars": 600, "focus_chars": 2000}}


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
        self.conversation: Request | None = None  # the last escalation's request, its answer appended
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
            self.conversation = None
        self.ask(" ".join(args.question).strip().strip("'\""), args.model, args.max_cost)

    def default_question(self) -> str:
        exploration = self.session.last_exploration
        if cell_history.last_error() is not None:
            return ERROR_QUESTION
        if exploration is not None and exploration.findings and not exploration.findings.complete:
            return exploration.question
        raise ConfigError("nothing to escalate: no error and no open exploration", "%escalate why is X?")

    def prepare(self, question: str, model: str) -> tuple:
        route = self.session.route("escalate", model)
        if self.conversation is not None:  # a follow-up: earlier turns, thinking blocks and signatures unchanged
            messages = (*self.conversation.messages, Message.user(question))
            size = estimate_tokens(json.dumps(route.provider.payload(self.conversation)["messages"]))
            metadata = {**self.conversation.metadata, "estimated_tokens": size + estimate_tokens(question)}
            return route, dataclasses.replace(self.conversation, messages=messages, metadata=metadata)
        exploration = self.session.last_exploration
        situation = with_history(
            kernel_situation(self.shell, instruction=question, snapshot_options=SNAPSHOT_FOR_ESCALATION),
            exploration.transcript() if exploration is not None else "",
            attempts_so_far(self.session),
        )
        budget = route.prompt_budget(self.session.settings.layer_budget("escalate"))
        return route, route.prepare(build_request("escalate", situation, budget))

    def ask(self, question: str, model: str = "", max_cost: float | None = None) -> None:
        question = question or self.default_question()
        route, request = self.prepare(question, model)
        check_cost(route.model, request, max_cost or self.session.settings.escalate_max_cost)
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
        self.conversation = dataclasses.replace(request, messages=(*request.messages, stop.message))
        metadata = {"jupyter_layers": {"layer": "escalate", "model": route.label, "question": question}}
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
        route, request = self.prepare(self.default_question(), "")
        expected, worst = cost_bounds(route.model, request)
        if self.session.settings.escalate_auto:
            print(f"{reason}: escalating to {route.label} (auto)")
            self.ask("")
            return
        print(
            f"{reason}. `%escalate` would send ~{request.metadata['estimated_tokens']:,} tokens to {route.label} "
            f"(estimated ${expected:.2f}, at most ${worst:.2f})."
        )

    def watch_edited_cells(self, result) -> None:
        """After each cell: an AI edit that was run and failed again is recorded and escalation offered."""
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
