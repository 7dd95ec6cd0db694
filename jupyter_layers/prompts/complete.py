"""Layer 1: continue the code at the cursor."""

from __future__ import annotations

from ..context.sections import cursor_cell
from ..context.situation import Situation
from ..models.messages import Request
from .assemble import assemble

SYSTEM = """You are the code-completion engine of a Jupyter notebook.
You see the notebook's other cells, the live kernel state (variables, DataFrame columns and dtypes, the last \
error) and the cell being edited, where <CURSOR> marks the cursor.
Reply with only the text to insert at <CURSOR>: no explanation, no markdown fences, and never repeat the code \
before the cursor. Use the variable and column names that really exist in the kernel state. Complete the current \
statement or block, then stop."""

CELL_SHARE = 0.35


def build(situation: Situation, budget: int) -> Request:
    cell = cursor_cell(situation, int(budget * CELL_SHARE))
    return assemble("complete", SYSTEM, f'<cell index="{situation.cursor.cell}">\n{cell}\n</cell>', situation, budget)
