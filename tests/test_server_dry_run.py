"""The browser's dry-run is the request: a ``prompt`` over the socket shows, key for key, what the layer sends.

A real jupyter server with a real kernel; each layer (the build too) is asked for its dry-run, then run, and the
body the fake model server receives must equal the payload shown. Escalation is checked after an exploration of
the same notebook, whose findings both must carry.
"""

from __future__ import annotations

import json

from tests.fakes.model_server import Text, ToolUse, Turn
from tests.test_server_completion import jp_server_config, replies, start_kernel  # noqa: F401 (the server's fixture)
from tests.test_server_layers import CELLS, FINISH, PLANTED_BUG, request


async def shown_then_sent(ws, fake, kind: str, request_id: str, **fields) -> tuple[dict, dict]:
    """The ``prompt`` reply's payload for a layer request, then the body the model server got when it ran."""
    layer_request = json.loads(request(kind, request_id, **fields))
    ws.write_message(json.dumps({"type": "prompt", "id": f"p-{request_id}", "stream": "prompt", "of": layer_request}))
    answer = await replies(ws, f"p-{request_id}", timeout=60)
    assert [m["type"] for m in answer] == ["prompt"], answer
    count = len(fake.requests)
    ws.write_message(json.dumps(layer_request))
    ran = await replies(ws, request_id, timeout=120)
    assert ran[-1]["type"] != "error", ran[-1]
    sent = [r.body for r in fake.requests[count:] if r.path == "/v1/messages"]
    return answer[0]["payload"], sent[0]


def assert_same_payload(shown: dict, sent: dict) -> None:
    wire = {key: value for key, value in sent.items() if key != "stream"}  # the SDK's call adds stream=true
    assert {key: shown.get(key) for key in wire} == wire


async def test_every_layer_shows_what_it_sends(jp_fetch, jp_ws_fetch, jp_serverapp, fake):
    kernel_id = await start_kernel(jp_fetch, jp_serverapp, PLANTED_BUG)
    ws = await jp_ws_fetch("jupyter-layers", "ws")
    on = {"kernel_id": kernel_id, "path": "exact.ipynb"}

    fake.script(Turn([Text("total")]))
    assert_same_payload(*await shown_then_sent(ws, fake, "complete", "c1", offset=6, **on))

    fake.script(Turn([Text("share = report.groupby('region')['amount'].sum() / report['amount'].sum()\n")]))
    edited = await shown_then_sent(ws, fake, "rewrite", "e1", instruction="divide by the report total", **on)
    assert_same_payload(*edited)

    fake.script(Turn([ToolUse("run_cell", {"code": "print(len(orders), len(report))"})]), Turn([FINISH]))
    assert_same_payload(*await shown_then_sent(ws, fake, "explore", "x1", question="why is total too high?", **on))

    proposed = ["dupes = customers.customer_id.duplicated().sum()\ndupes"]
    fake.script(Turn([ToolUse("propose", {"cells": proposed, "summary": "Count the duplicated customers."})]))
    task = {"task": "count duplicated customer ids", "check": "assert dupes == 1"}
    assert_same_payload(*await shown_then_sent(ws, fake, "build", "b1", **task, **on))
    built = fake.requests[-1].body["messages"][-1]["content"][-1]["text"]
    assert "Task: count duplicated customer ids" in built and "this check must pass: assert dupes == 1" in built

    fake.script(Turn([Text("Customer 10 is listed twice.")]))
    shown, sent = await shown_then_sent(ws, fake, "escalate", "s1", question="how do I fix the total?", **on)
    assert_same_payload(shown, sent)
    assert "customer 10 is listed twice in customers" in json.dumps(sent)  # the exploration's findings, in both
    assert CELLS[2]["source"].strip() in json.dumps(sent)
    ws.close()
