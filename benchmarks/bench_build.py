"""What verifying a build's proposal costs, and what a whole build adds to the model's own time.

Verification (``building/verify.py``) opens a fresh sandbox over the live namespace (a fork with every
protection), runs the proposed cells in order, then the user's check, and closes it. Measured in this process
over a namespace holding a pandas DataFrame of ``--rows`` rows (4 float64 columns, every page written) and, for
comparison, 10 rows, with a two-cell proposal (a new column; a groupby sum) and a check.

The whole build: ``Builder.build`` with the real Anthropic SDK against the fake model server on 127.0.0.1,
which answers at once (no model latency), so what is left is the loop's own work: one scratch try in the tries'
sandbox, one proposal verified in a fresh one, the taste check, the proposal. Both sandboxes are forks of this
process, as they are of a kernel.

    python benchmarks/bench_build.py [--rows 2000000] [--runs 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jupyter_layers.building.agent import Build, Builder  # noqa: E402
from jupyter_layers.building.verify import verify  # noqa: E402
from jupyter_layers.config import JupyterLayers  # noqa: E402
from jupyter_layers.context.situation import Cursor, Situation  # noqa: E402
from jupyter_layers.engine import recipes  # noqa: E402
from jupyter_layers.explore.kernel_workspace import KernelWorkspace  # noqa: E402
from jupyter_layers.models.model_run import ModelRun  # noqa: E402
from jupyter_layers.models.router import Router  # noqa: E402
from jupyter_layers.sandbox import open_sandbox  # noqa: E402
from tests.fakes.model_server import FakeModelServer, ToolUse, Turn  # noqa: E402

CELLS = ["frame['revenue'] = frame.price * frame.units", "frame.groupby('region').revenue.sum()"]
CHECK = "assert frame.revenue.notna().all()"
API_KEY = "bench-key"
WARM_UP = 2


def namespace(rows: int) -> dict:
    generator = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "region": generator.integers(0, 8, rows),
            "price": generator.random(rows),
            "units": generator.random(rows),
            "cost": generator.random(rows),
        }
    )
    return {"frame": frame, "pd": pd}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def timed(run, runs: int) -> dict:
    samples = []
    for n in range(runs + WARM_UP):
        start = time.perf_counter()
        run()
        if n >= WARM_UP:
            samples.append((time.perf_counter() - start) * 1000)
    return {"p50": statistics.median(samples), "p95": percentile(samples, 95), "runs": runs}


class Silent:
    """A sink that shows nothing: the benchmark times the loop, not a display."""

    propagate_interrupt = True

    def text(self, delta, so_far): ...
    def thinking(self, delta, so_far): ...
    def failed(self, error, text):
        raise error

    def cancelled(self, text, interrupted): ...
    def finished(self, text): ...
    def withdrawn(self, shown): ...


class Shell:
    """What KernelWorkspace reads of a shell: its namespace (the cells tools are not used here)."""

    def __init__(self, user_ns: dict):
        self.user_ns = user_ns


def whole_build(fake: FakeModelServer, user_ns: dict, runs: int) -> dict:
    config = JupyterLayers(provider="anthropic", anthropic_api_key=API_KEY, anthropic_base_url=fake.url, max_retries=0)
    route = Router(config).route("explore")
    situation = Situation(Cursor(0, ""), instruction="add a revenue column and the revenue per region")

    def once():
        fake.script(
            Turn([ToolUse("run_cell", {"code": "print(frame.price.mean())"})]),
            Turn([ToolUse("propose", {"cells": CELLS, "summary": "revenue, and per region"})]),
        )
        prepared = recipes.build(route, situation, config, check=CHECK)
        sandbox, _ = open_sandbox(user_ns)
        try:
            builder = Builder(prepared, KernelWorkspace(Shell(user_ns), sandbox), ModelRun(route, Silent(), None))
            record = builder.build(Build(prepared.question, prepared.check))
        finally:
            sandbox.close()
        assert record is not None and record.proposal is not None

    return timed(once, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    results = {"machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()}}
    for rows in (10, args.rows):
        user_ns = namespace(rows)
        size = user_ns["frame"].memory_usage(deep=True).sum() / 2**20
        verification = timed(lambda ns=user_ns: verify(ns, CELLS, CHECK, 60.0), args.runs)
        with FakeModelServer(api_key=API_KEY) as fake:
            build = whole_build(fake, user_ns, args.runs)
        results[f"{rows} rows"] = {"frame_mib": round(size, 1), "verify_ms": verification, "build_ms": build}
        assert "revenue" not in user_ns["frame"].columns  # verification and the tries ran in forks

    if args.json:
        print(json.dumps(results, indent=1))
        return
    for name, figures in results.items():
        if name == "machine":
            continue
        v, b = figures["verify_ms"], figures["build_ms"]
        print(
            f"{name} ({figures['frame_mib']} MiB): verify 2 cells + check p50 {v['p50']:.1f} ms, p95 {v['p95']:.1f} ms;"
            f" whole build (1 try, 1 proposal, model answering at once) p50 {b['p50']:.1f} ms, p95 {b['p95']:.1f} ms"
        )


if __name__ == "__main__":
    main()
