"""Context quality of the completion prompt: does it hold the names the rest of the line needs, within budget?

The notebooks in ``benchmarks/context_notebooks/`` are real analyses of datasets that scikit-learn and
statsmodels ship inside their wheels (nothing is downloaded). Each notebook runs cell by cell in ONE kernel
(nbclient, ``%load_ext jupyter_layers`` first, silently, so the cell hook records definition order and
errors). Before code cell k runs, the kernel holds exactly the state a user typing cell k would have, so for
every line of cell k and every cursor position right after a ``(``, ``[``, ``.``, ``=`` or ``,`` (outside
strings and comments) with code after it on the line:

- the user is typing: cell k is cut at the cursor (the rest is gone) and the cells below do not exist yet
  (``--later-cells keep`` leaves them in, unexecuted);
- the kernel context is fetched as the product fetches it: a silent ``user_expressions`` request with
  ``jupyter_layers.kernel.remote.expression(focus_names(prefix))`` (one fetch per distinct focus);
- the prompt is ``build_request("complete", situation_from_notebook(...), 2000)``.

Needed names are read from the rest of the line (what the user has yet to type), checked against the real
namespace (not the snapshot, so a variable the snapshot dropped counts as a miss):

- identifiers that are variables of the namespace (not after a ``.``, not keyword-argument names);
- identifiers after a ``.`` that are column names (``df.alcohol``) or instance attributes of an object of a
  class defined in the notebook;
- string literals that are column names of a DataFrame (labels, or MultiIndex levels) or a Series' name,
  and the column names inside patsy formula strings (``"invest ~ value + capital"``).

A need is found when the prompt text (system, cells, kernel state, cell) contains it: variables as whole
words, columns anywhere (``strict`` also reports columns as whole tokens). The baseline prompt is the cell's
text before the cursor alone (no kernel state, no other cells).

    python benchmarks/context_quality.py [--json] [--stride N] [--budget 2000] [--later-cells drop|keep]
                                         [--notebook NAME ...] [--misses]
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import io
import json
import keyword
import math
import os
import re
import statistics
import sys
import time
import tokenize
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from jupyter_layers.config import CONTEXT_BUDGET_DEFAULTS
from jupyter_layers.context.notebook import is_scratch
from jupyter_layers.context.situation import focus_names, situation_from_notebook
from jupyter_layers.kernel import remote, rpc
from jupyter_layers.prompts import build_request

NOTEBOOKS = Path(__file__).resolve().parent / "context_notebooks"
BUDGET = CONTEXT_BUDGET_DEFAULTS["complete"]
TRIGGERS = frozenset("([.=,")
OPEN, CLOSE = frozenset("([{"), frozenset(")]}")

# Defined silently in the kernel (no cell hook runs, the leading underscore keeps it out of the snapshot):
# the ground truth of what exists, read from the namespace itself.
TRUTH_SOURCE = """
def _context_quality_truth():
    import json, sys
    shell = get_ipython()
    namespace, hidden = shell.user_ns, shell.user_ns_hidden
    skip = {"In", "Out", "exit", "quit", "get_ipython"}
    pd = sys.modules.get("pandas")
    variables, columns, attributes = [], {}, {}
    for name, value in list(namespace.items()):
        if type(name) is not str or name.startswith("_") or name in skip or hidden.get(name, skip) is value:
            continue
        variables.append(name)
        if pd is not None and isinstance(value, pd.DataFrame):
            labels = set()
            for label in value.columns:
                labels.update(map(str, label) if isinstance(label, tuple) else [str(label)])
            columns[name] = sorted(labels)
        elif pd is not None and isinstance(value, pd.Series) and value.name is not None:
            columns[name] = [str(value.name)]
        elif type(value).__module__ == "__main__" and not isinstance(value, type) and hasattr(value, "__dict__"):
            attributes[name] = [a for a in vars(value) if not a.startswith("_")]
    return json.dumps({"variables": variables, "columns": columns, "attributes": attributes})
