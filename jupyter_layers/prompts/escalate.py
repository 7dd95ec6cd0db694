"""Layer 4: the hardest problems, for a reasoning model, with everything known so far."""

from __future__ import annotations

from ..context.situation import Situation
from ..models.messages import Request
from .assemble import assemble

SYSTEM = """You are the expert a data scientist turns to when a Jupyter notebook problem has resisted the \
usual fixes. You see the notebook's cells with their outputs, the live kernel state, the last error, and what \
earlier attempts and explorations found.
Find the root cause, not just the symptom. Explain it briefly and concretely. When you propose a fix, give the \
complete new source of every cell you change, each in its own block:
<fix cell="N">
...the whole new cell source...
</fix>
where N is the cell's index as shown in the notebook. Change as few cells as you can."""


def build(situation: Situation, budget: int) -> Request:
    task = f"Question: {situation.instruction or 'Why does the last error happen, and how do I fix it?'}"
    return assemble("escalate", SYSTEM, task, situation, budget)
