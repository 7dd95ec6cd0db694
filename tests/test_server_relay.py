"""A Jupyter server that keeps the keys: its kernels reach models through it, under the admin's limits, with usage
recorded per notebook (a real jupyter server, real kernels started for notebooks, the fake Anthropic server)."""

from __future__ import annotations

import ctypes
import json
import os

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_layers.models.events import Usage
from jupyter_layers.models.relay import RELAY_ENV, RelayAddress
from jupyter_layers.server import custody
from jupyter_layers.usage_record import UsageRecord
from tests.conftest import API_KEY
from tests.fakes.model_server import Text, Turn

NOTEBOOK = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def dumpable() -> int:
    libc = ctypes.CDLL(None)
    return libc.prctl(custody.PR_GET_DUMPABLE, 0, 0, 0, 0)


@pytest.fixture
def jp_server_config(fake, monkeypatch):
    """The admin's key in the server's environment; only the haiku and sonnet families allowed. The server runs in
    this process, which it makes non-dumpable: the rest of the suite gets it back as it was."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    before = dumpable()
    yield {
        "ServerApp": {
            # as installed: the file id extension (a dependency) follows notebooks through renames
            "jpserver_extensions": {"jupyter_layers": True, "jupyter_server_fileid": True},
            "allow_unauthenticated_access": False,
        },
        "JupyterLayers": {
            "kernel_models": "server",
            "allowed_models": ["claude-haiku-*", "claude-sonnet-*"],
            "max_daily_cost": 1.0,
            "max_retries": 0,
        },
    }
    ctypes.CDLL(None).prctl(custody.PR_SET_DUMPABLE, before, 0, 0, 0)


async def open_notebook(jp_fetch, path: str) -> str:
    """A notebook file and a session for it, as JupyterLab opens one: the kernel gets JPY_SESSION_NAME."""
    if "/" in path:
        folder = json.dumps({"type": "directory"})
        await jp_fetch("api", "contents", path.rsplit("/", 1)[0], method="PUT", body=folder)
    await jp_fetch("api", "contents", path, method="PUT", body=json.dumps({"type": "notebook", "content": NOTEBOOK}))
    name = path.rsplit("/", 1)[-1]
    body = json.dumps({"path": path, "type": "notebook", "name": name, "kernel": {"name": "python3"}})
    session = json.loads((await jp_fetch("api", "sessions", method="POST", body=body)).body)
    return session["kernel"]["id"]


class KernelCells:
    """Runs cells in a kernel the server started and returns what they printed."""

    def __init__(self, jp_serverapp, kernel_id: str):
        self.client = jp_serverapp.kernel_manager.get_kernel(kernel_id).client()

    async def __aenter__(self) -> KernelCells:
        self.client.start_channels()
        await self.client.wait_for_ready(timeout=60)
        await self.run("%load_ext jupyter_layers\n%config JupyterLayers.max_retries = 0")
        return self

    async def __aexit__(self, *exc) -> None:
        self.client.stop_channels()

    async def run(self, code: str) -> tuple[str, str]:
        out, err = [], []

        def collect(message):
            content = message["content"]
            if message["msg_type"] == "stream":
                (out if content["name"] == "stdout" else err).append(content["text"])
            elif message["msg_type"] in ("display_data", "update_display_data", "execute_result"):
                out.append(content["data"].get("text/plain", ""))
            elif message["msg_type"] == "error":
                err.append("\n".join(content["traceback"]))

        reply = await self.client.execute_interactive(code, output_hook=collect, timeout=120)
        assert reply["content"]["status"] == "ok", err
        return "".join(out), "".join(err)


async def status(jp_fetch, path: str) -> dict:
    return json.loads((await jp_fetch("jupyter-layers", "status", params={"path": path})).body)


async def test_kernels_get_no_key_and_call_through_the_server_within_its_limits(jp_fetch, jp_serverapp, fake):
    assert "ANTHROPIC_API_KEY" not in os.environ  # taken out of what kernels and terminals inherit
    assert dumpable() == 0  # nor readable in /proc/PID/environ (the environment the process started with)
    kernel_id = await open_notebook(jp_fetch, "work/sales.ipynb")
    async with KernelCells(jp_serverapp, kernel_id) as kernel:
        out, _ = await kernel.run(f"import os\nprint(os.environ.get('ANTHROPIC_API_KEY'), {RELAY_ENV!r} in os.environ)")
        assert out == "None True\n"

        out, _ = await kernel.run("%layers status")
        assert "anthropic:claude-haiku-5-5 (through the Jupyter server)" in out
        assert "escalate  refused" in out and "c.JupyterLayers.allowed_models" in out
        assert "limits    models claude-haiku-*, claude-sonnet-*" in out and "of $1.00" in out

        usage = {"input_tokens": 400, "output_tokens": 20, "cache_creation_input_tokens": 0}
        fake.script(Turn([Text("x + 1")], usage=usage))
        out, err = await kernel.run("%%complete\nx = 1\ny = ")
        assert err == "" and "y = x + 1" in out
        sent = [q for q in fake.requests if q.path == "/v1/messages"][-1]
        key = sent.headers.get("x-api-key") or sent.headers["authorization"].removeprefix("Bearer ")
        assert key == API_KEY and sent.body["model"] == "claude-haiku-5-5"  # the server's key

        dry, _ = await kernel.run("%%layers prompt --json complete\nx = 1\ny = ")
        dry = json.loads(dry)  # the server's provider made this payload (the cells differ: history grew by one)
        assert (dry["provider"], dry["model"], dry["max_tokens"]) == ("anthropic", "claude-haiku-5-5", 256)
        assert dry["system"] == sent.body["system"] and set(dry) >= set(sent.body) - {"stream"}

        await kernel.run("%config JupyterLayers.edit_model = 'claude-opus-5-5'")  # a kernel cannot widen the limits
        before = len(fake.requests)
        _, err = await kernel.run("%%rewrite make it shorter\ny = x + 1")
        assert err.count("\n") == 1 and "'claude-opus-5-5' is not allowed here" in err and "allowed_models" in err
        _, err = await kernel.run("%escalate why?")
        assert "not allowed here" in err and err.count("\n") == 1
        assert len(fake.requests) == before  # nothing was sent

        usage, _ = await kernel.run("%layers usage")
        assert "work/sales.ipynb: 1 calls" in usage.replace(os.path.abspath(jp_serverapp.root_dir) + "/", "")

    seen = await status(jp_fetch, "work/sales.ipynb")
    assert API_KEY not in json.dumps(seen)  # what the browser is sent
    assert seen["usage"]["complete"]["calls"] == 1 and seen["usage"]["complete"]["input_tokens"] == 400
    assert seen["spending"]["limits"]["max_daily_cost"] == 1.0
    assert seen["spending"]["spent"]["today_usd"] == pytest.approx((400 * 1 + 20 * 5) / 1e6)

    rename = json.dumps({"path": "work/renamed.ipynb"})
    await jp_fetch("api", "contents", "work/sales.ipynb", method="PATCH", body=rename)
    assert (await status(jp_fetch, "work/renamed.ipynb"))["usage"]["complete"]["calls"] == 1  # by notebook id


async def test_the_relay_answers_only_its_token(jp_fetch, jp_serverapp, http_server_client):
    address = RelayAddress.from_environment()
    route = json.dumps({"layer": "complete", "model": ""})
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"token {address.token}"}):
        with pytest.raises(HTTPClientError) as refused:
            await http_server_client.fetch(
                f"{jp_serverapp.base_url}jupyter-layers/relay/route", method="POST", body=route, headers=headers
            )
        assert refused.value.code == 403
    answer = await http_server_client.fetch(
        f"{jp_serverapp.base_url}jupyter-layers/relay/route",
        method="POST",
        body=route,
        headers={"Authorization": f"Bearer {address.token}"},
    )
    assert json.loads(answer.body)["model"] == "claude-haiku-5-5"


async def test_a_user_past_the_daily_cap_is_refused_before_anything_is_sent(jp_fetch, jp_serverapp, fake):
    UsageRecord().add("elsewhere", "other.ipynb", "edit", "claude-haiku-5-5", Usage(input_tokens=999_500))
    kernel_id = await open_notebook(jp_fetch, "capped.ipynb")
    async with KernelCells(jp_serverapp, kernel_id) as kernel:
        _, err = await kernel.run("%%complete\nx = ")
    assert err.startswith("%%complete: this call could cost up to $")
    assert "of the $1.00 allowed today is spent (c.JupyterLayers.max_daily_cost)" in err and err.count("\n") == 1
    assert fake.requests == []
