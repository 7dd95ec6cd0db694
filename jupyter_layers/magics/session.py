"""What all magics of one kernel share: settings, routing, usage, and running one model call for display."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import JupyterLayers
from ..errors import LayersError
from ..models.events import Failure, Stop, TextDelta, ThinkingDelta, Usage
from ..models.messages import Request
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
        """Stream one call into ``live`` (``render`` turns the text so far into a mimebundle).

        Usage goes to the ledger. A failure, or Ctrl-C (which closes the model stream), becomes one line and
        None; what was already shown stays.
        """
        text, thinking = "", ""
        try:
            for event in route.provider.stream(request):
                if isinstance(event, TextDelta):
                    text += event.text
                    live.show(render(text))
                elif isinstance(event, ThinkingDelta) and on_thinking:
                    thinking += event.text
                    on_thinking(thinking)
                elif isinstance(event, Usage):
                    self.ledger.record(route.layer, route.model, event)
                    if on_usage:
                        on_usage(event)
                elif isinstance(event, Failure):
                    if text:  # everything that arrived stays on screen, not only the last throttled update
                        live.show(render(text), force=True)
                    error_line(magic, event.error)
                    return None
                elif isinstance(event, Stop):
                    if event.reason == "cancelled":
                        error_line(magic, "cancelled")
                        return None
                    return event
        except KeyboardInterrupt:
            error_line(magic, "cancelled: the model stream was closed")
        return None


def report_errors(magic: str):
    """Decorator: a LayersError (misconfiguration, bad arguments) is one line, never a traceback."""

    def wrap(method):
        def run(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except LayersError as error:
                error_line(magic, error)

        run.__name__, run.__doc__ = method.__name__, method.__doc__
        return run

    return wrap
