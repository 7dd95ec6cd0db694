"""What a kernel pays for reaching models through its Jupyter server (``kernel_models = "server"``), and what
recording usage on disk costs per call.

A real `jupyter server` (subprocess, with jupyter_layers, ``kernel_models=server``) starts a kernel for a notebook,
as JupyterLab does; the fake Anthropic server on 127.0.0.1 answers at once (no model latency), so what is left is
the path's own overhead. Inside that kernel, the same completion-sized request is sent alternately

- relayed: the kernel's router asks the server for the route, then streams the request through the server's
  relay (JSON lines), where the server's provider calls the fake server;
- direct: a router in the kernel with the key calls the fake server itself (as kernels do on a laptop).

Both record usage on disk (the server's record for relayed calls, the kernel's for direct ones). Measured per
call: the route (``Router.route``), the first text, and the whole call. Separately, in this process:
``UsageRecord.add`` (read, update, write to a temporary file, fsync, rename, under a lock).

    python benchmarks/bench_relay.py [--calls 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from jupyter_client import BlockingKernelClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jupyter_layers.models.events import Usage  # noqa: E402
from jupyter_layers.usage_record import UsageRecord  # noqa: E402
from tests.browser.lab import JupyterServer  # noqa: E402
from tests.fakes.model_server import FakeModelServer, Text, Turn  # noqa: E402

API_KEY = "bench-key"
WARM_UP = 5

# Runs in the kernel: {calls}, {url} and {key} are filled in; prints one JSON line of milliseconds.
IN_KERNEL = """
import json, os, statistics, time
from jupyter_layers.config import JupyterLayers
from jupyter_layers.models.messages import Message, Request
from jupyter_layers.models.events import TextDelta
from jupyter_layers.models.relay import Relay, RelayAddress
from jupyter_layers.models.router import Router

settings = JupyterLayers(max_retries=0)
relayed = Router(settings, relay=Relay(RelayAddress.from_environment(), os.environ["JPY_SESSION_NAME"], 60))
direct = Router(JupyterLayers(provider="anthropic", anthropic_api_key={key!r}, anthropic_base_url={url!r},
                              max_retries=0), notebook=os.environ["JPY_SESSION_NAME"])
request = Request(messages=(Message.user("sales = pd.read_csv('sales.csv')\\ntotals = sales.groupby(" * 20),),
                  max_tokens=64)

def once(router):
    start = time.perf_counter()
    route = router.route("complete")
    routed = time.perf_counter()
    first = None
    for event in route.stream(request):
        if isinstance(event, TextDelta) and first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    return (routed - start) * 1000, (first - start) * 1000, (end - start) * 1000

times = {{"relayed": [], "direct": []}}
for n in range({calls} + {warm_up}):
    for name, router in (("relayed", relayed), ("direct", direct)):
        sample = once(router)
        if n >= {warm_up}:
            times[name].append(sample)
print(json.dumps(times))
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict:
    return {"p50": round(statistics.median(values), 2), "p95": round(percentile(values, 95), 2)}


def in_kernel(server: JupyterServer, fake_url: str, calls: int) -> dict:
    notebook = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (server.root / "bench.ipynb").write_text(json.dumps(notebook))
    body = json.dumps({"path": "bench.ipynb", "name": "bench.ipynb", "type": "notebook", "kernel": {"name": "python3"}})
    request = urllib.request.Request(server.url("api/sessions"), body.encode(), method="POST")
    with urllib.request.urlopen(request) as response:
        kernel_id = json.load(response)["kernel"]["id"]
    connection = Path(server.env["JUPYTER_RUNTIME_DIR"]) / f"kernel-{kernel_id}.json"
    client = BlockingKernelClient(connection_file=str(connection))
    client.load_connection_file()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    printed = []
    code = IN_KERNEL.format(calls=calls, warm_up=WARM_UP, url=fake_url, key=API_KEY)

    def collect(message):
        if message["msg_type"] == "stream":
            printed.append(message["content"]["text"])
        elif message["msg_type"] == "error":
            raise RuntimeError("\n".join(message["content"]["traceback"]))

    client.execute_interactive(code, output_hook=collect, timeout=600)
    client.stop_channels()
    times = json.loads("".join(printed))
    return {
        name: {part: summary([sample[i] for sample in samples]) for i, part in enumerate(("route", "first", "whole"))}
        for name, samples in times.items()
    }


def usage_record_ms(adds: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        record = UsageRecord(Path(folder), user="bench")
        times = []
        for n in range(adds):
            start = time.perf_counter()
            record.add(f"nb-{n % 20}", f"nb-{n % 20}.ipynb", "complete", "claude-haiku-5-5", Usage(1000, 20))
            times.append((time.perf_counter() - start) * 1000)
    return summary(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with FakeModelServer(api_key=API_KEY, default_turn=Turn([Text("'region')")])) as fake:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder) / "root"
            root.mkdir()
            server = JupyterServer(root, fake.url, API_KEY, app="server")
            server.command.append("--JupyterLayers.kernel_models=server")
            with server:
                kernel = in_kernel(server, fake.url, args.calls)
    result = {
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "calls": args.calls,
        "kernel_ms": kernel,
        "usage_record_add_ms": usage_record_ms(500),
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"{'path':<9} {'route p50/p95':>15} {'first text p50/p95':>20} {'whole call p50/p95':>20}   (ms)")
    for name, parts in kernel.items():
        cells = [f"{parts[p]['p50']} / {parts[p]['p95']}" for p in ("route", "first", "whole")]
        print(f"{name:<9} {cells[0]:>15} {cells[1]:>20} {cells[2]:>20}")
    add = result["usage_record_add_ms"]
    print(f"UsageRecord.add: {add['p50']} / {add['p95']} ms (p50 / p95)")


if __name__ == "__main__":
    main()
