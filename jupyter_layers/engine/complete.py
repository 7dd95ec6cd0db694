"""Layer 1, independent of surfaces: the request for a continuation, and cleaning what the model returns.

Chat models asked to continue code often wrap the answer in a markdown fence or repeat the code before the
cursor; both must go before the text is shown as ghost text or appended to a cell.
"""

from __future__ import annotations

import re

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
