"""REST handlers. Every verb is authenticated; APIHandler enforces XSRF on unsafe methods."""

from __future__ import annotations

import json

from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..errors import LayersError
from ..status import layer_status, spending_status


class StatusHandler(APIHandler):
    """Which provider and model serve each layer, and what one notebook has used (the sidebar's Status tab)."""

    def initialize(self, state) -> None:
        self.state = state

    @web.authenticated
    def get(self) -> None:
        try:
            layers = layer_status(self.state.router)
        except LayersError as error:  # misconfiguration: one clear message for the sidebar to show
            raise web.HTTPError(503, reason=str(error)) from None
        path = self.get_argument("path", "")
        usage = self.state.router.notebook_usage(path)  # over all sessions, kept on disk under the notebook's id
        total = sum(layer["estimated_cost_usd"] for layer in usage.values())
        answer = {"layers": layers, "usage": usage, "total_cost_usd": round(total, 6), "path": path}
        self.finish(json.dumps({**answer, "spending": spending_status(self.state.router)}))
