"""What serves each layer, in one structure shared by `%layers status`, `jupyter layers status` and the server."""

from __future__ import annotations

from .config import LAYERS
from .models.router import Router
from .sandbox.protections import Protections


def layer_status(router: Router) -> dict:
    """Provider, model and whether the layer works offline, per layer."""
    rows = {}
    for layer in LAYERS:
        route = router.route(layer)
        rows[layer] = {
            "provider": route.provider.name,
            "model": route.model,
            "label": route.label,
            "offline": route.provider.name == "embedded",
        }
    return rows


def format_status(rows: dict) -> str:
    return "\n".join(
        f"{layer:<9} {row['label']}" + ("  (offline, on this machine)" if row["offline"] else "")
        for layer, row in rows.items()
    )


def format_sandbox(protections: Protections) -> str:
    """The line under the layers': what protects scratch cells here, then each thing missing, indented under it."""
    missing = [f"{'':<10}{item}" for item in protections.missing]
    return "\n".join([f"{'sandbox':<9} {protections.summary()}", *missing])
