"""Layer 2: rewrite the selected region of a cell according to an instruction."""

from __future__ import annotations

from ..context.budget import clip_around
from ..context.situation import Situation
from ..models.messages import Request
from .assemble import assemble

SYSTEM = """You edit code in a Jupyter notebook cell.
You see the notebook's other cells, the live kernel state (variables, DataFrame columns and dtypes, the last \
error) and the cell, where <SELECTION> and </SELECTION> enclose the region to change.
Reply with only the complete new text of the selected region, as plain code: no markdown fences, no explanation, \
nothing from outside the selection. Keep the region's indentation. Change only what the instruction asks for; \
use the variable and column names that really exist in the kernel state.
Write the simplest code that works, in the notebook's own style and names: no try/except unless an error must \
be handled, no deeper nesting or more lines than the task needs, and call the notebook's functions rather than \
copying their code."""

CELL_SHARE = 0.4


def marked_cell(situation: Situation, tokens: int) -> str:
    cursor = situation.cursor
    start, end = cursor.selection or (0, len(cursor.source))
    source = cursor.source[:start] + "<SELECTION>" + cursor.source[start:end] + "</SELECTION>" + cursor.source[end:]
    window, _ = clip_around(source, start, tokens)
    return window


def build(situation: Situation, budget: int) -> Request:
    cell = marked_cell(situation, int(budget * CELL_SHARE))
    task = f'<cell index="{situation.cursor.cell}">\n{cell}\n</cell>\n\nInstruction: {situation.instruction}'
    return assemble("edit", SYSTEM, task, situation, budget)
