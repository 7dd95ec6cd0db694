"""Layer 1 for models that continue text: the notebook as a script ending at the cursor (``continue``), or the
code before and after the cursor (``fim``, fill-in-the-middle).

The prompt is ordered for llama.cpp's cache as well as for the model: the project's rules (AGENTS.md) as
comments, the cells above (the same on every
keystroke in a cell), then the live state (the same until a cell runs), then the imports the shown cells lack,
then the active cell up to the cursor. Each part has a fixed share of the budget, so typing in the active cell
does not push a far cell out of the prompt and change its start. Cells below the cursor go after it in
``fim``; a continuation has nowhere to put them.
"""

from __future__ import annotations

from ..context.budget import chars_for, estimate_tokens, pack_indices
from ..context.imports import imported_names
from ..context.notebook import CellView, shorten
from ..context.script import (
    CELL_BREAK,
    as_code,
    cell_script,
    cells_above,
    cells_below,
    heal_space_prompt,
    ranked_variables,
    state_comment,
)
from ..context.sections import Redactions
from ..context.situation import Situation
from ..models.messages import Infill, Request

RULES_SHARE = 0.05  # the project's rules as comments: a small model continues code, it does not read prose
CELL_SHARE = 0.30  # the active cell before the cursor
STATE_SHARE = 0.20
SUFFIX_SHARE = 0.15  # fim: the rest of the active cell and the cells below
TEMPERATURE = 0.0  # a completion is the likeliest text, the same for the same prompt


def active_before(situation: Situation, tokens: int) -> str:
    """The active cell up to the cursor, its head dropped at a line boundary if it is too long, without the
    spaces that end it (``total = ``): tokenizers join a space to the word after it, so a prompt ending in one
    asks for a word without its space, which a model has rarely seen; the answer's space is dropped again
    (``context.script.heal_space_answer``)."""
    cursor = situation.cursor
    text = as_code(heal_space_prompt(cursor.source[: cursor.position]))
    limit = chars_for(tokens)
    if len(text) <= limit:
        return text
    cut = text.find("\n", len(text) - limit)
    return text[cut + 1 :] if cut >= 0 else text[-limit:]


def active_after(situation: Situation, tokens: int) -> str:
    cursor = situation.cursor
    return as_code(cursor.source[cursor.position :])[: chars_for(tokens)]


def state_block(situation: Situation, tokens: int, clean: Redactions) -> tuple[str, list[str]]:
    """The most relevant variables as comments, shown in the kernel snapshot's order (stable while the state
    is), and the import statements of the imported ones."""
    variables = ranked_variables(situation)
    statements = imported_names(situation)
    comments = {v["name"]: clean(state_comment(v)) for v in variables if v["name"] not in statements}
    names = list(comments)
    chosen = {names[i] for i in pack_indices(list(comments.values()), tokens)}
    snapshot_order = [v["name"] for v in (situation.kernel or {}).get("variables", [])]
    imports = list(dict.fromkeys(statements[v["name"]] for v in variables if v["name"] in statements))
    return "\n".join(comments[name] for name in snapshot_order if name in chosen), imports


def rules_comment(situation: Situation, tokens: int, clean: Redactions) -> str:
    """The project's rules files as one comment block, head and tail kept within ``tokens``."""
    if not situation.rules:
        return ""
    text = shorten(clean("\n".join(f"{path}:\n{body.strip()}" for path, body in situation.rules)), chars_for(tokens))
    return "".join(f"# {line}".rstrip() + "\n" for line in ["Project rules", *text.splitlines()])


def script_cells(views: list[CellView], tokens: int, clean: Redactions) -> list[str]:
    """Cells as script text, chosen nearest first within ``tokens``, in notebook order."""
    texts = [clean(cell_script(v)) for v in views]
    kept = pack_indices(texts, tokens, CELL_BREAK)
    return [texts[i] for i in sorted(kept, key=lambda i: views[i].index)]


def build(situation: Situation, budget: int, fill_in_the_middle: bool) -> Request:
    clean = Redactions()
    cell_room, state_room = int(budget * CELL_SHARE), int(budget * STATE_SHARE)
    suffix_room = int(budget * SUFFIX_SHARE) if fill_in_the_middle else 0
    before = clean(active_before(situation, cell_room))
    state, imports = state_block(situation, state_room, clean)
    rules = rules_comment(situation, int(budget * RULES_SHARE), clean)
    above = cells_above(situation)
    cells_room = budget - cell_room - state_room - suffix_room - estimate_tokens(rules)
    cells = script_cells(above, cells_room, clean)
    missing_imports = [s for s in imports if not any(s in cell for cell in cells)]

    head = rules + (CELL_BREAK.join(cells) + CELL_BREAK if cells else "# %%\n")
    notes = "".join(line + "\n" for line in [*missing_imports, state] if line)
    suffix = None
    if fill_in_the_middle:
        after = clean(active_after(situation, suffix_room // 2))
        below = script_cells(cells_below(situation), suffix_room // 2, clean)
        suffix = after + "".join(CELL_BREAK + text for text in below)
    sections = {
        "rules": estimate_tokens(rules),
        "notebook": estimate_tokens(head) - estimate_tokens(rules),
        "kernel": estimate_tokens(notes),
        "task": estimate_tokens(before),
        "after_cursor": estimate_tokens(suffix or ""),
    }
    return Request(
        messages=(),
        infill=Infill(head + notes + before, suffix),
        temperature=TEMPERATURE,
        metadata={
            "layer": "complete",
            "format": "fim" if fill_in_the_middle else "continue",
            "estimated_tokens": sum(sections.values()),
            "budget": budget,
            "sections": sections,
            "redactions": clean.kinds,
            "cells_left_out": len(above) - len(cells),
        },
    )
