"""The fake model server is only useful if the real SDKs cannot tell it from the real APIs.

Every test drives it with the released ``anthropic`` (2.x) or ``openai`` (3.x) SDK, or reads the raw wire
with ``http.client`` where the SDK would hide a detail (ping events, control endpoints).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import anthropic
import httpx2
import openai
import pytest

from tests.fakes.model_server import (
    FakeModelServer,
    Fault,
    Text,
    Thinking,
    ToolUse,
    Turn,
    item_from_json,
)

KEY = "test-key"
ROOT = Path(__file__).resolve().parents[1]
MODEL = "claude-sonnet-5-5"
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def server():
    with FakeModelServer(api_key=KEY) as fake:
        yield fake


def claude(server, **options) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=KEY, base_url=server.url, **{"max_retries": 0, "timeout": 5.0, **options})


def gpt(server, **options) -> openai.OpenAI:
    return openai.OpenAI(api_key=KEY, base_url=server.url + "/v1", **{"max_retries": 0, "timeout": 5.0, **options})


def raw(server, method: str, path: str, body=None, headers=None) -> tuple[int, dict, bytes]:
    """A plain HTTP exchange, without any SDK (and without proxies from the environment)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    payload = None if body is None else json.dumps(body)
    connection.request(method, path, payload, {"authorization": f"Bearer {KEY}", **(headers or {})})
    response = connection.getresponse()
    result = response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    connection.close()
    return result


def stream_text(client: anthropic.Anthropic, **options) -> str:
    with client.messages.stream(model=MODEL, max_tokens=512, messages=HI, **options) as stream:
        return "".join(stream.text_stream)


# ----------------------------------------------------------------------------------------------------------------
# Anthropic: success paths


def test_stream_accumulates_thinking_text_and_tool_use_exactly(server):
    server.script(
        Turn(
            [Thinking("Look at df first."), Text("I'll run some code."), ToolUse("run_cell", {"code": "df.head()"})],
            chunk_chars=5,
            usage={"input_tokens": 123},
        )
    )
    with claude(server).messages.stream(model=MODEL, max_tokens=2048, messages=HI) as stream:
        events = list(stream)
        final = stream.get_final_message()

    assert [block.type for block in final.content] == ["thinking", "text", "tool_use"]
    thinking, text, tool = final.content
    assert thinking.thinking == "Look at df first." and thinking.signature.startswith("sig-")
    assert text.text == "I'll run some code."
    assert (tool.name, tool.input, tool.id) == ("run_cell", {"code": "df.head()"}, tool.id)
    assert re.fullmatch(r"toolu_\d+", tool.id)
    assert final.stop_reason == "tool_use" and final.model == MODEL
    assert final.usage.input_tokens == 123
    assert final.usage.output_tokens == len('Look at df first.I\'ll run some code.{"code": "df.head()"}') // 4 + 1

    kinds = [event.type for event in events]
    assert {"thinking", "signature", "text", "input_json"} <= set(kinds)
    assert kinds.index("signature") < kinds.index("text")  # signature closes the thinking block
    assert "".join(e.text for e in events if e.type == "text") == "I'll run some code."
    assert sum(1 for kind in kinds if kind == "input_json") >= 2  # tool input arrives in fragments


def test_wire_format_is_the_documented_sse_sequence(server):
    """What the SDK hides: the ping, block indices 0..n-1, usage in message_start and message_delta."""
    server.script(Turn([Thinking("hm"), Text("hi"), ToolUse("f", {"a": 1})]))
    body = {"model": MODEL, "max_tokens": 64, "messages": HI, "stream": True}
    status, headers, data = raw(server, "POST", "/v1/messages", body, {"anthropic-version": "2023-06-01"})

    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert headers["request-id"].startswith("req_") and headers["transfer-encoding"] == "chunked"
    events = [(m[1], json.loads(m[2])) for m in re.finditer(r"event: (\w+)\ndata: (.*)\n\n", data.decode())]
    assert [name for name, _ in events] == (
        ["message_start", "ping"]
        + ["content_block_start", "content_block_delta", "content_block_delta", "content_block_stop"]  # thinking
        + ["content_block_start", "content_block_delta", "content_block_stop"]  # text
        + ["content_block_start", "content_block_delta", "content_block_delta", "content_block_stop"]  # tool
        + ["message_delta", "message_stop"]
    )
    assert all(name == data["type"] for name, data in events)
    start = events[0][1]["message"]
    assert start["usage"]["output_tokens"] == 1 and start["stop_reason"] is None and start["content"] == []
    assert {"cache_creation_input_tokens", "cache_read_input_tokens", "input_tokens"} <= start["usage"].keys()
    assert [d["delta"]["type"] for n, d in events if n == "content_block_delta"][:2] == [
        "thinking_delta",
        "signature_delta",
    ]
    assert [d["index"] for n, d in events if n == "content_block_start"] == [0, 1, 2]
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use" and "input_tokens" in events[-2][1]["usage"]


