"""OpenAI's reasoning models through the Responses API: the real ``openai`` SDK and the project's provider against the
fake server's ``/v1/responses`` (tests/fakes/responses_wire.py), which checks requests as the API does.

What matters: reasoning summaries stream as thinking, the encrypted reasoning comes back on the next turn of a
tool loop (the model keeps its reasoning), the dry-run is the body sent, `openai_api = "auto"` sends only
OpenAI's reasoning models this way, and a broken answer is one line.
"""

from __future__ import annotations

import dataclasses

import pytest

from jupyter_layers import dry_run, errors
from jupyter_layers.config import JupyterLayers
from jupyter_layers.context.notebook import CellView
from jupyter_layers.context.situation import Cursor, Situation
from jupyter_layers.engine import recipes
from jupyter_layers.explore.agent import Agent, Exploration, Limits
from jupyter_layers.kernel import snapshot
from jupyter_layers.models import (
    Failure,
    Message,
    OpaqueReasoning,
    Request,
    Stop,
    Text,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ThinkingText,
    Tool,
    ToolCall,
    ToolResult,
    ToolUse,
    Usage,
)
from jupyter_layers.models.anthropic import payload as anthropic_payload
from jupyter_layers.models.openai_compat import OpenAICompatProvider
from jupyter_layers.models.openai_compat import payload as chat_payload
from jupyter_layers.models.openai_responses import reasoning_effort
from jupyter_layers.models.router import Router
from jupyter_layers.models.wire import request_from_json, request_to_json
from jupyter_layers.sandbox import ForkSandbox
from tests.conftest import API_KEY
from tests.fakes.model_server import Fault, Turn
from tests.fakes.model_server import Text as ScriptText
from tests.fakes.model_server import Thinking as ScriptThinking
from tests.fakes.model_server import ToolUse as ScriptToolUse
from tests.fakes.responses_wire import decrypt, derive_encrypted_content
from tests.test_agent_loop import CELLS, FINISH, QUESTION, DictWorkspace, Surface, user_namespace

