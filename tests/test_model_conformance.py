"""The same behaviour from every provider: Anthropic (fake server), OpenAI-compatible (fake server: chat completions,
and the Responses API for OpenAI's reasoning models), embedded model.

The fake-backed providers are scripted, so their exact content is asserted too; the embedded model says what
it says, so only the protocol is asserted for it (deltas add up, a tool call matches its schema, usage counted).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest

from jupyter_layers.models import (
    Message,
    Request,
    Stop,
    Text,
    TextDelta,
    Tool,
    ToolCall,
    ToolResult,
    Usage,
)
from jupyter_layers.models.anthropic import AnthropicProvider
from jupyter_layers.models.openai_compat import OpenAICompatProvider
from tests.conftest import API_KEY
from tests.fakes.model_server import Text as ScriptText
from tests.fakes.model_server import ToolUse as ScriptToolUse
from tests.fakes.model_server import Turn

LOOKUP = Tool(
    name="lookup_column",
    description="Return the dtype of one column of the DataFrame `df`.",
    input_schema={"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
)


@dataclass
class Harness:
    kind: str
    provider: object
    model: str
    fake: object | None

    def script(self, *items) -> None:
        if self.fake is not None:
            self.fake.script(*items)

    def request(self, *messages: Message, **options) -> Request:
        return Request(messages=tuple(messages), model=self.model, **options)


@pytest.fixture(scope="session")
def embedded_provider():
    pytest.importorskip("llama_cpp")
    from jupyter_layers.models.embedded import EmbeddedProvider

    return EmbeddedProvider()


@pytest.fixture(params=["anthropic", "openai", "openai-responses", "embedded"])
def harness(request, fake):
    if request.param == "anthropic":
        return Harness(
            "anthropic", AnthropicProvider(API_KEY, fake.url, timeout=10, max_retries=0), "claude-sonnet-5-5", fake
        )
    if request.param == "openai":
        return Harness(
            "openai",
            OpenAICompatProvider(fake.url + "/v1", API_KEY, timeout=10, max_retries=0),
            "qwen2.5-coder:7b",
            fake,
        )
    if request.param == "openai-responses":  # an OpenAI reasoning model: the Responses API (openai_api "auto")
        return Harness(
            "openai-responses",
            OpenAICompatProvider(fake.url + "/v1", API_KEY, timeout=10, max_retries=0),
            "gpt-5",
            fake,
        )
    provider = request.getfixturevalue("embedded_provider")
    return Harness("embedded", provider, provider.resolve(""), None)


def collect(stream) -> list:
    return list(stream)


def check_well_formed(events: list) -> Stop:
    """Deltas add up to the final text; exactly one Usage; the stream ends with Stop."""
    stop = events[-1]
    assert isinstance(stop, Stop), events[-3:]
    assert sum(isinstance(e, Usage) for e in events) == 1
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == stop.message.text
    return stop


def test_streams_text_in_several_deltas(harness):
    answer = "Six times seven is 42, the answer to everything."
    harness.script(Turn([ScriptText(answer)], chunk_chars=6))
    events = collect(
        harness.provider.stream(harness.request(Message.user("What is 6*7? One sentence."), max_tokens=40))
    )
    stop = check_well_formed(events)
    assert sum(isinstance(e, TextDelta) for e in events) >= 2
    assert stop.message.text.strip()
    if harness.fake is not None:
        assert stop.message.text == answer
        assert stop.reason == "end_turn"
    else:
        assert stop.reason in ("end_turn", "max_tokens")


async def test_streams_text_from_async_code(harness):
    harness.script(Turn([ScriptText("async streaming works fine")], chunk_chars=4))
    stream = harness.provider.stream(harness.request(Message.user("Say hello."), max_tokens=24))
    events = [event async for event in stream]
    stop = check_well_formed(events)
    assert stop.message.text.strip()


async def test_sync_consumer_works_inside_a_running_event_loop(harness):
    """What a magic does: a kernel's loop is running on this thread, and the magic iterates synchronously."""
    asyncio.get_running_loop()
    harness.script(Turn([ScriptText("from a kernel")]))
    reply = harness.provider.stream(harness.request(Message.user("Say hi."), max_tokens=16)).final()
    assert reply.text.strip()
    assert reply.usage.output_tokens > 0


