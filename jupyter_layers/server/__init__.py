"""The jupyter-server surface: authenticated handlers under ``/jupyter-layers/``."""

from __future__ import annotations

from dataclasses import dataclass, field

from jupyter_server.utils import url_path_join

from ..config import JupyterLayers
from ..models.router import Router
from ..usage import UsageLedger
from .completion import CompletionSocket
from .handlers import StatusHandler
from .kernel_context import KernelContexts


@dataclass
class ServerState:
    """What every handler of one server shares."""

    settings: JupyterLayers
    router: Router
    contexts: KernelContexts
    ledger: UsageLedger = field(default_factory=UsageLedger)


def _load_jupyter_server_extension(server_app) -> None:
    settings = JupyterLayers(parent=server_app)
    state = ServerState(settings, Router(settings), KernelContexts(server_app.kernel_manager, server_app.log))
    base = url_path_join(server_app.web_app.settings["base_url"], "jupyter-layers")
    server_app.web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, "status"), StatusHandler, {"router": state.router}),
            (url_path_join(base, "ws"), CompletionSocket, {"state": state}),
        ],
    )
    server_app.log.info("jupyter_layers: server extension loaded at %s", base)