def test_non_streaming_create_and_default_turn(server):
    server.script(Turn([Text("scripted")], stop_reason="max_tokens"))
    client = claude(server)
    first = client.messages.create(model=MODEL, max_tokens=16, messages=HI)
    second = client.messages.create(model=MODEL, max_tokens=16, messages=HI)  # queue empty -> default turn
    assert (first.content[0].text, first.stop_reason) == ("scripted", "max_tokens")
    assert (second.content[0].text, second.stop_reason) == ("ok", "end_turn")
    assert [r.body["messages"] for r in server.requests] == [HI, HI]
    assert server.requests[0].api == "anthropic" and server.requests[0].status == 200


def test_respond_with_computes_replies_from_the_request(server):
    server.respond_with(lambda request: Turn([Text(f"you said {request.body['messages'][-1]['content']}")]))
    server.script(Turn([Text("queued first")]))
    client = claude(server)
    assert stream_text(client) == "queued first"
    assert stream_text(client) == "you said hi"


def test_count_tokens_estimates_the_prompt(server):
    client = claude(server)
    short = client.messages.count_tokens(model=MODEL, messages=HI).input_tokens
    long = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "x" * 4000}]).input_tokens
    assert 0 < short <= 12 and 1000 <= long <= 1010
    assert server.pending == 0 and len(server.requests) == 2  # no scripted turn involved


def test_models_retrieve_and_list_report_capabilities(server):
    client = claude(server)
    opus = client.models.retrieve("claude-opus-4-6")
    assert opus.capabilities.thinking.types.adaptive.supported and opus.capabilities.effort.supported
    haiku = client.models.retrieve("claude-haiku-4-5")
    assert not haiku.capabilities.thinking.types.adaptive.supported
    assert haiku.capabilities.thinking.types.enabled.supported and not haiku.capabilities.effort.supported
    assert client.models.retrieve("claude-sonnet-4-5").lifecycle == "deprecated"
    listed = [model.id for model in client.models.list()]
    assert listed[:3] == ["claude-haiku-5-5", "claude-sonnet-5-5", "claude-opus-5-5"] and len(listed) == 10
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("claude-nope-1")


def test_async_streams_are_served_concurrently(server):
    server.script(*[Turn([Text("a" * 20)], chunk_chars=2, token_delay=0.03) for _ in range(3)])  # ~0.3 s each

    async def main() -> list[str]:
        client = anthropic.AsyncAnthropic(api_key=KEY, base_url=server.url, max_retries=0)

        async def one() -> str:
            async with client.messages.stream(model=MODEL, max_tokens=64, messages=HI) as stream:
                return await stream.get_final_text()

        return await asyncio.gather(one(), one(), one())

    started = time.monotonic()
    assert asyncio.run(main()) == ["a" * 20] * 3
    assert time.monotonic() - started < 0.75


# ----------------------------------------------------------------------------------------------------------------
# Anthropic: prompt cache simulation


SYSTEM = [
    {"type": "text", "text": "You are a careful notebook assistant. " * 40, "cache_control": {"type": "ephemeral"}}
]


def test_second_identical_request_reads_the_cache(server):
    client = claude(server)
    total = client.messages.count_tokens(model=MODEL, system=SYSTEM, messages=HI).input_tokens
    first = client.messages.create(model=MODEL, max_tokens=16, system=SYSTEM, messages=HI).usage
    second = client.messages.create(model=MODEL, max_tokens=16, system=SYSTEM, messages=HI).usage
    other_model = client.messages.create(model="claude-opus-5-5", max_tokens=16, system=SYSTEM, messages=HI).usage

    assert first.cache_creation_input_tokens > 300 and first.cache_read_input_tokens == 0
    assert (
        second.cache_read_input_tokens == first.cache_creation_input_tokens and second.cache_creation_input_tokens == 0
    )
    assert second.input_tokens + second.cache_read_input_tokens == total
    assert second.input_tokens < total / 10
    assert other_model.cache_read_input_tokens == 0  # caches are per model


