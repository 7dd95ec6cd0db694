"""Completion quality: does layer 1 write the rest of the line the analyst really wrote?

The notebooks are the context-quality ones (``benchmarks/context_notebooks/``: real analyses of datasets that
scikit-learn and statsmodels ship in their wheels; nothing is downloaded). Each runs cell by cell in one real
kernel with the extension loaded. Before code cell k runs, the kernel holds what a user typing cell k would
have, so for cursor positions right after ``(``, ``[``, ``=`` or ``.`` (outside strings and comments, with code
after it on the line):

- the user is typing: cell k holds only the text before the cursor, the cells below do not exist yet;
- the kernel context is fetched as the product fetches it (a silent ``user_expressions`` request);
- the request is the layer's own recipe (``recipes.complete``, ghost text: ``extent="line"``) for each
  configuration's route, sent through the real provider (llama.cpp in process, or the OpenAI SDK to
  llama.cpp's server on 127.0.0.1), and the answer cleaned as the editor cleans it.

Scored on the first line of the cleaned answer against the rest of the real line (both stripped): exact
match, and close match (``difflib`` ratio ≥ 0.7). Latency is the time to the first streamed text and to the
whole answer. A configuration is ``model/format`` for the embedded provider, ``server:model/format`` for
llama.cpp's server. ``--typing N`` also measures keystrokes: at N positions, the rest of the line is typed a
character at a time and every keystroke asks again (the previous prompt's tokens stay in llama.cpp's cache).

    python benchmarks/completion_quality.py [--configs gemma3-270m/continue ...] [--stride 2] [--typing 20]
                                            [--notebook NAME ...] [--json] [--answers]
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.context_quality import (  # noqa: E402
    TRUTH_EXPRESSION,
    TRUTH_SOURCE,
    Truth,
    ask,
    cursor_positions,
    notebook_paths,
    percentile,
    typing_view,
)
from benchmarks.machine import cpu_model  # noqa: E402
from jupyter_layers.config import JupyterLayers  # noqa: E402
from jupyter_layers.context.notebook import is_scratch  # noqa: E402
from jupyter_layers.context.situation import Situation, focus_names, situation_from_notebook  # noqa: E402
from jupyter_layers.engine import recipes  # noqa: E402
from jupyter_layers.engine.complete import clean_answer  # noqa: E402
from jupyter_layers.kernel import remote  # noqa: E402
from jupyter_layers.models import shipped_models  # noqa: E402
from jupyter_layers.models.events import Stop, TextDelta  # noqa: E402
from jupyter_layers.models.router import Router  # noqa: E402

TRIGGERS = frozenset("([=.")
CLOSE_RATIO = 0.7
DEFAULT_CONFIGS = (
    "gemma3-270m/continue",
    "gemma3-270m/chat",
    "smollm2-135m/continue",
    "smollm2-135m/chat",
    "server:gemma3-270m/continue",
    "server:gemma3-270m/fim",
)


@dataclass(frozen=True)
class Cursor:
    notebook: str
    cell: int
    line: int
    before: str  # the cell's text before the cursor
    rest: str  # what the analyst wrote after the cursor on that line
    situation: Situation = field(compare=False, repr=False)


@dataclass
class Answer:
    config: str
    notebook: str
    cell: int
    line: int
    expected: str
    got: str
    exact: bool
    close: bool
    first_ms: float | None
    total_ms: float


def first_line(text: str) -> str:
    return text.split("\n", 1)[0].strip()


def judge(expected: str, got: str) -> tuple[bool, bool]:
    want, have = expected.strip(), first_line(got)
    exact = want == have
    return exact, exact or difflib.SequenceMatcher(None, want, have).ratio() >= CLOSE_RATIO


# --- configurations ------------------------------------------------------------------------------------------


def router_for(config: str, servers: dict[str, str]) -> Router:
    """A router whose complete route is this configuration's model and prompt format."""
    where, _, prompt_format = config.rpartition("/")
    settings = JupyterLayers(complete_format=prompt_format)
    if where.startswith("server:"):
        model = where.removeprefix("server:")
        settings.complete_model = f"openai:{model}"
        settings.openai_base_url = servers[model]
    else:
        settings.complete_model = f"embedded:{where}"
    settings.provider = "embedded"  # the other layers are not used; no key is looked for
    return Router(settings)


