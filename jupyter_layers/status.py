"""What serves each layer, in one structure shared by `%layers status`, `jupyter layers status` and the server."""

from __future__ import annotations

from .config import LAYERS
from .limits import NotAllowed, dollars
from .models.router import Router
from .sandbox.protections import Protections


def layer_status(router: Router) -> dict:
    """Provider, model, why, and whether the layer works offline, per layer (or why it is refused)."""
    rows = {}
    for layer in LAYERS:
        try:
            route = router.route(layer)
        except NotAllowed as refusal:  # the status says which layers the limits refuse, and goes on
            rows[layer] = {"provider": "", "model": "", "label": "refused", "offline": False, "reason": str(refusal)}
            continue
        rows[layer] = {
            "provider": route.provider.name,
            "model": route.model,
            "label": route.label,
            "offline": route.provider.name == "embedded",
            "reason": route.reason,
        }
    return rows


def spending_status(router: Router) -> dict:
    """The limits that apply and what this user spent (estimated), for the status of every surface."""
    return router.spending()


def format_status(rows: dict, spending: dict | None = None) -> str:
    lines = [
        f"{layer:<9} {row['label']}"
        + ("  (offline, on this machine)" if row["offline"] else "")
        + f"\n{'':<10}{row['reason']}"
        for layer, row in rows.items()
    ]
    if spending:
        lines.append(format_spending(spending))
    return "\n".join(lines)


def format_spending(spending: dict) -> str:
    limits, spent = spending["limits"], spending["spent"]
    allowed = [
        f"{name.removeprefix('allowed_')} {', '.join(limits[name])}"
        for name in ("allowed_providers", "allowed_models")
        if limits[name]
    ]
    caps = [
        f"${spent[key]:.4f} spent {period}" + (f" of {dollars(limits[cap])}" if limits[cap] else "")
        for key, period, cap in (
            ("today_usd", "today", "max_daily_cost"),
            ("month_usd", "this month", "max_monthly_cost"),
        )
    ]
    lines = [f"{'limits':<9} " + ("; ".join(allowed) if allowed else "any provider and model")]
    lines.append(f"{'spending':<9} {spending['user']}: " + ", ".join(caps) + " (estimated at list prices)")
    return "\n".join(lines)


def format_notebook_usage(layers: dict, notebook: str) -> str:
    """A notebook's usage over all its sessions (UsageRecord.notebook)."""
    name = notebook or "this notebook"
    if not layers:
        return f"{name}: no recorded model calls"
    total = sum(entry["estimated_cost_usd"] for entry in layers.values())
    calls = sum(entry["calls"] for entry in layers.values())
    tokens = sum(entry["input_tokens"] + entry["output_tokens"] for entry in layers.values())
    return f"{name}: {calls} calls, {tokens:,} tokens, ${total:.4f} in all sessions"


def format_sandbox(protections: Protections) -> str:
    """The line under the layers': what protects scratch cells here, then each thing missing, indented under it."""
    missing = [f"{'':<10}{item}" for item in protections.missing]
    return "\n".join([f"{'sandbox':<9} {protections.summary()}", *missing])
