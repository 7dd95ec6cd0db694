"""The server's edit, exploration, escalation and status endpoints, with real kernels and the fake Anthropic server."""

from __future__ import annotations

import asyncio
import json
import re
import typing
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_layers.server import protocol
from tests.fakes.model_server import Text, Thinking, ToolUse, Turn
from tests.kernels import HERE
from tests.test_server_completion import jp_server_config, replies, start_kernel  # noqa: F401 (the server's fixture)

PLANTED_BUG = """\
import pandas as pd
orders = pd.DataFrame({"order_id": [1, 2, 3, 4, 5], "customer_id": [10, 11, 12, 10, 13],
                       "amount": [100.0, 50.0, 75.0, 20.0, 30.0]})
customers = pd.DataFrame({"customer_id": [10, 11, 12, 13, 10], "region": ["north", "south", "south", "east", "north"]})
report = orders.merge(customers, on="customer_id")
total = report["amount"].sum()
"""

CELLS = [
    {"id": "c0", "cell_type": "markdown", "source": "# Orders"},
    {"id": "c1", "cell_type": "code", "source": PLANTED_BUG, "execution_count": 1},
    {"id": "c2", "cell_type": "code", "source": "share = report.groupby('region')['amount'].sum() / total\n"},
]

FINISH = ToolUse(
    "finish",
    {
        "answer": "customer 10 is listed twice in customers, so the merge duplicates orders 1 and 4",
        "evidence": ["step 1: 5 orders became 7 rows after the merge"],
        "fix": "customers = customers.drop_duplicates('customer_id')",
    },
)


def request(kind: str, request_id: str, **fields) -> str:
    return json.dumps({"type": kind, "id": request_id, "stream": f"{kind}:nb", "cells": CELLS, "cell": 2, **fields})


async def kernel_value(jp_serverapp, kernel_id: str, expression: str) -> str:
    client = jp_serverapp.kernel_manager.get_kernel(kernel_id).client()
    client.start_channels()
    reply = await client.execute_interactive("", user_expressions={"v": expression}, timeout=30)
    client.stop_channels()
    return reply["content"]["user_expressions"]["v"]["data"]["text/plain"]


async def test_an_edit_streams_the_region_and_returns_the_whole_new_source(jp_ws_fetch, jp_fetch, fake):
    fake.script(
        Turn(
            [Text("```python\nshare = report.groupby('region')['amount'].sum() / report['amount'].sum()\n```")],
            chunk_chars=9,
        )
    )
    ws = await jp_ws_fetch("jupyter-layers", "ws")
    source = CELLS[2]["source"]
    ws.write_message(
        request(
            "rewrite", "e1", selection=[0, len(source) - 1], instruction="divide by the report total", path="a.ipynb"
        )
    )
    received = await replies(ws, "e1", timeout=60)
    streamed = "".join(m["text"] for m in received if m["type"] == "text")
    assert "report['amount'].sum()" in streamed and len([m for m in received if m["type"] == "text"]) > 3
    final = received[-1]
    assert final["type"] == "rewrite" and final["done"]
    assert final["source"] == "share = report.groupby('region')['amount'].sum() / report['amount'].sum()\n"
    assert final["syntax_error"] == "" and final["provenance"]["instruction"] == "divide by the report total"
    assert final["provenance"]["model"] == final["model"] and final["model"].endswith("claude-sonnet-5-5")
    prompt = json.dumps(fake.requests[-1].body)
    assert "divide by the report total" in prompt and f"<SELECTION>{source[:-1]}</SELECTION>" in prompt
    status = json.loads((await jp_fetch("jupyter-layers", "status", params={"path": "a.ipynb"})).body)
    assert status["usage"]["edit"]["calls"] == 1 and status["total_cost_usd"] > 0
    ws.close()


