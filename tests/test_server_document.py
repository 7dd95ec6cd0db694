"""The document the server keeps per socket: sent whole once, then only what changed, and asked for again when the
server does not hold it. A real jupyter server and the fake Anthropic server; each step's prompt is compared
with the prompt of the same document sent whole."""

from __future__ import annotations

import json

import nbformat

from jupyter_layers.context.situation import situation_from_notebook
from jupyter_layers.server.document import NotebookDocument
from jupyter_layers.server.documents import MAX_DOCUMENTS
from tests.fakes.model_server import Text, Turn
from tests.test_server_completion import jp_server_config, prompt_for, replies  # noqa: F401 (the server's fixture)

SALES = {"cell_type": "markdown", "source": "# Sales"}
PRICES = {"cell_type": "code", "source": "prices = [1.5, 2.5]", "execution_count": 1}
TYPING = {"cell_type": "code", "source": "total = sum(pri"}


def cell(cell_id: str, version: int, content: dict) -> dict:
    return {"id": cell_id, "version": version, **content}


def complete(request_id: str, sync: dict, active: int) -> str:
    return json.dumps({"type": "complete", "id": request_id, "stream": "editor", "sync": sync, "cell": active})


def whole(request_id: str, cells: list[dict], active: int) -> str:
    """The same document sent with the request, as the other layers send it (no versions)."""
    cells = [{key: value for key, value in sent.items() if key != "version"} for sent in cells]
    return json.dumps({"type": "complete", "id": request_id, "stream": "editor", "cells": cells, "cell": active})


async def test_the_document_is_sent_whole_once_then_only_what_changed(jp_ws_fetch, fake):
    """Edits, a move, a deletion and an insertion by deltas each give the prompt of the same document sent whole."""
    fake.respond_with(lambda request: Turn([Text("ces)")]))
    ws = await jp_ws_fetch("jupyter-layers", "ws")
    order = ["a", "b", "c"]
    cells = {"a": cell("a", 0, SALES), "b": cell("b", 0, PRICES), "c": cell("c", 0, TYPING)}
    full = {"key": "nb", "full": True, "cells": list(cells.values()), "order": order}
    first = await prompt_for(ws, fake, complete("s1", full, 2), "s1")
    assert "prices = [1.5, 2.5]" in first and "# Sales" in first and "total = sum(pri<CURSOR>" in first

    steps = [  # (the cells that changed, the new order or None)
        ([cell("b", 3, {**PRICES, "source": "prices = [4.0, 5.0]"}), cell("c", 1, TYPING)], None),
        ([cell("c", 2, {**TYPING, "source": "total = sum(pric"})], ["c", "a", "b"]),  # the active cell moved up
        ([cell("c", 2, {**TYPING, "source": "total = sum(pric"})], ["a", "c"]),  # b deleted
        ([cell("d", 0, {"cell_type": "code", "source": "tax = 0.2"}), cell("c", 3, TYPING)], ["a", "d", "c"]),
    ]
    for number, (changed, new_order) in enumerate(steps):
        for sent in changed:
            cells[sent["id"]] = sent
        order = new_order or order
        cells = {cell_id: cells[cell_id] for cell_id in order}
        active = order.index("c")
        sync = {"key": "nb", "cells": changed} | ({"order": new_order} if new_order else {})
        by_delta = await prompt_for(ws, fake, complete(f"d{number}", sync, active), f"d{number}")
        by_whole = await prompt_for(ws, fake, whole(f"w{number}", list(cells.values()), active), f"w{number}")
        assert by_delta == by_whole, (number, by_delta, by_whole)
    assert "prices" not in by_delta and "tax = 0.2" in by_delta  # deleted, inserted
    ws.close()


