"""What all magics of one kernel share: settings, routing, usage, and running one model call for display."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import JupyterLayers
from ..errors import LayersError
from ..models.events import Stop, Usage
from ..models.messages import Request
from ..models.model_run import ModelRun
from ..models.router import Route, Router
from ..usage import UsageLedger
from .live import LiveOutput, error_line


@dataclass
class KernelSession:
    shell: object
    settings: JupyterLayers
    router: Router
    ledger: UsageLedger = field(default_factory=UsageLedger)
    last_exploration: object = None  # explore.agent.Exploration: what %escalate sends of it
    pending_rule: tuple | None = None  # (rule, rules file) %explore --remember proposed: what --accept writes
    escalation: Request | None = None  # the last escalation's request with its answer: what a follow-up extends
    offered_edits: dict = field(default_factory=dict)  # source offered as the next cell -> engine.rewrite.Rewrite
    failed_edits: list = field(default_factory=list)  # notes on AI edits that were run and failed again
    offer_escalation: Callable[[str], None] | None = None  # set by %escalate: offers it with its cost

    def route(self, layer: str, model: str = "") -> Route:
        """The route for a layer; the first time the embedded model stands in for Claude, say so once."""
        route = self.router.route(layer, model)
        notice = self.router.offline_notice()
        if notice:
            print(notice)
        return route

    def run(
        self,
        magic: str,
        route: Route,
        request: Request,
        live: LiveOutput,
        render: Callable[[str], dict],
        on_thinking: Callable[[str], None] | None = None,
        on_usage: Callable[[Usage], None] | None = None,
    ) -> Stop | None:
        """Stream one call into ``live`` (``render`` turns the text so far into a mimebundle); usage goes to the
        ledger. A failure, or Ctrl-C (which closes the model stream), becomes one line and None; what was
        already shown stays."""
        return ModelRun(route, DisplaySink(magic, live, render, on_thinking), self.ledger, on_usage)(request)


@dataclass
class DisplaySink:
    """A magic's model call in the notebook: the text so far rendered into a live display; one line on failure;
    an answer that is junk taken off the display (the magic's ``report_errors`` says the one line)."""

    magic: str
    live: LiveOutput
    render: Callable[[str], dict]
    on_thinking: Callable[[str], None] | None = None
    propagate_interrupt = False

    def text(self, delta: str, so_far: str) -> None:
        self.live.show(self.render(so_far))

    def thinking(self, delta: str, so_far: str) -> None:
        if self.on_thinking:
            self.on_thinking(so_far)

    def failed(self, error: LayersError, text: str) -> None:
        if text:  # everything that arrived stays on screen, not only the last throttled update
            self.live.show(self.render(text), force=True)
        error_line(self.magic, error)

    def cancelled(self, text: str, interrupted: bool) -> None:
        error_line(self.magic, "cancelled: the model stream was closed" if interrupted else "cancelled")

    def finished(self, text: str) -> None:
        if not text:  # a turn that only called tools: its "working…" line has nothing to say any more
            self.live.show({"text/plain": ""}, force=True)

    def withdrawn(self, shown: str) -> None:
        """Junk (``engine.junk``) comes off the display; the magic's one line says what happened instead."""
        self.live.show({"text/plain": ""}, force=True)


def report_errors(magic: str):
    """Decorator: a LayersError (misconfiguration, bad arguments) is one line, never a traceback; so is Ctrl-C
    at any point of the magic (while the context is collected or the SDK imported, before the first token)."""

    def wrap(method):
        def run(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except LayersError as error:
                error_line(magic, error)
            except KeyboardInterrupt:
                error_line(magic, "cancelled")

        run.__name__, run.__doc__ = method.__name__, method.__doc__
        return run

    return wrap