async def test_an_exploration_runs_steps_in_a_fork_and_escalation_reads_what_it_found(
    jp_fetch, jp_ws_fetch, jp_serverapp, fake
):
    kernel_id = await start_kernel(jp_fetch, jp_serverapp, "%load_ext jupyter_layers\n" + PLANTED_BUG)
    fake.script(
        Turn([Text("Compare row counts."), ToolUse("run_cell", {"code": "print(len(orders), len(report))"})]),
        Turn([ToolUse("run_cell", {"code": "total = -1\ndel orders\nprint('changed')"})]),
        Turn([FINISH]),
    )
    ws = await jp_ws_fetch("jupyter-layers", "ws")
    ws.write_message(request("explore", "x1", kernel_id=kernel_id, question="why is total too high?", path="b.ipynb"))
    received = await replies(ws, "x1", timeout=120)
    assert "".join(m["text"] for m in received if m["type"] == "text") == "Compare row counts."
    sandbox = [m for m in received if m["type"] == "sandbox"]  # what protects the scratch cells, said once
    assert [repr(m["protections"]) for m in sandbox] == [
        await kernel_value(jp_serverapp, kernel_id, f"{HERE}.summary()")
    ]
    steps = [m for m in received if m["type"] == "step"]
    assert received.index(sandbox[0]) < received.index(steps[0])  # as soon as the sandbox is open
    assert [(m["phase"], m["number"]) for m in steps] == [
        ("started", 1),
        ("finished", 1),
        ("started", 2),
        ("finished", 2),
    ]
    assert steps[0]["code"] == "print(len(orders), len(report))" and steps[0]["note"] == "Compare row counts."
    assert "5 7" in steps[1]["outputs"][0]["text"] and steps[1]["error"] is None
    findings = next(m for m in received if m["type"] == "findings")
    assert findings["answer"].startswith("customer 10 is listed twice") and findings["complete"]
    assert "drop_duplicates" in findings["markdown"] and received[-1] == {
        "type": "done",
        "id": "x1",
        "done": True,
        "cost": "",
        "steps": 2,
    }
    # the scratch cells changed nothing in the notebook's kernel
    assert await kernel_value(jp_serverapp, kernel_id, "(total, 'orders' in dir())") == "(np.float64(395.0), True)"

    fake.script(Turn([Thinking("Customer 10 twice."), Text('Deduplicate.\n<fix cell="1">\ncustomers = 1\n</fix>\n')]))
    ws.write_message(request("escalate", "z1", kernel_id=kernel_id, question="why?", path="b.ipynb"))
    escalated = await replies(ws, "z1", timeout=60)
    sent = json.dumps(fake.requests[-1].body)
    assert "Scratch step 1" in sent and "customer 10 is listed twice" in sent  # the exploration's transcript
    assert any(m["type"] == "thinking" for m in escalated) and escalated[-1]["type"] == "done"
    ws.close()


async def test_a_build_verifies_its_proposal_in_a_fork_and_sends_it_for_review(
    jp_fetch, jp_ws_fetch, jp_serverapp, fake
):
    kernel_id = await start_kernel(jp_fetch, jp_serverapp, PLANTED_BUG)
    unique = "customers = customers.drop_duplicates('customer_id')\nlen(customers)"
    fake.script(
        Turn([ToolUse("run_cell", {"code": "del orders\nprint(customers.customer_id.duplicated().sum())"})]),
        Turn([ToolUse("propose", {"cells": ["print(len(orders))", "undefined_name"], "summary": "x"})]),
        Turn([ToolUse("propose", {"cells": [unique], "summary": "Customers without duplicate ids."})]),
    )
    ws = await jp_ws_fetch("jupyter-layers", "ws")
    task = {"task": "drop the duplicated customers", "check": "assert customers.customer_id.is_unique"}
    ws.write_message(request("build", "b1", kernel_id=kernel_id, path="b.ipynb", **task))
    received = await replies(ws, "b1", timeout=120)
    assert [m["type"] for m in received if m["type"] in ("sandbox", "step", "verify", "proposal", "done")] == [
        "sandbox",
        "step",
        "step",
        "verify",
        "verify",
        "verify",
        "verify",
        "proposal",
        "done",
    ]
    verified = [m for m in received if m["type"] == "verify" and m["phase"] == "finished"]
    # the scratch step deleted orders in its fork; the fresh fork of the proposal still has it, so cell 2 fails
    assert verified[0]["cells"] == 2 and verified[0]["failure"].startswith("cell 2 of your proposal failed: NameError")
    assert verified[1]["failure"] == ""
    proposal = next(m for m in received if m["type"] == "proposal")
    assert proposal["summary"] == "Customers without duplicate ids." and proposal["check"] == task["check"]
    [cell] = proposal["cells"]
    assert cell["source"] == unique and cell["outputs"][0]["data"]["text/plain"] == "4"
    assert cell["provenance"]["layer"] == "build" and cell["provenance"]["task"] == task["task"]
    assert received[-1]["steps"] == 1
    # nothing of it ran in the notebook's kernel
    assert await kernel_value(jp_serverapp, kernel_id, "(len(customers), 'orders' in dir())") == "(5, True)"
    ws.close()


