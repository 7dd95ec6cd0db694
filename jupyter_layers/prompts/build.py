"""Layer 3 for a feature: an agent that writes the cells a task asks for, tries them against the live state, and
proposes them for review."""

from __future__ import annotations

from ..context.situation import Situation
from ..models.messages import Request, Tool
from .assemble import assemble
from .explore import TOOLS as EXPLORE_TOOLS

SYSTEM = """You build what the user asks for in a Jupyter notebook: new cells that do the task against the \
notebook's live kernel state.
Try code with run_cell first: it runs in a sandboxed copy of the kernel that sees every variable, and nothing it \
changes reaches the user. When your cells work, call propose with them in order. They are then run from the \
live state in a fresh copy, without your scratch cells, and then the user's check if there is one: if anything \
fails you get the error and propose again. The user reviews the cells before any of them runs for real.
Write the simplest code that works, in the notebook's own style and names: use the variables and functions the \
notebook already has instead of recomputing or copying them, no try/except unless an error must be handled, no \
deeper nesting, prints or extra checks than the task needs. Usually one to three short cells."""

PROPOSE = Tool(
    "propose",
    "Propose the finished cells, in order, for the user to review. They are verified first: run in a fresh copy "
    "of the live state, then the user's check.",
    {
        "type": "object",
        "properties": {
            "cells": {"type": "array", "items": {"type": "string"}, "description": "the code of each new cell"},
            "summary": {"type": "string", "description": "one sentence: what the cells do"},
        },
        "required": ["cells", "summary"],
    },
)

TOOLS = (*(tool for tool in EXPLORE_TOOLS if tool.name != "finish"), PROPOSE)


def task_text(task: str, check: str, below: int | None) -> str:
    lines = [f"Task: {task}"] + ([f"Your cells go below cell {below}."] if below is not None else [])
    if check:
        lines.append(f"After your cells, this check must pass: {check}")
    return "\n".join(lines)


def build(situation: Situation, budget: int, check: str = "", below: int | None = None) -> Request:
    """``below``: the notebook cell the proposals go under (the active one); None in a kernel's own history."""
    return assemble("build", SYSTEM, task_text(situation.instruction, check, below), situation, budget, tools=TOOLS)
