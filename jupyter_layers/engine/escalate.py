"""Layer 4, independent of surfaces: what escalation sends, what it costs at most, and fixes as cell diffs.

The reasoning model is asked to give every changed cell whole, in ``<fix cell="N">`` blocks; those become
per-cell diffs that a surface offers to apply (never applies by itself). The cost guard refuses a request
whose worst case (the whole prompt plus the largest answer) exceeds the configured limit, before any call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..context.notebook import is_unreviewed
from ..errors import LayersError
from ..models.messages import Request
from ..models.router import Route
from . import taste
from .rewrite import syntax_error, unified_diff

FIX = re.compile(r'<fix cell="(\d+)">\n?(.*?)\n?</fix>', re.S)
TYPICAL_ANSWER_TOKENS = 4000


class CostTooHigh(LayersError):
    hint = "raise c.JupyterLayers.escalate_max_cost, or narrow the question"


@dataclass(frozen=True)
class CellFix:
    cell: int
    before: str
    after: str
    taste: tuple[str, ...] = ()  # what the taste check finds in the fix (engine/taste.py), a line each

    @property
    def syntax_error(self) -> str:
        return syntax_error(self.after)

    def diff(self) -> str:
        return unified_diff(self.before, self.after, f"cell {self.cell}")


def parse_fixes(answer: str, sources: dict[int, str]) -> list[CellFix]:
    """The ``<fix cell="N">`` blocks of an answer, for cells that exist (the last block per cell wins), each with
    what the taste check finds in it (no revision turn: an escalation's answer is the costly model's whole picture;
    what it finds is shown beside the fix for the user to weigh)."""
    fixes: dict[int, CellFix] = {}
    for number, body in FIX.findall(answer):
        cell = int(number)
        if cell in sources:
            after = body.strip("\n")
            others = [source for index, source in sources.items() if index != cell]
            findings = taste.check(after, others, before=sources[cell])
            fixes[cell] = CellFix(cell, sources[cell], after, tuple(taste.describe(findings).splitlines()))
    return [fixes[cell] for cell in sorted(fixes) if fixes[cell].after != fixes[cell].before]


def cost_bounds(route: Route, request: Request) -> tuple[float, float]:
    """(expected, worst case) USD of a request at its route's price: input at its estimated size, output typical
    or at max_tokens."""
    prices = route.price
    if prices is None:
        return 0.0, 0.0
    into, out = prices
    prompt = request.metadata.get("estimated_tokens", 0)
    expected = (prompt * into + min(TYPICAL_ANSWER_TOKENS, request.max_tokens or 0) * out) / 1_000_000
    worst = (prompt * into + (request.max_tokens or 0) * out) / 1_000_000
    return expected, worst


def check_cost(route: Route, request: Request, limit: float) -> None:
    """Refuse before sending when the worst case could exceed the limit."""
    _, worst = cost_bounds(route, request)
    if worst > limit:
        raise CostTooHigh(f"this escalation could cost up to ${worst:.2f} with {route.model} (limit ${limit:.2f})")


def failing_cell(nb) -> int:
    """The cursor: the last cell that raised (the problem), else the last code cell."""
    code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and not is_unreviewed(cell)]
    failed = [i for i in code if any(o.output_type == "error" for o in nb.cells[i].get("outputs", []))]
    return (failed or code or [len(nb.cells) - 1])[-1]