async def test_escalation_streams_thinking_and_answer_and_fixes_name_cells(jp_ws_fetch, fake):
    cells = [
        *CELLS[:2],
        {
            **CELLS[2],
            "outputs": [
                {"output_type": "error", "ename": "KeyError", "evalue": "'regio'", "traceback": ["KeyError: 'regio'"]}
            ],
            "execution_count": 2,
        },
    ]
    fixed = "share = report.groupby('region')['amount'].sum() / 2"
    answer = f'The region column is misspelt.\n<fix cell="2">\n{fixed}\n</fix>\n'
    fake.script(Turn([Thinking("Look at cell 2's key."), Text(answer)], chunk_chars=10))
    ws = await jp_ws_fetch("jupyter-layers", "ws")
    ws.write_message(json.dumps({"type": "escalate", "id": "z2", "stream": "s", "cells": cells, "cell": 2}))
    received = await replies(ws, "z2", timeout=60)
    thinking = "".join(m["text"] for m in received if m["type"] == "thinking")
    text = "".join(m["text"] for m in received if m["type"] == "text")
    assert thinking == "Look at cell 2's key." and text == answer
    fixes = next(m for m in received if m["type"] == "fixes")
    assert [f["cell"] for f in fixes["fixes"]] == [2]
    assert fixes["fixes"][0]["after"] == "share = report.groupby('region')['amount'].sum() / 2"
    assert "+share = report.groupby('region')['amount'].sum() / 2" in fixes["fixes"][0]["diff"]
    assert fixes["provenance"]["layer"] == "escalate" and received[-1]["done"]
    assert fixes["answer"] == "The region column is misspelt.\n[fix for cell 2: see below]\n"  # parsed here only
    sent = json.dumps(fake.requests[-1].body)
    assert "KeyError" in sent  # without a kernel, the saved error output is the last error
    ws.close()


async def test_layer_errors_are_one_line_with_a_hint(jp_ws_fetch, fake):
    ws = await jp_ws_fetch("jupyter-layers", "ws")
    ws.write_message(request("explore", "n1", question="why?"))
    (error,) = await replies(ws, "n1", timeout=60)
    assert error["type"] == "error" and "(hint: start the notebook's kernel" in error["message"]
    ws.write_message(request("escalate", "n2"))
    (error,) = await replies(ws, "n2", timeout=60)
    assert error["message"].startswith("nothing to escalate") and "\n" not in error["message"]
    ws.write_message(json.dumps({"type": "rewrite", "id": "n3", "stream": "s", "cells": CELLS, "cell": 7}))
    (error,) = await replies(ws, "n3", timeout=60)  # the message names what is wrong, on one line
    assert error["message"].startswith("malformed request (rewrite.instruction: Field required)")
    assert "reload the page" in error["message"]
    for garbage, named in (
        ("{not json", "not JSON"),
        ("[1, 2]", "valid dictionary"),
        (json.dumps({"type": "summon", "id": "n5"}), "'summon'"),
        (json.dumps({**json.loads(request("explore", "n6")), "question": 42}), "explore.question"),
        (request("rewrite", "n8", instruction="x", cell=7), "rewrite: Value error, cell 7 is not among the 3 cells"),
        (json.dumps({**json.loads(request("explore", "n7")), "qestion": "?"}), "explore.qestion: Extra inputs"),
    ):
        ws.write_message(garbage)
        error = json.loads(await asyncio.wait_for(ws.read_message(), 10))
        assert (
            error["type"] == "error" and error["message"].startswith("malformed request") and named in error["message"]
        )
        assert "\n" not in error["message"]
    ws.write_message(request("escalate", "n4"))  # the socket still serves
    assert (await replies(ws, "n4", timeout=60))[-1]["message"].startswith("nothing to escalate")
    assert fake.requests == []
    ws.close()


async def test_a_fault_of_ours_is_logged_with_its_traceback_and_is_one_line_naming_the_request(
    jp_ws_fetch, fake, caplog
):
    """Outputs are free nbformat dicts in the protocol; one the context code cannot read is our bug to see."""
    odd = {"cell_type": "code", "source": "x", "execution_count": 1, "outputs": [{"output_type": "display_data"}]}
    odd["outputs"][0]["data"] = None
    ws = await jp_ws_fetch("jupyter-layers", "ws")
    ws.write_message(json.dumps({"type": "complete", "id": "f1", "stream": "s", "cells": [odd], "cell": 0}))
    (error,) = await replies(ws, "f1")
    assert error["message"] == (
        "internal error in complete request f1: TypeError: argument of type 'NoneType' is not iterable"
        " (hint: the Jupyter server's log has the traceback)"
    )
    (record,) = [r for r in caplog.records if "request f1 failed" in r.getMessage()]
    assert record.exc_info and record.exc_info[0] is TypeError  # the traceback is in the server's log
    ws.close()


