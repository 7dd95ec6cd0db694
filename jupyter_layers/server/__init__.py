"""The jupyter-server surface: authenticated handlers under ``/jupyter-layers/``."""

from __future__ import annotations

from jupyter_server.utils import url_path_join

from ..config import JupyterLayers
from ..models.router import Router
from .handlers import StatusHandler


def _load_jupyter_server_extension(server_app) -> None:
    router = Router(JupyterLayers(parent=server_app))
    base = url_path_join(server_app.web_app.settings["base_url"], "jupyter-layers")
    server_app.web_app.add_handlers(".*$", [(url_path_join(base, "status"), StatusHandler, {"router": router})])
    server_app.log.info("jupyter_layers: server extension loaded at %s", base)