def test_a_breakpoint_moving_forward_reuses_the_earlier_prefix(server):
    """The agent-loop pattern: cache_control on the newest message; Anthropic's lookback finds the last one."""
    client = claude(server)
    marked = {"type": "text", "text": "question one " * 30, "cache_control": {"type": "ephemeral"}}
    first = client.messages.create(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": [marked]}]).usage
    unmarked = {key: value for key, value in marked.items() if key != "cache_control"}
    follow_up = [
        {"role": "user", "content": [unmarked]},
        {"role": "assistant", "content": "answer one " * 30},
        {"role": "user", "content": [{"type": "text", "text": "question two", "cache_control": {"type": "ephemeral"}}]},
    ]
    second = client.messages.create(model=MODEL, max_tokens=16, messages=follow_up).usage
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens > 0
    assert second.cache_creation_input_tokens > 50  # the new assistant/user turn is written


def test_top_level_cache_control_marks_the_last_block(server):
    client = claude(server)
    messages = [{"role": "user", "content": "long context " * 50}]
    client.messages.create(model=MODEL, max_tokens=16, messages=messages, cache_control={"type": "ephemeral"})
    again = client.messages.create(model=MODEL, max_tokens=16, messages=messages, cache_control={"type": "ephemeral"})
    assert again.usage.cache_read_input_tokens > 100


# ----------------------------------------------------------------------------------------------------------------
# Anthropic: request validation the real API performs


def test_tool_use_without_tool_result_is_rejected_without_consuming_the_script(server):
    server.script(Turn([Text("never sent")]))
    messages = [
        {"role": "user", "content": "run it"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_9", "name": "run", "input": {}}]},
        {"role": "user", "content": "and?"},
    ]
    with pytest.raises(anthropic.BadRequestError, match="toolu_9"):
        claude(server).messages.create(model=MODEL, max_tokens=16, messages=messages)
    assert server.pending == 1 and server.requests[-1].status == 400


def test_thinking_blocks_must_come_back_unchanged(server):
    server.script(Turn([Thinking("secret plan", signature="sig-server-issued"), ToolUse("run", {"code": "1"})]))
    client = claude(server)
    reply = client.messages.create(model=MODEL, max_tokens=2048, messages=HI)
    tool = reply.content[1]
    history = HI + [
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in reply.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "1"}]},
    ]
    assert client.messages.create(model=MODEL, max_tokens=16, messages=history).content[0].text == "ok"

    history[1]["content"][0]["thinking"] = "edited plan"
    with pytest.raises(anthropic.BadRequestError, match="signature"):
        client.messages.create(model=MODEL, max_tokens=16, messages=history)


def test_thinking_options_are_checked_against_the_model(server):
    client = claude(server)
    with pytest.raises(anthropic.BadRequestError, match="adaptive"):
        client.messages.create(model="claude-haiku-4-5", max_tokens=2048, messages=HI, thinking={"type": "adaptive"})
    with pytest.raises(anthropic.BadRequestError, match="budget_tokens"):
        client.messages.create(
            model=MODEL, max_tokens=2048, messages=HI, thinking={"type": "enabled", "budget_tokens": 4096}
        )
    adaptive = {"type": "adaptive"}
    assert client.messages.create(model="claude-opus-5-5", max_tokens=64, messages=HI, thinking=adaptive).content


# ----------------------------------------------------------------------------------------------------------------
# Anthropic: faults


def test_rate_limit_with_retry_after_ms_is_retried_by_the_sdk(server):
    server.script(Fault(429, headers={"retry-after-ms": "50"}), Turn([Text("after the wait")]))
    started = time.monotonic()
    assert stream_text(claude(server, max_retries=2)) == "after the wait"
    assert 0.05 <= time.monotonic() - started < 1.0
    assert [r.headers["x-stainless-retry-count"] for r in server.requests] == ["0", "1"]
    assert [r.status for r in server.requests] == [429, 200]


