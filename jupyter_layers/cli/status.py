"""`jupyter layers status`: which provider and model serve each layer, and what protects scratch cells here."""

from __future__ import annotations

import json

from ..models.router import Router
from ..sandbox.protections import here
from ..status import format_sandbox, format_status, layer_status, spending_status
from .base import LayersSubcommand


class StatusApp(LayersSubcommand):
    name = "jupyter-layers-status"
    description = "Show which provider and model serve each layer, and what protects scratch cells on this machine."

    def run(self) -> None:
        router = Router(self.layers_config())
        rows, spending = layer_status(router), spending_status(router)
        protections = here()  # a kernel's fork here gets the same: same machine, same user (no GPU context)
        if self.json_output:
            # the layers' keys stay where they were
            print(json.dumps({**rows, "sandbox": protections.to_dict(), "spending": spending}))
        else:
            print(f"{format_status(rows, spending)}\n{format_sandbox(protections)}")