LOOKUP = Tool(
    name="lookup_column",
    description="Return the dtype of one column of the DataFrame `df`.",
    input_schema={"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
)
QUESTION_TURN = Message.user("Use the tool to look up the dtype of the column 'price'.")


def provider(fake, api: str = "auto") -> OpenAICompatProvider:
    return OpenAICompatProvider(fake.url + "/v1", API_KEY, timeout=10, max_retries=0, api=api)


def config(fake, **options) -> JupyterLayers:
    return JupyterLayers(
        provider="openai", openai_base_url=fake.url + "/v1", openai_api_key=API_KEY, max_retries=0, **options
    )


def events_of(stream) -> list:
    return list(stream)


def test_an_escalation_streams_reasoning_summaries_then_the_answer_and_records_usage(fake):
    """Layer 4 on gpt-5-pro: the effort from escalate_effort, summaries as thinking deltas before any text, the
    usage in Anthropic's terms (input without its cached part) and in the user's usage record."""
    router = Router(config(fake, escalate_model="gpt-5-pro", escalate_effort="max"), notebook="analysis.ipynb")
    route = router.route("escalate")
    thinking = "The merge duplicates customer 10.\n\nSo the totals double count orders 1 and 4."
    usage = {"input_tokens": 900, "cache_read_input_tokens": 100, "output_tokens": 60, "reasoning_tokens": 40}
    fake.script(Turn([ScriptThinking(thinking), ScriptText("Drop the duplicate customer first.")], usage=usage))

    events = events_of(route.stream(Request(messages=(Message.user("Why is the total too high?"),))))

    kinds = [type(e).__name__ for e in events]
    assert kinds.index("TextDelta") > max(i for i, kind in enumerate(kinds) if kind == "ThinkingDelta")
    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == thinking
    assert [e for e in events if isinstance(e, Usage)] == [Usage(900, 60, 100, 0)]
    stop = events[-1]
    assert isinstance(stop, Stop) and stop.reason == "end_turn" and stop.model == "gpt-5-pro"
    reasoning, answer = stop.message.content
    assert answer == Text("Drop the duplicate customer first.")
    assert (
        reasoning.summary == tuple(thinking.split("\n\n")) and decrypt(reasoning.encrypted_content)["text"] == thinking
    )

    (request,) = fake.requests
    assert request.path == "/v1/responses"
    body = request.body
    assert body["reasoning"] == {"effort": "high", "summary": "auto"}  # gpt-5-pro reasons only at "high"
    assert body["include"] == ["reasoning.encrypted_content"] and body["store"] is False
    assert body["max_output_tokens"] == 32000 and "max_tokens" not in body and "messages" not in body
    assert "through the Responses API" in route.reason
    recorded = router.notebook_usage()["escalate"]
    assert (recorded["calls"], recorded["input_tokens"], recorded["cache_read_tokens"]) == (1, 900, 100)


def test_a_tool_loop_sends_the_encrypted_reasoning_and_the_function_output_back(fake):
    """Turn 1 reasons and calls a tool; turn 2 must carry the reasoning item unchanged (the fake verifies its
    encrypted content, as the API decrypts it), then the call and its output paired by call_id."""
    fake.script(
        Turn([ScriptThinking("I need the dtype."), ScriptToolUse("lookup_column", {"name": "price"}, id="call_7")]),
        Turn([ScriptText("The price column is float64.")]),
    )
    gpt = provider(fake)
    first = Request(messages=(QUESTION_TURN,), tools=(LOOKUP,), tool_choice="any", model="o3", max_tokens=4000)
    events = events_of(gpt.stream(first))
    calls = [e.tool_use for e in events if isinstance(e, ToolCall)]
    assert calls == [ToolUse("call_7", "lookup_column", {"name": "price"})]
    stop = events[-1]
    assert stop.reason == "tool_use"
    reasoning = stop.message.content[0]
    assert isinstance(reasoning, OpaqueReasoning) and reasoning.summary == ("I need the dtype.",)
    assert fake.requests[0].body["tools"] == [
        {
            "type": "function",
            "name": "lookup_column",
            "description": LOOKUP.description,
            "parameters": LOOKUP.input_schema,
            "strict": False,
        }
    ]
    assert fake.requests[0].body["tool_choice"] == "required"

    follow_up = Message.user(ToolResult("call_7", "float64"))
    second = Request(messages=(QUESTION_TURN, stop.message, follow_up), tools=(LOOKUP,), model="o3", max_tokens=4000)
    final = events_of(gpt.stream(second))[-1]
    assert final.reason == "end_turn" and final.message.text == "The price column is float64."

    sent = fake.requests[1].body["input"]
    assert sent[1] == {
        "type": "reasoning",
        "id": reasoning.id,
        "summary": [{"type": "summary_text", "text": "I need the dtype."}],
        "encrypted_content": derive_encrypted_content(reasoning.id, "I need the dtype."),
    }
    assert sent[2] == {
        "type": "function_call",
        "call_id": "call_7",
        "name": "lookup_column",
        "arguments": '{"name": "price"}',
    }
    assert sent[3] == {"type": "function_call_output", "call_id": "call_7", "output": "float64"}


@pytest.mark.parametrize(
    ("model", "path"),
    [
        ("gpt-5-pro", "/v1/responses"),
        ("o3", "/v1/responses"),
        ("o4-mini", "/v1/responses"),
        ("gpt-5.1-codex", "/v1/responses"),
        ("llama3", "/v1/chat/completions"),
        ("qwen2.5-coder:7b", "/v1/chat/completions"),
        ("gpt-4o", "/v1/chat/completions"),
        ("gpt-oss:20b", "/v1/chat/completions"),
        ("gpt-5-chat-latest", "/v1/chat/completions"),
    ],
)
def test_auto_sends_openai_reasoning_models_to_the_responses_api_and_others_to_chat(fake, model, path):
    route = Router(config(fake, edit_model=model)).route("edit")
    fake.script(Turn([ScriptText("done")]))
    assert route.stream(Request(messages=(Message.user("hi"),))).final().text == "done"
    assert [r.path for r in fake.requests] == [path]
    assert ("through the Responses API" in route.reason) == (path == "/v1/responses")


def test_openai_api_overrides_the_choice_by_name(fake):
    """'chat' keeps a reasoning model on chat completions; 'responses' sends any model there (a local server
    serving /v1/responses), without reasoning settings for a model that does not reason."""
    ask = Request(messages=(Message.user("hi"),), model="gpt-5", max_tokens=64)
    assert "messages" in provider(fake, "chat").payload(ask)
    local = provider(fake, "responses").payload(Request(messages=ask.messages, model="llama3", max_tokens=64))
    assert "input" in local and "reasoning" not in local and "include" not in local
    with pytest.raises(errors.ConfigError, match="openai_api"):
        OpenAICompatProvider(fake.url, api="assistants")


def test_the_dry_run_payload_is_the_body_the_api_receives(fake):
    """What the prompt dry-run shows is what leaves the machine: system as instructions, every turn as items."""
    route = Router(config(fake, escalate_model="gpt-5")).route("escalate")
    earlier = Message.assistant(
        OpaqueReasoning("rs_1", derive_encrypted_content("rs_1", "Looked at df."), ("Looked at df.",)),
        Text("It has 3 columns."),
    )
    request = route.prepare(
        Request(
            system=(Text("You debug notebooks.", cache=True), Text("Be brief.")),
            messages=(Message.user("What is df?"), earlier, Message.user("And its dtypes?")),
        )
    )
    fake.script(Turn([ScriptText("All float64.")]))
    assert route.stream(request).final().text == "All float64."
    body = fake.requests[-1].body
    assert body == route.provider.payload(request)
    assert body["instructions"] == "You debug notebooks.\n\nBe brief."
    assert [item.get("role", item["type"]) for item in body["input"]] == ["user", "reasoning", "assistant", "user"]
    assert body["input"][2]["content"] == [{"type": "output_text", "text": "It has 3 columns."}]


def test_the_dry_run_of_an_escalation_follow_up_shows_the_items_sent(fake):
    """A follow-up is sized from the Responses input, and the dry-run text shows each item: the reasoning sent
    back, the earlier answer, the new question."""
    settings = config(fake, escalate_model="gpt-5")
    cells = tuple(CellView(i, "code", source, i + 1) for i, source in enumerate(CELLS))
    situation = Situation(Cursor(len(CELLS), ""), cells, snapshot(user_namespace()), instruction=QUESTION)
    first = dry_run.plan("escalate", situation, settings)
    reasoning = OpaqueReasoning("rs_2", derive_encrypted_content("rs_2", "Joins."), ("Joins.",))
    answered = dataclasses.replace(
        first.request, messages=(*first.request.messages, Message.assistant(reasoning, Text("Customer 10 twice.")))
    )
    again = dataclasses.replace(situation, instruction="and the fix?")
    follow_up = dry_run.plan("escalate", again, settings, conversation=answered)
    described = dry_run.describe(follow_up)
    assert described["input"] == follow_up.route.provider.payload(follow_up.request)["input"]
    assert described["estimated_tokens"] > 0
    text = dry_run.as_text(described)
    assert "──── reasoning" in text and "Customer 10 twice." in text and text.endswith("and the fix?")


def test_effort_is_capped_at_what_each_model_accepts(fake):
    """Thinking's levels are OpenAI's; one a model refuses becomes its highest (the fake refuses the rest)."""
    assert reasoning_effort("max", "o3") == "high"
    assert reasoning_effort("xhigh", "gpt-5") == "high"
    assert reasoning_effort("max", "gpt-5.2") == "xhigh"
    assert reasoning_effort("max", "gpt-5.6") == "max"
    assert reasoning_effort("low", "gpt-5-pro") == "high"
    assert reasoning_effort("medium", "o4-mini") == "medium"
    assert reasoning_effort(None, "gpt-5") is None
    for model in ("o3", "gpt-5", "gpt-5.2", "gpt-5.6", "gpt-5-pro"):
        fake.script(Turn([ScriptText("ok")]))
        ask = Request(messages=(Message.user("hi"),), model=model, max_tokens=64, thinking=Thinking(effort="max"))
        assert provider(fake).stream(ask).final().text == "ok"


def test_an_answer_cut_at_max_output_tokens_stops_with_max_tokens(fake):
    fake.script(Turn([ScriptThinking("Long."), ScriptText("The answer is")], stop_reason="max_tokens"))
    stop = events_of(provider(fake).stream(Request(messages=(Message.user("hi"),), model="gpt-5", max_tokens=8)))[-1]
    assert stop.reason == "max_tokens" and stop.message.text == "The answer is"
    assert fake.requests[0].body["max_output_tokens"] == 16  # the API's smallest


@pytest.mark.parametrize(
    ("turn", "expected"),
    [
        (
            Turn([ScriptText("The division fails because " * 4)], chunk_chars=8, error_after=3),
            "broke off: The server had an error while processing your request. Sorry about that! (server_error)",
        ),
        (
            Turn([ScriptText("Half an answer")], stop_reason="failed"),
            "broke off: The model failed to generate a response. (server_error)",
        ),
    ],
)
def test_an_error_in_the_stream_is_one_line_and_keeps_what_was_shown(fake, turn, expected):
    fake.script(turn)
    events = events_of(provider(fake).stream(Request(messages=(Message.user("hi"),), model="gpt-5", max_tokens=64)))
    failure = events[-1]
    assert isinstance(failure, Failure) and isinstance(failure.error, errors.StreamInterrupted)
    line = str(failure.error)
    assert "\n" not in line and line.endswith("(hint: the answer above is incomplete; run the request again)")
    assert expected in line
    assert any(isinstance(e, TextDelta) for e in events)
    assert len(fake.requests) == 1  # never retried into duplicate text


def test_http_errors_and_refused_items_are_the_providers_one_line_errors(fake):
    """HTTP errors go through the same translation as chat completions; reasoning the API cannot decrypt is its
    400, said in one line."""
    fake.script(Fault(429))
    ask = Request(messages=(Message.user("hi"),), model="gpt-5", max_tokens=64)
    (failure,) = events_of(provider(fake).stream(ask))
    assert isinstance(failure.error, errors.RateLimited)

    forged = Message.assistant(OpaqueReasoning("rs_9", "enc_forged.0000", ("Thought.",)), Text("Hi."))
    tampered = Request(messages=(Message.user("hi"), forged, Message.user("again")), model="gpt-5", max_tokens=64)
    (failure,) = events_of(provider(fake).stream(tampered))
    assert isinstance(failure.error, errors.BadRequest)
    assert "encrypted content for item rs_9 could not be verified" in str(failure.error)
    assert "\n" not in str(failure.error)


def test_opaque_reasoning_reaches_only_the_responses_api(fake):
    """Claude and chat completions cannot read OpenAI's encrypted reasoning: it is left out of their payloads,
    as Claude's thinking is left out of the Responses input; the relay's JSON keeps it exactly."""
    mixed = Message.assistant(
        OpaqueReasoning("rs_1", "enc_x.y", ("Summary.",)), ThinkingText("Claude's.", "sig"), Text("Answer.")
    )
    request = Request(messages=(Message.user("q"), mixed, Message.user("more")), model="gpt-5", max_tokens=64)
    assert anthropic_payload(request)["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "Claude's.", "signature": "sig"},
        {"type": "text", "text": "Answer."},
    ]
    assert chat_payload(request)["messages"][1] == {"role": "assistant", "content": "Answer."}
    kinds = [item["type"] for item in provider(fake).payload(request)["input"]]
    assert kinds == ["message", "reasoning", "message", "message"]
    assert request_from_json(request_to_json(request)) == request


def test_an_exploration_on_gpt_5_runs_its_tool_loop_through_the_responses_api(fake):
    """The agent layer end to end: run_cell steps in a sandbox, the reasoning of each turn sent back with the
    next, finish's input as the findings."""
    namespace = user_namespace()
    sandbox = ForkSandbox(namespace)
    try:
        settings = config(fake, explore_model="gpt-5")
        route = Router(settings).route("explore")
        fake.script(
            Turn(
                [
                    ScriptThinking("Count the rows first."),
                    ScriptText("Compare row counts."),
                    ScriptToolUse("run_cell", {"code": "print(len(orders), len(report))"}, id="call_a"),
                ]
            ),
            Turn([ScriptThinking("7 rows from 5 orders: a duplicate key."), FINISH]),
        )
        cells = tuple(CellView(i, "code", source, i + 1) for i, source in enumerate(CELLS))
        situation = Situation(Cursor(len(CELLS), ""), cells, snapshot(namespace), instruction=QUESTION)
        request = recipes.explore(route, situation, settings).request
        surface = Surface(route)
        agent = Agent(route, DictWorkspace(namespace, sandbox), surface, Limits(), lambda event: None)
        surface.agent = agent
        exploration = agent.explore(request, Exploration(QUESTION))
    finally:
        sandbox.close()

    assert surface.failures == [] and [r.path for r in fake.requests] == ["/v1/responses"] * 2
    assert exploration.steps[0].result.stdout == "5 7\n" and exploration.findings.answer == FINISH.input["answer"]
    second = fake.requests[1].body["input"]
    reasoning = [item for item in second if item["type"] == "reasoning"]
    assert len(reasoning) == 1 and decrypt(reasoning[0]["encrypted_content"])["text"] == "Count the rows first."
    (output,) = [item for item in second if item["type"] == "function_call_output"]
    assert output["call_id"] == "call_a" and output["output"].startswith("[scratch step 1]\nstdout:\n5 7")


@pytest.fixture
def gpt_kernel(fake, monkeypatch):
    """A real kernel whose escalations go to gpt-5 on the fake server (no Anthropic key anywhere)."""
    from tests.kernels import Kernel

    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url + "/v1")
    running = Kernel()
    running.run("%config JupyterLayers.max_retries = 0")
    running.run("%config JupyterLayers.escalate_model = 'openai:gpt-5'")
    yield running
    running.close()