@pytest.mark.parametrize(
    ("fault", "error_class", "error_type"),
    [
        (Fault(400), anthropic.BadRequestError, "invalid_request_error"),
        (Fault(403), anthropic.PermissionDeniedError, "permission_error"),
        (Fault(413), anthropic.ContentTooLargeError, "request_too_large"),
        (Fault(500), anthropic.InternalServerError, "api_error"),
        (Fault(529), anthropic.OverloadedError, "overloaded_error"),
        (Fault(429, message="slow down"), anthropic.RateLimitError, "rate_limit_error"),
    ],
)
def test_http_faults_map_to_sdk_exception_classes(server, fault, error_class, error_type):
    server.script(fault)
    with pytest.raises(error_class) as caught:
        stream_text(claude(server))
    error = caught.value
    assert error.status_code == fault.status and error.body["error"] == {"type": error_type, "message": fault.message}
    assert error.request_id == error.body["request_id"] and error.request_id.startswith("req_")


def test_unknown_model_is_a_404_that_keeps_the_script(server):
    server.script(Turn([Text("for the right model")]))
    client = claude(server)
    with pytest.raises(anthropic.NotFoundError, match="model: claude-nope-9"):
        client.messages.create(model="claude-nope-9", max_tokens=16, messages=HI)
    assert client.messages.create(model=MODEL, max_tokens=16, messages=HI).content[0].text == "for the right model"


def test_extra_models_can_be_allowed():
    with FakeModelServer(api_key=KEY, models=["claude-test-1"]) as fake:
        assert claude(fake).messages.create(model="claude-test-1", max_tokens=16, messages=HI).content[0].text == "ok"


def test_mid_stream_error_event_raises_after_text_and_is_not_retried(server):
    server.script(Turn([Text("The first part, then trouble")], chunk_chars=5, error_after=3))
    shown = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        with claude(server, max_retries=2).messages.stream(model=MODEL, max_tokens=64, messages=HI) as stream:
            shown.extend(stream.text_stream)
    assert "".join(shown) == "The first part,"  # three deltas of five characters
    assert type(caught.value) is anthropic.APIStatusError and caught.value.status_code == 200
    assert caught.value.body["error"]["type"] == "overloaded_error"
    assert len(server.requests) == 1


def test_dropped_connection_mid_stream_is_a_raw_httpx2_error(server):
    """Surprise: anthropic 2.12 does not wrap transport errors raised while iterating a stream."""
    server.script(Turn([Text("an answer that drops part way")], chunk_chars=5, drop_after=2))
    shown = []
    with pytest.raises(httpx2.RemoteProtocolError, match="incomplete chunked read"):
        with claude(server, max_retries=2).messages.stream(model=MODEL, max_tokens=64, messages=HI) as stream:
            shown.extend(stream.text_stream)
    assert shown == ["an an", "swer "] and len(server.requests) == 1

    server.script(Turn([Text("no reply at all")], drop_after=0))
    with pytest.raises(anthropic.APIConnectionError):  # before any response the SDK wraps it
        claude(server).messages.create(model=MODEL, max_tokens=16, messages=HI)


def test_stall_with_a_short_read_timeout_times_out_and_the_server_notices(server):
    server.script(Turn([Text("starts, then stalls")], chunk_chars=5, stall_after=2, stall_seconds=30))
    started = time.monotonic()
    with pytest.raises(httpx2.ReadTimeout):
        with claude(server, timeout=0.3).messages.stream(model=MODEL, max_tokens=64, messages=HI) as stream:
            list(stream.text_stream)
    assert time.monotonic() - started < 1.0
    deadline = time.monotonic() + 2
    while not server.requests[-1].client_disconnected and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.requests[-1].client_disconnected  # the stall ended when the client left


def test_first_byte_delay_beyond_the_timeout_is_an_api_timeout(server):
    server.script(Turn([Text("late")], first_byte_delay=2.0))
    with pytest.raises(anthropic.APITimeoutError):
        stream_text(claude(server, timeout=0.3))


def test_token_delay_makes_a_stream_measurably_slower(server):
    server.script(Turn([Text("x" * 40)], chunk_chars=4), Turn([Text("x" * 40)], chunk_chars=4, token_delay=0.03))
    client = claude(server)
    started = time.monotonic()
    stream_text(client)
    fast = time.monotonic() - started
    started = time.monotonic()
    stream_text(client)
    slow = time.monotonic() - started
    assert slow >= 0.3 and slow > fast + 0.2


