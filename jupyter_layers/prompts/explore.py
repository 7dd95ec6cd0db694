"""Layer 3: an agent that investigates with throwaway cells run against (a copy of) the live state."""

from __future__ import annotations

from ..context.situation import Situation
from ..models.messages import Request, Tool
from .assemble import assemble

SYSTEM = """You investigate a question about a Jupyter notebook by running throwaway Python code against its \
live kernel state.
Your scratch cells run in a sandboxed copy of the kernel: they see every variable, and nothing they change \
reaches the user's namespace or files. Code is cheap: write small, focused checks, read their output, and \
iterate. Prefer evidence (printed values, shapes, counts, dtypes) over guesses.
When you know the answer, call finish with a short answer, the evidence (citing the scratch steps by number) \
and, if useful, a suggested fix as code."""

TOOLS = (
    Tool(
        "run_cell",
        "Run throwaway Python code in the sandboxed copy of the kernel and return its stdout, stderr, result and "
        "any error. Later scratch cells see what earlier ones defined.",
        {"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]},
    ),
    Tool(
        "list_variables",
        "List the live variables with their types and short summaries.",
        {"type": "object", "properties": {}},
    ),
    Tool(
        "inspect_variable",
        "A detailed summary of one variable (for a DataFrame: columns, dtypes, head, null counts).",
        {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    ),
    Tool(
        "read_cells",
        "Read notebook cells with their outputs, by index.",
        {
            "type": "object",
            "properties": {"indices": {"type": "array", "items": {"type": "integer"}}},
            "required": ["indices"],
        },
    ),
    Tool(
        "read_last_error",
        "The last error raised in the kernel, with its cell and traceback.",
        {"type": "object", "properties": {}},
    ),
    Tool(
        "finish",
        "End the exploration with what you found.",
        {
            "type": "object",
            "properties": {
                "answer": {"type": "string"},
                "evidence": {"type": "array", "items": {"type": "string"}},
                "fix": {"type": "string"},
            },
            "required": ["answer", "evidence"],
        },
    ),
)


def build(situation: Situation, budget: int) -> Request:
    task = f"Question: {situation.instruction}"  # engine.recipes.explore defaults it
    return assemble("explore", SYSTEM, task, situation, budget, tools=TOOLS)
