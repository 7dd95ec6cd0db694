"""REST handlers. Every verb is authenticated; APIHandler enforces XSRF on unsafe methods."""

from __future__ import annotations

import json

from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..errors import LayersError
from ..models.router import Router
from ..status import layer_status


class StatusHandler(APIHandler):
    """Which provider and model serve each layer (the sidebar's Status tab)."""

    def initialize(self, router: Router) -> None:
        self.router = router

    @web.authenticated
    def get(self) -> None:
        try:
            layers = layer_status(self.router)
        except LayersError as error:  # misconfiguration: one clear message for the sidebar to show
            raise web.HTTPError(503, reason=str(error)) from None
        self.finish(json.dumps({"layers": layers}))