def test_stop_ends_a_stalled_stream_promptly():
    fake = FakeModelServer(api_key=KEY).start()
    fake.script(Turn([Text("stalls forever")], stall_after=1, stall_seconds=60))
    with claude(fake).messages.stream(model=MODEL, max_tokens=64, messages=HI) as stream:
        next(iter(stream.text_stream))
        started = time.monotonic()
        fake.stop()
        assert time.monotonic() - started < 1.0
        with pytest.raises(httpx2.RemoteProtocolError):
            list(stream.text_stream)


# ----------------------------------------------------------------------------------------------------------------
# Auth and control


def test_wrong_or_missing_key_is_rejected_and_logged(server):
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(api_key="wrong", base_url=server.url, max_retries=0).messages.create(
            model=MODEL, max_tokens=16, messages=HI
        )
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(api_key="wrong", base_url=server.url + "/v1", max_retries=0).models.list()
    body = {"model": MODEL, "max_tokens": 16, "messages": HI}
    assert raw(server, "POST", "/v1/messages", body, {"authorization": ""})[0] == 401
    assert raw(server, "POST", "/v1/messages", body, {"authorization": "", "x-api-key": KEY})[0] == 200
    assert [r.status for r in server.requests] == [401, 401, 401, 200]


def test_any_key_is_accepted_without_api_key():
    with FakeModelServer() as fake:
        assert (
            anthropic.Anthropic(api_key="anything", base_url=fake.url)
            .messages.create(model=MODEL, max_tokens=16, messages=HI)
            .content[0]
            .text
            == "ok"
        )


def test_control_endpoints_script_log_and_reset_over_http(server):
    items = [Turn([Text("from another process")]).to_json(), Fault(529).to_json()]
    assert raw(server, "POST", "/_fake/script", items)[0] == 200
    client = claude(server)
    assert stream_text(client) == "from another process"
    with pytest.raises(anthropic.OverloadedError):
        stream_text(client)

    status, _, data = raw(server, "GET", "/_fake/requests")
    logged = json.loads(data)
    assert status == 200 and [(r["api"], r["path"], r["status"]) for r in logged] == [
        ("anthropic", "/v1/messages", 200),
        ("anthropic", "/v1/messages", 529),
    ]
    assert logged[0]["body"]["messages"] == HI and logged[0]["headers"]["authorization"] == f"Bearer {KEY}"

    assert raw(server, "POST", "/_fake/reset")[0] == 200
    assert server.requests == [] and server.pending == 0
    assert raw(server, "GET", "/_fake/requests", headers={"authorization": "Bearer wrong"})[0] == 401


def test_items_round_trip_through_json():
    turn = Turn(
        [Thinking("t"), Text("x"), ToolUse("f", {"a": [1, 2]}, id="toolu_x")],
        stop_reason="max_tokens",
        usage={"output_tokens": 5},
        error_after=2,
        token_delay=0.1,
    )
    fault = Fault(429, headers={"retry-after": "1"})
    assert item_from_json(json.loads(json.dumps(turn.to_json()))) == turn
    assert item_from_json(json.loads(json.dumps(fault.to_json()))) == fault
    assert fault.error_type == "rate_limit_error"


def test_only_loopback_hosts_are_allowed():
    with pytest.raises(ValueError, match="non-loopback"):
        FakeModelServer(host="0.0.0.0")


def test_command_line_serves_until_sigterm():
    command = [sys.executable, "-m", "tests.fakes.model_server", "--api-key", KEY, "--reply", "from the cli"]
    process = subprocess.Popen(command + ["--chunk-chars", "3"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    match = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)\n", line)
    assert match, line
    client = anthropic.Anthropic(api_key=KEY, base_url=match[1], max_retries=0, timeout=5)
    with client.messages.stream(model=MODEL, max_tokens=64, messages=HI) as stream:
        assert list(stream.text_stream) == ["fro", "m t", "he ", "cli"]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=5) == 0
    assert process.stdout.read() == ""

    refused = subprocess.run(command + ["--host", "0.0.0.0"], cwd=ROOT, capture_output=True, text=True, timeout=10)
    assert refused.returncode == 2 and "non-loopback" in refused.stderr and refused.stdout == ""


# ----------------------------------------------------------------------------------------------------------------
# OpenAI Chat Completions

LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "strict": True,
        "parameters": {
            "type": "object",
            "properties": {"column": {"type": "string"}},
            "required": ["column"],
            "additionalProperties": False,
        },
    },
}