def test_escalate_and_its_follow_up_on_gpt_5_in_a_kernel(gpt_kernel, fake):
    """`%escalate` shows the reasoning summary as it arrives; the follow-up sends the encrypted reasoning back."""
    gpt_kernel.run("orders = {'amount': [100.0, 50.0]}")
    gpt_kernel.run("orders['missing']")
    fake.script(
        Turn([ScriptThinking("The key is not in the dict."), ScriptText("There is no key 'missing'.")]),
        Turn([ScriptText("Use 'amount'.")]),
    )
    done = gpt_kernel.run("%escalate")
    assert done.stderr == "", done.stderr
    shown = [m["content"]["data"]["text/plain"] for m in done.of_type("update_display_data")]
    assert any("thinking… (" in text for text in shown)
    assert "There is no key 'missing'." in shown[-1]

    follow_up = gpt_kernel.run("%escalate which key should I use?")
    assert follow_up.stderr == "", follow_up.stderr
    first, second = (r.body for r in fake.requests)
    assert first["reasoning"] == {"effort": "high", "summary": "auto"}
    assert "KeyError" in "".join(part["text"] for part in first["input"][0]["content"])  # the picture, as one turn
    reasoning, answer, question = second["input"][1:]
    assert decrypt(reasoning["encrypted_content"])["text"] == "The key is not in the dict."
    assert answer["content"] == [{"type": "output_text", "text": "There is no key 'missing'."}]
    assert question["content"] == [{"type": "input_text", "text": "which key should I use?"}]