"""
TRUTH_EXPRESSION = "_context_quality_truth()"


# --- cursor positions and needed names ----------------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    name: str
    kind: str  # "variable", "column" or "attribute"


@dataclass(frozen=True)
class Position:
    cell: int  # index in the notebook
    offset: int  # character offset in the cell's source
    line: int  # 0-based line of the cell
    rest: str  # the rest of the line after the cursor
    needs: tuple[Need, ...]


@dataclass(frozen=True)
class Truth:
    variables: frozenset[str]
    columns: frozenset[str]
    attributes: dict[str, frozenset[str]]

    @classmethod
    def from_json(cls, data: dict) -> Truth:
        columns = frozenset(c for labels in data["columns"].values() for c in labels)
        attributes = {name: frozenset(attrs) for name, attrs in data["attributes"].items()}
        return cls(frozenset(data["variables"]), columns, attributes)


@dataclass(frozen=True)
class Token:
    type: int
    string: str
    start: int  # offset in the source
    end: int
    row: int  # 0-based line
    depth: int  # bracket depth before the token


def tokens_of(source: str) -> list[Token]:
    """The cell's tokens with absolute offsets and bracket depth (the cell is complete code)."""
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    out, depth = [], 0
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.ENDMARKER, tokenize.DEDENT, tokenize.INDENT):
            continue
        (r1, c1), (r2, c2) = tok.start, tok.end
        out.append(Token(tok.type, tok.string, starts[r1 - 1] + c1, starts[r2 - 1] + c2, r1 - 1, depth))
        if tok.type == tokenize.OP and tok.string in OPEN:
            depth += 1
        elif tok.type == tokenize.OP and tok.string in CLOSE:
            depth = max(depth - 1, 0)
    return out


def string_value(token: str) -> str | None:
    """A plain string literal's value (no f-strings or bytes)."""
    prefix = token[: len(token) - len(token.lstrip("rRuUbBfF"))].lower()
    if "f" in prefix or "b" in prefix:
        return None
    try:
        value = ast.literal_eval(token)
    except (SyntaxError, ValueError):
        return None
    return value if type(value) is str else None


FORMULA_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def needs_in(rest: list[Token], truth: Truth, before: Token | None) -> tuple[Need, ...]:
    """The kernel names the tokens after the cursor refer to, in order of appearance, without repeats."""
    found: dict[Need, None] = {}
    for i, tok in enumerate(rest):
        prev = rest[i - 1] if i else before
        nxt = rest[i + 1] if i + 1 < len(rest) else None
        if tok.type == tokenize.NAME and not keyword.iskeyword(tok.string):
            name = tok.string
            after_dot = prev is not None and prev.type == tokenize.OP and prev.string == "."
            if after_dot:
                owner = rest[i - 2] if i >= 2 else None
                if nxt is not None and nxt.type == tokenize.OP and nxt.string == "(":
                    continue  # a method call (``means.max()``), even where a column has that name
                if name in truth.columns:
                    found[Need(name, "column")] = None
                elif owner is not None and name in truth.attributes.get(owner.string, ()):
                    found[Need(name, "attribute")] = None
            elif nxt is not None and nxt.type == tokenize.OP and nxt.string == "=" and tok.depth > 0:
                continue  # a keyword argument's name
            elif name in truth.variables:
                found[Need(name, "variable")] = None
        elif tok.type == tokenize.STRING:
            value = string_value(tok.string)
            if value is None:
                continue
            if value in truth.columns:
                found[Need(value, "column")] = None
            elif "~" in value:  # a patsy formula names columns
                for word in FORMULA_WORD.findall(value):
                    if word in truth.columns:
                        found[Need(word, "column")] = None
    return tuple(found)


def cursor_positions(source: str, cell: int, truth: Truth) -> list[Position]:
    """Every cursor position after ``( [ . = ,`` outside strings and comments with code after it on its line."""
    tokens = tokens_of(source)
    positions = []
    for i, tok in enumerate(tokens):
        if tok.type != tokenize.OP or tok.string not in TRIGGERS:
            continue
        rest = []
        for later in tokens[i + 1 :]:
            if later.row != tok.row or later.type in (tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT):
                break
            rest.append(later)
        if not rest:
            continue
        line_end = source.find("\n", tok.end)
        text = source[tok.end : len(source) if line_end < 0 else line_end]
        positions.append(Position(cell, tok.end, tok.row, text, needs_in(rest, truth, tok)))
    return positions


# --- finding names in a prompt ------------------------------------------------------------------------------


def whole(name: str) -> re.Pattern:
    return re.compile(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])")


def found(need: Need, text: str, strict: bool = False) -> bool:
    if need.kind == "variable" or strict:
        return whole(need.name).search(text) is not None
    return need.name in text


def prompt_text(request) -> str:
    parts = [block.text for block in request.system]
    for message in request.messages:
        parts += [block.text for block in message.content]
    return "\n".join(parts)


def blocks_of(request) -> dict[str, str]:
    """The prompt's kernel and notebook blocks, for saying why a name was missed."""
    out = {}
    for message in request.messages:
        for block in message.content:
            for tag in ("kernel_state", "notebook", "cell"):
                if block.text.startswith(f"<{tag}"):
                    out[tag] = block.text
    return out