async def complete_once(router: Router, situation: Situation) -> tuple[str, float | None, float]:
    """One completion through the layer's recipe and the real provider: the cleaned text, first-text and
    total milliseconds."""
    route = router.route("complete")
    prepared = recipes.complete(route, situation, router.config, extent="line")
    started, first, text = time.perf_counter(), None, ""
    async for event in route.provider.stream(prepared.request):
        if isinstance(event, TextDelta):
            first = first if first is not None else (time.perf_counter() - started) * 1000
            text += event.text
        elif isinstance(event, Stop):
            text = event.message.text
    total = (time.perf_counter() - started) * 1000
    cursor = situation.cursor
    return clean_answer(cursor.source[: cursor.position], text, route.prompt_format, "line"), first, total


# --- cursors from the notebooks ------------------------------------------------------------------------------


async def notebook_cursors(path: Path, stride: int) -> list[Cursor]:
    """Every ``stride``-th trigger position of each code cell, with the kernel context before that cell ran."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=120, allow_errors=True, resources={"metadata": {"path": str(path.parent)}})
    cursors: list[Cursor] = []
    async with client.async_setup_kernel():
        await client.kc.execute_interactive("%load_ext jupyter_layers", silent=True, store_history=False, timeout=60)
        await client.kc.execute_interactive(TRUTH_SOURCE, silent=True, store_history=False, timeout=60)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or is_scratch(cell):
                continue
            truth = Truth.from_json((await ask(client, {"truth": TRUTH_EXPRESSION}))["truth"])
            positions = [
                p
                for p in cursor_positions(cell.source, index, truth)
                if cell.source[p.offset - 1] in TRIGGERS and p.rest.strip()
            ]
            for position in positions[::stride]:
                before = cell.source[: position.offset]
                context = (await ask(client, {"ctx": remote.expression(focus_names(before))}))["ctx"]
                view = typing_view(nb, index, before, "drop")
                situation = situation_from_notebook(view, index, offset=len(before), kernel_context=context)
                cursors.append(Cursor(path.stem, index, position.line, before, position.rest, situation))
            await client.async_execute_cell(cell, index)
    return cursors


# --- measuring -----------------------------------------------------------------------------------------------


async def answers_for(config: str, router: Router, cursors: list[Cursor]) -> list[Answer]:
    out = []
    for cursor in cursors:
        got, first, total = await complete_once(router, cursor.situation)
        exact, close = judge(cursor.rest, got)
        out.append(
            Answer(config, cursor.notebook, cursor.cell, cursor.line, cursor.rest.strip(), first_line(got), exact,
                   close, first, total)
        )  # fmt: skip
    return out


async def keystrokes(router: Router, cursors: list[Cursor], chars: int = 6) -> list[float]:
    """First-text milliseconds of the second and later keystrokes: the rest of the line typed a character at a
    time at each cursor, asking after every character, as ghost text does."""
    import dataclasses

    measured = []
    for cursor in cursors:
        situation = cursor.situation
        for typed in range(0, min(chars, len(cursor.rest)) + 1):
            source = cursor.before + cursor.rest[:typed]
            moved = dataclasses.replace(situation, cursor=dataclasses.replace(situation.cursor, source=source))
            _, first, total = await complete_once(router, moved)
            if typed:
                measured.append(first if first is not None else total)
    return measured


def summary(config: str, answers: list[Answer], typing_ms: list[float], wall: float) -> dict:
    firsts = [a.first_ms if a.first_ms is not None else a.total_ms for a in answers]
    totals = [a.total_ms for a in answers]
    n = len(answers)
    return {
        "config": config,
        "cursors": n,
        "exact": sum(a.exact for a in answers) / n if n else float("nan"),
        "close": sum(a.close for a in answers) / n if n else float("nan"),
        "first_ms_p50": percentile(firsts, 50),
        "first_ms_p95": percentile(firsts, 95),
        "total_ms_p50": percentile(totals, 50),
        "total_ms_p95": percentile(totals, 95),
        "keystroke_first_ms_p50": percentile(typing_ms, 50) if typing_ms else None,
        "keystroke_first_ms_p95": percentile(typing_ms, 95) if typing_ms else None,
        "keystrokes": len(typing_ms),
        "seconds": round(wall, 1),
    }


def markdown(rows: list[dict]) -> str:
    lines = [
        "| configuration | cursors | exact | close (≥ 0.7) | first text p50 / p95 ms | whole answer p50 / p95 ms | "
        "keystroke first text p50 / p95 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        typing = (
            f"{row['keystroke_first_ms_p50']:.0f} / {row['keystroke_first_ms_p95']:.0f} ({row['keystrokes']})"
            if row["keystrokes"]
            else "–"
        )
        lines.append(
            f"| {row['config']} | {row['cursors']} | {row['exact']:.2f} | {row['close']:.2f} | "
            f"{row['first_ms_p50']:.0f} / {row['first_ms_p95']:.0f} | "
            f"{row['total_ms_p50']:.0f} / {row['total_ms_p95']:.0f} | {typing} |"
        )
    return "\n".join(lines)


async def run(args) -> dict:
    cursors: list[Cursor] = []
    for path in notebook_paths(args.notebook):
        cursors += await notebook_cursors(path, args.stride)
    rows, every_answer = [], []
    with ExitStack() as stack:
        servers = {}
        for model in sorted({c.split(":", 1)[1].rsplit("/", 1)[0] for c in args.configs if c.startswith("server:")}):
            from tests.llama_server import llama_server

            servers[model] = stack.enter_context(llama_server(shipped_models.SHIPPED[model].path(), model))
        for config in args.configs:
            router = router_for(config, servers)
            started = time.perf_counter()
            answers = await answers_for(config, router, cursors)
            typing_ms = (
                await keystrokes(router, cursors[:: max(1, len(cursors) // args.typing)][: args.typing])
                if (args.typing)
                else []
            )
            rows.append(summary(config, answers, typing_ms, time.perf_counter() - started))
            every_answer += answers
            print(markdown(rows[-1:]).split("\n")[-1], file=sys.stderr)
    return {
        "machine": {"cpu": cpu_model(), "cores": __import__("os").cpu_count()},
        "notebooks": sorted({c.notebook for c in cursors}),
        "cursors": len(cursors),
        "rows": rows,
        "answers": [asdict(a) for a in every_answer],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS))
    parser.add_argument("--stride", type=int, default=10, help="every N-th cursor position of each cell")
    parser.add_argument("--typing", type=int, default=20, help="cursors at which keystrokes are measured (0: none)")
    parser.add_argument("--notebook", nargs="*", help="only these notebooks (stem or file name)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--answers", action="store_true", help="also print every answer next to the real line")
    args = parser.parse_args(argv)
    data = asyncio.run(run(args))
    if args.json:
        print(json.dumps(data, indent=1, ensure_ascii=False))
        return 0
    print(f"{data['cursors']} cursors in {', '.join(data['notebooks'])}; {data['machine']['cpu']}, "
          f"{data['machine']['cores']} cores")  # fmt: skip
    print(markdown(data["rows"]))
    if args.answers:
        for a in data["answers"]:
            mark = "=" if a["exact"] else ("~" if a["close"] else " ")
            print(f"{mark} {a['config']:<28} {a['notebook']}[{a['cell']}]  want {a['expected']!r}  got {a['got']!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