async def test_a_stopped_escalation_closes_its_model_stream(jp_ws_fetch, fake):
    fake.script(Turn([Thinking("hmm " * 400), Text("late")], chunk_chars=4, token_delay=0.01))
    ws = await jp_ws_fetch("jupyter-layers", "ws")
    ws.write_message(request("escalate", "z3", question="why?"))
    first = json.loads(await asyncio.wait_for(ws.read_message(), 20))
    assert first["type"] == "thinking"
    ws.write_message(json.dumps({"type": "cancel", "stream": "escalate:nb"}))
    received = await replies(ws, "z3")  # thinking already on its way, then the last message
    assert received[-1] == {"type": "cancelled", "id": "z3"} and {m["type"] for m in received[:-1]} <= {"thinking"}
    messages = [r for r in fake.requests if r.path == "/v1/messages"]
    for _ in range(100):
        if messages[0].client_disconnected:
            break
        await asyncio.sleep(0.05)
    assert messages[0].client_disconnected
    ws.close()


async def test_a_stopped_build_ends_at_once_proposes_nothing_and_the_kernel_goes_on(
    jp_fetch, jp_ws_fetch, jp_serverapp, fake
):
    kernel_id = await start_kernel(jp_fetch, jp_serverapp, PLANTED_BUG)
    slow = "import time\ntime.sleep(3)\ndel orders"
    fake.script(Turn([ToolUse("run_cell", {"code": slow})]), Turn([ToolUse("propose", {"cells": ["x = 1"]})]))
    ws = await jp_ws_fetch("jupyter-layers", "ws")
    ws.write_message(request("build", "b2", kernel_id=kernel_id, path="s.ipynb", task="anything"))
    while json.loads(await asyncio.wait_for(ws.read_message(), 30)).get("phase") != "started":
        pass  # until the slow scratch step has started in the fork
    ws.write_message(json.dumps({"type": "cancel", "stream": "build:nb"}))
    received = await replies(ws, "b2", timeout=5)  # at once, while the step still runs in the fork
    assert received[-1] == {"type": "cancelled", "id": "b2"}
    assert not any(m["type"] in ("verify", "proposal") for m in received)
    await asyncio.sleep(4)  # the step ends in its fork; the agent, stopped, asks for no other turn
    assert len([r for r in fake.requests if r.path == "/v1/messages"]) == 1
    assert await kernel_value(jp_serverapp, kernel_id, "'orders' in dir()") == "True"
    ws.close()


@pytest.mark.parametrize("endpoint", ["status", "ws"])
async def test_every_endpoint_refuses_unauthenticated_requests(jp_fetch, jp_ws_fetch, endpoint):
    with pytest.raises(HTTPClientError) as caught:
        if endpoint == "ws":
            await jp_ws_fetch("jupyter-layers", endpoint, headers={"Authorization": ""})
        else:
            await jp_fetch("jupyter-layers", endpoint, headers={"Authorization": ""})
    assert caught.value.code == 403


async def login_cookie(jp_fetch, jp_ws_fetch, endpoint: str = "status") -> str:
    """The login cookie a browser holds after its first token-authenticated request (cookies are per host, and
    the fixtures reach REST at 127.0.0.1 but WebSockets at localhost)."""
    if endpoint == "ws":
        ws = await jp_ws_fetch("jupyter-layers", "ws")
        headers = ws.headers
        ws.close()
    else:
        headers = (await jp_fetch("jupyter-layers", "status")).headers
    return "; ".join(c.split(";")[0] for c in headers.get_list("Set-Cookie"))


async def test_a_logged_in_browser_is_served_from_its_own_origin(jp_fetch, jp_ws_fetch, jp_http_port):
    cookie = await login_cookie(jp_fetch, jp_ws_fetch)
    assert (await jp_fetch("jupyter-layers", "status", headers={"Authorization": "", "Cookie": cookie})).code == 200
    cookie = await login_cookie(jp_fetch, jp_ws_fetch, "ws")
    own = {"Authorization": "", "Cookie": cookie, "Origin": f"http://localhost:{jp_http_port}"}
    ws = await jp_ws_fetch("jupyter-layers", "ws", headers=own)
    ws.close()


