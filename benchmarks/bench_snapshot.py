"""What a kernel snapshot costs on a big, hostile namespace, next to the usual "repr every variable" approach.

The namespace has 1,000 variables: 20 pandas DataFrames of 1,000,000 rows × 20 columns, 100 numpy arrays of
10^7 elements, 50 objects whose ``__repr__`` sleeps 1 s, 10 whose ``__repr__`` raises, generators, lazy
proxies that load (50 ms, 1 MB) when first touched, and ordinary ints, strs, lists and dicts. Values are random;
float32/int32 keep it to about 5.7 GB.

Measured for ``jupyter_layers.kernel.snapshot()`` at its default budget: wall time over many runs (median, p95),
peak memory allocated during the call (tracemalloc, separate runs) and the process RSS change. The baseline is
what mito-ai sends (``mito-ai/src/Extensions/ContextManager/VariableInspector.tsx``): every non-callable global,
DataFrames as ``{column: {dtype, samples of head(5)}}``, everything else as ``repr(v)`` cut to 4,000 characters,
inside try/except. Each baseline run takes over 50 s (the sleeping reprs).

    python benchmarks/bench_snapshot.py [--runs 20] [--baseline-runs 3] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc

import numpy as np
import pandas as pd
import psutil
from machine import cpu_model  # benchmarks/machine.py (scripts run from their folder)

from jupyter_layers.kernel import DEFAULT_BUDGET_MS, snapshot, state

FULL = {"rows": 1_000_000, "array": 10**7, "sleep": 1.0, "load": 0.05}
QUICK = {"rows": 10_000, "array": 10**5, "sleep": 0.01, "load": 0.001}
COUNTS = {"frames": 20, "arrays": 100, "slow": 50, "raising": 10, "generators": 20, "lazy": 20}
TOTAL = 1_000
LOADS: list[str] = []


class SlowRepr:
    delay = 1.0
    calls = 0

    def __repr__(self):
        SlowRepr.calls += 1
        time.sleep(self.delay)
        return "SlowRepr()"


class BrokenRepr:
    def __repr__(self):
        raise RuntimeError("repr failed")


class LazyProxy:
    """Loads its target (a pause and 1 MB) on the first attribute access, like lazy modules and ORM proxies."""

    delay = 0.05

    def __init__(self, name):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_target", None)

    def __getattribute__(self, attribute):
        if object.__getattribute__(self, "_target") is None:
            LOADS.append(object.__getattribute__(self, "_name"))
            time.sleep(LazyProxy.delay)
            object.__setattr__(self, "_target", bytearray(b"\x01" * 1_000_000))  # written, so resident
        return getattr(object.__getattribute__(self, "_target"), attribute)


def counter(n):
    yield from range(n)


def frame(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    """16 float32, 3 int32 and 1 categorical column of random values."""
    columns = {f"f{j}": rng.random(rows, dtype=np.float32) for j in range(16)}
    columns |= {f"i{j}": rng.integers(0, 1_000_000, rows, dtype=np.int32) for j in range(3)}
    columns["city"] = pd.Categorical.from_codes(rng.integers(0, 50, rows), [f"city{k}" for k in range(50)])
    return pd.DataFrame(columns)


def build(sizes: dict) -> dict:
    rng = np.random.default_rng(0)
    SlowRepr.delay, LazyProxy.delay = sizes["sleep"], sizes["load"]
    namespace = {}
    for i in range(COUNTS["frames"]):
        namespace[f"df_{i}"] = frame(rng, sizes["rows"])
    for i in range(COUNTS["arrays"]):
        namespace[f"arr_{i}"] = rng.random(sizes["array"], dtype=np.float32)
    for i in range(COUNTS["slow"]):
        namespace[f"slow_{i}"] = SlowRepr()
    for i in range(COUNTS["raising"]):
        namespace[f"broken_{i}"] = BrokenRepr()
    for i in range(COUNTS["generators"]):
        namespace[f"gen_{i}"] = counter(10)
    for i in range(COUNTS["lazy"]):
        namespace[f"lazy_{i}"] = LazyProxy(f"lazy_{i}")
    kinds = (
        lambda i: int(rng.integers(0, 10**9)),
        lambda i: "".join(rng.choice(list("abcdefghij "), 60)),
        lambda i: rng.integers(0, 100, 10).tolist(),
        lambda i: {f"k{k}": float(rng.random()) for k in range(5)},
    )
    for i in range(TOTAL - len(namespace)):
        namespace[f"v_{i}"] = kinds[i % 4](i)
    order = rng.permutation(len(namespace))
    state.DEFINED.update({name: int(count) + 1 for name, count in zip(namespace, order)})  # as if run cell by cell
    return namespace


# --- the baseline: mito-ai's variable inspector, with repr inside try/except ------------------------------------


def dataframe_structure(df, sample_size=5):
    def convert_value(value):
        if pd.isna(value):
            return None
        if not isinstance(value, (str, int, float, bool, type(None))):
            return str(value)
        return value

    return {
        column: {"dtype": str(df[column].dtype), "samples": [convert_value(x) for x in df[column].head(sample_size)]}
        for column in df.columns
    }


def cut(text: str, limit: int = 4000) -> str:
    return text if len(text) <= limit else text[: limit // 2] + "..." + text[-limit // 2 :]


def repr_every_variable(namespace: dict) -> str:
    output = []
    for name, value in namespace.items():
        if name.startswith("_") or name in ("In", "Out", "json") or callable(value):
            continue
        if isinstance(value, pd.DataFrame):
            entry = {"variable_name": name, "type": "pd.DataFrame", "value": dataframe_structure(value)}
        else:
            try:
                entry = {"variable_name": name, "type": str(type(value)), "value": cut(repr(value))}
            except Exception:  # the baseline's own failure handling, measured as it is
                continue
        try:
            json.dumps(entry["value"])
        except Exception:  # idem: variables that do not serialise are dropped
            continue
        output.append(entry)
    return json.dumps(output)


# --- measuring -------------------------------------------------------------------------------------------------------


def rss() -> int:
    return psutil.Process().memory_info().rss


def timed(func, runs: int) -> dict:
    """Wall time of each run and the largest RSS increase across a run."""
    times, rss_deltas = [], []
    for _ in range(runs):
        before = rss()
        started = time.perf_counter()
        result = func()
        times.append((time.perf_counter() - started) * 1000)
        rss_deltas.append(rss() - before)
        del result
    ordered = sorted(times)
    return {
        "runs": runs,
        "median_ms": statistics.median(times),
        "p95_ms": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "min_ms": ordered[0],
        "max_ms": ordered[-1],
        "rss_delta_max_bytes": max(rss_deltas),
    }


def traced_peak(func, runs: int) -> int:
    """The largest extra memory allocated during one call, as tracemalloc sees it (numpy reports to it too)."""
    peaks = []
    for _ in range(runs):
        gc.collect()
        tracemalloc.start()
        try:
            baseline, _ = tracemalloc.get_traced_memory()
            func()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        peaks.append(peak - baseline)
    return max(peaks)


def describe_namespace(namespace: dict) -> dict:
    sample = namespace["df_0"]
    dtypes = sample.dtypes.astype(str).value_counts().to_dict()
    return {
        "variables": len(namespace),
        "dataframes": f"{COUNTS['frames']} × {sample.shape[0]:,} rows × {sample.shape[1]} columns",
        "dataframe_dtypes": dtypes,
        "dataframe_bytes_each": int(sample.memory_usage(deep=False).sum()),
        "arrays": f"{COUNTS['arrays']} × {namespace['arr_0'].size:,} elements {namespace['arr_0'].dtype}",
        "slow_reprs": f"{COUNTS['slow']} × {SlowRepr.delay} s",
        "raising_reprs": COUNTS["raising"],
        "generators": COUNTS["generators"],
        "lazy_proxies": f"{COUNTS['lazy']} (load {LazyProxy.delay * 1000:.0f} ms + 1 MB on first touch)",
        "builtins": TOTAL - sum(COUNTS.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="snapshot runs (default 20)")
    parser.add_argument("--baseline-runs", type=int, default=3, help="baseline runs, each > 50 s (default 3)")
    parser.add_argument("--quick", action="store_true", help="small frames and arrays, 10 ms sleeps: a smoke run")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    sizes = QUICK if args.quick else FULL
    rss_empty = rss()
    started = time.perf_counter()
    namespace = build(sizes)
    build_seconds = time.perf_counter() - started
    rss_full = rss()

    take = lambda: snapshot(namespace)  # noqa: E731 - the call under test, as the kernel makes it
    first = take()  # warm-up: entry point scan, first imports
    snap = timed(take, args.runs)
    snap["tracemalloc_peak_bytes"] = traced_peak(take, 3)
    snap["budget_ms"] = DEFAULT_BUDGET_MS
    snap["truncated"] = first["truncated"]
    snap["listed"] = len(first["variables"])
    snap["skipped"] = first["skipped"]
    snap["slow_repr_calls"], snap["lazy_loads"] = SlowRepr.calls, len(LOADS)

    SlowRepr.calls = 0
    LOADS.clear()
    base = timed(lambda: repr_every_variable(namespace), args.baseline_runs)
    base["slow_repr_calls"], base["lazy_loads"] = SlowRepr.calls, len(LOADS)
    for proxy in (v for k, v in namespace.items() if k.startswith("lazy_")):  # unload, to trace a full baseline run
        object.__setattr__(proxy, "_target", None)
    base["tracemalloc_peak_bytes"] = traced_peak(lambda: repr_every_variable(namespace), 1)

    report = {
        "command": "python " + " ".join(sys.argv),
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
            "pandas": pd.__version__,
            "numpy": np.__version__,
        },
        "namespace": describe_namespace(namespace),
        "namespace_rss_gib": round((rss_full - rss_empty) / 2**30, 2),
        "build_seconds": round(build_seconds, 1),
        "snapshot": snap,
        "baseline": base,
        "ratio_median": base["median_ms"] / snap["median_ms"],
        "meets_50ms": snap["median_ms"] <= 50,
        "meets_5mb": snap["tracemalloc_peak_bytes"] <= 5e6 and snap["rss_delta_max_bytes"] <= 5e6,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    mb = 1e6
    print(f"{report['command']}")
    print(f"machine: {report['machine']}")
    for key, value in report["namespace"].items():
        print(f"  {key}: {value}")
    print(f"namespace RSS: {report['namespace_rss_gib']} GiB (built in {report['build_seconds']} s)")
    print(
        f"snapshot (budget {DEFAULT_BUDGET_MS:.0f} ms, {snap['runs']} runs): median {snap['median_ms']:.1f} ms, "
        f"p95 {snap['p95_ms']:.1f} ms, max {snap['max_ms']:.1f} ms; listed {snap['listed']}, skipped "
        f"{snap['skipped']}, truncated {snap['truncated']}; tracemalloc peak {snap['tracemalloc_peak_bytes'] / mb:.2f} "
        f"MB, RSS delta max {snap['rss_delta_max_bytes'] / mb:.2f} MB; slow reprs called {snap['slow_repr_calls']}, "
        f"lazy loads {snap['lazy_loads']}"
    )
    print(
        f"baseline repr-everything ({base['runs']} runs): median {base['median_ms'] / 1000:.2f} s, "
        f"min {base['min_ms'] / 1000:.2f} s, max {base['max_ms'] / 1000:.2f} s; tracemalloc peak "
        f"{base['tracemalloc_peak_bytes'] / mb:.2f} MB, RSS delta max {base['rss_delta_max_bytes'] / mb:.2f} MB; "
        f"slow reprs called {base['slow_repr_calls']}, lazy loads {base['lazy_loads']}"
    )
    print(f"ratio (baseline median / snapshot median): {report['ratio_median']:,.0f}×")
    print(f"requirement: median ≤ 50 ms {'met' if report['meets_50ms'] else 'NOT met'}, ", end="")
    print(f"≤ 5 MB extra peak {'met' if report['meets_5mb'] else 'NOT met'}")


if __name__ == "__main__":
    main()
