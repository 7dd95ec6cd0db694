"""Per-cell progress of a headless run, on stderr so stdout keeps only the result (a line or the JSON).

A terminal gets a live rich display; anything else (CI logs, pipes) gets one plain line per cell.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .execute import CellError


def line_preview(source: str, width: int = 60) -> str:
    """The first non-blank line, cut to ``width`` with an ellipsis: one line that names a cell."""
    line = next((line for line in source.splitlines() if line.strip()), "")
    return line if len(line) <= width else line[: width - 1] + "…"


class PlainProgress:
    def __init__(self, stream=None):
        self.stream = stream or sys.stderr

    def start(self, index: int, position: int, total: int, source: str) -> None:
        pass  # one line per finished cell is enough in a log

    def done(self, index: int, position: int, total: int, seconds: float, error: CellError | None) -> None:
        state = f"error {error.ename}" if error else "ok"
        print(f"cell {position}/{total} {state} {seconds:.1f}s", file=self.stream, flush=True)


class RichProgress:
    """A bar over the whole run with the running cell's first line, and a kept line per finished cell."""

    def __init__(self, console: Console):
        self.console = console
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = None

    def __enter__(self) -> RichProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)

    def start(self, index: int, position: int, total: int, source: str) -> None:
        if self.task is None:
            self.task = self.bar.add_task("", total=total)
        self.bar.update(self.task, description=f"cell {index} [dim]{escape(line_preview(source))}[/dim]")

    def done(self, index: int, position: int, total: int, seconds: float, error: CellError | None) -> None:
        mark = f"[red]✗ {escape(error.ename)}[/red]" if error else "[green]✓[/green]"
        self.bar.console.print(f"{mark} cell {index} ({position}/{total}) {seconds:.1f}s")
        self.bar.advance(self.task)
