"""`jupyter layers status`: which provider and model serve each layer, and what protects scratch cells here."""

from __future__ import annotations

import json

from ..models.router import Router
from ..sandbox.protections import here
from ..status import format_sandbox, format_status, layer_status
from .base import LayersSubcommand


class StatusApp(LayersSubcommand):
    name = "jupyter-layers-status"
    description = "Show which provider and model serve each layer, and what protects scratch cells on this machine."

    def run(self) -> None:
        rows = layer_status(Router(self.layers_config()))
        protections = here()  # a kernel's fork here gets the same: same machine, same user (no GPU context)
        if self.json_output:
            print(json.dumps({**rows, "sandbox": protections.to_dict()}))  # the layers' keys stay where they were
        else:
            print(f"{format_status(rows)}\n{format_sandbox(protections)}")
