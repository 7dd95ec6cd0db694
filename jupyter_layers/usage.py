"""Tokens spent per layer, and what they cost, for `%layers usage` and the sidebar's status.

Prices are Anthropic's published list prices per million tokens at the time of writing, matched by model family;
cache writes cost 1.25× and cache reads 0.1× the input price. They are estimates: the bill is the provider's.
Local models (embedded, OpenAI-compatible servers) cost nothing here. Other priced models (OpenAI's, say) take
their prices from ``c.JupyterLayers.model_prices``, which the router resolves into each route's ``price``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from .models.events import Usage

# (input, output) in USD per million tokens; the first family found in the model id wins (so cloud ids such as
# Bedrock's `us.anthropic.claude-sonnet-4-5-20250929-v1:0` and Vertex's `claude-sonnet-4-5@20250929` are priced).
PRICES = (
    ("claude-opus-4-1", (15.0, 75.0)),
    ("claude-opus-4-0", (15.0, 75.0)),
    ("claude-opus-4-20250514", (15.0, 75.0)),
    ("claude-opus", (5.0, 25.0)),
    ("claude-sonnet", (3.0, 15.0)),
    ("claude-haiku", (1.0, 5.0)),
)
CACHE_WRITE = 1.25
CACHE_READ = 0.10


Price = tuple[float, float]  # (input, output) USD per million tokens


def price(model: str, overrides: Mapping[str, Sequence[float]] | None = None) -> Price | None:
    """The model's price: the first glob pattern of ``overrides`` (config.model_prices) it matches, else the
    list price of its Claude family, else None (free, as local models are)."""
    for pattern, (into, out) in (overrides or {}).items():
        if fnmatchcase(model, pattern):
            return into, out
    for family, prices in PRICES:
        if family in model:
            return prices
    return None


def cost(model: str, usage: Usage) -> float:
    """Estimated USD for one call at the model's list price; 0 for models without a price (local ones)."""
    return cost_at(price(model), usage)


def cost_at(prices: Price | None, usage: Usage) -> float:
    """Estimated USD for one call at ``prices`` (a route's ``price``)."""
    if prices is None:
        return 0.0
    into, out = prices
    tokens = (
        usage.input_tokens * into
        + usage.cache_write_tokens * into * CACHE_WRITE
        + usage.cache_read_tokens * into * CACHE_READ
        + usage.output_tokens * out
    )
    return tokens / 1_000_000


@dataclass
class LayerUsage:
    calls: int = 0
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0


class UsageLedger:
    """Running totals per layer for one kernel or one server."""

    def __init__(self):
        self.layers: dict[str, LayerUsage] = {}

    def record(self, layer: str, model: str, usage: Usage, spent: float | None = None) -> None:
        """``spent``: the call's cost at its route's price; None: at the model's list price."""
        entry = self.layers.setdefault(layer, LayerUsage())
        entry.calls += 1
        entry.usage = entry.usage + usage
        entry.cost += cost(model, usage) if spent is None else spent

    def as_dict(self) -> dict:
        return {
            layer: {
                "calls": e.calls,
                "input_tokens": e.usage.input_tokens,
                "output_tokens": e.usage.output_tokens,
                "cache_read_tokens": e.usage.cache_read_tokens,
                "cache_write_tokens": e.usage.cache_write_tokens,
                "estimated_cost_usd": round(e.cost, 6),
            }
            for layer, e in self.layers.items()
        }

    def table(self) -> str:
        if not self.layers:
            return "no model calls yet in this kernel"
        head = (
            f"{'layer':<9} {'calls':>5} {'input':>9} {'output':>8} {'cache read':>10} {'cache write':>11} "
            f"{'est. cost':>10}"
        )
        rows = [
            f"{layer:<9} {e.calls:>5} {e.usage.input_tokens:>9,} {e.usage.output_tokens:>8,} "
            f"{e.usage.cache_read_tokens:>10,} {e.usage.cache_write_tokens:>11,} {'$' + format(e.cost, '.4f'):>10}"
            for layer, e in self.layers.items()
        ]
        total = sum(e.cost for e in self.layers.values())
        return "\n".join([head, *rows, f"estimated total ${total:.4f} (list prices; local models free)"])
