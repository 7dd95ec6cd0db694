"""The jupyter-server surface: authenticated handlers under ``/jupyter-layers/``.

``GET /jupyter-layers/status?path=`` (REST) and ``/jupyter-layers/ws`` (one WebSocket per browser tab, every
layer; see socket.py). The engine runs here, with the server's configuration and keys; kernels are reached
only through the Jupyter messaging protocol, and each kernel's context is held between the cells it runs
(kernel_context.py, told of restarts and shutdowns by jupyter_server's kernel events).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from jupyter_server.utils import url_path_join

from ..config import JupyterLayers
from ..explore.agent import Exploration
from ..models.router import Router
from . import custody
from . import relay as relay_handlers
from .handlers import StatusHandler
from .kernel_context import KERNEL_ACTIONS, KernelContexts
from .socket import LayersSocket


@dataclass
class ServerState:
    """What every handler of one server shares."""

    settings: JupyterLayers
    router: Router
    contexts: KernelContexts
    explorations: dict[str, Exploration] = field(default_factory=dict)  # the last one, by notebook path
    root_dir: str = ""  # the server's root: notebook paths are relative to it, and project rules stop there


def notebook_ids(server_app):
    """A notebook's id from its path: the file id server extension's, which follows renames (the path where the
    notebook is not a file of this server's)."""

    def notebook_id(path: str) -> str:
        file_ids = server_app.web_app.settings.get("file_id_manager")
        root = os.path.abspath(server_app.root_dir)
        if os.path.isabs(path) and os.path.commonpath([root, os.path.abspath(path)]) == root:
            path = os.path.relpath(path, root)  # a kernel's JPY_SESSION_NAME is absolute
        return (file_ids.index(path) if file_ids and path else None) or path

    return notebook_id


def relay_handlers_for(server_app, settings: JupyterLayers, state: ServerState, base: str) -> list:
    """Keep the keys in this server and serve its kernels' model calls (server/custody.py, server/relay.py)."""
    if server_app.sock:
        server_app.log.warning(
            "jupyter_layers: kernels reach models directly, with the keys in their environment: the model relay "
            "is not served on a Unix socket (ServerApp.sock)"
        )
        return []
    moved = custody.hold_keys(settings)
    guarded = bool(moved) and custody.guard_process()
    address = custody.open_relay(server_app)
    server_app.log.info(
        "jupyter_layers: kernels reach models through this server; kept out of their environment: %s%s",
        ", ".join(moved) or "no keys",
        " (this process is not dumpable, so its start-up environment is not readable)" if guarded else "",
    )
    relay = {"state": state, "token": address.token}
    return [
        (url_path_join(base, "relay", name), handler, relay)
        for name, handler in (
            ("route", relay_handlers.RouteHandler),
            ("payload", relay_handlers.PayloadHandler),
            ("stream", relay_handlers.StreamHandler),
            ("usage", relay_handlers.UsageHandler),
        )
    ]


def _load_jupyter_server_extension(server_app) -> None:
    settings = JupyterLayers(parent=server_app)
    contexts = KernelContexts(server_app.kernel_manager, server_app.log)
    server_app.event_logger.add_listener(schema_id=KERNEL_ACTIONS, listener=contexts.kernel_action)
    router = Router(settings, notebook_id=notebook_ids(server_app))
    state = ServerState(settings, router, contexts, root_dir=os.path.abspath(server_app.root_dir))
    base = url_path_join(server_app.web_app.settings["base_url"], "jupyter-layers")
    handlers = [
        (url_path_join(base, "status"), StatusHandler, {"state": state}),
        (url_path_join(base, "ws"), LayersSocket, {"state": state}),
    ]
    if custody.kernels_through_server(settings):
        handlers += relay_handlers_for(server_app, settings, state, base)
    server_app.web_app.add_handlers(".*$", handlers)
    server_app.log.info("jupyter_layers: server extension loaded at %s", base)