def why_missed(need: Need, snapshot: dict, kernel_block: str) -> str:
    """Where the name was lost: never summarised, summarised but not packed, or its column list cut."""
    variables = snapshot["variables"]
    if need.kind == "variable":
        entry = next((v for v in variables if v["name"] == need.name), None)
        if entry is None:
            return "variable not in snapshot"
        return "variable ranked out (budget)"
    owners = [v for v in variables if need.name in {c[0] for c in v.get("columns") or ()}]
    if not owners:
        return "no owner in snapshot" if need.kind == "column" else "attribute not shown"
    shown = [v for v in owners if f"{v['name']}: " in kernel_block]
    if not shown:
        return "column owners ranked out (budget)"
    return "column cut from owner's summary"


# --- running a notebook -------------------------------------------------------------------------------------


@dataclass
class Sample:
    """One cursor position's outcome."""

    cell: int
    line: int
    offset: int
    needs: int
    engine_found: int
    engine_strict: int
    baseline_found: int
    first_uses: int  # needs written nowhere above the cursor
    first_uses_found: int
    tokens: int
    missed: list[dict] = field(default_factory=list)


@dataclass
class NotebookResult:
    name: str
    code_cells: int
    variables_at_end: int
    positions_total: int  # candidate positions, with or without needs
    samples: list[Sample]
    fetches: int
    fetch_ms: list[float]
    build_ms: list[float]
    seconds: float


async def ask(client: NotebookClient, expressions: dict[str, str]) -> dict:
    reply = await client.kc.execute_interactive(**rpc.silent_request(expressions), timeout=60)
    return {key: rpc.json_value(reply, key) for key in expressions}


def typing_view(nb: nbformat.NotebookNode, cell: int, prefix: str, later_cells: str) -> nbformat.NotebookNode:
    """The notebook as the user sees it while typing: cell ``cell`` holds only ``prefix``."""
    active = nbformat.from_dict({**nb.cells[cell], "source": prefix, "outputs": [], "execution_count": None})
    below = [nbformat.from_dict(c) for c in nb.cells[cell + 1 :]] if later_cells == "keep" else []
    return nbformat.from_dict({**nb, "cells": [*nb.cells[:cell], active, *below]})


def score(position: Position, prefix: str, written: str, request, snapshot: dict) -> Sample:
    """The engine's prompt against the naive baseline's, which is ``prefix``: the cell before the cursor.

    ``written`` is the code above the cursor (earlier cells and the prefix): a need it does not contain is a
    first use, which only the kernel state or a cell's output can supply.
    """
    text = prompt_text(request)
    engine = [found(n, text) for n in position.needs]
    first = [not found(n, written, strict=True) for n in position.needs]
    missed = []
    if not all(engine):
        kernel_block = blocks_of(request).get("kernel_state", "")
        missed = [
            {**asdict(n), "rest": position.rest.strip(), "why": why_missed(n, snapshot, kernel_block)}
            for n, ok in zip(position.needs, engine)
            if not ok
        ]
    return Sample(
        cell=position.cell,
        line=position.line,
        offset=position.offset,
        needs=len(position.needs),
        engine_found=sum(engine),
        engine_strict=sum(found(n, text, strict=True) for n in position.needs),
        baseline_found=sum(found(n, prefix) for n in position.needs),
        first_uses=sum(first),
        first_uses_found=sum(ok and new for ok, new in zip(engine, first)),
        tokens=request.metadata["estimated_tokens"],
        missed=missed,
    )


