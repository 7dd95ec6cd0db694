"""What a scratch sandbox costs when the kernel holds a lot of live data: fork time, time to the first scratch
output, and the child's extra memory, before and after a cell that writes to 10% of the data. Every sandbox
applies all its protections (``protections.protect``: descriptors sealed, shared mappings made private, a network
namespace, Landlock) before its first scratch line, so every figure is "with protections".

Three settings, each in a fresh process: a plain Python process, the same with numpy's transparent huge
pages turned off (as on a system without THP), and a real ipykernel (started with jupyter_client) holding the
same data in its user namespace. The data: float64 numpy arrays (75%), a pandas
DataFrame of float64/int64 columns (25%), and a million short strings; every page written, so it is resident.
Each run opens a new ``ForkSandbox``, runs a first cell that prints something about the data, reads the child's
``/proc/<pid>/smaps_rollup``, runs a cell that writes to 10% of the data's bytes, reads it again, and closes.
In each run, from the same process, also:

- a sandbox whose child skips ``protect()`` (the benchmark patches ``child.protect`` in this process only), for
  the first output without protections, measured next to the one with them;
- throwaway forked children (``protection_costs.py``) that time ``protect()``'s steps one by one, and
  ``protect()`` as a whole.

    python benchmarks/bench_fork.py [--gb 2] [--runs 5] [--json] [--no-kernel]
    python benchmarks/bench_fork.py --costs [--runs 5] [--sizes 0.25 1 2] [--json]

``--costs`` measures, in this process, what sealing costs per open descriptor and what making shared memory
private costs per GiB mapped (see ``protection_costs.py``).

"Extra memory" is the child's private memory (Private_Clean + Private_Dirty, i.e. USS): the pages it does not
share with the kernel. Right after the fork every page is shared; the child's own work (and each page it writes,
copy-on-write) becomes private.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import statistics
import subprocess
import sys
import time
from unittest import mock

import protection_costs  # benchmarks/protection_costs.py (scripts run from their folder; the kernel adds it)
from machine import cpu_model

from jupyter_layers.sandbox import ForkSandbox, Protections, child

HERE = os.path.dirname(os.path.abspath(__file__))
FIRST_CELL = (
    "print(f'{len(frame):,} rows, mean of a {frame[\"a\"].mean():.4f}, '\n"
    "      f'{sum(a.nbytes for a in arrays) / 2**30:.2f} GiB in {len(arrays)} arrays, {len(words):,} words')"
)
WRITE_CELL = """budget = DATA_BYTES // 10
for array in arrays:
    count = min(array.size, budget // array.itemsize)
    array[:count] += 1.0
    budget -= count * array.itemsize
    if budget <= 0:
        break
print(f"wrote {DATA_BYTES // 10 / 2**20:.0f} MiB")"""
NEXT_CELL = "frame.shape"
SKIPPED = "protect() skipped by bench_fork.py"


def make_data(gb: float) -> dict:
    """``gb`` GiB of live, resident data as a user's kernel might hold it."""
    import numpy as np
    import pandas as pd

    total = int(gb * 2**30)
    rng = np.random.default_rng(0)
    arrays = [rng.random(total * 3 // 4 // 6 // 8) for _ in range(6)]
    rows = total // 4 // 8 // 9
    frame = pd.DataFrame({name: rng.random(rows) for name in "abcdefgh"})
    frame["n"] = np.arange(rows, dtype=np.int64)
    words = [f"word{i}" for i in range(1_000_000)]
    data_bytes = sum(a.nbytes for a in arrays) + int(frame.memory_usage(index=False).sum())
    return {"arrays": arrays, "frame": frame, "words": words, "DATA_BYTES": data_bytes}


def memory(pid: int) -> dict:
    """MiB figures from /proc/<pid>/smaps_rollup."""
    figures = {}
    with open(f"/proc/{pid}/smaps_rollup") as file:
        for line in file:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                figures[parts[0].rstrip(":")] = int(parts[1]) / 1024
    return {
        "rss": figures["Rss"],
        "private_dirty": figures["Private_Dirty"],
        "uss": figures["Private_Clean"] + figures["Private_Dirty"],
        "huge_pages": figures.get("AnonHugePages", 0.0),
    }


def measure(namespace: dict, runs: int) -> dict:
    """Runs the cells in ``runs`` fresh sandboxes over ``namespace``; the figures of each run."""
    results = []
    for _ in range(runs):
        started = time.perf_counter()
        sandbox = ForkSandbox(namespace)
        first = sandbox.run(FIRST_CELL, timeout=120)
        first_output = time.perf_counter() - started
        assert first.error is None and first.stdout, first
        after_first = memory(sandbox.pid)
        following = sandbox.run(NEXT_CELL, timeout=120)
        written = sandbox.run(WRITE_CELL, timeout=300)
        assert written.error is None, written
        after_write = memory(sandbox.pid)
        applied = sandbox.protections.summary()
        sandbox.close()
        results.append(
            {
                "protections": applied,
                "fork_ms": sandbox.fork_seconds * 1000,
                "first_output_ms": first_output * 1000,
                "next_cell_ms": following.elapsed * 1000,
                "write_cell_ms": written.elapsed * 1000,
                "uss_after_first_mib": after_first["uss"],
                "private_dirty_after_first_mib": after_first["private_dirty"],
                "uss_after_write_mib": after_write["uss"],
                "private_dirty_after_write_mib": after_write["private_dirty"],
                "first_output": first.stdout.strip(),
                "first_output_unprotected_ms": first_output_unprotected(namespace),
                **probe(),
            }
        )
    parent = memory(os.getpid())
    return {"parent_rss_mib": parent["rss"], "parent_huge_pages_mib": parent["huge_pages"], "runs": results}


def _skip_protect(folder: str, keep: set[int]):
    return Protections(audit=True, missing=(SKIPPED,)), []


def first_output_unprotected(namespace: dict) -> float:
    """Time to first output (ms) of a sandbox whose child skips protect(): the same run's baseline."""
    with mock.patch.object(child, "protect", _skip_protect):  # forked children inherit the patch
        started = time.perf_counter()
        sandbox = ForkSandbox(namespace)
        first = sandbox.run(FIRST_CELL, timeout=120)
        elapsed = time.perf_counter() - started
        skipped = sandbox.protections.missing == (SKIPPED,)
        sandbox.close()
    assert first.error is None and first.stdout, first
    assert skipped, "the benchmark's patch of child.protect did not take effect"
    return elapsed * 1000


def probe() -> dict:
    """protect()'s steps timed one by one, then protect() as a whole, each in a throwaway child of this process."""
    with protection_costs.scratch_folder() as folder:
        steps = protection_costs.phases(folder)
    with protection_costs.scratch_folder() as folder:
        whole = protection_costs.protect_whole(folder)
    return {**steps, "protect_ms": whole["protect_ms"]}


def worker(gb: float, runs: int) -> dict:
    """The plain-process setting: this (fresh) process holds the data and forks."""
    namespace = make_data(gb)
    return measure(namespace, runs)


def plain(gb: float, runs: int, huge_pages: bool) -> dict:
    """The worker in a fresh process. numpy asks for transparent huge pages for large arrays (madvise) where the
    system allows it; NUMPY_MADVISE_HUGEPAGE=0 turns that off, which is what a system without THP looks like."""
    command = [sys.executable, os.path.abspath(__file__), "--worker", "--gb", str(gb), "--runs", str(runs)]
    environment = {**os.environ, "NUMPY_MADVISE_HUGEPAGE": "1" if huge_pages else "0"}
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=environment)
    return json.loads(done.stdout)


def in_kernel(gb: float, runs: int) -> dict:
    """The ipykernel setting: the kernel holds the data in user_ns and forks from inside a cell."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=120)
    try:
        code = (
            f"import sys, json; sys.path.insert(0, {HERE!r}); import bench_fork\n"
            f"get_ipython().user_ns.update(bench_fork.make_data({gb!r}))\n"
            f"print(json.dumps(bench_fork.measure(get_ipython().user_ns, {runs!r})))"
        )
        msg_id = client.execute(code)
        text = []
        while True:
            try:
                message = client.get_iopub_msg(timeout=600)
            except queue.Empty as timeout:
                raise TimeoutError("the kernel benchmark took over 10 minutes") from timeout
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream" and content["name"] == "stdout":
                text.append(content["text"])
            elif kind == "error":
                raise RuntimeError("\n".join(content["traceback"]))
            elif kind == "status" and content["execution_state"] == "idle":
                break
        return json.loads("".join(text))
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def summary(setting: dict) -> dict:
    runs = setting["runs"]
    keys = [key for key in runs[0] if key.endswith(("_ms", "_mib"))]
    return {
        key: (statistics.median(r[key] for r in runs), min(r[key] for r in runs), max(r[key] for r in runs))
        for key in keys
    }


ROWS = [
    ("fork_ms", "os.fork in the parent", "ms"),
    ("first_output_ms", "time to first scratch output, with protections (new sandbox, fork included)", "ms"),
    ("first_output_unprotected_ms", "  the same, protect() skipped (same run)", "ms"),
    ("protect_ms", "protect() in a probe child", "ms"),
    ("seal_ms", "  seal.seal (descriptors)", "ms"),
    ("privatize_ms", "  mappings.privatize(open_files()) (shared memory)", "ms"),
    ("isolate_ms", "  network.isolate (network namespace)", "ms"),
    ("landlock_ms", "  landlock.abi_version + restrict", "ms"),
    ("seccomp_ms", "  seccomp.refuse_connections", "ms"),
    ("fork_to_child_ms", "probe: os.fork until the child's first line", "ms"),
    ("next_cell_ms", "a following cell (`frame.shape`), round trip", "ms"),
    ("uss_after_first_mib", "child's private memory (USS) after the first cell", "MiB"),
    ("private_dirty_after_first_mib", "  of which Private_Dirty", "MiB"),
    ("write_cell_ms", "cell writing to 10% of the data", "ms"),
    ("uss_after_write_mib", "child's USS after writing 10% of the data", "MiB"),
    ("private_dirty_after_write_mib", "  of which Private_Dirty", "MiB"),
]


def table(settings: dict[str, dict], runs: int) -> str:
    names = list(settings)
    lines = [
        "| metric | " + " | ".join(f"{name} (median; min-max of {runs})" for name in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    summaries = {name: summary(settings[name]) for name in names}
    for key, label, unit in ROWS:
        cells = []
        for name in names:
            median, low, high = summaries[name][key]
            cells.append(f"{median:,.1f} {unit} ({low:,.1f}-{high:,.1f})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    parent = [f"{settings[n]['parent_rss_mib']:,.0f} MiB ({settings[n]['parent_huge_pages_mib']:,.0f})" for n in names]
    lines.append("| the parent's RSS (of it in transparent huge pages) | " + " | ".join(parent) + " |")
    return "\n".join(lines)


def probe_findings(settings: dict[str, dict]) -> str:
    """What the probe child found to protect, per setting (the same in every run)."""
    lines = []
    for name, setting in settings.items():
        found = setting["runs"][0]
        lines.append(
            f"- {name}: {found['descriptors']} descriptors open, {found['sealed']} sealed (listed), "
            f"{found['remapped']} shared mappings made private ({found['copied_mib']:,.1f} MiB copied), "
            f"network: {found['network']}, Landlock ABI {found['landlock']}, seccomp filter: {found['seccomp']}"
        )
    return "\n".join(lines)


def machine() -> str:
    return f"{os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}, {platform.platform()}"


def costs(runs: int, sizes: tuple[float, ...], as_json: bool) -> None:
    """The --costs mode: sealing per descriptor, remapping per GiB."""
    result = {
        "machine": machine(),
        "runs": runs,
        "seal": protection_costs.seal_costs(runs),
        "remap": protection_costs.remap_costs(runs, sizes),
    }
    if as_json:
        print(json.dumps(result, indent=2))
        return
    print(f"{machine()}\n")
    print(protection_costs.seal_table(result["seal"], runs) + "\n")
    print(protection_costs.remap_table(result["remap"], runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gb", type=float, default=2.0, help="GiB of live data (default 2)")
    parser.add_argument("--runs", type=int, default=5, help="sandboxes opened per setting (default 5)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    parser.add_argument("--no-kernel", action="store_true", help="skip the ipykernel setting")
    parser.add_argument("--costs", action="store_true", help="sealing per descriptor and remapping per GiB instead")
    parser.add_argument(
        "--sizes",
        type=float,
        nargs="+",
        default=protection_costs.SIZES_GIB,
        help="GiB of each kind of shared memory, with --costs (default 0.25 1 2)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.gb, args.runs)))
        return
    if args.costs:
        costs(args.runs, tuple(args.sizes), args.json)
        return
    settings = {
        "plain process": plain(args.gb, args.runs, huge_pages=True),
        "plain process, 4 KiB pages": plain(args.gb, args.runs, huge_pages=False),
    }
    if not args.no_kernel:
        settings["ipykernel"] = in_kernel(args.gb, args.runs)
    applied = {name: sorted({r["protections"] for r in setting["runs"]}) for name, setting in settings.items()}
    if args.json:
        report = {"gb": args.gb, "machine": machine(), "protections": applied, "settings": settings}
        print(json.dumps(report, indent=2))
        return
    first = settings["plain process"]["runs"][0]["first_output"]
    print(f"{args.gb:g} GiB of live data; {machine()}")
    for name, summaries in applied.items():
        print(f"protections on ({name}): {'; '.join(summaries)}")
    print(f"first scratch output: {first!r}\n")
    print(table(settings, args.runs))
    print("\nWhat the probe child found to protect:\n" + probe_findings(settings))


if __name__ == "__main__":
    main()
