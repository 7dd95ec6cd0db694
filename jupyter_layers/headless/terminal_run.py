"""One model call for the engine, streamed to a terminal (``models.model_run`` consumes the events; this is the sink).

Text is written as it arrives (plain, no markup); thinking is only summarised on stderr, since a reasoning
model's thoughts can be long and the answer is what the user reads. With ``quiet`` (``--json``) nothing is
streamed, so stdout holds exactly one JSON document. A failed call is one line on stderr and None (the engine
then stops); an answer that is junk is held back while it streams and raised as ``UnusableAnswer``, which the
command prints as its one line (exit 2); Ctrl-C closes the model stream and propagates, so the command can shut
its kernel down.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from ..errors import LayersError
from ..models.events import Usage
from ..models.model_run import ModelRun
from ..models.router import Route
from ..usage import UsageLedger


def error_line(command: str, message: object) -> None:
    print(f"jupyter layers {command}: {message}", file=sys.stderr)


class TerminalSink:
    """A model call on a terminal: text to ``out`` as it arrives, thinking summarised on stderr, nothing at all
    with ``quiet``; a failure is one line on stderr; Ctrl-C propagates (the command shuts its kernel down)."""

    propagate_interrupt = True

    def __init__(self, route: Route, command: str, out: TextIO, quiet: bool):
        self.route, self.command, self.out, self.quiet = route, command, out, quiet
        self.thought = 0  # characters of thinking so far

    def text(self, delta: str, so_far: str) -> None:
        if self.thought and so_far == delta:
            self.note(f" ({self.thought:,} characters)\n")
        self.write(delta)

    def thinking(self, delta: str, so_far: str) -> None:
        if not self.thought:
            self.note(f"{self.route.label} is thinking…")
        self.thought = len(so_far)

    def failed(self, error: LayersError, text: str) -> None:
        self.end_line(text)
        error_line(self.command, error)

    def cancelled(self, text: str, interrupted: bool) -> None:
        self.end_line(text)
        if not interrupted:  # Ctrl-C is reported by the command, once
            error_line(self.command, "cancelled")

    def finished(self, text: str) -> None:
        self.end_line(text)

    def withdrawn(self, shown: str) -> None:
        self.end_line(shown)  # what was written stays; the command's one line (``UnusableAnswer``) follows

    def write(self, text: str) -> None:
        if not self.quiet:
            self.out.write(text)
            self.out.flush()

    def note(self, text: str) -> None:
        if not self.quiet:
            sys.stderr.write(text)
            sys.stderr.flush()

    def end_line(self, text: str) -> None:
        """Finish a streamed answer's last line, so what follows starts on its own."""
        if text and not text.endswith("\n"):
            self.write("\n")


class TerminalRun(ModelRun):
    """``run(request) -> Stop | None`` for ``Agent``, ``rewrite`` and escalation, bound to one route."""

    def __init__(
        self,
        route: Route,
        command: str,
        *,
        out: TextIO | None = None,
        quiet: bool = False,
        ledger: UsageLedger | None = None,
        on_usage: Callable[[Usage], None] | None = None,
    ):
        sink = TerminalSink(route, command, out or sys.stderr, quiet)
        super().__init__(route, sink, ledger or UsageLedger(), on_usage)
