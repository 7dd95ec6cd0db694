"""Layer 1, independent of surfaces: where a continuation ends, and cleaning what the model returns.

Chat models asked to continue code often wrap the answer in a markdown fence or repeat the code before the
cursor; both must go before the text is shown as ghost text or appended to a cell. Models that continue text
(the ``fim`` and ``continue`` formats) do neither, but never stop by themselves: ghost text ends with the line
(or with the block a line ending in ``:`` opens), ``%%complete`` with the statement.
"""

from __future__ import annotations

import ast
import re
from typing import Literal

from IPython.core.inputtransformer2 import TransformerManager

from ..context.script import heal_space_answer

Extent = Literal["line", "statement"]  # ghost text in an editor / %%complete

LINE_STOPS = ("\n",)
LINE_TOKENS = 48  # a line of code; a small model that loops inside one line is stopped here
BLOCK_TOKENS = 160
BLOCK_STOPS = ("\n\n", "\n# %%")
STATEMENT_STOPS = ("\n\n\n", "\n# %%")

_ipython_cells = TransformerManager()  # IPython's own idea of a cell: magics and shell escapes are fine

FENCE = re.compile(r"^\s*```[\w+-]*[ \t]*\n?|\n?```\s*$")


def strip_fences(text: str) -> str:
    """The code inside a markdown fence, if the answer is fenced; an opening fence alone (cut off) goes too."""
    if "```" not in text:
        return text
    inner = re.search(r"```[\w+-]*[ \t]*\n(.*?)(?:\n?```|$)", text, re.S)
    return inner.group(1) if inner else FENCE.sub("", text)


def drop_echo(before: str, text: str) -> str:
    """Remove a repetition of the code before the cursor from the start of the answer.

    The longest suffix of ``before`` that the answer starts with is removed, whether the model repeated the
    whole cell, the current line, or the last few characters of a word. An overlap of one or two characters
    is kept: it is as likely to be a real continuation (``((``, ``''``).
    """
    longest = 0
    for size in range(min(len(before), len(text)), 2, -1):
        if text.startswith(before[-size:]):
            longest = size
            break
    if longest == 0:
        stripped_line = before.rsplit("\n", 1)[-1].lstrip()
        if stripped_line and len(stripped_line) > 1 and text.lstrip().startswith(stripped_line):
            return text.lstrip()[len(stripped_line) :]
        return text
    return text[longest:]


def clean_completion(before: str, text: str) -> str:
    """What to insert at the cursor, from a model's raw answer."""
    return drop_echo(before, strip_fences(text)).rstrip()


def stops(before: str, extent: Extent) -> tuple[str, ...]:
    """The stop strings of a text-continuing model's request for a cursor after ``before``."""
    if extent == "statement" or before.rsplit("\n", 1)[-1].rstrip().endswith(":"):
        return STATEMENT_STOPS if extent == "statement" else BLOCK_STOPS
    return LINE_STOPS


def answer_tokens(stop: tuple[str, ...], max_tokens: int) -> int:
    """The longest answer a continuation that ends at ``stop`` may take."""
    if stop == LINE_STOPS:
        return min(max_tokens, LINE_TOKENS)
    if stop == BLOCK_STOPS:
        return min(max_tokens, BLOCK_TOKENS)
    return max_tokens


def indentation(line: str) -> int:
    return len(line) - len(line.lstrip())


def statement_end(before: str, text: str) -> str:
    """``text`` up to the end of the statement the cursor is in: the first line end after which the cell
    parses and the next line is no deeper than the cursor's line (a block that goes on is kept whole)."""
    cursor_line = before.rsplit("\n", 1)[-1]
    level = indentation(cursor_line) if cursor_line.strip() else len(cursor_line)
    lines = text.split("\n")
    for end in range(1, len(lines)):
        following = lines[end]
        if following.strip() and indentation(following) > level:
            continue
        head = "\n".join(lines[:end])
        if head.strip() and _parses(before + head):
            return head
    return text


def _parses(source: str) -> bool:
    return parse_error(source)[0] is None


def clean_continuation(before: str, text: str, extent: Extent) -> str:
    """What to insert at the cursor from a text-continuing model's answer (``fim`` and ``continue``)."""
    text = heal_space_answer(before, text).rstrip()
    return statement_end(before, text) if extent == "statement" else text


def clean_answer(before: str, text: str, prompt_format: str, extent: Extent) -> str:
    """What to insert at the cursor, whatever the route's prompt format."""
    if prompt_format == "chat":
        return clean_completion(before, text)
    return clean_continuation(before, text, extent)


def syntax_problem(before: str, answer: str, extent: Extent) -> str:
    """Why the cell up to the end of the answer cannot be Python, or "" when it can. Ghost text is judged as the
    start of a cell (whatever follows may finish it); ``%%complete``'s cell must parse whole. An error in the
    lines the user wrote before the cursor's is theirs, not the answer's: nothing is reported then."""
    if before.lstrip().startswith("%%"):  # a cell magic's body need not be Python
        return ""
    if extent == "line":
        if _ipython_cells.check_complete(before + answer)[0] != "invalid":
            return ""
        if _ipython_cells.check_complete(before)[0] == "invalid":
            return ""
        line, message = parse_error(before + answer)
        return f"line {line}: {message}" if line else "it cannot be Python whatever follows"
    line, message = parse_error(before + answer)
    if line is None or line <= before.count("\n"):
        return ""
    return f"line {line}: {message}"


def parse_error(source: str) -> tuple[int | None, str]:
    """The parser's line and message for a cell (IPython syntax transformed first), or (None, "")."""
    try:
        ast.parse(_ipython_cells.transform_cell(source))
    except SyntaxError as error:
        return error.lineno, error.msg
    return None, ""
