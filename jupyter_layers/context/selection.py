"""A selection given as whole lines (``--lines A-B``), as ``%rewrite -c N`` and ``jupyter layers rewrite`` take it."""

from __future__ import annotations

from ..errors import ConfigError


def line_selection(source: str, lines: str) -> tuple[int, int]:
    """Character offsets of lines ``A-B`` (1-based, inclusive) of ``source``."""
    first, _, last = lines.partition("-")
    try:
        first_line, last_line = int(first), int(last or first)
    except ValueError:
        raise ConfigError(f"--lines takes A-B, not {lines!r}", "for example --lines 2-4") from None
    starts = [0] + [i + 1 for i, ch in enumerate(source) if ch == "\n"]
    if not 1 <= first_line <= last_line <= len(starts):
        raise ConfigError(f"--lines {lines} is outside the cell's {len(starts)} lines")
    end = starts[last_line] if last_line < len(starts) else len(source)
    return starts[first_line - 1], end


def edit_selection(source: str, lines: str) -> tuple[int, int]:
    """What an edit rewrites: lines ``A-B`` if given, else the whole cell (the dry-run must pick the same)."""
    return line_selection(source, lines) if lines else (0, len(source))
