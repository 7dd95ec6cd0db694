"""Adding one rule to a project's rules file (AGENTS.md) as a line ``- RULE``, atomically.

A rule that is already there (the same words, whatever the bullet, case or spacing) is not added twice. A missing
file is created with a short heading. The file is replaced atomically and keeps its mode (``atomic_file``), so an
editor or another process never reads it half-written.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..atomic_file import replace_atomically
from ..errors import LayersError

HEADING = "# Project rules\n"


class EmptyRule(LayersError):
    hint = "a rule is one line of words, e.g. Parse ts in events.csv as UTC."


BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])(?:\s+|$)")


def one_line(rule: str) -> str:
    """The rule as the single line it is written as: whitespace collapsed, without a leading bullet."""
    return BULLET.sub("", " ".join(rule.split()))


def has_rule(text: str, rule: str) -> bool:
    wanted = one_line(rule).casefold()
    return any(one_line(line).casefold() == wanted for line in text.splitlines())


def add_rule(path: str | Path, rule: str) -> bool:
    """Append ``- RULE`` to the rules file at ``path`` (created if missing); False if the rule is already there."""
    rule = one_line(rule)
    if not rule:
        raise EmptyRule("the rule is empty")
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if has_rule(text, rule):
        return False
    body = text.rstrip() or HEADING.rstrip()
    separator = "\n" if BULLET.match(body.splitlines()[-1]) else "\n\n"  # a list of its own after other text
    replace_atomically(path, lambda file: file.write(f"{body}{separator}- {rule}\n"), suffix=".md")
    return True
