"""`jupyter layers status`: which provider and model serve each layer."""

from __future__ import annotations

import json

from ..models.router import Router
from ..status import format_status, layer_status
from .base import LayersSubcommand


class StatusApp(LayersSubcommand):
    name = "jupyter-layers-status"
    description = "Show which provider and model serve each layer."

    def run(self) -> None:
        rows = layer_status(Router(self.layers_config()))
        print(json.dumps(rows) if self.json_output else format_status(rows))