def test_openai_stream_helper_reassembles_text_and_tool_call_fragments(server):
    server.script(
        Turn([Text("Checking the column."), ToolUse("lookup", {"column": "price"}, id="call_1")], chunk_chars=4)
    )
    with gpt(server).chat.completions.stream(
        model="qwen2.5-coder", messages=HI, tools=[LOOKUP], stream_options={"include_usage": True}
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == "Checking the column." and final.choices[0].finish_reason == "tool_calls"
    call = message.tool_calls[0]
    assert (call.id, call.function.name, call.function.parsed_arguments) == ("call_1", "lookup", {"column": "price"})
    assert kinds.count("tool_calls.function.arguments.delta") >= 2
    assert final.usage.completion_tokens > 0 and final.usage.prompt_tokens > 0
    assert server.requests[0].api == "openai" and server.requests[0].path == "/v1/chat/completions"


def test_openai_raw_chunks_carry_reasoning_content_and_a_usage_chunk(server):
    server.script(Turn([Thinking("think first"), Text("answer")], chunk_chars=6, usage={"output_tokens": 9}))
    chunks = list(
        gpt(server).chat.completions.create(model="m", messages=HI, stream=True, stream_options={"include_usage": True})
    )
    deltas = [chunk.choices[0].delta for chunk in chunks if chunk.choices]
    assert deltas[0].role == "assistant"
    assert "".join(getattr(delta, "reasoning_content", None) or "" for delta in deltas) == "think first"
    assert "".join(delta.content or "" for delta in deltas) == "answer"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 9


def test_openai_non_streaming_completion(server):
    server.script(Turn([Text("partial")], stop_reason="max_tokens"), Turn([ToolUse("lookup", {"column": "a"})]))
    client = gpt(server)
    first = client.chat.completions.create(model="m", messages=HI)
    assert (first.choices[0].message.content, first.choices[0].finish_reason) == ("partial", "length")
    second = client.chat.completions.create(model="m", messages=HI, tools=[LOOKUP])
    call = second.choices[0].message.tool_calls[0]
    assert json.loads(call.function.arguments) == {"column": "a"} and second.choices[0].finish_reason == "tool_calls"
    assert [model.id for model in client.models.list()][0] == "claude-haiku-5-5"


def test_openai_faults(server):
    client = gpt(server, max_retries=2)
    server.script(Fault(429, headers={"retry-after-ms": "20"}), Turn([Text("retried")]))
    assert client.chat.completions.create(model="m", messages=HI).choices[0].message.content == "retried"
    assert server.requests[-1].headers["x-stainless-retry-count"] == "1"

    server.script(Turn([Text("begins then fails")], chunk_chars=4, error_after=2))
    shown = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in client.chat.completions.create(model="m", messages=HI, stream=True):
            shown.append(chunk.choices[0].delta.content or "")
    assert not isinstance(caught.value, openai.APIStatusError) and caught.value.body["type"] == "overloaded_error"
    assert "".join(shown) == "begins t" and len(server.requests) == 3

    server.script(Turn([Text("drops part way")], chunk_chars=4, drop_after=1))
    with pytest.raises(openai.APIConnectionError):
        list(client.chat.completions.create(model="m", messages=HI, stream=True))

    server.script(Turn([Text("stalls part way")], chunk_chars=4, stall_after=1))
    with pytest.raises(openai.APITimeoutError):
        list(gpt(server, timeout=0.3).chat.completions.create(model="m", messages=HI, stream=True))

    server.script(Fault(400, message="bad input"))
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="m", messages=HI)
    assert caught.value.body == {
        "message": "bad input",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_request_error",
    }


def test_openai_models_and_tool_pairing_are_checked():
    with FakeModelServer(api_key=KEY, openai_models=["llama3"]) as fake:
        client = gpt(fake)
        with pytest.raises(openai.NotFoundError, match="gpt-nope"):
            client.chat.completions.create(model="gpt-nope", messages=HI)
        unanswered = HI + [
            {
                "role": "assistant",
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
            }
        ]
        with pytest.raises(openai.BadRequestError, match="c1"):
            client.chat.completions.create(model="llama3", messages=unanswered)
        answered = unanswered + [{"role": "tool", "tool_call_id": "c1", "content": "42"}]
        assert client.chat.completions.create(model="llama3", messages=answered).choices[0].message.content == "ok"
        assert [model.id for model in client.models.list()] == ["llama3"]
