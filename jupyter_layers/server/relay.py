"""The server's side of the model relay (models/relay.py): its kernels' model calls, with the server's keys.

Each endpoint answers a kernel holding the relay token (``Authorization: Bearer``), compared in constant time;
anything else gets 403. A request's route is decided here, with the server's configuration, so the admin's
allowed providers and models apply whatever a kernel's own ``%config`` says; the stream goes through
``Route.stream``, so the spending caps are checked and usage is recorded under the kernel's notebook. A layer
error is sent back as data (``{"error": ...}`` or a ``failure`` event), for the kernel to show as its one line.
"""

from __future__ import annotations

import dataclasses
import hmac
import json

from jupyter_server.auth.decorator import allow_unauthenticated
from tornado import web
from tornado.iostream import StreamClosedError

from ..errors import LayersError
from ..models.events import Failure
from ..models.wire import event_to_json, request_from_json
from ..status import spending_status


def error_json(error: LayersError) -> dict:
    return event_to_json(Failure(error))


class RelayHandler(web.RequestHandler):
    """Authenticated by the relay token alone: a kernel has no cookie, and a browser cannot send this header
    cross-site without a preflight the server does not grant."""

    def initialize(self, state, token: str) -> None:
        self.state, self.token = state, token

    def prepare(self) -> None:
        sent = self.request.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {self.token}".encode()):
            raise web.HTTPError(403)

    def check_xsrf_cookie(self) -> None:
        """No cookie is honoured here, so there is no cross-site request to forge."""

    def body(self) -> dict:
        return json.loads(self.request.body or b"{}")

    def route(self, body: dict):
        return self.state.router.route(body["layer"], body.get("model", ""), notebook=body.get("notebook", ""))

    def reply(self, answer) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(answer))


class RouteHandler(RelayHandler):
    @allow_unauthenticated  # by the Jupyter server's login: the relay token is checked in prepare()
    def post(self) -> None:
        try:
            route = self.route(self.body())
        except LayersError as error:
            self.reply(error_json(error))
            return
        self.reply(
            {
                "provider": route.provider.name,
                "model": route.model,
                "max_tokens": route.max_tokens,
                "thinking": dataclasses.asdict(route.thinking) if route.thinking else None,
                "context_window": route.context_window,
                "prompt_format": route.prompt_format,
                "reason": route.reason,
                "price": route.price,
            }
        )


class PayloadHandler(RelayHandler):
    @allow_unauthenticated  # by the Jupyter server's login: the relay token is checked in prepare()
    def post(self) -> None:
        body = self.body()
        try:
            route = self.route(body)
            request = route.prepare(dataclasses.replace(request_from_json(body["request"]), model=route.model))
            self.reply({"payload": route.provider.payload(request)})
        except LayersError as error:
            self.reply(error_json(error))


class StreamHandler(RelayHandler):
    """JSON lines, one event each; the kernel closing the connection cancels the model call."""

    stream = None

    @allow_unauthenticated  # by the Jupyter server's login: the relay token is checked in prepare()
    async def post(self) -> None:
        body = self.body()
        self.set_header("Content-Type", "application/x-ndjson")
        try:
            route = self.route(body)
        except LayersError as error:
            self.finish(json.dumps(error_json(error)) + "\n")
            return
        # the model is the route's, whatever the kernel's request names: the allowed-models check stands
        self.stream = route.stream(dataclasses.replace(request_from_json(body["request"]), model=route.model))
        try:
            async for event in self.stream:
                self.write(json.dumps(event_to_json(event)) + "\n")
                await self.flush()
        except StreamClosedError:
            return
        self.finish()

    def on_connection_close(self) -> None:
        if self.stream is not None:
            self.stream.cancel()


class UsageHandler(RelayHandler):
    @allow_unauthenticated  # by the Jupyter server's login: the relay token is checked in prepare()
    def post(self) -> None:
        router = self.state.router
        notebook = self.body().get("notebook", "")
        self.reply({"spending": spending_status(router), "notebook": router.notebook_usage(notebook)})