async def evaluate_notebook(
    path: Path,
    *,
    stride: int = 1,
    budget: int = BUDGET,
    later_cells: str = "drop",
    timeout: float = 120,
    kernel_setup: str = "",
) -> NotebookResult:
    """Run ``path`` cell by cell in one kernel; score every ``stride``-th cursor position of each code cell.

    ``kernel_setup`` runs silently after the extension loads (e.g. to try another summary in an experiment).
    """
    started = time.perf_counter()
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        allow_errors=True,
        kernel_name=nb.metadata.get("kernelspec", {}).get("name", "python3"),
        resources={"metadata": {"path": str(path.parent)}},
    )
    samples, fetch_ms, build_ms = [], [], []
    positions_total = 0
    code_cells = 0
    async with client.async_setup_kernel():
        await client.kc.execute_interactive("%load_ext jupyter_layers", silent=True, store_history=False, timeout=60)
        for code in (TRUTH_SOURCE, kernel_setup):
            if code:
                reply = await client.kc.execute_interactive(code, silent=True, store_history=False, timeout=60)
                if reply["content"]["status"] != "ok":
                    raise RuntimeError(f"kernel setup failed: {reply['content'].get('evalue')}")
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or is_scratch(cell):
                continue
            code_cells += 1
            truth = Truth.from_json((await ask(client, {"truth": TRUTH_EXPRESSION}))["truth"])
            positions = cursor_positions(cell.source, index, truth)
            positions_total += len(positions)
            contexts: dict[tuple[str, ...], dict] = {}
            above = "\n".join(c.source for c in nb.cells[:index] if c.cell_type == "code")
            for position in [p for p in positions if p.needs][::stride]:
                prefix = cell.source[: position.offset]
                focus = focus_names(prefix)
                if focus not in contexts:
                    t0 = time.perf_counter()
                    contexts[focus] = (await ask(client, {"ctx": remote.expression(focus)}))["ctx"]
                    fetch_ms.append((time.perf_counter() - t0) * 1000)
                context = contexts[focus]
                t0 = time.perf_counter()
                view = typing_view(nb, index, prefix, later_cells)
                situation = situation_from_notebook(view, index, offset=len(prefix), kernel_context=context)
                request = build_request("complete", situation, budget)
                build_ms.append((time.perf_counter() - t0) * 1000)
                samples.append(score(position, prefix, f"{above}\n{prefix}", request, context["snapshot"]))
            await client.async_execute_cell(cell, index)
            errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
            if errors:
                raise RuntimeError(f"{path.name}: cell {index} raised {errors[0].ename}: the notebooks must run clean")
        truth = Truth.from_json((await ask(client, {"truth": TRUTH_EXPRESSION}))["truth"])
    return NotebookResult(
        name=path.stem,
        code_cells=code_cells,
        variables_at_end=len(truth.variables),
        positions_total=positions_total,
        samples=samples,
        fetches=len(fetch_ms),
        fetch_ms=fetch_ms,
        build_ms=build_ms,
        seconds=time.perf_counter() - started,
    )


async def evaluate_all(paths: list[Path], *, concurrency: int = 2, **options) -> list[NotebookResult]:
    """The notebooks, ``concurrency`` kernels at a time, in the order given."""
    gate = asyncio.Semaphore(concurrency)

    async def one(path: Path) -> NotebookResult:
        async with gate:
            return await evaluate_notebook(path, **options)

    return list(await asyncio.gather(*(one(p) for p in paths)))


def notebook_paths(names: list[str] | None = None) -> list[Path]:
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    if names:
        paths = [p for p in paths if p.stem in names or p.name in names]
    return paths


# --- figures ------------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] if ordered else float("nan")


def figures(name: str, samples: list[Sample], budget: int, seconds: float, **extra) -> dict:
    def recall(attr: str) -> dict:
        per = [getattr(s, attr) / s.needs for s in samples]
        return {
            "recall": sum(getattr(s, attr) for s in samples) / max(1, sum(s.needs for s in samples)),
            "mean_recall": statistics.fmean(per) if per else float("nan"),
            "min_recall": min(per, default=float("nan")),
            "full_recall_share": sum(r == 1 for r in per) / len(per) if per else float("nan"),
        }

    tokens = [s.tokens for s in samples]
    by_kind: dict[str, list[int]] = {}
    for s in samples:
        for miss in s.missed:
            by_kind.setdefault(miss["why"], []).append(1)
    return {
        "notebook": name,
        "positions": len(samples),
        "needs": sum(s.needs for s in samples),
        "engine": recall("engine_found"),
        "engine_strict": recall("engine_strict"),
        "baseline": recall("baseline_found"),
        "first_uses": {
            "needs": sum(s.first_uses for s in samples),
            "engine_recall": sum(s.first_uses_found for s in samples) / max(1, sum(s.first_uses for s in samples)),
        },
        "tokens_mean": statistics.fmean(tokens) if tokens else float("nan"),
        "tokens_p95": percentile(tokens, 95),
        "tokens_max": max(tokens, default=0),
        "over_budget": sum(t > budget for t in tokens),
        "budget": budget,
        "seconds": round(seconds, 2),
        "misses_by_cause": {why: len(v) for why, v in sorted(by_kind.items(), key=lambda kv: -len(kv[1]))},
        **extra,
    }


