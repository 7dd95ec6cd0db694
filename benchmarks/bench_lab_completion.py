"""The completion path's own overhead in the Jupyter server, excluding the model's time, for a small notebook and
a 500-cell one.

A real `jupyter server` (subprocess, with jupyter_layers) with a live kernel holding a few variables; the fake
Anthropic server on 127.0.0.1 answers each completion after a fixed model latency, streaming deltas at a fixed
pace. A WebSocket client plays the browser typing a line in the notebook's last cell, one request per keystroke:
as labextension/src/documentSync.ts does, its first request carries the whole document (``sync.full``) and each
later one only the active cell, which the keystroke changed. With ``--whole-document`` every keystroke carries the
whole notebook instead, as the browser did before the server held it (this mode also runs against older servers).

Measured on every keystroke but the first few (warm-up: the whole document, the kernel module's import):

- request: the client sends ``complete`` → the model request has arrived at the fake server (parsing, the
  document brought up to date, the kernel context, prompt building, the SDK's request);
- chunk: the fake server has written a delta → the client has the matching cumulative ghost text (the SDK's
  SSE parsing, cleaning, the WebSocket hop);
- bytes: the size of the client's message.

Both clocks are ``time.monotonic()`` in this process (the fake server runs in a thread here).

    python benchmarks/bench_lab_completion.py [--requests 200] [--model-latency 0.2] [--whole-document] [--json]
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
WARM_UP = 5
SETUP = """\
import pandas as pd, numpy as np
sales = pd.DataFrame({"region": list("nsew") * 250, "price": np.arange(1000) * 1.5, "units": np.arange(1000) % 7})
regions = sorted(sales.region.unique())
"""
LINE = "totals = sales.groupby('region')['price'].sum().sort_values()"
TYPED_FROM = LINE.index("['pr")  # each keystroke types one more character of the line from here, then starts over
ANSWER = "ice'].sum().sort_values(ascending=False).head(10)  # top regions by revenue"
OUTPUT = "".join(f"row {n:4d}: {'value ' * 6}{n * 1.5:10.2f}\n" for n in range(40))[:2000]  # ~2 kB of text


def notebook(cells: int) -> list[dict]:
    """The setup cell, ``cells - 2`` run code cells with about 2 kB of text output each, and the cell being typed."""
    document = [{"id": "setup", "cell_type": "code", "source": SETUP, "execution_count": 1, "outputs": []}]
    for n in range(cells - 2):
        document.append(
            {
                "id": f"cell-{n}",
                "cell_type": "code",
                "source": f"part_{n} = sales[sales.units == {n % 7}]\nprint(part_{n}.describe())",
                "execution_count": n + 2,
                "outputs": [{"output_type": "stream", "name": "stdout", "text": OUTPUT}],
                "metadata": {"tags": []},
            }
        )
    document.append({"id": "typing", "cell_type": "code", "source": "", "execution_count": None, "outputs": []})
    return document


def typed(keystroke: int) -> str:
    return LINE[: TYPED_FROM + keystroke % (len(LINE) - TYPED_FROM + 1)]


class Browser:
    """What labextension/src/documentSync.ts sends: the whole document first, then the changed cell (the active
    one, by id, with a new version); or, with ``whole``, the whole document every time."""

    def __init__(self, cells: list[dict], kernel_id: str | None, whole: bool):
        self.cells, self.kernel_id, self.whole = cells, kernel_id, whole
        self.version = 0

    def keystroke(self, n: int) -> str:
        active = {**self.cells[-1], "source": typed(n)}
        self.cells[-1] = active
        message = {"type": "complete", "id": f"r{n}", "stream": "editor", "cell": len(self.cells) - 1}
        message |= {"offset": len(active["source"]), "path": "bench.ipynb"}
        if self.kernel_id:
            message["kernel_id"] = self.kernel_id
        if self.whole:
            return json.dumps({**message, "cells": self.cells})
        self.version += 1
        if n == 0:
            cells = [{**cell, "version": self.version} for cell in self.cells]
            sync = {"key": "bench-notebook", "full": True, "cells": cells, "order": [c["id"] for c in self.cells]}
        else:
            sync = {"key": "bench-notebook", "cells": [{**active, "version": self.version}]}
        return json.dumps({**message, "sync": sync})


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


async def measure(server: JupyterServer, fake: FakeModelServer, browser: Browser, requests: int, latency: float):
    ws = await websocket_connect(server.url("jupyter-layers/ws").replace("http", "ws", 1))
    request_ms, chunk_ms, sizes = [], [], []
    for n in range(requests + WARM_UP):
        fake.reset()
        fake.script(Turn([Text(ANSWER)], chunk_chars=8, first_byte_delay=latency, token_delay=0.01))
        message = browser.keystroke(n)
        sent = time.monotonic()
        ws.write_message(message)
        arrivals = []
        while True:
            reply = json.loads(await ws.read_message())
            arrivals.append(time.monotonic())
            assert reply["type"] == "stream", reply
            if reply["done"]:
                break
        (record,) = [r for r in fake.requests if r.path == "/v1/messages"]
        if n < WARM_UP:
            continue
        sizes.append(len(message.encode()))
        request_ms.append((record.received_at - sent) * 1000)
        if len(arrivals) == len(record.deltas_sent_at) + 1:  # one message per delta, then the final one (no
            for delta_sent, arrived in zip(record.deltas_sent_at, arrivals):  # delta held back as a possible echo)
                chunk_ms.append((arrived - delta_sent) * 1000)
    ws.close()
    return request_ms, chunk_ms, sizes


def summary(values: list[float]) -> dict:
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 2),
        "p95": round(percentile(values, 95), 2),
        "p99": round(percentile(values, 99), 2),
        "max": round(max(values), 2),
    }


async def main_async(args) -> dict:
    cases = {}
    with FakeModelServer(api_key=API_KEY) as fake, tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "root"
        root.mkdir()
        with JupyterServer(root, fake.url, API_KEY, app="server") as server:
            body = json.dumps({"name": "python3"}).encode()
            with urllib.request.urlopen(urllib.request.Request(server.url("api/kernels"), body, method="POST")) as r:
                kernel_id = json.load(r)["id"]
            await execute(server, kernel_id, SETUP)
            kernel = None if args.no_kernel else kernel_id
            for cells in (2, 500):
                browser = Browser(notebook(cells), kernel, args.whole_document)
                request_ms, chunk_ms, sizes = await measure(server, fake, browser, args.requests, args.model_latency)
                cases[f"{cells} cells"] = {
                    "request_ms": summary(request_ms),
                    "chunk_ms": summary(chunk_ms),
                    "bytes_per_keystroke": summary(sizes),
                    "first_message_bytes": len(Browser(notebook(cells), kernel, args.whole_document).keystroke(0)),
                }
    return {
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
        "model_latency_s": args.model_latency,
        "requests": args.requests,
        "client": "whole document every keystroke" if args.whole_document else "whole document once, then changes",
        "cases": cases,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="keystrokes measured per notebook")
    parser.add_argument("--model-latency", type=float, default=0.2, help="the fake model's first-byte delay (s)")
    parser.add_argument("--no-kernel", action="store_true", help="send no kernel id: no kernel state in the prompt")
    parser.add_argument(
        "--whole-document", action="store_true", help="send the whole notebook with every keystroke (the old client)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(result, indent=1))
        return
    latency = f"model latency {args.model_latency * 1000:.0f} ms"
    print(f"{result['requests']} keystrokes per notebook, {result['client']}, {latency}")
    print(result["machine"])
    print(f"{'notebook':<10} {'measure':<22} {'n':>5} {'p50':>9} {'p95':>9} {'p99':>9} {'max':>9}")
    for case, rows in result["cases"].items():
        for name in ("request_ms", "chunk_ms", "bytes_per_keystroke"):
            row = rows[name]
            print(
                f"{case:<10} {name:<22} {row['n']:>5} {row['p50']:>9} {row['p95']:>9} {row['p99']:>9} {row['max']:>9}"
            )
        print(f"{case:<10} {'first_message_bytes':<22} {rows['first_message_bytes']:>5}")


if __name__ == "__main__":
    main()
