"""The server's completion WebSocket with a real kernel and the fake Anthropic server."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_layers.server.protocol import SERVER_MESSAGES, is_last
from tests.conftest import API_KEY
from tests.fakes.model_server import Text, Turn


@pytest.fixture
def jp_server_config(fake):
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_layers": True}, "allow_unauthenticated_access": False},
        "JupyterLayers": {
            "provider": "anthropic",
            "anthropic_api_key": API_KEY,
            "anthropic_base_url": fake.url,
            "max_retries": 0,
        },
    }


CELLS = [
    {"cell_type": "markdown", "source": "# Sales"},
    {"cell_type": "code", "source": "import pandas as pd\nsales = pd.read_csv('sales.csv')", "execution_count": 1},
    {"cell_type": "code", "source": "totals = sales.groupby('region')['pr"},
]


def complete(ws_id: str, stream: str = "editor-1", kernel_id: str | None = None, cells=CELLS) -> str:
    message = {"type": "complete", "id": ws_id, "stream": stream, "cells": cells, "cell": len(cells) - 1}
    if kernel_id:
        message["kernel_id"] = kernel_id
    return json.dumps(message)


async def replies(ws, request_id: str, timeout: float = 20) -> list[dict]:
    """Every message for one request, up to its last (done, error or cancelled), each checked against the
    protocol."""
    received = []
    while True:
        message = json.loads(await asyncio.wait_for(ws.read_message(), timeout))
        if message["id"] != request_id:
            continue
        received.append(message)
        if is_last(SERVER_MESSAGES.validate_python(message)):
            return received


async def all_replies(ws, request_ids: set[str], timeout: float = 20) -> dict[str, list[dict]]:
    """Every message for several requests, by id, until each has had its last."""
    received: dict[str, list[dict]] = {request_id: [] for request_id in request_ids}
    open_ids = set(request_ids)
    while open_ids:
        message = json.loads(await asyncio.wait_for(ws.read_message(), timeout))
        if message["id"] in open_ids:
            received[message["id"]].append(message)
            if is_last(SERVER_MESSAGES.validate_python(message)):
                open_ids.remove(message["id"])
    return received


async def start_kernel(jp_fetch, jp_serverapp, code: str) -> str:
    kernel_id = json.loads((await jp_fetch("api", "kernels", method="POST", body="{}")).body)["id"]
    client = jp_serverapp.kernel_manager.get_kernel(kernel_id).client()
    client.start_channels()
    await client.wait_for_ready(timeout=60)
    reply = await client.execute_interactive(code, timeout=60)
    assert reply["content"]["status"] == "ok"
    client.stop_channels()
    await server_sees_idle(jp_fetch, kernel_id)
    return kernel_id


async def server_sees_idle(jp_fetch, kernel_id: str) -> None:
    """The server learns that the kernel is idle from its own IOPub subscription, a moment after a client."""
    for _ in range(600):
        model = json.loads((await jp_fetch("api", "kernels", kernel_id)).body)
        if model["execution_state"] == "idle":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the server still sees kernel {kernel_id} {model['execution_state']}")


async def test_streams_cumulative_cleaned_text_with_the_kernel_state(jp_fetch, jp_ws_fetch, jp_serverapp, fake):
    kernel_id = await start_kernel(
        jp_fetch, jp_serverapp, "import pandas as pd\nsales = pd.DataFrame({'region': ['n'], 'price': [1.5]})"
    )
    fake.script(Turn([Text("```python\nice'].sum()\n```")], chunk_chars=3, token_delay=0.01))
    ws = await jp_ws_fetch("jupyter-layers", "ws")
    ws.write_message(complete("r1", kernel_id=kernel_id))
    received = await replies(ws, "r1")
    texts = [m["text"] for m in received]
    assert len(texts) >= 3 and texts[-1] == "ice'].sum()" and received[-1]["done"] is True
    sent = json.dumps(fake.requests[-1].body, ensure_ascii=False)
    assert "sales: DataFrame 1 row × 2 columns" in sent and "float64: price" in sent  # the live kernel's state
    assert "groupby('region')['pr<CURSOR>" in sent
    ws.close()


async def test_a_superseded_request_has_its_model_stream_closed(jp_ws_fetch, fake):
    fake.script(Turn([Text("slow " * 200)], chunk_chars=5, token_delay=0.02), Turn([Text("fast")]))
    ws = await jp_ws_fetch("jupyter-layers", "ws")
    ws.write_message(complete("first"))
    first = json.loads(await asyncio.wait_for(ws.read_message(), 10))
    assert first["id"] == "first" and not first["done"]
    ws.write_message(complete("second"))
    received = await all_replies(ws, {"first", "second"})
    assert received["first"][-1] == {"type": "cancelled", "id": "first"}  # the browser frees its handler
    assert received["second"][-1]["text"] == "fast"
    assert fake.wait_for_requests(2)
    deadline = time.monotonic() + 5
    while not fake.requests[0].client_disconnected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert fake.requests[0].client_disconnected
    ws.close()


async def test_fifty_concurrent_streams_from_several_notebooks_while_a_superseded_one_is_closed(jp_ws_fetch, fake):
    slow = [{"cell_type": "code", "source": "SLOW = "}]

    def reply(request):
        if "SLOW" in json.dumps(request.body):
            return Turn([Text("slow " * 400)], chunk_chars=5, token_delay=0.02)
        return Turn([Text("x" * 40)], chunk_chars=8, token_delay=0.005)

    fake.respond_with(reply)
    sockets = [await jp_ws_fetch("jupyter-layers", "ws") for _ in range(5)]
    sockets[0].write_message(complete("superseded", stream="editor-0", cells=slow))
    first = json.loads(await asyncio.wait_for(sockets[0].read_message(), 10))
    assert first["id"] == "superseded" and not first["done"]
    for n in range(50):  # r0 goes to stream editor-0 and supersedes the slow one
        sockets[n % 5].write_message(complete(f"r{n}", stream=f"editor-{n}", cells=CELLS))

    async def finished(ws, ids):
        done = set()
        while done != ids:
            message = json.loads(await asyncio.wait_for(ws.read_message(), 30))
            if message["id"] == "superseded":
                assert message["type"] == "cancelled" or not message["done"]  # it never finishes
                continue
            assert message["type"] == "stream", message
            if message["done"]:
                assert message["text"] == "x" * 40
                done.add(message["id"])
        return done

    results = await asyncio.gather(
        *(finished(ws, {f"r{n}" for n in range(50) if n % 5 == i}) for i, ws in enumerate(sockets))
    )
    assert sum(len(r) for r in results) == 50
    (superseded,) = [r for r in fake.requests if "SLOW" in json.dumps(r.body)]
    for _ in range(100):
        if superseded.client_disconnected:
            break
        await asyncio.sleep(0.05)
    assert superseded.client_disconnected  # its model stream was closed
    for ws in sockets:
        ws.close()


async def test_a_busy_kernel_is_not_waited_for(jp_fetch, jp_ws_fetch, jp_serverapp, fake):
    kernel_id = await start_kernel(jp_fetch, jp_serverapp, "ready = 1")
    fake.respond_with(lambda request: Turn([Text("1")]))
    ws = await jp_ws_fetch("jupyter-layers", "ws")
    ws.write_message(complete("warm", kernel_id=kernel_id))
    await replies(ws, "warm")  # caches the context
    client = jp_serverapp.kernel_manager.get_kernel(kernel_id).client()
    client.start_channels()
    client.execute("import time; time.sleep(8)")
    await asyncio.sleep(0.5)
    started = time.monotonic()
    ws.write_message(complete("while-busy", kernel_id=kernel_id))
    received = await replies(ws, "while-busy")
    assert received[-1]["done"] and time.monotonic() - started < 3
    assert "ready: 1" in json.dumps(fake.requests[-1].body)  # the cached context was used
    client.stop_channels()
    ws.close()


async def test_errors_are_one_message(jp_ws_fetch, fake):
    fake.script(Turn([Text("partial")], chunk_chars=2, error_after=1))
    ws = await jp_ws_fetch("jupyter-layers", "ws")
    ws.write_message(complete("broken"))
    received = await replies(ws, "broken")
    assert received[-1]["type"] == "error" and "broke off" in received[-1]["message"]
    ws.close()


async def test_unauthenticated_sockets_are_refused(jp_ws_fetch):
    with pytest.raises(HTTPClientError) as caught:
        await jp_ws_fetch("jupyter-layers", "ws", headers={"Authorization": ""})
    assert caught.value.code == 403


def typed(request_id: str, source: str, version: int, kernel_id: str | None = None, full: bool = False) -> str:
    """A keystroke as the browser sends it: the active cell of a one-cell notebook, the document whole or not."""
    sync = {"key": "nb", "cells": [{"id": "c", "version": version, "cell_type": "code", "source": source}]}
    message = {"type": "complete", "id": request_id, "stream": "editor", "cell": 0, "sync": sync}
    if full:
        sync |= {"full": True, "order": ["c"]}
    if kernel_id:
        message["kernel_id"] = kernel_id
    return json.dumps(message)


async def prompt_for(ws, fake, message: str, request_id: str) -> str:
    count = len(fake.requests)
    ws.write_message(message)
    received = await replies(ws, request_id)
    assert received[-1]["type"] == "stream" and received[-1]["done"], received
    (body,) = [r.body for r in fake.requests[count:] if r.path == "/v1/messages"]
    return json.dumps(body)


async def run_cell(jp_fetch, jp_serverapp, kernel_id: str, code: str) -> None:
    """Run a cell as a notebook would (not silent: the server sees it start and end on IOPub)."""
    client = jp_serverapp.kernel_manager.get_kernel(kernel_id).client()
    client.start_channels()
    reply = await client.execute_interactive(code, timeout=60)
    client.stop_channels()
    assert reply["content"]["status"] == "ok", reply["content"]
    await server_sees_idle(jp_fetch, kernel_id)


async def test_a_cell_run_or_a_restart_changes_the_context_the_next_completion_sees(
    jp_fetch, jp_ws_fetch, jp_serverapp, fake
):
    kernel_id = await start_kernel(jp_fetch, jp_serverapp, "alpha = 1")
    fake.respond_with(lambda request: Turn([Text("1")]))
    ws = await jp_ws_fetch("jupyter-layers", "ws")
    assert "alpha: 1" in await prompt_for(ws, fake, typed("k1", "x = ", 0, kernel_id, full=True), "k1")
    await run_cell(jp_fetch, jp_serverapp, kernel_id, "alpha = 5\nbeta = 2")
    sent = await prompt_for(ws, fake, typed("k2", "x = a", 1, kernel_id), "k2")
    assert "alpha: 5" in sent and "beta: 2" in sent
    await jp_fetch("api", "kernels", kernel_id, "restart", method="POST", body="{}")
    sent = await prompt_for(ws, fake, typed("k3", "x = al", 2, kernel_id), "k3")
    assert "<kernel_state>" in sent and "alpha" not in sent.split("<kernel_state>")[1]  # the restart emptied it
    ws.close()


class KernelRequests:
    """Every execute request a kernel handles, seen on its IOPub channel (each publishes a ``busy`` status)."""

    def __init__(self, jp_serverapp, kernel_id: str):
        session = jp_serverapp.kernel_manager.get_kernel(kernel_id).session.clone()
        session.session = uuid.uuid4().hex  # message ids of its own (the manager's clients share one session)
        self.client = jp_serverapp.kernel_manager.get_kernel(kernel_id).client(session=session)

    async def __aenter__(self) -> KernelRequests:
        self.client.start_channels()
        await self.client.wait_for_ready(timeout=60)
        await self.until_seen(self.client.kernel_info())  # IOPub is subscribed
        return self

    async def until_seen(self, msg_id: str) -> list[dict]:
        """The IOPub messages up to the ``idle`` that ends request ``msg_id`` (the kernel publishes in order)."""
        seen = []
        while True:
            message = await self.client.get_iopub_msg(timeout=30)
            seen.append(message)
            if message["parent_header"].get("msg_id") == msg_id and message["content"].get("execution_state") == "idle":
                return seen

    async def executions(self) -> int:
        """How many execute requests the kernel began since the last call."""
        seen = await self.until_seen(self.client.kernel_info())
        return sum(
            m["msg_type"] == "status"
            and m["content"]["execution_state"] == "busy"
            and m["parent_header"].get("msg_type") == "execute_request"
            for m in seen
        )

    async def __aexit__(self, *exc) -> None:
        self.client.stop_channels()


async def test_keystrokes_are_served_from_the_held_context_without_asking_the_kernel(
    jp_fetch, jp_ws_fetch, jp_serverapp, fake
):
    kernel_id = await start_kernel(jp_fetch, jp_serverapp, "note = 'lorem ipsum ' * 100\nalpha = 1")
    fake.respond_with(lambda request: Turn([Text("1")]))
    ws = await jp_ws_fetch("jupyter-layers", "ws")
    async with KernelRequests(jp_serverapp, kernel_id) as kernel:
        first = await prompt_for(ws, fake, typed("k0", "x = ", 0, kernel_id, full=True), "k0")
        assert "alpha: 1" in first
        assert await kernel.executions() == 1  # nothing held yet: fetched
        for number, source in enumerate(["x = a", "x = al", "x = alp", "x = alph", "x = 1 + a"], start=1):
            sent = await prompt_for(ws, fake, typed(f"k{number}", source, number, kernel_id), f"k{number}")
            assert "alpha: 1" in sent
        # alpha is detailed already; a, al, alp, alph are no variables (the snapshot lists them all)
        assert await kernel.executions() == 0

        # A name the held context lists but has not detailed: this keystroke is served at once from it, the
        # kernel is asked in the background, and a later keystroke has the detail (the summary's longer cap).
        short = await prompt_for(ws, fake, typed("n0", "x = note", 10, kernel_id), "n0")
        assert "note: " in short and "lorem ipsum " * 12 not in short
        for number in range(1, 50):
            sent = await prompt_for(ws, fake, typed(f"n{number}", "x = note", 10 + number, kernel_id), f"n{number}")
            if "lorem ipsum " * 12 in sent:
                break
            await asyncio.sleep(0.1)
        assert "lorem ipsum " * 12 in sent
        assert await kernel.executions() == 1  # the one background fetch
    ws.close()


async def test_typing_cancels_the_generation_of_the_keystroke_before(jp_ws_fetch, fake):
    """Each keystroke (a delta on the same stream) closes the model stream of the one before, long before that
    stream would have ended."""
    slow = Turn([Text("slow " * 200)], chunk_chars=5, token_delay=0.02)  # 200 deltas: about 4 s
    fake.respond_with(lambda request: slow if "x = s<CURSOR>" in json.dumps(request.body) else Turn([Text("um(y)")]))
    ws = await jp_ws_fetch("jupyter-layers", "ws")
    ws.write_message(typed("k1", "x = s", 0, full=True))
    first = json.loads(await asyncio.wait_for(ws.read_message(), 20))
    assert first["id"] == "k1" and not first["done"]
    ws.write_message(typed("k2", "x = su", 1))
    received = await all_replies(ws, {"k1", "k2"})
    assert received["k1"][-1] == {"type": "cancelled", "id": "k1"}
    assert received["k2"][-1]["text"] == "um(y)" and received["k2"][-1]["done"]
    (superseded,) = [r for r in fake.requests if r.path == "/v1/messages" and "x = s<CURSOR>" in json.dumps(r.body)]
    for _ in range(100):
        if superseded.client_disconnected:
            break
        await asyncio.sleep(0.05)
    assert superseded.client_disconnected and len(superseded.deltas_sent_at) < 200
    ws.close()