@pytest.mark.parametrize("endpoint", ["status", "ws"])
async def test_every_endpoint_refuses_cross_site_requests(jp_fetch, jp_ws_fetch, endpoint):
    """A page on another site riding the user's login cookie gets nothing (a token proves intent, a cookie not)."""
    cookie = await login_cookie(jp_fetch, jp_ws_fetch, endpoint)
    foreign = {"Authorization": "", "Cookie": cookie, "Origin": "http://evil.example"}
    with pytest.raises(HTTPClientError) as caught:
        if endpoint == "ws":
            await jp_ws_fetch("jupyter-layers", endpoint, headers=foreign)
        else:
            await jp_fetch("jupyter-layers", endpoint, headers=foreign)
    assert caught.value.code in (403, 404)  # jupyter_server answers a foreign origin on its REST API with 404


async def test_unsafe_methods_need_the_xsrf_token(jp_fetch, jp_ws_fetch):
    cookie = await login_cookie(jp_fetch, jp_ws_fetch)
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(
            "jupyter-layers", "status", method="POST", body="{}", headers={"Authorization": "", "Cookie": cookie}
        )
    assert caught.value.code == 403


def typescript_interfaces(path) -> dict[str, set[str]]:
    """Each interface of a TypeScript file with its fields, those of the interfaces it extends included."""
    declared = {
        name: (base, set(re.findall(r"^\s+(\w+)\??:", body, re.M)))
        for name, base, body in re.findall(r"interface (\w+)(?: extends (\w+))? \{(.*?)\n\}", path.read_text(), re.S)
    }

    def fields(name: str) -> set[str]:
        base, own = declared[name]
        return own | (fields(base) if base else set())

    return {name: fields(name) for name in declared}


def test_the_typescript_protocol_mirrors_the_python_one():
    """labextension/src/protocol.ts has an interface with the same fields for every message of protocol.py."""
    mirrors = {
        protocol.Cell: "ICell",
        protocol.SyncedCell: "ISyncedCell",
        protocol.DocumentSync: "IDocumentSync",
        protocol.CompleteRequest: "ICompleteRequest",
        protocol.RewriteRequest: "IRewriteRequest",
        protocol.ExploreRequest: "IExploreRequest",
        protocol.BuildRequest: "IBuildRequest",
        protocol.VerifyReply: "IVerifyReply",
        protocol.BuildProvenance: "IBuildProvenance",
        protocol.ProposedCell: "IProposedCell",
        protocol.ProposalReply: "IProposalReply",
        protocol.EscalateRequest: "IEscalateRequest",
        protocol.CancelRequest: "ICancelRequest",
        protocol.PromptRequest: "IPromptRequest",
        protocol.PromptReply: "IPromptReply",
        protocol.RememberRequest: "IRememberRequest",
        protocol.RememberAcceptRequest: "IRememberAcceptRequest",
        protocol.RuleReply: "IRuleReply",
        protocol.StreamReply: "IStreamReply",
        protocol.TextReply: "ITextReply",
        protocol.ThinkingReply: "IThinkingReply",
        protocol.EditProvenance: "IEditProvenance",
        protocol.RewriteReply: "IRewriteReply",
        protocol.SandboxReply: "ISandboxReply",
        protocol.NoticeReply: "INoticeReply",
        protocol.StepStartedReply: "IStepStarted",
        protocol.StepFinishedReply: "IStepFinished",
        protocol.ToolReply: "IToolReply",
        protocol.FindingsReply: "IFindingsReply",
        protocol.Fix: "IFix",
        protocol.EscalateProvenance: "IEscalateProvenance",
        protocol.FixesReply: "IFixesReply",
        protocol.DoneReply: "IDoneReply",
        protocol.ResyncReply: "IResyncReply",
        protocol.ErrorReply: "IErrorReply",
        protocol.CancelledReply: "ICancelledReply",
    }
    interfaces = typescript_interfaces(Path(__file__).parents[1] / "labextension" / "src" / "protocol.ts")
    for model, interface in mirrors.items():
        assert set(model.model_fields) == interfaces[interface], (model.__name__, interface)
    # nothing only in TypeScript (IProposalHandoff is no WebSocket message: the kernel's comm, Proposal.payload())
    assert set(interfaces) - {"IDocument", "IReply", "IProposalHandoff"} == set(mirrors.values())
    assert union_members(protocol.Request) | union_members(protocol.ServerMessage) <= set(mirrors)  # nor in Python


def union_members(annotated) -> set[type]:
    """The models of a discriminated union, those of nested unions (steps by phase) included."""
    found = set()
    for member in typing.get_args(typing.get_args(annotated)[0]):
        found |= union_members(member) if typing.get_origin(member) is typing.Annotated else {member}
    return found
