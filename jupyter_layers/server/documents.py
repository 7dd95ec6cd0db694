"""The documents one socket's requests are about, kept so that a keystroke sends only what changed.

Each ``sync`` (protocol.py ``DocumentSync``) is applied when its request arrives, before the request runs: a
request superseded at once still brings the copy up to date, and the copy follows the browser's in the order
the socket delivered them. A ``sync`` that does not apply (a document this socket does not hold, a cell it
never got, an older version than it has) drops the copy and raises ``Resync``: the browser then sends the
document whole. So does a request refused as malformed (``drop``): the browser takes its changes as sent, and
the next ones would not apply. A socket keeps its most recently used documents only (``MAX_DOCUMENTS``).
"""

from __future__ import annotations

from collections import OrderedDict

from .document import NotebookDocument
from .protocol import Document, DocumentSync, PromptRequest

MAX_DOCUMENTS = 16  # per socket (a browser tab): each open notebook the user completes in is one


class Resync(Exception):
    """The socket does not hold what a ``sync`` applies to: the browser must send the document whole."""

    def __init__(self, key: str, reason: str):
        super().__init__(f"document {key}: {reason}")
        self.key = key


class ActiveCellMissing(ValueError):
    """The request names an active cell its document does not have."""


class Documents:
    def __init__(self):
        self.held: OrderedDict[str, NotebookDocument] = OrderedDict()

    def message(self, request) -> dict:
        """The request as the layers read it: its fields (those it left out omitted), its document resolved to a
        ``NotebookDocument`` under ``"document"`` (also for the request a ``prompt`` is about)."""
        if isinstance(request, PromptRequest):
            return {**request.model_dump(exclude_none=True, exclude={"of"}), "of": self.message(request.of)}
        if not isinstance(request, Document):  # remember, remember_accept: about a notebook, without its cells
            return request.model_dump(exclude_none=True)
        message = request.model_dump(exclude_none=True, exclude={"cells", "sync"})
        if request.sync is not None:
            document = self.apply(request.sync)
        else:
            document = NotebookDocument.whole([cell.model_dump(exclude_none=True) for cell in request.cells])
        if request.cell >= len(document):
            raise ActiveCellMissing(f"cell {request.cell} is not among the {len(document)} cells of the document")
        message["document"] = document
        return message

    def drop(self, request: object) -> None:
        """Forget the document a malformed request (decoded JSON) names in its ``sync``, if it names one."""
        sync = request.get("sync") if isinstance(request, dict) else None
        if isinstance(sync, dict) and isinstance(sync.get("key"), str):
            self.held.pop(sync["key"], None)

    def apply(self, sync: DocumentSync) -> NotebookDocument:
        """The socket's copy of the document, brought up to date by ``sync``; ``Resync`` if it does not apply."""
        cells = [cell.model_dump(exclude_none=True) for cell in sync.cells]
        if sync.full:
            document = self.held[sync.key] = NotebookDocument()
        elif sync.key in self.held:
            document = self.held[sync.key]
        else:
            raise Resync(sync.key, "not held by this socket")
        reason = document.mismatch(cells, sync.order)
        if reason:
            del self.held[sync.key]
            raise Resync(sync.key, reason)
        document.update(cells, sync.order)
        self.held.move_to_end(sync.key)
        while len(self.held) > MAX_DOCUMENTS:
            self.held.popitem(last=False)
        return document
