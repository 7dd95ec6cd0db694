"""The notebook as a Python script, for models that continue code rather than follow instructions.

Code models (and small models generally) were trained on files, not on notebooks wrapped in instructions. So
the ``fim`` and ``continue`` completion formats show the notebook the way a script would hold it: cells in the
percent format editors and Jupytext use (``# %%`` between cells), markdown and shell or magic lines as
comments, and the live state as short comments above the active cell (``# sales: DataFrame 5 rows × 3
columns; columns 'region': str, 'units': int64``), where a reader of the file would expect a note about the data.
"""

from __future__ import annotations

from .notebook import CellView
from .relevance import rank
from .situation import Situation

CELL_BREAK = "\n\n# %%\n"
MARKDOWN_LINES = 6
STATE_LINE_CHARS = 200


def as_code(source: str) -> str:
    """A cell's source as Python: IPython's magics and shell escapes become comments."""
    lines = source.split("\n")
    if source.lstrip().startswith("%%"):  # a cell magic: its body is not Python
        return "\n".join(f"# {line}" for line in lines)
    return "\n".join(f"# {line}" if line.lstrip().startswith(("%", "!")) else line for line in lines)


def heal_space_prompt(before: str) -> str:
    """The text before the cursor without the spaces after the last code on its line (not indentation)."""
    line_start = before.rfind("\n") + 1
    stripped = before.rstrip(" \t")
    return stripped if len(stripped) > line_start else before


def heal_space_answer(before: str, answer: str) -> str:
    """The answer without the spaces ``heal_space_prompt`` took from the prompt and the model wrote again."""
    removed = before[len(heal_space_prompt(before)) :]
    if not removed:
        return answer
    return answer[len(removed) :] if answer.startswith(removed) else answer.lstrip(" \t")


def cell_script(view: CellView) -> str:
    if view.cell_type == "code":
        return as_code(view.source).strip("\n")
    lines = [line for line in view.source.strip().split("\n") if line.strip()][:MARKDOWN_LINES]
    return "\n".join(f"# {line}" for line in lines)


def state_comment(variable: dict) -> str:
    """One variable as one comment line: its summary's first line, with a table's columns and dtypes."""
    head = variable["text"].split("\n", 1)[0]
    short_type = variable["type"].rsplit(".", 1)[-1]
    if not head.startswith((short_type, "def ", "class ", "method ")):
        head = f"{short_type} = {head}"
    if variable.get("columns"):  # quoted as the code would write them: small models then write them so
        head += "; columns " + ", ".join(f"{name!r}: {dtype}" for name, dtype in variable["columns"])
    line = f"# {variable['name']}: {head}"
    return line if len(line) <= STATE_LINE_CHARS else line[: STATE_LINE_CHARS - 1] + "…"


def ranked_variables(situation: Situation) -> list[dict]:
    """The kernel's variables, most relevant to the cursor first (as the chat prompt ranks them)."""
    if situation.kernel is None:
        return []
    error_names = tuple((situation.last_error or {}).get("names", ()))
    cursor = situation.cursor
    return rank(situation.kernel.get("variables", []), cursor.source, cursor.position, error_names)


def cells_above(situation: Situation) -> list[CellView]:
    """The cells before the active one, nearest first, without empty ones."""
    active = situation.cursor.cell
    views = [v for v in situation.cells if v.index < active and v.source.strip()]
    return sorted(views, key=lambda v: -v.index)


def cells_below(situation: Situation) -> list[CellView]:
    active = situation.cursor.cell
    return [v for v in situation.cells if v.index > active and v.source.strip()]
