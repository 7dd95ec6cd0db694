"""Which kernel variables matter for the code at the cursor.

A completion budget holds a few dozen variables out of possibly thousands, so they are ranked: named on the
cursor's line (nearest first), named elsewhere in the cell, owning a column whose name is written near the
cursor, named by the last traceback, then the most recently defined. Works on incomplete code (a regex scan,
not a parser), since the cell is being typed.
"""

from __future__ import annotations

import re

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
STRING = re.compile(r"""(?P<q>['"])(?P<s>(?:\\.|(?!(?P=q)).)*?)(?P=q)""")


def words_near(source: str, offset: int) -> dict[str, float]:
    """Each identifier and string literal of the cell, scored by closeness to the cursor (higher is nearer).

    The cursor's line scores 1000 minus the character distance; other lines 500 minus 10 per line of distance.
    """
    line_start = source.rfind("\n", 0, offset) + 1
    line_end = source.find("\n", offset)
    line_end = len(source) if line_end < 0 else line_end
    cursor_line = source.count("\n", 0, offset)
    scores: dict[str, float] = {}

    def score(token: str, start: int) -> None:
        if line_start <= start <= line_end:
            value = 1000 - abs(offset - start)
        else:
            value = 500 - 10 * abs(source.count("\n", 0, start) - cursor_line)
        scores[token] = max(scores.get(token, float("-inf")), value)

    for match in WORD.finditer(source):
        score(match.group(), match.start())
    for match in STRING.finditer(source):
        score(match.group("s"), match.start("s"))
    return scores


def rank(variables: list[dict], source: str, offset: int, error_names: tuple[str, ...] = ()) -> list[dict]:
    """The snapshot's variables, most relevant first (stable for ties, so prompts stay cache-friendly)."""
    near = words_near(source, offset)
    newest = max((v.get("defined") or 0 for v in variables), default=0) or 1

    def score(variable: dict) -> float:
        name = variable["name"]
        value = near.get(name, 0.0)
        columns = [c[0] for c in variable.get("columns") or ()]
        if columns:
            value = max(value, max((near.get(str(c), 0.0) - 100 for c in columns), default=0.0))
        if name in error_names:
            value = max(value, 300.0)
        return value + 100 * (variable.get("defined") or 0) / newest

    order = {v["name"]: i for i, v in enumerate(variables)}
    return sorted(variables, key=lambda v: (-score(v), order[v["name"]]))
