"""One prompt builder per layer; each turns a Situation into a Request within the layer's token budget."""

from __future__ import annotations

from ..context.situation import Situation
from ..models.messages import Request
from . import complete, edit, escalate, explore

BUILDERS = {"complete": complete.build, "edit": edit.build, "explore": explore.build, "escalate": escalate.build}


def build_request(layer: str, situation: Situation, budget: int) -> Request:
    return BUILDERS[layer](situation, budget)
