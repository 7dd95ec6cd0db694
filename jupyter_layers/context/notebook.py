"""The notebook around the cursor, from an nbformat document: what the model reads of the other cells.

Outputs are reduced to text (images become a placeholder, long text keeps its head and tail), scratch cells of
explorations are left out, and cells whose execution counts show they ran out of order are marked, because a
notebook's order is not always the order its state was built in.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..kernel.cell_history import referenced_names, strip_ansi

SCRATCH_TAG = "jupyter-layers-scratch"
PROPOSED_TAG = "jupyter-layers-proposed"  # a build's cells until the user accepts them
OUTPUT_CHARS = 1500


@dataclass(frozen=True)
class CellView:
    index: int
    cell_type: str  # "code", "markdown" or "raw"
    source: str
    execution_count: int | None = None
    outputs: str = ""
    note: str = ""  # "ran out of order" / "not run"

    def render(self) -> str:
        if self.cell_type == "markdown":
            return f"# [markdown cell {self.index}]\n{self.source}"
        label = f"In [{self.execution_count if self.execution_count is not None else ' '}]"
        head = f"# [cell {self.index}] {label}" + (f" ({self.note})" if self.note else "")
        text = f"{head}\n{self.source}"
        if self.outputs:
            text += f"\n# [output of cell {self.index}]\n{self.outputs}"
        return text


def shorten(text: str, limit: int) -> str:
    """Keep the head and the tail: the start says what it is, the end usually holds the result or the error."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n… ({len(text) - 2 * half} characters elided) …\n{text[-half:]}"


def output_text(output: dict, limit: int = OUTPUT_CHARS) -> str:
    """One output as text; rich outputs without a text form become a placeholder naming their type."""
    kind = output.get("output_type")
    if kind == "stream":
        text = _joined(output.get("text", ""))
    elif kind == "error":
        text = strip_ansi("\n".join(output.get("traceback") or [f"{output.get('ename')}: {output.get('evalue')}"]))
    elif kind in ("execute_result", "display_data"):
        data = output.get("data", {})
        if "text/plain" in data and not any(m.startswith("image/") for m in data):
            text = _joined(data["text/plain"])
        else:
            text = "[" + ", ".join(m for m in data if m != "text/plain") + " output]"
    else:
        return ""
    return shorten(strip_ansi(text), limit)


def _joined(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def out_of_order(cells: list[dict]) -> set[int]:
    """Indices of code cells whose count is higher than a later cell's: they were re-run after cells below them."""
    marked, lowest_below = set(), None
    for index in range(len(cells) - 1, -1, -1):
        count = cells[index].get("execution_count") if cells[index].get("cell_type") == "code" else None
        if count is None:
            continue
        if lowest_below is not None and count > lowest_below:
            marked.add(index)
        lowest_below = count if lowest_below is None else min(lowest_below, count)
    return marked


def is_scratch(cell: dict) -> bool:
    return SCRATCH_TAG in cell.get("metadata", {}).get("tags", [])


def is_unreviewed(cell: dict) -> bool:
    """A scratch cell or a proposal not yet accepted: in the document, not yet part of the user's notebook (no
    prompt reads it, no headless run executes it)."""
    tags = cell.get("metadata", {}).get("tags", [])
    return SCRATCH_TAG in tags or PROPOSED_TAG in tags


def code_sources(views: list[CellView] | tuple[CellView, ...], skip: int | None = None) -> list[str]:
    """The sources of the code cells among ``views`` (but cell ``skip``): the notebook's code, for the taste check."""
    return [view.source for view in views if view.cell_type == "code" and view.index != skip]


def cell_views(nb: dict, output_chars: int = OUTPUT_CHARS) -> list[CellView]:
    """Every cell of the notebook but scratch cells and proposals, in notebook order."""
    cells = nb["cells"]
    late = out_of_order(cells)
    views = []
    for index, cell in enumerate(cells):
        if is_unreviewed(cell):
            continue
        source = _joined(cell.get("source", ""))
        if cell.get("cell_type") != "code":
            views.append(CellView(index, cell.get("cell_type", "markdown"), source))
            continue
        count = cell.get("execution_count")
        outputs = "\n".join(filter(None, (output_text(o, output_chars) for o in cell.get("outputs", []))))
        note = "ran out of order" if index in late else ("" if count is not None or not source.strip() else "not run")
        views.append(CellView(index, "code", source, count, shorten(outputs, output_chars), note))
    return views


def around(views: list[CellView], active: int) -> list[CellView]:
    """The other cells, nearest to the active one first (above before below at equal distance)."""
    others = [v for v in views if v.index != active]
    return sorted(others, key=lambda v: (abs(v.index - active), v.index > active))


def saved_last_error(nb, upto: int) -> dict | None:
    """The most recently executed error output among cells before ``upto``, as the kernel would have recorded it."""
    latest = None
    for index, cell in enumerate(nb.cells[:upto]):
        if cell.cell_type != "code" or is_unreviewed(cell):
            continue
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                count = cell.get("execution_count") or 0
                if latest is None or count >= latest[0]:
                    latest = (count, index, cell, output)
    if latest is None:
        return None
    count, _, cell, output = latest
    return {
        "execution_count": cell.get("execution_count"),
        "cell": cell.source,
        "ename": output.ename,
        "evalue": output.evalue,
        "traceback": output_text(output, 6000),
        "names": list(referenced_names(cell.source)),
    }