def report(results: list[NotebookResult], budget: int, wall: float) -> dict:
    rows = [
        figures(
            r.name,
            r.samples,
            budget,
            r.seconds,
            code_cells=r.code_cells,
            variables_at_end=r.variables_at_end,
            candidate_positions=r.positions_total,
            context_fetches=r.fetches,
            fetch_ms_mean=round(statistics.fmean(r.fetch_ms), 1) if r.fetch_ms else None,
            build_ms_mean=round(statistics.fmean(r.build_ms), 2) if r.build_ms else None,
        )
        for r in results
    ]
    everything = [s for r in results for s in r.samples]
    fetches = [m for r in results for m in r.fetch_ms]
    builds = [m for r in results for m in r.build_ms]
    overall = figures(
        "overall",
        everything,
        budget,
        wall,
        fetch_ms_mean=round(statistics.fmean(fetches), 1) if fetches else None,
        build_ms_mean=round(statistics.fmean(builds), 2) if builds else None,
    )
    misses = [
        {"notebook": r.name, "cell": s.cell, "line": s.line, **m} for r in results for s in r.samples for m in s.missed
    ]
    return {"notebooks": rows, "overall": overall, "misses": misses}


def markdown(data: dict) -> str:
    head = (
        "| notebook | positions | needed names | prompt | recall | mean | min | full recall | "
        "tokens mean | p95 | max | ≤ budget | time s |\n"
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for row in [*data["notebooks"], data["overall"]]:
        bold = "**" if row["notebook"] == "overall" else ""
        for label, key in (("engine", "engine"), ("baseline: cell prefix", "baseline")):
            r = row[key]
            size = (
                f"{row['tokens_mean']:.0f} | {row['tokens_p95']:.0f} | {row['tokens_max']} | "
                f"{row['positions'] - row['over_budget']}/{row['positions']}"
                if key == "engine"
                else "– | – | – | –"
            )
            lines.append(
                f"| {bold}{row['notebook']}{bold} | {row['positions']} | {row['needs']} | {label} | "
                f"{bold}{r['recall']:.3f}{bold} | {r['mean_recall']:.3f} | {r['min_recall']:.2f} | "
                f"{r['full_recall_share']:.1%} | {size} | {row['seconds'] if key == 'engine' else '–'} |"
            )
    overall = data["overall"]
    lines += [
        "",
        f"recall = needed names found / needed names (pooled); mean and min are per cursor position. Budget "
        f"{overall['budget']} estimated tokens. Strict recall (columns as whole tokens): "
        f"{overall['engine_strict']['recall']:.3f}. Kernel context fetch {overall['fetch_ms_mean']} ms, prompt "
        f"build {overall['build_ms_mean']} ms on average.",
        f"First uses (needed names in no code above the cursor: the kernel state or an output must supply them): "
        f"{overall['first_uses']['needs']} of {overall['needs']}, engine recall "
        f"{overall['first_uses']['engine_recall']:.3f} (baseline 0 by construction); per notebook "
        + ", ".join(f"{r['notebook']} {r['first_uses']['engine_recall']:.3f}" for r in data["notebooks"])
        + ".",
    ]
    if overall["misses_by_cause"]:
        causes = ", ".join(f"{why}: {n}" for why, n in overall["misses_by_cause"].items())
        lines.append(f"Engine misses by cause: {causes}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the figures (and every miss) as JSON")
    parser.add_argument("--stride", type=int, default=1, help="score every N-th cursor position (default: all)")
    parser.add_argument("--budget", type=int, default=BUDGET, help=f"completion budget (default {BUDGET})")
    parser.add_argument("--later-cells", choices=("drop", "keep"), default="drop", help="cells below the cursor")
    parser.add_argument("--notebook", action="append", help="only this notebook (stem), repeatable")
    parser.add_argument("--concurrency", type=int, default=2, help="kernels at a time (default 2)")
    parser.add_argument("--misses", action="store_true", help="list every missed name after the table")
    args = parser.parse_args(argv)
    paths = notebook_paths(args.notebook)
    if not paths:
        parser.error(f"no notebooks found in {NOTEBOOKS}")
    started = time.perf_counter()
    results = asyncio.run(
        evaluate_all(
            paths, concurrency=args.concurrency, stride=args.stride, budget=args.budget, later_cells=args.later_cells
        )
    )
    data = report(results, args.budget, time.perf_counter() - started)
    data["settings"] = {
        "stride": args.stride,
        "budget": args.budget,
        "later_cells": args.later_cells,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(data, indent=1))
        return 0
    print(markdown(data))
    if args.misses:
        print()
        for miss in data["misses"]:
            print(
                f"- {miss['notebook']} cell {miss['cell']} line {miss['line']}: {miss['kind']} {miss['name']!r} "
                f"({miss['why']}) in `{miss['rest']}`"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
