"""The parts of a prompt, each rendered to fit the tokens it is given and passed through secret redaction."""

from __future__ import annotations

import functools

from ..redact import Redaction, redact
from .budget import chars_for, clip_around, estimate_tokens, pack
from .imports import imported_names
from .notebook import around, shorten
from .relevance import rank
from .situation import Situation

CURSOR = "<CURSOR>"
REMEMBERED_CHARS = 20_000  # longer pieces are rare: redacting them again is cheaper than holding them


@functools.lru_cache(maxsize=2048)
def remembered_redaction(text: str) -> Redaction:
    """``redact``, remembered: most of a prompt (the other cells, the variables) is the same text from one
    keystroke to the next, and redacting a 500-cell notebook's cells again costs tens of milliseconds."""
    return redact(text)


class Redactions:
    """Counts what redaction removed while a prompt is built, for the dry-run to report."""

    def __init__(self):
        self.kinds: list[str] = []

    def __call__(self, text: str) -> str:
        result = remembered_redaction(text) if len(text) <= REMEMBERED_CHARS else redact(text)
        self.kinds.extend(result.kinds)
        return result.text


def notebook_section(situation: Situation, tokens: int, clean: Redactions) -> str:
    """The other cells, chosen nearest first, shown in notebook order."""
    views = around(list(situation.cells), situation.cursor.cell)
    rendered = [clean(v.render()) for v in views]
    chosen, left_out = pack(rendered, tokens - 40, separator="\n\n")
    if not chosen:
        return ""
    by_index = sorted(zip((v.index for v in views), chosen), key=lambda pair: pair[0])
    title = f"Notebook {situation.path}".strip() if situation.path else "Notebook"
    text = f"<notebook>\n{title}: the other cells, in notebook order.\n\n" + "\n\n".join(t for _, t in by_index)
    if left_out:
        text += f"\n\n({left_out} more cells not shown)"
    return text + "\n</notebook>"


def kernel_section(situation: Situation, tokens: int, clean: Redactions) -> str:
    """Live variables, most relevant to the cursor first; imported names as one line of import statements."""
    if situation.kernel is None:
        return "<kernel_state>\nNo live kernel state is available (the notebook has not been run).\n</kernel_state>"
    variables = situation.kernel.get("variables", [])
    statements = imported_names(situation)
    imported = [v for v in variables if v["name"] in statements]
    imports = "; ".join(dict.fromkeys(statements[v["name"]] for v in imported))
    rest = [v for v in variables if v["name"] not in statements]
    error_names = tuple((situation.last_error or {}).get("names", ()))
    ranked = rank(rest, situation.cursor.source, situation.cursor.position, error_names)
    head = clean(f"Imported: {imports}") if imports else ""
    lines = [clean(f"{v['name']}: {v['text']}") for v in ranked]
    chosen, left_out = pack(lines, tokens - 30 - estimate_tokens(head))
    left_out += situation.kernel.get("skipped", 0)
    body = "\n".join(filter(None, [head, *chosen]))
    if left_out:
        body += f"\n({left_out} more variables not shown)"
    return f"<kernel_state>\nLive variables in the kernel, most relevant first:\n{body}\n</kernel_state>"


def error_section(situation: Situation, tokens: int, clean: Redactions) -> str:
    error = situation.last_error
    if not error:
        return ""
    where = f" in cell In [{error['execution_count']}]" if error.get("execution_count") else ""
    cell = shorten(error.get("cell", ""), chars_for(tokens) // 3)
    trace = shorten(error.get("traceback", ""), chars_for(tokens) // 2)
    text = (
        f"<last_error>\n{error['ename']}: {error['evalue']}{where}\nCell:\n{cell}\nTraceback:\n{trace}\n</last_error>"
    )
    return clean(text)


def cursor_cell(situation: Situation, tokens: int) -> str:
    """The active cell with the cursor marked, clipped around the cursor if it is huge (redacted with the task)."""
    cursor = situation.cursor
    window, offset = clip_around(cursor.source, cursor.position, tokens)
    return window[:offset] + CURSOR + window[offset:]


def rules_section(situation: Situation, tokens: int, clean: Redactions) -> str:
    """The project's rules for AI assistants (AGENTS.md, CLAUDE.md), outermost first; each file gets an equal
    share, its head and tail kept when it is longer."""
    if not situation.rules:
        return ""
    each = chars_for(tokens) // len(situation.rules)
    files = [f"From {path}:\n{shorten(clean(text.strip()), each)}" for path, text in situation.rules]
    intro = "The project's rules for code written here (follow them unless the task says otherwise):"
    return "<project_rules>\n" + intro + "\n\n" + "\n\n".join(files) + "\n</project_rules>"


def notes_section(situation: Situation, tokens: int, clean: Redactions) -> str:
    parts = [f"<{title}>\n{text}\n</{title}>" for title, text in situation.notes]
    text = clean("\n".join(parts))
    return shorten(text, chars_for(tokens)) if estimate_tokens(text) > tokens else text