SAY_HI = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]
CALL = {"type": "function_call", "call_id": "call_1", "name": "lookup_column", "arguments": "{}"}


@pytest.mark.parametrize(
    ("request_body", "refusal"),
    [
        ({"model": "o3", "input": "hi", "max_tokens": 64}, "Unknown parameter: 'max_tokens'."),
        ({"model": "o3", "input": "hi", "temperature": 0.2}, "'temperature' is not supported with this model"),
        ({"model": "o3", "input": "hi", "reasoning": {"effort": "xhigh"}}, "Supported values are: 'low', 'medium'"),
        ({"model": "gpt-4.1", "input": "hi", "include": ["reasoning.encrypted_content"]}, "Encrypted content"),
        (
            {"model": "gpt-5", "input": "hi", "tools": [{"type": "function", "function": {"name": "f"}}]},
            "Missing required parameter: 'tools[0].name'.",
        ),
        (
            {
                "model": "gpt-5",
                "input": "hi",
                "tools": [{"type": "function", "name": "f", "parameters": LOOKUP.input_schema}],
            },
            "'additionalProperties' is required to be supplied and to be false",  # strict by default
        ),
        (
            {
                "model": "gpt-5",
                "input": [*SAY_HI, {"type": "function_call_output", "call_id": "call_1", "output": "x"}],
            },
            "No tool call found for function call output with call_id call_1.",
        ),
        ({"model": "gpt-5", "input": [*SAY_HI, CALL]}, "No tool output found for function call call_1."),
        (
            {"model": "gpt-5", "store": False, "input": [*SAY_HI, {"type": "reasoning", "id": "rs_1", "summary": []}]},
            "Items are not persisted when `store` is set to false.",
        ),
        (
            {
                "model": "gpt-5",
                "input": [{"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "enc_x.y"}, CALL],
            },
            "could not be verified",
        ),
        (
            {
                "model": "gpt-5",
                "input": [*SAY_HI, {"role": "assistant", "content": [{"type": "input_text", "text": "hi"}]}],
            },
            "Invalid value: 'input_text'. Supported values are: 'output_text' and 'refusal'.",
        ),
    ],
)
def test_the_fake_refuses_what_the_responses_api_refuses(fake, request_body, refusal):
    """The fake's checks (which make the tests above mean something), through the SDK as any client meets them."""
    import openai

    client = openai.OpenAI(base_url=fake.url + "/v1", api_key=API_KEY, max_retries=0)
    with pytest.raises(openai.BadRequestError) as refused:
        extra = {name: value for name, value in request_body.items() if name not in ("model", "input")}
        client.responses.create(model=request_body["model"], input=request_body["input"], extra_body=extra)
    assert refusal in refused.value.message
    assert fake.pending == 0 and len(fake.requests) == 1
