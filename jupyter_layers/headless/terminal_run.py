"""One model call for the engine, streamed to a terminal: what the magics' ``KernelSession.run`` is in a kernel.

Text is written as it arrives (plain, no markup); thinking is only summarised on stderr, since a reasoning
model's thoughts can be long and the answer is what the user reads. With ``quiet`` (``--json``) nothing is
streamed, so stdout holds exactly one JSON document. A failed call is one line on stderr and None (the engine
then stops); Ctrl-C closes the model stream and propagates, so the command can shut its kernel down.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from ..models.events import Failure, Stop, TextDelta, ThinkingDelta, Usage
from ..models.messages import Request
from ..models.router import Route
from ..usage import UsageLedger


def error_line(command: str, message: object) -> None:
    print(f"jupyter layers {command}: {message}", file=sys.stderr)


class TerminalRun:
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
        self.route, self.command, self.quiet = route, command, quiet
        self.out = out or sys.stderr
        self.ledger = ledger or UsageLedger()
        self.on_usage = on_usage

    def __call__(self, request: Request) -> Stop | None:
        stream = self.route.provider.stream(request)
        text, thinking = "", 0
        try:
            for event in stream:
                if isinstance(event, TextDelta):
                    if thinking and not text:
                        self.note(f" ({thinking:,} characters)\n")
                    text += event.text
                    self.write(event.text)
                elif isinstance(event, ThinkingDelta):
                    if not thinking:
                        self.note(f"{self.route.label} is thinking…")
                    thinking += len(event.text)
                elif isinstance(event, Usage):
                    self.ledger.record(self.route.layer, self.route.model, event)
                    if self.on_usage:
                        self.on_usage(event)
                elif isinstance(event, (Failure, Stop)):
                    self.end_line(text)
                    if isinstance(event, Failure):
                        error_line(self.command, event.error)
                        return None
                    if event.reason == "cancelled":
                        error_line(self.command, "cancelled")
                        return None
                    return event
        except KeyboardInterrupt:
            stream.cancel()
            self.end_line(text)
            raise
        return None

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
