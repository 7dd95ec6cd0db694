"""Layer 2, independent of surfaces: rewrite a selected region, check that the result parses, diff it.

The model returns only the new text of the region. If the whole cell no longer parses, the model gets one more
turn with the parser's message; a result that still does not parse is withheld (``UnusableAnswer``: one line on
every surface, no diff), unless the cell did not parse before either (IPython syntax the parser does not know):
then it is returned flagged, never applied silently (every surface shows a diff and applies nothing without the
user). An answer that is junk (``engine.junk``) never gets this far: ``ModelRun`` raises it.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime
import difflib
import html
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..context.notebook import code_sources
from ..models.events import Stop
from ..models.messages import Message, Request
from . import junk, recipes, taste
from .complete import strip_fences


@dataclass(frozen=True)
class Rewrite:
    original: str  # the whole cell before
    source: str  # the whole cell after
    replacement: str  # the new text of the region
    selection: tuple[int, int]
    instruction: str
    model: str
    syntax_error: str = ""  # the parser's complaint, if even the retry did not parse (nor did the cell before)
    attempts: int = 1
    taste: tuple[str, ...] = ()  # what the taste check still finds after the revision turn (engine/taste.py)

    @property
    def changed(self) -> bool:
        return self.source != self.original

    def provenance(self) -> dict:
        """What the cell's metadata keeps: who changed it, on whose instruction, when."""
        return {
            "layer": "edit",
            "instruction": self.instruction,
            "model": self.model,
            "time": now(),
        }


def now() -> str:
    """Provenance time: UTC, to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def region_text(reply: str, original_region: str) -> str:
    """The model's answer as region text: fences gone, the region's trailing newline kept as it was."""
    text = strip_fences(reply).strip("\n")
    return text + "\n" if original_region.endswith("\n") else text


def syntax_error(source: str) -> str:
    """The parser's one-line complaint, or "" when the source parses (IPython magics and shell escapes are fine)."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        ast.parse("\n".join(lines))
    except SyntaxError as error:
        return f"line {error.lineno}: {error.msg}"
    return ""


def rewrite(prepared: recipes.Prepared, run: Callable[[Request], Stop | None]) -> Rewrite | None:
    """Run the edit (``recipes.edit``'s request) through ``run`` (which streams one request for the surface and
    returns its Stop, or None when it failed or was cancelled, having told the user)."""
    situation, route, request = prepared.situation, prepared.route, prepared.request
    source = situation.cursor.source
    start, end = situation.cursor.selection or (0, len(source))

    def turn(request: Request) -> tuple[Stop, str, str] | None:
        """One model turn: its Stop, the new region, and the cell with it (None: failed or cancelled)."""
        stop = run(request)
        if stop is None:
            return None
        region = region_text(stop.message.text, source[start:end])
        return stop, region, source[:start] + region + source[end:]

    def follow_up(request: Request, stop: Stop, text: str) -> Request:
        return dataclasses.replace(request, messages=(*request.messages, stop.message, Message.user(text)))

    attempt, problem = 0, ""
    while attempt < 2:
        attempt += 1
        answered = turn(request)
        if answered is None:
            return None
        stop, region, new_source = answered
        problem = syntax_error(new_source)
        if not problem:
            break
        retry = f"That does not parse ({problem}). Reply with the corrected selected region only."
        request = follow_up(request, stop, retry)
    if problem and not syntax_error(source):
        raise junk.unusable(route, f"its code does not parse ({problem}), even after a retry")
    others = code_sources(situation.cells, skip=situation.cursor.cell)
    findings = [] if problem else taste.check(new_source, others, situation.instruction, before=source)
    if findings:  # one revision turn; kept only if it still parses
        in_region = [dataclasses.replace(f, line=f.line - source[:start].count("\n")) for f in findings]
        note = taste.revision_note(in_region) + " Reply with the revised selected region only."  # its own lines
        attempt += 1
        revised = turn(follow_up(request, stop, note))
        if revised is None:
            return None
        if not syntax_error(revised[2]):
            _, region, new_source = revised
            findings = taste.check(new_source, others, situation.instruction, before=source)
    return Rewrite(
        source,
        new_source,
        region,
        (start, end),
        situation.instruction,
        route.label,
        problem,
        attempt,
        tuple(taste.describe(findings).splitlines()),
    )


def unified_diff(before: str, after: str, name: str = "cell") -> str:
    """A unified diff of two cell sources. A missing final newline does not make the last line differ (cells
    rarely end with one, and a fix that appends a line would otherwise show the old last line as changed)."""
    return "".join(difflib.unified_diff(_lines(before), _lines(after), f"{name} (before)", f"{name} (after)"))


def _lines(source: str) -> list[str]:
    return (source if source.endswith("\n") or not source else source + "\n").splitlines(keepends=True)


def diff_lines(before: str, after: str) -> Iterator[tuple[str, str]]:
    """(kind, line) pairs of a line diff: kind is ' ', '-' or '+'."""
    for line in difflib.ndiff(before.splitlines(), after.splitlines()):
        if line[:1] in (" ", "-", "+"):
            yield line[:1], line[2:]


def html_diff(before: str, after: str, title: str = "") -> str:
    """A coloured line diff for notebooks."""
    colours = {"-": "#ffebe9", "+": "#dafbe1", " ": "transparent"}
    rows = "".join(
        f'<div style="background:{colours[kind]};white-space:pre">{kind} {html.escape(line) or " "}</div>'
        for kind, line in diff_lines(before, after)
    )
    heading = f"<div><b>{html.escape(title)}</b></div>" if title else ""
    return f'<div class="jupyter-layers-diff" style="font-family:monospace;font-size:12px">{heading}{rows}</div>'
