"""The completion path's own overhead in the Jupyter server, excluding the model's time.

A real `jupyter server` (subprocess, with jupyter_layers) with a live kernel holding a few variables; the fake
Anthropic server on 127.0.0.1 answers each completion after a fixed model latency, streaming deltas at a fixed
pace. A WebSocket client plays the browser. Two overheads are measured on every request:

- request: the client sends ``complete`` → the model request has arrived at the fake server (parsing, the
  kernel context fetched over the messaging protocol, prompt building, the SDK's request);
- chunk: the fake server has written a delta → the client has the matching cumulative ghost text (the SDK's
  SSE parsing, cleaning, the WebSocket hop).

Both clocks are ``time.monotonic()`` in this process (the fake server runs in a thread here).

    python benchmarks/bench_lab_completion.py [--requests 200] [--model-latency 0.2] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from tornado.websocket import websocket_connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.browser.lab import JupyterServer  # noqa: E402
from tests.fakes.model_server import FakeModelServer, Text, Turn  # noqa: E402

API_KEY = "bench-key"
SETUP = """\
import pandas as pd, numpy as np
sales = pd.DataFrame({"region": list("nsew") * 250, "price": np.arange(1000) * 1.5, "units": np.arange(1000) % 7})
regions = sorted(sales.region.unique())
"""
CELLS = [
    {"cell_type": "code", "source": SETUP, "execution_count": 1, "outputs": []},
    {"cell_type": "code", "source": "totals = sales.groupby('region')['pr"},
]
ANSWER = "ice'].sum().sort_values(ascending=False).head(10)  # top regions by revenue"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def execute(server: JupyterServer, kernel_id: str, code: str) -> None:
    """Run code in the kernel through the server's kernel WebSocket, as JupyterLab does."""
    ws = await websocket_connect(server.url(f"api/kernels/{kernel_id}/channels").replace("http", "ws", 1))
    msg_id = uuid.uuid4().hex
    header = {
        "msg_id": msg_id,
        "msg_type": "execute_request",
        "session": uuid.uuid4().hex,
        "username": "bench",
        "version": "5.3",
        "date": "",
    }
    content = {"code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False}
    ws.write_message(
        json.dumps(
            {
                "header": header,
                "parent_header": {},
                "metadata": {},
                "content": content,
                "channel": "shell",
                "buffers": [],
            }
        )
    )
    while True:
        message = json.loads(await ws.read_message())
        if message.get("msg_type") == "execute_reply" and message["parent_header"].get("msg_id") == msg_id:
            assert message["content"]["status"] == "ok", message["content"]
            break
    ws.close()


async def measure(server: JupyterServer, fake: FakeModelServer, kernel_id: str | None, requests: int, latency: float):
    ws = await websocket_connect(server.url("jupyter-layers/ws").replace("http", "ws", 1))
    request_ms, chunk_ms = [], []
    for n in range(requests + 5):  # the first 5 warm up (kernel module import, SDK client, connections)
        fake.reset()
        fake.script(Turn([Text(ANSWER)], chunk_chars=8, first_byte_delay=latency, token_delay=0.01))
        message = {
            "type": "complete",
            "id": f"r{n}",
            "stream": "editor",
            "cells": CELLS,
            "cell": 1,
            "path": "bench.ipynb",
        }
        if kernel_id:
            message["kernel_id"] = kernel_id
        sent = time.monotonic()
        ws.write_message(json.dumps(message))
        arrivals = []
        while True:
            reply = json.loads(await ws.read_message())
            arrivals.append(time.monotonic())
            assert reply["type"] == "stream", reply
            if reply["done"]:
                break
        (record,) = [r for r in fake.requests if r.path == "/v1/messages"]
        if n < 5:
            continue
        request_ms.append((record.received_at - sent) * 1000)
        # One browser message per delta (each adds 8 characters), then the final one.
        for delta_sent, arrived in zip(record.deltas_sent_at, arrivals):
            chunk_ms.append((arrived - delta_sent) * 1000)
    ws.close()
    return request_ms, chunk_ms


async def main_async(args) -> dict:
    with FakeModelServer(api_key=API_KEY) as fake, tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "root"
        root.mkdir()
        with JupyterServer(root, fake.url, API_KEY, app="server") as server:
            body = json.dumps({"name": "python3"}).encode()
            with urllib.request.urlopen(urllib.request.Request(server.url("api/kernels"), body, method="POST")) as r:
                kernel_id = json.load(r)["id"]
            await execute(server, kernel_id, SETUP)
            kernel = None if args.no_kernel else kernel_id
            request_ms, chunk_ms = await measure(server, fake, kernel, args.requests, args.model_latency)
    summary = {
        name: {
            "n": len(values),
            "p50_ms": round(statistics.median(values), 2),
            "p90_ms": round(percentile(values, 90), 2),
            "p99_ms": round(percentile(values, 99), 2),
            "max_ms": round(max(values), 2),
        }
        for name, values in (("request_to_model", request_ms), ("model_chunk_to_browser", chunk_ms))
    }
    return {
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
        "model_latency_s": args.model_latency,
        "requests": args.requests,
        "overhead": summary,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--model-latency", type=float, default=0.2, help="the fake model's first-byte delay (s)")
    parser.add_argument("--no-kernel", action="store_true", help="send no kernel id: no kernel state in the prompt")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"{result['requests']} completions, model latency {args.model_latency * 1000:.0f} ms, {result['machine']}")
    print(f"{'overhead':<24} {'n':>5} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, row in result["overhead"].items():
        print(f"{name:<24} {row['n']:>5} {row['p50_ms']:>8} {row['p90_ms']:>8} {row['p99_ms']:>8} {row['max_ms']:>8}")


if __name__ == "__main__":
    main()
