"""The completion WebSocket: one per browser tab, many streams, a superseded request's model stream closed.

Messages in: ``{"type": "complete", "id", "stream", "cells": [{cell_type, source, outputs?, execution_count?}],
"cell", "offset", "kernel_id"?, "path"?, "model"?}`` and ``{"type": "cancel", "stream"}``. A new request on the
same ``stream`` (one per editor) cancels the one before it. Messages out: ``{"type": "stream", "id", "text",
"done"}`` with the cumulative cleaned completion, and ``{"type": "error", "id", "message"}``.
"""

from __future__ import annotations

import asyncio
import json

import nbformat
from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from ..context.notebook import cell_views
from ..context.situation import Cursor, Situation
from ..engine.complete import clean_completion, completion_request
from ..errors import LayersError
from ..headless.situation import focus_names
from ..models.events import Failure, Stop, TextDelta, Usage


class CompletionSocket(WebSocketMixin, WebSocketHandler, JupyterHandler):
    def initialize(self, state) -> None:
        self.state = state  # server-wide: settings, router, kernel contexts, usage ledger
        self.tasks: dict[str, asyncio.Task] = {}

    @ws_authenticated
    async def get(self, *args, **kwargs):
        if not self.authorizer.is_authorized(self, self.current_user, "execute", "kernels"):
            raise web.HTTPError(403)
        return await super().get(*args, **kwargs)

    def on_message(self, raw: str) -> None:
        message = json.loads(raw)
        stream = str(message.get("stream", "default"))
        previous = self.tasks.pop(stream, None)
        if previous is not None:
            previous.cancel()  # closes its model stream
        if message.get("type") == "complete":
            self.tasks[stream] = asyncio.ensure_future(self.complete(message))

    def on_close(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        self.tasks.clear()

    def send(self, payload: dict) -> None:
        try:
            self.write_message(json.dumps(payload))
        except WebSocketClosedError:
            pass  # the tab went away; its tasks are being cancelled

    async def complete(self, message: dict) -> None:
        request_id = message.get("id")
        try:
            await self.stream_completion(message)
        except LayersError as error:
            self.send({"type": "error", "id": request_id, "message": str(error)})

    async def stream_completion(self, message: dict) -> None:
        request_id = message.get("id")
        cells = [nbformat.from_dict({"metadata": {}, "outputs": [], **c}) for c in message["cells"]]
        for cell in cells:
            if cell.get("cell_type") != "code":
                cell.pop("outputs", None)
        index = int(message["cell"])
        source = cells[index]["source"]
        offset = int(message.get("offset", len(source)))
        context = await self.state.contexts.get(message.get("kernel_id"), focus_names(source[:offset]))
        situation = Situation(
            cursor=Cursor(index, source, offset),
            cells=tuple(cell_views({"cells": cells})),
            kernel=context["snapshot"] if context else None,
            last_error=context["last_error"] if context else None,
            path=message.get("path", ""),
        )
        route = self.state.router.route("complete", message.get("model", ""))
        request = route.prepare(completion_request(situation, self.state.settings))
        before, text = source[:offset], ""
        async for event in route.provider.stream(request):
            if isinstance(event, TextDelta):
                text += event.text
                self.send({"type": "stream", "id": request_id, "text": clean_completion(before, text), "done": False})
            elif isinstance(event, Usage):
                self.state.ledger.record("complete", route.model, event)
            elif isinstance(event, Failure):
                self.send({"type": "error", "id": request_id, "message": str(event.error)})
            elif isinstance(event, Stop):
                final = clean_completion(before, event.message.text)
                self.send({"type": "stream", "id": request_id, "text": final, "done": True})
