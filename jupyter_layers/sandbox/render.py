"""Values as the text a model can read: tables as bounded text, figures as a marker, everything else by repr.

Types are recognised by their class names, so nothing here imports pandas or matplotlib.
"""

from __future__ import annotations

from .result import clip

VALUE_CHARS = 10_000
FRAME_LIMITS = {"max_rows": 40, "max_cols": 20, "max_colwidth": 60}
SERIES_ROWS = 40


def _kinds(value) -> set[tuple[str, str]]:
    return {(cls.__module__, cls.__qualname__) for cls in type(value).__mro__}


def render(value, limit: int = VALUE_CHARS) -> str:
    """The text form of a displayed value. A ``__repr__`` that raises propagates: the scratch cell reports it."""
    kinds = _kinds(value)
    if ("pandas.core.frame", "DataFrame") in kinds:
        text = value.to_string(**FRAME_LIMITS, show_dimensions=True)
    elif ("pandas.core.series", "Series") in kinds:
        text = value.to_string(max_rows=SERIES_ROWS, length=True, dtype=True, name=True)
    elif kinds & {("matplotlib.figure", "Figure"), ("matplotlib.figure", "FigureBase")}:
        text = "[matplotlib figure]"
    else:
        text = repr(value)
    return clip(text, limit)


def render_bundle(data: dict) -> str:
    """A display bundle (mimetype -> data) already formatted elsewhere: its plain text, or what it holds."""
    text = data.get("text/plain")
    if isinstance(text, str):
        return clip(text, VALUE_CHARS)
    return f"[display of {', '.join(sorted(data)) or 'nothing'}]"