def test_tool_call_round_trip(harness):
    harness.script(
        Turn([ScriptText("Let me check."), ScriptToolUse("lookup_column", {"name": "price"})]),
        Turn([ScriptText("The price column is float64.")]),
    )
    question = Message.user("Use the tool to look up the dtype of the column 'price'.")
    first = collect(
        harness.provider.stream(harness.request(question, tools=(LOOKUP,), tool_choice="any", max_tokens=60))
    )
    stop = check_well_formed(first)
    calls = [e.tool_use for e in first if isinstance(e, ToolCall)]
    assert len(calls) == 1 and calls[0].name == "lookup_column"
    assert isinstance(calls[0].input.get("name"), str)
    assert stop.reason == "tool_use"
    assert stop.message.tool_uses == calls

    result = Message.user(ToolResult(calls[0].id, "float64"))
    second = collect(
        harness.provider.stream(harness.request(question, stop.message, result, tools=(LOOKUP,), max_tokens=60))
    )
    final = check_well_formed(second)
    assert final.reason in ("end_turn", "max_tokens", "tool_use")
    if harness.kind == "anthropic":
        assert final.message.text == "The price column is float64."
        sent = harness.fake.requests[-1].body["messages"]
        assert sent[1]["content"][-1] == {
            "type": "tool_use",
            "id": calls[0].id,
            "name": "lookup_column",
            "input": {"name": "price"},
        }
        assert sent[2]["content"] == [{"type": "tool_result", "tool_use_id": calls[0].id, "content": "float64"}]
    if harness.kind == "openai":
        sent = harness.fake.requests[-1].body["messages"]
        assert sent[1]["tool_calls"][0]["id"] == calls[0].id
        assert sent[2] == {"role": "tool", "tool_call_id": calls[0].id, "content": "float64"}


LONG_TURN = Turn([ScriptText("word " * 400)], chunk_chars=5, token_delay=0.02)  # 400 deltas: 8 s uncancelled


def rest_of_answer(harness) -> float:
    """Seconds the answer would still take uncancelled, on this machine now: what a cancellation is measured
    against instead of a fixed number. The fakes' answers last as long as their script; the embedded model is
    timed on an uncancelled run of 24 tokens (greedy, so it runs to its limit) and scaled to the 400 asked for."""
    if harness.fake is not None:
        return 400 * LONG_TURN.token_delay
    counting = Message.user("List the numbers from 1 to 200, one per line.")
    first = None
    for event in harness.provider.stream(harness.request(counting, max_tokens=24, temperature=0.0)):
        if first is None and isinstance(event, TextDelta):
            first = time.monotonic()
    assert isinstance(event, Stop) and event.reason == "max_tokens", event
    return (time.monotonic() - first) * 400 / 23  # 23 tokens came after the first


def test_cancel_mid_stream_stops_quickly(harness):
    rest = rest_of_answer(harness)
    harness.script(LONG_TURN)
    stream = harness.provider.stream(
        harness.request(Message.user("Count from one to five hundred in words."), max_tokens=400)
    )
    events, cancelled_at = [], None
    for event in stream:
        events.append(event)
        if isinstance(event, TextDelta) and len(events) == 1:
            cancelled_at = time.monotonic()  # timed from here: a busy machine may be slow to the first token
            stream.cancel()
    stop = events[-1]
    assert isinstance(stop, Stop) and stop.reason == "cancelled"
    stopped_in = time.monotonic() - cancelled_at
    assert stopped_in < rest / 2, (stopped_in, rest)  # well before the rest of the answer would have come
    assert stop.message.text.startswith(events[0].text)


async def test_leaving_an_async_loop_early_cancels_the_call(harness):
    rest = await asyncio.to_thread(rest_of_answer, harness)
    harness.script(LONG_TURN)
    stream = harness.provider.stream(harness.request(Message.user("Count to five hundred."), max_tokens=400))
    async for event in stream:
        if isinstance(event, TextDelta):
            break
    left = time.monotonic()
    while stream.active and time.monotonic() - left < rest / 2:  # polled, never waited for in full
        await asyncio.sleep(0.02)
    assert not stream.active, (time.monotonic() - left, rest)


def test_usage_is_counted(harness):
    harness.script(Turn([ScriptText("counted")], usage={"input_tokens": 120, "output_tokens": 3}))
    reply = harness.provider.stream(harness.request(Message.user("Reply with one word."), max_tokens=8)).final()
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    if harness.fake is not None:
        assert (reply.usage.input_tokens, reply.usage.output_tokens) == (120, 3)


def test_anthropic_prompt_cache_is_reused_by_a_second_request(fake):
    provider = AnthropicProvider(API_KEY, fake.url, max_retries=0)
    system = (Text("You complete Python code in notebooks. " * 200, cache=True),)
    request = Request(messages=(Message.user("x = "),), system=system, model="claude-haiku-5-5", max_tokens=8)
    first = provider.stream(request).final().usage
    second = provider.stream(request).final().usage
    assert first.cache_write_tokens > 0 and first.cache_read_tokens == 0
    assert second.cache_read_tokens == first.cache_write_tokens
    assert second.input_tokens < first.input_tokens + first.cache_write_tokens
    assert fake.requests[0].body["system"][0]["cache_control"] == {"type": "ephemeral"}
