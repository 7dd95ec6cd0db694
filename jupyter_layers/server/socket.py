"""The WebSocket of one browser tab: every layer's requests, many at once, a superseded one cancelled.

The messages are protocol.py's (mirrored by labextension/src/protocol.ts). Each request is validated before
anything runs: one that does not fit the protocol gets one error line naming what is wrong. Its document is
resolved as it arrives (documents.py keeps this tab's documents, so a completion sends only what changed; a
request whose changes do not apply gets ``resync``). A new request on the same ``stream`` (one editor, one
cell, one sidebar panel) cancels the one before it, which closes its model stream; so does ``{"type":
"cancel", "stream"}``; the cancelled request ends with ``cancelled``. Every request ends with exactly one last
message (``done: true``, ``error`` or ``cancelled``), and nothing comes after it. A ``LayersError`` is the
user's to fix and becomes its one line; anything else is a fault of ours: its traceback goes to the server's
log, and the browser gets one line naming the request.
"""

from __future__ import annotations

import asyncio
import json

from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from pydantic import ValidationError
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from ..errors import LayersError
from .build import build
from .completion import complete
from .documents import ActiveCellMissing, Documents, Resync
from .edit import rewrite
from .escalate import escalate
from .explore import explore
from .prompt import prompt
from .protocol import (
    CancelledReply,
    CancelRequest,
    ErrorReply,
    ResyncReply,
    ServerReply,
    describe,
    is_last,
    malformed,
    parse_request,
)
from .remember import remember, remember_accept

OPERATIONS = {
    "complete": complete,
    "rewrite": rewrite,
    "explore": explore,
    "build": build,
    "escalate": escalate,
    "prompt": prompt,
    "remember": remember,
    "remember_accept": remember_accept,
}


class Replies:
    """Sends one request's replies with its id, and nothing after its last (done, error or cancelled)."""

    def __init__(self, socket: LayersSocket, request_id: str | None):
        self.socket, self.request_id = socket, request_id
        self.finished = False

    def __call__(self, message: ServerReply) -> None:
        if self.finished:
            return  # e.g. a step a worker thread posted just before its request was cancelled
        self.finished = is_last(message)
        self.socket.send(message.model_copy(update={"id": self.request_id}))


class LayersSocket(WebSocketMixin, WebSocketHandler, JupyterHandler):
    def initialize(self, state) -> None:
        self.state = state  # server-wide: settings, router, kernel contexts, usage, last explorations
        self.tasks: dict[str, asyncio.Task] = {}  # the running request of each stream
        self.documents = Documents()  # this tab's documents, kept up to date by the requests' ``sync``

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
            data = json.loads(raw)
        except json.JSONDecodeError as error:
            return Replies(self, None)(ErrorReply(message=malformed(f"not JSON: {error}")))
        try:
            request = parse_request(data)
        except ValidationError as error:
            self.documents.drop(data)  # its changes are not applied: the next ones on that document get `resync`
            request_id = data.get("id") if isinstance(data, dict) and isinstance(data.get("id"), str) else None
            return Replies(self, request_id)(ErrorReply(message=describe(error)))
        previous = self.tasks.pop(request.stream, None)
        if previous is not None:
            previous.cancel()  # closes its model stream; it ends with `cancelled`
        if isinstance(request, CancelRequest):
            return
        replies = Replies(self, request.id)
        try:
            message = self.documents.message(request)
        except Resync as gap:  # this socket lacks what the changes apply to: the browser sends the document whole
            self.log.info("jupyter_layers: %s request %s: %s; asking for it whole", request.type, request.id, gap)
            return replies(ResyncReply(key=gap.key))
        except ActiveCellMissing as error:
            return replies(ErrorReply(message=malformed(str(error))))
        except Exception as error:  # a fault of ours, as in run()
            return replies(self.fault(request, error))
        task = asyncio.ensure_future(self.run(request, message, replies))
        task.add_done_callback(lambda done: self.ended(request.stream, done, replies))
        self.tasks[request.stream] = task

    def ended(self, stream: str, task: asyncio.Task, replies: Replies) -> None:
        if task.cancelled():  # also when it was cancelled before it began
            replies(CancelledReply())
        if self.tasks.get(stream) is task:
            del self.tasks[stream]

    def on_close(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        self.tasks.clear()

    def send(self, message: ServerReply) -> None:
        try:
            self.write_message(message.model_dump_json())
        except WebSocketClosedError:
            pass  # the tab went away; its tasks are being cancelled

    async def run(self, request, message: dict, replies: Replies) -> None:
        """Run one request; ``message`` is the validated request as the layers read it (documents.py)."""
        try:
            await OPERATIONS[request.type](self.state, message, replies)
        except LayersError as error:
            replies(ErrorReply(message=str(error)))
        except Exception as error:
            replies(self.fault(request, error))
        if not replies.finished:  # its model stream ended as cancelled without the task being cancelled
            replies(CancelledReply())

    def fault(self, request, error: Exception) -> ErrorReply:
        """A fault of ours: the traceback to the server's log, one line naming the request to the browser."""
        self.log.exception("jupyter_layers: %s request %s failed", request.type, request.id)
        first = (str(error).strip().splitlines() or [""])[0]
        return ErrorReply(
            message=f"internal error in {request.type} request {request.id}: {type(error).__name__}: {first}"
            " (hint: the Jupyter server's log has the traceback)"
        )
