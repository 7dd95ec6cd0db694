"""Token accounting for prompts: a cheap estimate, and packing pieces into what the budget leaves.

The estimate is deliberately conservative (3 characters a token; code and JSON tokenise denser than prose),
so a prompt built to a budget stays inside it. The dry-run reports the same estimate.
"""

from __future__ import annotations

CHARS_PER_TOKEN = 3


def estimate_tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


def chars_for(tokens: int) -> int:
    return max(0, tokens) * CHARS_PER_TOKEN


def pack(pieces: list[str], tokens: int, separator: str = "\n") -> tuple[list[str], int]:
    """The pieces (in priority order) that fit, first fit: one that does not fit is skipped, not the end of the
    list, so a long summary does not crowd out the short ones after it. Also how many were left out."""
    chosen = pack_indices(pieces, tokens, separator)
    return [pieces[i] for i in chosen], len(pieces) - len(chosen)


def pack_indices(pieces: list[str], tokens: int, separator: str = "\n") -> list[int]:
    """Which pieces ``pack`` keeps, by position."""
    chosen, used = [], 0
    for index, piece in enumerate(pieces):
        cost = estimate_tokens(piece + separator)
        if used + cost <= tokens:
            chosen.append(index)
            used += cost
    return chosen


def clip_around(text: str, offset: int, tokens: int) -> tuple[str, int]:
    """A window of ``text`` that fits ``tokens``, keeping more before the cursor than after; returns it and the
    cursor's offset inside it."""
    limit = chars_for(tokens)
    if len(text) <= limit:
        return text, offset
    before = min(offset, (limit * 3) // 4)
    after = limit - before
    start = offset - before
    return text[start : offset + after], offset - start