async def test_a_socket_that_does_not_hold_the_document_asks_for_it_whole(jp_ws_fetch, fake):
    """A new socket (a restarted server, a reconnected tab) has no copy: a delta gets ``resync`` and no model call;
    so do changes that do not fit the copy it has, and every delta after them, until the document comes whole."""
    fake.respond_with(lambda request: Turn([Text("ces)")]))
    full = {"key": "nb", "full": True, "cells": [cell("a", 0, SALES), cell("c", 0, TYPING)], "order": ["a", "c"]}
    first = await jp_ws_fetch("jupyter-layers", "ws")
    first.write_message(complete("f1", full, 1))
    assert (await replies(first, "f1"))[-1]["done"]
    first.close()
    ws = await jp_ws_fetch("jupyter-layers", "ws")
    delta = {"key": "nb", "cells": [cell("c", 1, TYPING)]}
    ws.write_message(complete("lost", delta, 1))
    assert await replies(ws, "lost") == [{"type": "resync", "id": "lost", "done": True, "key": "nb"}]

    not_fitting = [
        {"key": "nb", "cells": [cell("c", 1, TYPING)], "order": ["a", "b", "c"]},  # b was never sent
        {"key": "nb", "cells": [cell("b", 0, PRICES)]},  # a new cell without a place
        {"key": "nb", "cells": [cell("c", 0, TYPING)]},  # older than the copy (version 2)
    ]
    for number, sync in enumerate(not_fitting):
        full = {"key": "nb", "full": True, "cells": [cell("a", 0, SALES), cell("c", 2, TYPING)], "order": ["a", "c"]}
        ws.write_message(complete(f"whole{number}", full, 1))
        assert (await replies(ws, f"whole{number}"))[-1]["done"]
        ws.write_message(complete(f"misfit{number}", sync, 1))
        assert [m["type"] for m in await replies(ws, f"misfit{number}")] == ["resync"], sync
        ws.write_message(complete(f"after{number}", {"key": "nb", "cells": [cell("c", 3, TYPING)]}, 1))
        assert [m["type"] for m in await replies(ws, f"after{number}")] == ["resync"]  # the copy was dropped
    calls = len([r for r in fake.requests if r.path == "/v1/messages"])
    assert calls == 1 + len(not_fitting)  # the first socket's request and the whole ones: none for a resync
    ws.close()


async def test_a_socket_keeps_its_most_recently_used_documents(jp_ws_fetch, fake):
    fake.respond_with(lambda request: Turn([Text("1")]))
    ws = await jp_ws_fetch("jupyter-layers", "ws")
    for number in range(MAX_DOCUMENTS + 1):
        full = {"key": f"nb{number}", "full": True, "cells": [cell("c", 0, TYPING)], "order": ["c"]}
        ws.write_message(complete(f"w{number}", full, 0))
        assert (await replies(ws, f"w{number}"))[-1]["done"]
    for number, expected in ((MAX_DOCUMENTS, "stream"), (0, "resync")):
        ws.write_message(complete(f"d{number}", {"key": f"nb{number}", "cells": [cell("c", 1, TYPING)]}, 0))
        assert (await replies(ws, f"d{number}"))[-1]["type"] == expected
    ws.close()


