"""Order a prompt so consecutive requests from one notebook reuse the prompt cache.

Stable first, volatile last: system instructions and tool definitions (breakpoint), the project's rules
(AGENTS.md) and the notebook's other cells (breakpoint), then the kernel state, the last error, extra notes and
the task, which change with every run or keystroke. Each part gets a share of the layer's token budget; what one
part leaves unused flows to the next.
"""

from __future__ import annotations

import json

from ..context.budget import estimate_tokens
from ..context.sections import (
    Redactions,
    error_section,
    kernel_section,
    notebook_section,
    notes_section,
    rules_section,
)
from ..context.situation import Situation
from ..models.messages import Message, Request, Text

RULES_SHARE = 0.10  # of the room left by the system prompt, the tools and the task: rules files are short
ERROR_SHARE = 0.15
NOTES_SHARE = 0.30
KERNEL_SHARE = 0.45


def assemble(layer: str, system: str, task: str, situation: Situation, budget: int, tools=()) -> Request:
    """A Request for ``layer`` within ``budget`` tokens; ``task`` (already rendered) is always included."""
    clean = Redactions()
    task = clean(task)
    tools = tuple(tools)
    fixed = (
        estimate_tokens(system)
        + estimate_tokens(task)
        + sum(estimate_tokens(json.dumps(t.input_schema)) for t in tools)
    )
    room = max(budget - fixed, 0)
    rules = rules_section(situation, int(room * RULES_SHARE), clean)
    room -= estimate_tokens(rules)
    error = error_section(situation, int(room * ERROR_SHARE), clean)
    room -= estimate_tokens(error)
    notes = notes_section(situation, int(room * NOTES_SHARE), clean) if situation.notes else ""
    room -= estimate_tokens(notes)
    kernel = kernel_section(situation, int(room * KERNEL_SHARE), clean)
    room -= estimate_tokens(kernel)
    notebook = notebook_section(situation, room, clean)

    volatile = [Text(part) for part in (kernel, error, notes, task) if part]
    stable = [part for part in (rules, notebook) if part]  # one breakpoint after the last of them
    content = tuple(Text(part, cache=n == len(stable) - 1) for n, part in enumerate(stable)) + tuple(volatile)
    sections = {
        "system": system,
        "tools": "",
        "rules": rules,
        "notebook": notebook,
        "kernel": kernel,
        "error": error,
        "notes": notes,
        "task": task,
    }
    sizes = {name: estimate_tokens(text) for name, text in sections.items()}
    sizes["tools"] = fixed - estimate_tokens(system) - estimate_tokens(task)
    return Request(
        system=(Text(system, cache=True),),
        tools=tools,  # they precede the system prompt in the cache prefix: its breakpoint covers them
        messages=(Message("user", content),),
        metadata={
            "layer": layer,
            "estimated_tokens": sum(sizes.values()),
            "budget": budget,
            "sections": sizes,
            "redactions": clean.kinds,
        },
    )
