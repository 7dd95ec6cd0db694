"""Kernels of a Jupyter server that holds the keys call models through that server.

On a shared deployment (JupyterHub) the API keys stay in the server: its extension takes them out of the
environment that kernels inherit and gives each kernel ``JUPYTER_LAYERS_RELAY`` instead, the address of its relay
and a token (server/relay.py). A kernel's magics then ask the server for each layer's route (where the admin's
allowed providers and models apply) and send their requests there (where the spending caps apply and usage is
recorded); the events come back as JSON lines. The dry-run asks the server for the exact payload its provider
would send.
"""

from __future__ import annotations

import asyncio
import json
import os
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx2

from ..errors import ConnectionFailed, LayersError, ProviderError
from .base import Provider
from .events import Event
from .messages import Request, Thinking
from .wire import error_from_json, event_from_json, request_to_json

RELAY_ENV = "JUPYTER_LAYERS_RELAY"


@dataclass(frozen=True)
class RelayAddress:
    url: str  # ends with /jupyter-layers/relay
    token: str

    @classmethod
    def from_environment(cls) -> RelayAddress | None:
        value = os.environ.get(RELAY_ENV)
        return cls(**json.loads(value)) if value else None

    def to_environment(self) -> str:
        return json.dumps({"url": self.url, "token": self.token})


@dataclass(frozen=True)
class RemoteRoute:
    """What the server decided for a layer (the fields of models.router.Route that are data)."""

    provider: str
    model: str
    max_tokens: int
    thinking: Thinking | None
    context_window: int | None
    prompt_format: str
    reason: str
    price: tuple[float, float] | None  # the server's price for the model (its model_prices apply)


class Relay:
    """The kernel's side: one server, one notebook."""

    def __init__(self, address: RelayAddress, notebook: str, timeout: float):
        self.address, self.notebook, self.timeout = address, notebook, timeout
        # Kept open: a new client costs more than the call (its SSL context), and the connection is reused.
        self._client = httpx2.Client(timeout=httpx2.Timeout(timeout, connect=5.0), headers=self.headers)
        self._async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # one per event loop

    def call(self, endpoint: str, body: dict) -> dict:
        """One JSON exchange; the server's refusal (a LayersError) is raised here as the same error."""
        try:
            response = self._client.post(f"{self.address.url}/{endpoint}", json={**body, "notebook": self.notebook})
        except httpx2.TransportError:
            raise self.unreachable() from None
        return self.answer(response.status_code, response.content)

    def async_client(self) -> httpx2.AsyncClient:
        loop = asyncio.get_running_loop()
        if loop not in self._async_clients:
            timeout = httpx2.Timeout(self.timeout, connect=5.0)
            self._async_clients[loop] = httpx2.AsyncClient(timeout=timeout, headers=self.headers)
        return self._async_clients[loop]

    def route(self, layer: str, spec: str) -> RemoteRoute:
        data = self.call("route", {"layer": layer, "model": spec})
        thinking = Thinking(**data["thinking"]) if data["thinking"] else None
        price = tuple(data["price"]) if data["price"] else None
        return RemoteRoute(**{**data, "thinking": thinking, "price": price})

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.address.token}"}

    def answer(self, status: int, content: bytes) -> dict:
        if status != 200:
            raise ProviderError(
                f"the Jupyter server's model relay answered {status}",
                "the server's log says why; restart the kernel if the server was restarted",
            )
        data = json.loads(content)
        if "error" in data:
            raise error_from_json(data)
        return data

    def unreachable(self) -> LayersError:
        return ConnectionFailed(
            f"cannot reach the Jupyter server's model relay at {self.address.url}",
            "is the Jupyter server still running? Restart the kernel after restarting the server",
        )


class RelayProvider(Provider):
    """A provider on the server, called from a kernel; named as the server names it."""

    def __init__(self, relay: Relay, name: str, layer: str, spec: str):
        self.relay, self.name, self.layer, self.spec = relay, name, layer, spec

    def describe(self, model: str) -> str:
        return f"{self.name}:{model} (through the Jupyter server)"

    def body(self, request: Request) -> dict:
        return {"layer": self.layer, "model": self.spec, "request": request_to_json(request)}

    def payload(self, request: Request) -> dict:
        return self.relay.call("payload", self.body(request))["payload"]

    async def events(self, request: Request) -> AsyncIterator[Event]:
        relay = self.relay
        body = {**self.body(request), "notebook": relay.notebook}
        try:
            async with relay.async_client().stream("POST", f"{relay.address.url}/stream", json=body) as response:
                if response.status_code != 200:
                    relay.answer(response.status_code, await response.aread())
                async for line in response.aiter_lines():
                    if line:
                        yield event_from_json(json.loads(line))
        except httpx2.TransportError:
            raise relay.unreachable() from None