async def test_malformed_changes_get_one_error_line_and_drop_the_copy(jp_ws_fetch, fake):
    fake.respond_with(lambda request: Turn([Text("1")]))
    ws = await jp_ws_fetch("jupyter-layers", "ws")
    full = {"key": "nb", "full": True, "cells": [cell("a", 0, SALES), cell("c", 0, TYPING)], "order": ["a", "c"]}
    c1 = cell("c", 1, TYPING)
    malformed = [
        ({"key": "nb", "cells": [{**c1, "version": -1}]}, "complete.sync.cells.0.version"),
        ({"key": "nb", "cells": [{**c1, "source": None}]}, "complete.sync.cells.0.source"),
        ({"key": "nb", "cells": [{key: value for key, value in c1.items() if key != "id"}]}, "cells.0.id: Field"),
        ({"key": "nb", "cells": [c1, c1]}, "each cell id may be sent once"),
        ({"key": "nb", "cells": [c1], "order": ["a", "c", "a"]}, "each cell id may be in order once"),
        ({"key": "nb", "full": True, "cells": [c1]}, "a full document has an order naming exactly its cells"),
        ({"key": "nb", "full": True, "cells": [c1], "order": ["a", "c"]}, "an order naming exactly its cells"),
        ({"key": "nb", "cells": [c1], "ordre": ["a", "c"]}, "complete.sync.ordre: Extra inputs"),
        ({"key": "", "cells": [c1]}, "complete.sync.key"),
    ]
    for number, (sync, named) in enumerate(malformed):
        ws.write_message(complete(f"whole{number}", full, 1))
        assert (await replies(ws, f"whole{number}"))[-1]["done"]
        ws.write_message(complete(f"bad{number}", sync, 1))
        (error,) = await replies(ws, f"bad{number}")
        assert error["type"] == "error" and error["message"].startswith("malformed request ("), error
        assert named in error["message"] and "\n" not in error["message"] and "reload the page" in error["message"]
        if sync["key"]:  # refused changes leave the copy behind the browser's: it is dropped
            ws.write_message(complete(f"next{number}", {"key": "nb", "cells": [cell("c", 2, TYPING)]}, 1))
            assert [m["type"] for m in await replies(ws, f"next{number}")] == ["resync"]

    for number, request in enumerate(
        [
            {"type": "complete", "id": "both", "stream": "e", "cells": [TYPING], "sync": full, "cell": 0},
            {"type": "complete", "id": "neither", "stream": "e", "cell": 0},
            json.loads(complete("far", full, 2)),  # the active cell is past the document's end
        ]
    ):
        ws.write_message(json.dumps(request))
        (error,) = await replies(ws, request["id"])
        assert error["type"] == "error" and error["message"].startswith("malformed request ("), (number, error)
        assert ("cell 2 is not among the 2 cells" if request["id"] == "far" else "either cells") in error["message"]
    assert len([r for r in fake.requests if r.path == "/v1/messages"]) == len(malformed)  # the whole ones only
    ws.close()


def test_the_held_document_gives_the_situation_a_whole_notebook_gives():
    """Views kept per cell version, updated by changes, equal what context/situation.py builds from the notebook:
    markdown, scratch cells left out, cells run out of order or not at all, saved errors."""
    error = {"output_type": "error", "ename": "KeyError", "evalue": "'x'", "traceback": ["KeyError: 'x'"]}
    scratch = {"cell_type": "code", "source": "print(1)", "metadata": {"tags": ["jupyter-layers-scratch"]}}
    cells = {
        "md": SALES,
        "one": {**PRICES, "execution_count": 3},
        "two": {"cell_type": "code", "source": "y = prices[9]", "execution_count": 2, "outputs": [error]},
        "scratch": scratch,
        "three": {"cell_type": "code", "source": "z = 1", "outputs": [{"output_type": "stream", "text": "ok\n"}]},
        "four": {"cell_type": "code", "source": "w = y", "execution_count": 4},
    }
    order = list(cells)
    document = NotebookDocument()
    document.update([{"id": key, "version": 0, **value} for key, value in cells.items()], order)
    changes = [
        ([], None),
        ([{"id": "one", "version": 1, **PRICES, "execution_count": 5}], None),  # now run after cell two
        ([], ["four", "md", "two", "one", "scratch", "three"]),
        ([], ["four", "two", "one"]),
    ]
    for changed, new_order in changes:
        document.update(changed, new_order)
        for sent in changed:
            cells[sent["id"]] = {key: value for key, value in sent.items() if key not in ("id", "version")}
        order = new_order or order
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.from_dict({"metadata": {}, "outputs": [], **cells[key]}) for key in order]
        for node in nb.cells:
            if node.cell_type != "code":
                del node["outputs"]
            else:
                node.setdefault("execution_count", None)
        for active in range(len(order)):
            for context in (None, {"snapshot": {"variables": []}, "last_error": None}):
                expected = situation_from_notebook(nb, active, offset=2, path="a/b.ipynb", kernel_context=context)
                held = document.situation(active, offset=2, path="a/b.ipynb", kernel_context=context)
                assert held == expected, (order, active)
    assert document.saved_last_error(len(order))["ename"] == "KeyError"  # what the cases above compared
