"""The WebSocket of one browser tab: every layer's requests, many at once, a superseded one cancelled.

Messages in: ``{"type": "complete" | "rewrite" | "explore" | "escalate", "id", "stream", ...}`` (see
``document.py`` for the notebook part) and ``{"type": "cancel", "stream"}``. ``stream`` names what a request
belongs to (one editor, one cell, one sidebar panel): a new request on the same stream cancels the one before
it, which closes its model stream. Every request ends with exactly one message that has ``"done": true`` or
``"type": "error"`` (one line with a hint).
"""

from __future__ import annotations

import asyncio
import json

from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from ..errors import LayersError
from .completion import complete
from .edit import rewrite
from .escalate import escalate
from .explore import explore

OPERATIONS = {"complete": complete, "rewrite": rewrite, "explore": explore, "escalate": escalate}
MALFORMED_HINT = "the browser and the server extension disagree: reload the page after upgrading jupyter_layers"


class LayersSocket(WebSocketMixin, WebSocketHandler, JupyterHandler):
    def initialize(self, state) -> None:
        self.state = state  # server-wide: settings, router, kernel contexts, usage, last explorations
        self.tasks: dict[str, asyncio.Task] = {}

    @ws_authenticated
    async def get(self, *args, **kwargs):
        if not self.authorizer.is_authorized(self, self.current_user, "execute", "kernels"):
            raise web.HTTPError(403)
        return await super().get(*args, **kwargs)

    def open(self, *args, **kwargs):
        super().open(*args, **kwargs)
        self.set_nodelay(True)  # ghost text is many small messages: none may wait for Nagle's algorithm

    def on_message(self, raw: str) -> None:
        try:
            message = json.loads(raw)
        except json.JSONDecodeError as error:
            return self.error(None, f"malformed request (not JSON: {error}); {MALFORMED_HINT}")
        if not isinstance(message, dict):
            return self.error(None, f"malformed request (not an object); {MALFORMED_HINT}")
        stream = str(message.get("stream", "default"))
        previous = self.tasks.pop(stream, None)
        if previous is not None:
            previous.cancel()  # closes its model stream
        if message.get("type") == "cancel":
            return
        operation = OPERATIONS.get(message.get("type"))
        if operation is None:
            return self.error(
                message.get("id"), f"malformed request (unknown type {message.get('type')!r}); {MALFORMED_HINT}"
            )
        self.tasks[stream] = asyncio.ensure_future(self.run(operation, message))

    def on_close(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        self.tasks.clear()

    def send(self, payload: dict) -> None:
        try:
            self.write_message(json.dumps(payload))
        except WebSocketClosedError:
            pass  # the tab went away; its tasks are being cancelled

    def error(self, request_id, text: str) -> None:
        self.send({"type": "error", "id": request_id, "message": text})

    async def run(self, operation, message: dict) -> None:
        request_id = message.get("id")
        try:
            await operation(self.state, message, lambda payload: self.send({"id": request_id, **payload}))
        except LayersError as error:
            self.error(request_id, str(error))
        except (KeyError, TypeError, ValueError) as error:
            self.log.warning("jupyter_layers: malformed %s request: %r", message.get("type"), error)
            self.error(request_id, f"malformed request ({error!r}); {MALFORMED_HINT}")
        except Exception as error:  # a bug of ours: the traceback goes to the server log, one line to the browser
            self.log.exception("jupyter_layers: %s request failed", message.get("type"))
            self.error(
                request_id,
                f"internal error: {type(error).__name__}: {error} (hint: the Jupyter server's log has the details)",
            )
