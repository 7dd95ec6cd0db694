"""A scripted, protocol-faithful fake of the Anthropic Messages API and the OpenAI Chat Completions API (and of
OpenAI's Responses API, in responses_wire.py, and the clouds' formats, in cloud_wire.py).

Why a real HTTP server: the anthropic (2.x) and openai (3.x) SDKs use ``httpx2``, which respx and
pytest-httpx do not intercept, and the Jupyter server or a kernel under test runs in another process.
Pointing the real SDK at ``server.url`` exercises everything the SDK does: SSE parsing, retries,
error mapping, timeouts.

Tests queue one item per model request (``Turn`` = a successful reply, ``Fault`` = an HTTP error)
and assert on ``server.requests``, the log of what was sent::

    with FakeModelServer(api_key="test-key") as server:
        server.script(Turn([Thinking("plan"), Text("hi"), ToolUse("run_cell", {"code": "1"})]))
        client = anthropic.Anthropic(api_key="test-key", base_url=server.url)
        ...
        assert server.requests[-1].body["model"] == "claude-sonnet-5-5"

The wire formats follow the project notes (platform facts, §7-8) §7-8 and the SDK sources
(``anthropic/_streaming.py``, ``lib/streaming/_messages.py``, ``openai/_streaming.py``).
Run ``python -m tests.fakes.model_server --help`` to serve it to another process.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import ipaddress
import itertools
import json
import re
import select
import signal
import socket
import socketserver
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import urlsplit

__all__ = [
    "ERROR_TYPES",
    "KNOWN_MODELS",
    "MODELS_ENDPOINTS",
    "Fault",
    "FakeModelServer",
    "RecordedRequest",
    "Text",
    "Thinking",
    "ToolUse",
    "Turn",
    "derive_signature",
    "item_from_json",
    "model_capabilities",
]

# Newest first, like the real /v1/models listing.
KNOWN_MODELS: tuple[str, ...] = (
    "claude-haiku-5-5",
    "claude-sonnet-5-5",
    "claude-opus-5-5",
    "claude-opus-4-8",
    "claude-opus-4-7",
    "claude-opus-4-6",
    "claude-sonnet-4-6",
    "claude-haiku-4-5",
    "claude-haiku-4-5-20251001",
    "claude-sonnet-4-5",
)

MODELS_ENDPOINTS = ("full", "bare", "missing", "missing-json")

# Anthropic's documented error type per HTTP status; OpenAI bodies reuse the same names.
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}

_DEFAULT_MESSAGES: dict[int, str] = {
    400: "Invalid request",
    401: "invalid x-api-key",
    403: "Permission denied",
    404: "Not found",
    413: "Request exceeds the maximum allowed number of bytes.",
    429: "Number of request tokens has exceeded your per-minute rate limit",
    500: "Internal server error",
    529: "Overloaded",
}

# How often waits check for a stopping server or a departed client (and how long stop() may take).
_POLL_SECONDS = 0.05
_MAX_CACHE_BREAKPOINTS = 4
# Anthropic looks back this many blocks from a breakpoint for an earlier cache entry.
_CACHE_LOOKBACK_BLOCKS = 20

_tool_ids = itertools.count(1)


# --------------------------------------------------------------------------------------------------
# Script items


@dataclass
class Text:
    """A text content block, streamed as ``text_delta`` (Anthropic) / ``content`` (OpenAI)."""

    text: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": "text", "text": self.text}


def derive_signature(thinking: str) -> str:
    """The default signature of a thinking text; the fake accepts it back without having issued it,
    so tests can write conversation histories by hand."""
    return "sig-" + hashlib.sha256(thinking.encode()).hexdigest()[:24]


@dataclass
class Thinking:
    """A thinking block: ``thinking_delta`` pieces then one ``signature_delta`` (OpenAI: ``reasoning_content``)."""

    text: str
    signature: str | None = None

    def __post_init__(self) -> None:
        if self.signature is None:
            self.signature = derive_signature(self.text)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "thinking", "text": self.text, "signature": self.signature}


@dataclass
class ToolUse:
    """A tool call; its input JSON is streamed in at least two fragments so that clients must reassemble it."""

    name: str
    input: dict[str, Any]
    id: str | None = None

    def __post_init__(self) -> None:
        if self.id is None:
            self.id = f"toolu_{next(_tool_ids)}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": "tool_use", "name": self.name, "input": self.input, "id": self.id}


Block = Text | Thinking | ToolUse


@dataclass
class Turn:
    """One successful model reply, plus the timing and failure behaviour of its stream.

    Fault positions count content delta events (Anthropic ``content_block_delta``, including the
    signature; OpenAI content / reasoning / argument chunks). A position beyond the last delta
    fires after the last delta. Without streaming, ``drop_after`` closes the connection without a
    reply, ``stall_after`` delays the reply and ``error_after`` becomes an HTTP 529.
    """

    blocks: list[Block]
    stop_reason: str | None = None
    usage: dict[str, int] | None = None
    chunk_chars: int = 8
    first_byte_delay: float = 0.0
    token_delay: float = 0.0
    error_after: int | None = None
    drop_after: int | None = None
    stall_after: int | None = None
    stall_seconds: float = 30.0
    model: str | None = None

    def __post_init__(self) -> None:
        self.blocks = list(self.blocks)
        for block in self.blocks:
            if not isinstance(block, (Text, Thinking, ToolUse)):
                raise TypeError(f"Turn blocks must be Text, Thinking or ToolUse, not {block!r}")
        if self.chunk_chars < 1:
            raise ValueError("chunk_chars must be at least 1")
        if self.stop_reason is None:
            has_tool = any(isinstance(block, ToolUse) for block in self.blocks)
            self.stop_reason = "tool_use" if has_tool else "end_turn"

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["blocks"] = [block.to_json() for block in self.blocks]
        return {"kind": "turn", **data}


@dataclass
class Fault:
    """An HTTP error reply in the body shape each SDK parses (``e.body``, ``e.request_id``).

    ``body`` replaces that JSON with raw text, as a proxy in front of the API answers (nginx's HTML 502 page,
    Envoy's "upstream connect error ..."); ``content_type`` defaults to HTML for markup, else plain text.
    """

    status: int
    error_type: str | None = None
    message: str | None = None
    headers: dict[str, str] | None = None
    body: str | None = None
    content_type: str | None = None

    def __post_init__(self) -> None:
        if self.body is not None and self.content_type is None:
            markup = self.body.lstrip().startswith("<")
            self.content_type = "text/html; charset=utf-8" if markup else "text/plain; charset=utf-8"
        if self.error_type is None:
            fallback = "api_error" if self.status >= 500 else "invalid_request_error"
            self.error_type = ERROR_TYPES.get(self.status, fallback)
        if self.message is None:
            self.message = _DEFAULT_MESSAGES.get(self.status, self.error_type)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "fault", **dataclasses.asdict(self)}


Item = Turn | Fault


def item_from_json(data: dict[str, Any]) -> Item | Block:
    """Rebuild a script item (or block) from ``to_json()`` output, e.g. after ``POST /_fake/script``."""
    fields = {key: value for key, value in data.items() if key != "kind"}
    kind = data["kind"]
    if kind == "text":
        return Text(**fields)
    if kind == "thinking":
        return Thinking(**fields)
    if kind == "tool_use":
        return ToolUse(**fields)
    if kind == "fault":
        return Fault(**fields)
    if kind == "turn":
        fields["blocks"] = [item_from_json(block) for block in fields["blocks"]]
        return Turn(**fields)
    raise ValueError(f"unknown script item kind {kind!r}")


@dataclass
class RecordedRequest:
    """One request as the server saw it; ``status`` and ``client_disconnected`` are filled in while replying."""

    api: str
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int | None = None
    client_disconnected: bool = False
    received_at: float = 0.0  # time.monotonic() when the request was read (benchmarks measure against it)
    deltas_sent_at: list[float] = dataclasses.field(default_factory=list)  # monotonic, after each delta's write

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------------------------------
# Model metadata


_MODEL_ID = re.compile(r"claude-(haiku|sonnet|opus)-(\d+)(?:-(\d{1,2}))?(?:-(\d{8}))?")
_DEPRECATED = {"claude-sonnet-4-5": ("2026-06-01T00:00:00Z", "2026-11-30T00:00:00Z")}


def _parse_model(model_id: str) -> tuple[str | None, tuple[int, int]]:
    """(line, (major, minor)); ids added through ``models=`` that do not parse count as newest, line unknown."""
    match = _MODEL_ID.fullmatch(model_id)
    if match is None:
        return None, (99, 0)
    return match[1], (int(match[2]), int(match[3] or 0))


def model_capabilities(model_id: str) -> dict[str, Any]:
    """The ``capabilities`` object of ``GET /v1/models/{id}``, shaped like ``anthropic.types.ModelCapabilities``.

    Rules: all 5.x models and Opus/Sonnet 4.6+ accept adaptive and enabled thinking, older ones (Haiku
    4.5, Sonnet 4.5) only enabled; effort is supported on Opus/Sonnet 4.6+ and 5.x. ``between_tools``
    is not simulated (reported unsupported). The same rules make ``/v1/messages`` reject what a model
    does not support.
    """
    line, version = _parse_model(model_id)
    adaptive = version >= (5, 0) or (line in ("opus", "sonnet") and version >= (4, 6))
    effort = adaptive and line != "haiku"

    def yes(value: bool = True) -> dict[str, bool]:
        return {"supported": value}

    return {
        "batch": yes(),
        "citations": yes(),
        "code_execution": yes(),
        "context_management": {
            "supported": True,
            "clear_thinking_20251015": yes(),
            "clear_tool_uses_20250919": yes(),
            "compact_20260112": yes(adaptive),
        },
        "effort": {
            "supported": effort,
            "low": yes(effort),
            "medium": yes(effort),
            "high": yes(effort),
            "xhigh": yes(effort),
            "max": yes(effort),
        },
        "image_input": yes(),
        "pdf_input": yes(),
        "server_tools": {"supported": True, "code_execution": yes(), "web_search": yes()},
        "structured_outputs": yes(),
        "thinking": {
            "supported": True,
            "types": {
                "adaptive": yes(adaptive),
                "between_tools": yes(False),
                "disabled": yes(),
                "enabled": yes(),
            },
        },
    }


def _model_info(model_id: str) -> dict[str, Any]:
    """An ``anthropic.types.ModelInfo``-shaped object."""
    line, (major, minor) = _parse_model(model_id)
    display = f"Claude {line.capitalize()} {major}.{minor}" if line else model_id
    deprecated_at, retires_at = _DEPRECATED.get(model_id, (None, None))
    return {
        "type": "model",
        "id": model_id,
        "display_name": display,
        "created_at": "2025-01-01T00:00:00Z",
        "lifecycle": "deprecated" if deprecated_at else "active",
        "deprecated_at": deprecated_at,
        "retires_at": retires_at,
        "line": line,
        "max_input_tokens": 200_000,
        "max_tokens": 128_000 if line == "opus" else 64_000,
        "capabilities": model_capabilities(model_id),
    }


def _openai_model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 1_735_689_600, "owned_by": "fake"}


# --------------------------------------------------------------------------------------------------
# Request checks the real APIs make; each returns an error message or None.


def _blocks(content: Any) -> list[dict[str, Any]]:
    """Message content as a list of blocks (a plain string is one text block)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [block for block in content or [] if isinstance(block, dict)]


def _check_anthropic(body: Any, *, needs_max_tokens: bool, signatures: dict[str, str]) -> str | None:
    if not isinstance(body, dict):
        return "body: Input should be an object"
    for name in ("model", "messages") + (("max_tokens",) if needs_max_tokens else ()):
        if name not in body:
            return f"{name}: Field required"
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"messages.{index}.role: Input should be 'user' or 'assistant'"
    return (
        _check_tool_pairing(messages)
        or _check_signatures(messages, signatures)
        or _check_thinking(body, needs_max_tokens)
        or _check_breakpoints(body)
    )


def _check_tool_pairing(messages: list[dict[str, Any]]) -> str | None:
    """Every tool_use needs a tool_result in the very next user message, and vice versa."""
    previous_ids: list[str] = []
    for index, message in enumerate(messages):
        blocks = _blocks(message.get("content"))
        if message["role"] == "user":
            for position, block in enumerate(blocks):
                if block.get("type") == "tool_result" and block.get("tool_use_id") not in previous_ids:
                    return (
                        f"messages.{index}.content.{position}: unexpected `tool_use_id` found in `tool_result` "
                        f"blocks: {block.get('tool_use_id')}. Each `tool_result` block must have a corresponding "
                        "`tool_use` block in the previous message."
                    )
        ids = [block.get("id") for block in blocks if block.get("type") == "tool_use"]
        if ids:
            following = messages[index + 1] if index + 1 < len(messages) else {"role": "assistant"}
            answered = {
                block.get("tool_use_id")
                for block in _blocks(following.get("content"))
                if following["role"] == "user" and block.get("type") == "tool_result"
            }
            missing = [tool_id for tool_id in ids if tool_id not in answered]
            if missing:
                return (
                    f"messages.{index + 1}: `tool_use` ids were found without `tool_result` blocks immediately "
                    f"after: {', '.join(missing)}. Each `tool_use` block must have a corresponding `tool_result` "
                    "block in the next message."
                )
        previous_ids = ids if message["role"] == "assistant" else []
    return None


def _check_signatures(messages: list[dict[str, Any]], signatures: dict[str, str]) -> str | None:
    """Thinking blocks sent back must be unchanged, as the real API verifies their signatures."""
    for index, message in enumerate(messages):
        for position, block in enumerate(_blocks(message.get("content"))):
            if block.get("type") != "thinking":
                continue
            text, signature = block.get("thinking", ""), block.get("signature")
            if signature != derive_signature(text) and signatures.get(signature) != text:
                return f"messages.{index}.content.{position}: Invalid `signature` in `thinking` block"
    return None


def _check_thinking(body: dict[str, Any], needs_max_tokens: bool) -> str | None:
    thinking = body.get("thinking") or {}
    capabilities = model_capabilities(body["model"])
    kind = thinking.get("type")
    if kind is not None and not capabilities["thinking"]["types"].get(kind, {"supported": False})["supported"]:
        return f"thinking.type: '{kind}' is not supported on model {body['model']}"
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        if needs_max_tokens and body["max_tokens"] <= budget:
            return "`max_tokens` must be greater than `thinking.budget_tokens`."
    effort = (body.get("output_config") or {}).get("effort")
    if effort is not None and not capabilities["effort"]["supported"]:
        return f"output_config.effort: effort is not supported on model {body['model']}"
    return None


def _check_breakpoints(body: dict[str, Any]) -> str | None:
    found = sum(1 for segment in _cache_segments(body) if "cache_control" in segment)
    found += 1 if body.get("cache_control") else 0
    if found > _MAX_CACHE_BREAKPOINTS:
        return f"A maximum of {_MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. Found {found}."
    return None


def _check_openai(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "body: Input should be an object"
    for name in ("model", "messages"):
        if name not in body:
            return f"Missing required parameter: '{name}'."
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return "Invalid 'messages': empty array. Expected an array with minimum length 1."
    pending: list[str] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message:
            return f"Invalid 'messages[{index}]': expected an object with a 'role'."
        if message["role"] == "tool":
            if message.get("tool_call_id") not in pending:
                return (
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
                    "with 'tool_calls'."
                )
            pending.remove(message["tool_call_id"])
            continue
        if pending:
            break
        pending = [call.get("id") for call in message.get("tool_calls") or []]
    if pending:
        return (
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
            f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(pending)}"
        )
    return None


# --------------------------------------------------------------------------------------------------
# Token estimates and prompt-cache simulation


def _tokens(chars: int) -> int:
    return chars // 4


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _content(segment: dict[str, Any]) -> str:
    """A cacheable block as counted and hashed; where the breakpoints sit is not part of the content."""
    return _canonical({key: value for key, value in segment.items() if key != "cache_control"})


def _cache_segments(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request as cacheable blocks in Anthropic's prefix order: tools, then system, then messages."""
    segments = [tool for tool in body.get("tools") or [] if isinstance(tool, dict)]
    system = body.get("system")
    segments += _blocks(system) if system else []
    for message in body.get("messages") or []:
        segments += [{"role": message.get("role"), **block} for block in _blocks(message.get("content"))]
    return segments


class _CacheUsage(NamedTuple):
    input_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int


def _estimate_output(blocks: list[Block]) -> int:
    chars = 0
    for block in blocks:
        chars += len(json.dumps(block.input)) if isinstance(block, ToolUse) else len(block.text)
    return max(1, -(-chars // 4))


# --------------------------------------------------------------------------------------------------
# Wire rendering. A stream is a head, content events flagged as deltas (fault positions count
# them), a tail, and the event that replaces the rest on error_after.


class _Script(NamedTuple):
    head: list[bytes]
    body: list[tuple[bool, bytes]]
    tail: list[bytes]
    error: bytes


def _pieces(text: str, size: int) -> list[str]:
    return [text[start : start + size] for start in range(0, len(text), size)]


def _json_pieces(value: dict[str, Any], size: int) -> list[str]:
    """At least two fragments whenever the JSON has two characters, as a client must not assume one."""
    text = json.dumps(value)
    return _pieces(text, max(1, min(size, len(text) // 2)))


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _data(data: Any) -> bytes:
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode()


def _new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


def _anthropic_block(block: Block, *, streaming: bool) -> dict[str, Any]:
    if isinstance(block, Text):
        return {"type": "text", "text": "" if streaming else block.text}
    if isinstance(block, Thinking):
        if streaming:
            return {"type": "thinking", "thinking": "", "signature": ""}
        return {"type": "thinking", "thinking": block.text, "signature": block.signature}
    return {"type": "tool_use", "id": block.id, "name": block.name, "input": {} if streaming else block.input}


def _anthropic_deltas(block: Block, size: int) -> Iterator[dict[str, Any]]:
    if isinstance(block, Text):
        for piece in _pieces(block.text, size):
            yield {"type": "text_delta", "text": piece}
    elif isinstance(block, Thinking):
        for piece in _pieces(block.text, size):
            yield {"type": "thinking_delta", "thinking": piece}
        yield {"type": "signature_delta", "signature": block.signature}
    else:
        for piece in _json_pieces(block.input, size):
            yield {"type": "input_json_delta", "partial_json": piece}


def _anthropic_message(turn: Turn, message_id: str, model: str, usage: dict[str, int]) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [_anthropic_block(block, streaming=False) for block in turn.blocks],
        "stop_reason": turn.stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def _anthropic_stream(turn: Turn, message_id: str, model: str, usage: dict[str, int]) -> _Script:
    start = {**_anthropic_message(turn, message_id, model, {**usage, "output_tokens": 1}), "content": []}
    start["stop_reason"] = None
    head = [_sse("message_start", {"type": "message_start", "message": start}), _sse("ping", {"type": "ping"})]
    body: list[tuple[bool, bytes]] = []
    for index, block in enumerate(turn.blocks):
        begin = {
            "type": "content_block_start",
            "index": index,
            "content_block": _anthropic_block(block, streaming=True),
        }
        body.append((False, _sse("content_block_start", begin)))
        for delta in _anthropic_deltas(block, turn.chunk_chars):
            body.append(
                (True, _sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
            )
        body.append((False, _sse("content_block_stop", {"type": "content_block_stop", "index": index})))
    finish = {
        "type": "message_delta",
        "delta": {"stop_reason": turn.stop_reason, "stop_sequence": None},
        "usage": usage,
    }
    tail = [_sse("message_delta", finish), _sse("message_stop", {"type": "message_stop"})]
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    return _Script(head, body, tail, _sse("error", overloaded))


_FINISH_REASONS = {"tool_use": "tool_calls", "max_tokens": "length", "refusal": "content_filter"}


def _openai_usage(usage: dict[str, int]) -> dict[str, Any]:
    cached = usage.get("cache_read_input_tokens") or 0
    prompt = usage["input_tokens"] + cached + (usage.get("cache_creation_input_tokens") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage["output_tokens"],
        "total_tokens": prompt + usage["output_tokens"],
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def _openai_completion(turn: Turn, completion_id: str, model: str, usage: dict[str, int]) -> dict[str, Any]:
    text = "".join(block.text for block in turn.blocks if isinstance(block, Text))
    reasoning = "".join(block.text for block in turn.blocks if isinstance(block, Thinking))
    calls = [
        {"id": block.id, "type": "function", "function": {"name": block.name, "arguments": json.dumps(block.input)}}
        for block in turn.blocks
        if isinstance(block, ToolUse)
    ]
    message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
    if reasoning:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = calls
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _FINISH_REASONS.get(turn.stop_reason, "stop"),
            }
        ],
        "usage": _openai_usage(usage),
    }


def _openai_stream(turn: Turn, completion_id: str, model: str, usage: dict[str, int], include_usage: bool) -> _Script:
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        data = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [choice],
        }
        return _data({**data, "usage": None} if include_usage else data)

    head = [chunk({"role": "assistant", "content": ""})]
    body: list[tuple[bool, bytes]] = []
    calls = itertools.count()
    for block in turn.blocks:
        if isinstance(block, Text):
            body += [(True, chunk({"content": piece})) for piece in _pieces(block.text, turn.chunk_chars)]
        elif isinstance(block, Thinking):
            body += [(True, chunk({"reasoning_content": piece})) for piece in _pieces(block.text, turn.chunk_chars)]
        else:
            index = next(calls)
            begin = {
                "index": index,
                "id": block.id,
                "type": "function",
                "function": {"name": block.name, "arguments": ""},
            }
            body.append((False, chunk({"tool_calls": [begin]})))
            for piece in _json_pieces(block.input, turn.chunk_chars):
                body.append((True, chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})))
    tail = [chunk({}, _FINISH_REASONS.get(turn.stop_reason, "stop"))]
    if include_usage:
        usage_chunk = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": _openai_usage(usage),
        }
        tail.append(_data(usage_chunk))
    tail.append(_data("[DONE]"))
    error = {"error": {"message": "Overloaded", "type": "overloaded_error", "param": None, "code": "overloaded_error"}}
    return _Script(head, body, tail, _data(error))


def _text_completion_stream(
    turn: Turn, completion_id: str, model: str, usage: dict[str, int], include_usage: bool
) -> _Script:
    """``/v1/completions`` streamed (``openai.types.Completion`` chunks): text pieces, a finish, usage, [DONE]."""
    created = int(time.time())

    def chunk(text: str, finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}
        data = {"id": completion_id, "object": "text_completion", "created": created, "model": model}
        return _data({**data, "choices": [choice], **({"usage": None} if include_usage else {})})

    text = "".join(block.text for block in turn.blocks if isinstance(block, Text))
    body = [(True, chunk(piece)) for piece in _pieces(text, turn.chunk_chars)]
    tail = [chunk("", _FINISH_REASONS.get(turn.stop_reason, "stop"))]
    if include_usage:
        totals = _openai_usage(usage)
        del totals["prompt_tokens_details"]  # the legacy endpoint reports none
        data = {"id": completion_id, "object": "text_completion", "created": created, "model": model}
        tail.append(_data({**data, "choices": [], "usage": totals}))
    tail.append(_data("[DONE]"))
    error = {"error": {"message": "Overloaded", "type": "overloaded_error", "param": None, "code": "overloaded_error"}}
    return _Script([], body, tail, _data(error))


# --------------------------------------------------------------------------------------------------
# HTTP handling


class _StreamAborted(Exception):
    """The client went away, or the server is stopping, in the middle of a reply."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streams, like the real APIs
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging; tests read ``server.requests`` instead."""

    def setup(self) -> None:
        super().setup()
        # Each SSE event leaves at once, as from the real API's servers; with Nagle's algorithm a small write
        # after an unacknowledged one would wait for the client's delayed ACK (~40 ms).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.fake._lock:
            self.server.fake._connections.add(self.connection)

    def finish(self) -> None:
        with self.server.fake._lock:
            self.server.fake._connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    # -- request dispatch ------------------------------------------------------------------------

    def _handle(self) -> None:
        fake = self.server.fake
        path = urlsplit(self.path).path
        headers = {key.lower(): value for key, value in self.headers.items()}
        raw = self.rfile.read(int(headers.get("content-length") or 0))
        body = _parse_json(raw)
        logged_body = body if body is not None or not raw else raw.decode(errors="replace")
        is_anthropic = path.startswith("/v1/messages") or "anthropic-version" in headers
        self.api = "anthropic" if is_anthropic else "openai"
        self.request_id = _new_id("req_")
        self.record = RecordedRequest(self.api, self.command, path, headers, logged_body, received_at=time.monotonic())
        if path.startswith("/_fake/"):
            self.record.api = "control"
        else:
            fake._log(self.record)
        try:
            self._route(path, headers, body, raw)
        except (BrokenPipeError, ConnectionResetError, _StreamAborted):
            self.record.client_disconnected = not fake._stopping.is_set()
            self.close_connection = True

    def _route(self, path: str, headers: dict[str, str], body: Any, raw: bytes) -> None:
        fake = self.server.fake
        from . import cloud_wire  # Bedrock's, Vertex AI's and Google OAuth's formats, built on this module's

        if cloud_wire.serve(self, path, headers, body, raw):
            return
        if not fake._authorized(headers):
            self._error(401, "authentication_error", "invalid x-api-key")
            return
        if raw and body is None:
            self._error(400, "invalid_request_error", "There was an error parsing the body of your request as JSON")
            return
        post, get = self.command == "POST", self.command == "GET"
        if path.startswith("/_fake/"):
            self._control(path, body)
        elif post and path == "/v1/messages":
            self._messages(body)
        elif post and path == "/v1/messages/count_tokens":
            self._count_tokens(body)
        elif post and path == "/v1/chat/completions":
            self._chat_completions(body)
        elif post and path == "/v1/completions":
            self._text_completions(body)
        elif post and path == "/v1/responses":
            from . import responses_wire  # OpenAI's Responses API, on this module's scripting and replies

            responses_wire.serve(self, body)
        elif get and path == "/v1/models":
            self._list_models()
        elif get and path.startswith("/v1/models/"):
            self._retrieve_model(path.removeprefix("/v1/models/"))
        else:
            self._error(404, "not_found_error", f"Not found: {self.command} {path}")

    def _control(self, path: str, body: Any) -> None:
        fake = self.server.fake
        if self.command == "POST" and path == "/_fake/script":
            if not isinstance(body, list):
                self._error(400, "invalid_request_error", "the script must be a JSON list of items")
                return
            fake.script(*[item_from_json(item) for item in body])
            self._json(200, {"queued": len(body)})
        elif self.command == "POST" and path == "/_fake/reset":
            fake.reset()
            self._json(200, {"ok": True})
        elif self.command == "GET" and path == "/_fake/requests":
            self._json(200, [request.to_json() for request in fake.requests])
        else:
            self._error(404, "not_found_error", f"Not found: {self.command} {path}")

    # -- Anthropic ---------------------------------------------------------------------------------

    def _messages(self, body: Any) -> None:
        fake = self.server.fake
        if self._reject_anthropic(body, needs_max_tokens=True):
            return
        item = fake._next_item(self.record)
        if isinstance(item, Fault):
            self._fault(item)
            return
        fake._remember_signatures(item)
        usage = fake._anthropic_usage(body, item)
        model = item.model or body["model"]
        if body.get("stream"):
            self._play(item, _anthropic_stream(item, _new_id("msg_"), model, usage))
        else:
            self._unstreamed(item, _anthropic_message(item, _new_id("msg_"), model, usage))

    def _count_tokens(self, body: Any) -> None:
        if self._reject_anthropic(body, needs_max_tokens=False):
            return
        chars = sum(len(_content(segment)) for segment in _cache_segments(body))
        self._json(200, {"input_tokens": max(1, _tokens(chars))})

    def _reject_anthropic(self, body: Any, *, needs_max_tokens: bool) -> bool:
        """Send the 404 / 400 the real API would and return True, without consuming a scripted item."""
        fake = self.server.fake
        if isinstance(body, dict) and "model" in body and body["model"] not in fake.models:
            self._error(404, "not_found_error", f"model: {body['model']}")
            return True
        problem = _check_anthropic(body, needs_max_tokens=needs_max_tokens, signatures=fake._signatures)
        thinking = body.get("thinking") if isinstance(body, dict) else None
        if not problem and isinstance(thinking, dict) and thinking.get("type") == "adaptive":
            if fake.refuses_adaptive(body["model"]):  # the API's words (as observed for Sonnet 4.5, 2026-05)
                problem = "adaptive thinking is not supported on this model"
        if problem:
            self._error(400, "invalid_request_error", problem)
        return problem is not None

    def _list_models(self) -> None:
        fake = self.server.fake
        if self.api == "openai":
            self._json(200, {"object": "list", "data": [_openai_model(model) for model in fake.openai_model_list]})
            return
        if self._models_missing():
            return
        models = list(fake.models)
        data = [self._model_info(model) for model in models]
        self._json(200, {"data": data, "has_more": False, "first_id": models[0], "last_id": models[-1]})

    def _retrieve_model(self, model: str) -> None:
        fake = self.server.fake
        if self.api == "openai":
            if model in fake.openai_model_list:
                self._json(200, _openai_model(model))
            else:
                self._error(
                    404, "invalid_request_error", f"The model `{model}` does not exist.", code="model_not_found"
                )
        elif self._models_missing():
            return
        elif model in fake.models:
            self._json(200, self._model_info(model))
        else:
            self._error(404, "not_found_error", f"model: {model}")

    def _models_missing(self) -> bool:
        """Answer as a gateway without the Models API would, and return True, when the server plays one."""
        mode = self.server.fake.models_endpoint
        if mode == "missing":
            self._raw(404, "404 page not found\n", "text/plain; charset=utf-8")
        elif mode == "missing-json":
            self._json(404, {"detail": "Not Found"})
        return mode.startswith("missing")

    def _model_info(self, model: str) -> dict[str, Any]:
        """Model info as this server's gateway mode shapes it."""
        fake = self.server.fake
        info = _model_info(model)
        if fake.models_endpoint == "bare":
            return {key: info[key] for key in ("type", "id", "display_name", "created_at")}
        if fake.refuses_adaptive(model):
            info["capabilities"]["thinking"]["types"]["adaptive"]["supported"] = False
        return info

    # -- OpenAI ------------------------------------------------------------------------------------

    def _openai_turn(self, body: Any, problem_of: Callable[[Any], str | None]) -> Turn | None:
        """The scripted Turn for an OpenAI request, or None once the API's 404 (an unknown model), its 400
        (``problem_of`` the body) or a scripted Fault has been answered."""
        fake = self.server.fake
        known = fake.openai_models
        if isinstance(body, dict) and known is not None and body.get("model") not in known:
            message = f"The model `{body.get('model')}` does not exist or you do not have access to it."
            self._error(404, "invalid_request_error", message, code="model_not_found")
            return None
        problem = problem_of(body)
        if problem:
            self._error(400, "invalid_request_error", problem)
            return None
        item = fake._next_item(self.record)
        if isinstance(item, Fault):
            self._fault(item)
            return None
        return item

    def _chat_completions(self, body: Any) -> None:
        fake = self.server.fake
        item = self._openai_turn(body, _check_openai)
        if item is None:
            return
        usage = fake._openai_usage(body, item)
        model = item.model or body["model"]
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._play(item, _openai_stream(item, _new_id("chatcmpl-"), model, usage, include_usage))
        else:
            self._unstreamed(item, _openai_completion(item, _new_id("chatcmpl-"), model, usage))

    def _text_completions(self, body: Any) -> None:
        """The legacy completions endpoint, with ``suffix`` (fill-in-the-middle), as local servers serve it."""
        fake = self.server.fake
        if not isinstance(body, dict) or "model" not in body or not isinstance(body.get("prompt"), str):
            self._error(400, "invalid_request_error", "Missing required parameters: 'model' and a string 'prompt'.")
            return
        item = fake._next_item(self.record)
        if isinstance(item, Fault):
            self._fault(item)
            return
        chars = len(body["prompt"]) + len(body.get("suffix") or "")
        usage = {"input_tokens": max(1, _tokens(chars)), "output_tokens": _estimate_output(item.blocks)}
        usage = {**usage, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0, **(item.usage or {})}
        model = item.model or body["model"]
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._play(item, _text_completion_stream(item, _new_id("cmpl-"), model, usage, include_usage))
        else:
            text = "".join(block.text for block in item.blocks if isinstance(block, Text))
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}
            reply = {"id": _new_id("cmpl-"), "object": "text_completion", "created": int(time.time())}
            self._unstreamed(item, {**reply, "model": model, "choices": [choice], "usage": _openai_usage(usage)})

    # -- replies -----------------------------------------------------------------------------------

    def _start(self, status: int, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.record.status = status
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("request-id" if self.api == "anthropic" else "x-request-id", self.request_id)
        for name, value in (headers or {}).items():
            self.send_header(name, value)

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(data).encode()
        self._start(status, "application/json", headers)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _error(
        self,
        status: int,
        error_type: str,
        message: str,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        if self.api == "anthropic":
            data = {"type": "error", "error": {"type": error_type, "message": message}, "request_id": self.request_id}
        else:
            data = {"error": {"message": message, "type": error_type, "param": None, "code": code or error_type}}
        self._json(status, data, headers)

    def _fault(self, fault: Fault) -> None:
        if fault.body is None:
            self._error(fault.status, fault.error_type, fault.message, fault.headers)
        else:
            self._raw(fault.status, fault.body, fault.content_type, fault.headers)

    def _raw(self, status: int, text: str, content_type: str, headers: dict[str, str] | None = None) -> None:
        """A body that is not the API's JSON, as a proxy or gateway sends it."""
        payload = text.encode()
        self._start(status, content_type, headers)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _unstreamed(self, turn: Turn, data: dict[str, Any]) -> None:
        """A non-streaming reply takes as long as the stream would have; faults act on the whole reply."""
        deltas = sum(1 for block in turn.blocks for _ in _anthropic_deltas(block, turn.chunk_chars))
        self._pause(turn.first_byte_delay + turn.token_delay * deltas)
        if turn.drop_after is not None:
            self._drop()
            return
        if turn.stall_after is not None:
            self._pause(turn.stall_seconds)
        if turn.error_after is not None:
            self._error(529, "overloaded_error", "Overloaded")
            return
        self._json(200, data)

    def _play(self, turn: Turn, script: _Script, content_type: str = "text/event-stream; charset=utf-8") -> None:
        """Stream ``script`` with the turn's delays, firing each fault once its delta count is reached."""
        self._pause(turn.first_byte_delay)
        self._start(200, content_type, {"cache-control": "no-cache", "transfer-encoding": "chunked"})
        self.end_headers()
        total = sum(1 for is_delta, _ in script.body if is_delta)
        fire = {
            name: min(getattr(turn, name), total)
            for name in ("error_after", "drop_after", "stall_after")
            if getattr(turn, name) is not None
        }
        for event in script.head:
            self._chunk(event)
        sent = 0
        if self._faults(turn, script, fire, sent):
            return
        for is_delta, event in script.body:
            if is_delta:
                self._pause(turn.token_delay)
            self._chunk(event)
            if is_delta:
                self.record.deltas_sent_at.append(time.monotonic())
                sent += 1
                if self._faults(turn, script, fire, sent):
                    return
        for event in script.tail:
            self._chunk(event)
        self._chunk(b"")

    def _faults(self, turn: Turn, script: _Script, fire: dict[str, int], sent: int) -> bool:
        """Apply faults due after ``sent`` deltas; True when the stream is over."""
        if fire.get("drop_after") == sent:
            self._drop()
            return True
        if fire.get("stall_after") == sent:
            self._pause(turn.stall_seconds)
        if fire.get("error_after") == sent:
            self._chunk(script.error)
            self._chunk(b"")
            return True
        return False

    def _chunk(self, data: bytes) -> None:
        """One HTTP/1.1 chunk; the empty chunk ends the body."""
        self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))

    def _drop(self) -> None:
        """Close the TCP connection mid-reply, leaving the chunked body unfinished."""
        _shutdown(self.connection)
        self.close_connection = True

    def _pause(self, seconds: float) -> None:
        """Sleep, but end the reply early if the server stops or the client hangs up."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            if self.server.fake._stopping.is_set():
                raise _StreamAborted
            readable, _, _ = select.select([self.connection], [], [], min(remaining, _POLL_SECONDS))
            if readable:
                if self.connection.recv(1, socket.MSG_PEEK) == b"":
                    raise _StreamAborted
                self.server.fake._stopping.wait(min(remaining, _POLL_SECONDS))


def _shutdown(connection: socket.socket) -> None:
    """Shut a connection both ways. ENOTCONN only means the peer is gone already, which is the goal."""
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)


def _parse_json(raw: bytes) -> Any:
    """The parsed body, or None when there is none or it is not JSON (the handler answers 400)."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


class _HTTPServer(ThreadingHTTPServer):
    request_queue_size = 256  # a burst of concurrent streams (the server tests open 50) must not be refused
    daemon_threads = True
    fake: FakeModelServer

    def server_bind(self) -> None:
        """Bind without ``HTTPServer``'s ``getfqdn()`` reverse lookup, which may query DNS."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


# --------------------------------------------------------------------------------------------------
# Public server


def _check_loopback(host: str) -> str:
    """Only ever bind to loopback: these tests must not be reachable from, or talk to, the network."""
    if host == "localhost":
        return "127.0.0.1"
    address = ipaddress.ip_address(host)
    if address.version != 4 or not address.is_loopback:
        raise ValueError(f"refusing to listen on non-loopback host {host!r}")
    return host


Responder = Callable[[RecordedRequest], Item]


class FakeModelServer:
    """The fake server. Thread-safe: the SDK calls it from other threads or processes while a test scripts it."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        models: tuple[str, ...] | list[str] = (),
        openai_models: list[str] | None = None,
        default_turn: Turn | None = None,
        models_endpoint: str = "full",
        adaptive_unsupported: bool | tuple[str, ...] | list[str] = (),
    ) -> None:
        """``models_endpoint`` plays the gateways in front of the Anthropic API: "full" answers the Models API as
        Anthropic does; "bare" gives model info without ``capabilities``; "missing" answers ``GET /v1/models...``
        with 404 and a plain-text body (a Go proxy's "404 page not found"), "missing-json" with FastAPI's
        ``{"detail": "Not Found"}``. ``adaptive_unsupported`` (True: every model) makes ``/v1/messages`` answer
        adaptive thinking with the API's 400, and the Models API report it unsupported."""
        if models_endpoint not in MODELS_ENDPOINTS:
            raise ValueError(f"models_endpoint must be one of {MODELS_ENDPOINTS}, not {models_endpoint!r}")
        self.models_endpoint = models_endpoint
        self.adaptive_unsupported = True if adaptive_unsupported is True else tuple(adaptive_unsupported or ())
        self.api_key = api_key
        self.host = _check_loopback(host)
        self.port = port
        self.models: tuple[str, ...] = KNOWN_MODELS + tuple(model for model in models if model not in KNOWN_MODELS)
        self.openai_models = list(openai_models) if openai_models is not None else None
        self.default_turn = default_turn or Turn([Text("ok")])
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._queue: list[Item] = []
        self._responder: Responder | None = None
        self._requests: list[RecordedRequest] = []
        self._cache: set[str] = set()
        self._signatures: dict[str, str] = {}
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeModelServer:
        self._stopping.clear()
        self._httpd = _HTTPServer((self.host, self.port), _Handler)
        self._httpd.fake = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(_POLL_SECONDS,), name="fake-model-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end stalled streams and close kept-alive connections so no thread lingers."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        with self._lock:
            for connection in self._connections:
                _shutdown(connection)
        self._httpd.server_close()
        self._thread.join()
        self._httpd = None

    def __enter__(self) -> FakeModelServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- scripting ---------------------------------------------------------------------------------

    def script(self, *items: Item) -> None:
        """Queue replies, one per model request (``/v1/messages`` or ``/v1/chat/completions``), in order."""
        for item in items:
            if not isinstance(item, (Turn, Fault)):
                raise TypeError(f"script items must be Turn or Fault, not {item!r}")
        with self._lock:
            self._queue.extend(items)

    def respond_with(self, responder: Responder | None) -> None:
        """Compute replies from the request once the queue is empty (None removes it)."""
        with self._lock:
            self._responder = responder

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def pending(self) -> int:
        """Scripted items not yet consumed."""
        with self._lock:
            return len(self._queue)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until ``count`` requests were logged, for tests that call the model from another thread."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self._requests) >= count, timeout):
                raise TimeoutError(f"{len(self._requests)} of {count} requests arrived within {timeout}s")
            return list(self._requests)

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self._responder = None
            self._requests.clear()
            self._cache.clear()
            self._signatures.clear()

    def refuses_adaptive(self, model: str) -> bool:
        return self.adaptive_unsupported is True or model in self.adaptive_unsupported

    @property
    def openai_model_list(self) -> list[str]:
        return self.openai_models if self.openai_models is not None else list(self.models)

    # -- used by the handler -----------------------------------------------------------------------

    def _authorized(self, headers: dict[str, str]) -> bool:
        bearer = headers.get("authorization", "")
        keys = [headers.get("x-api-key", ""), bearer[7:] if bearer.lower().startswith("bearer ") else ""]
        return any(key and (self.api_key is None or key == self.api_key) for key in keys)

    def _log(self, record: RecordedRequest) -> None:
        with self._arrived:
            self._requests.append(record)
            self._arrived.notify_all()

    def _next_item(self, record: RecordedRequest) -> Item:
        with self._lock:
            if self._queue:
                return self._queue.pop(0)
            responder = self._responder
        return responder(record) if responder else self.default_turn

    def _remember_signatures(self, turn: Turn) -> None:
        with self._lock:
            for block in turn.blocks:
                if isinstance(block, Thinking):
                    self._signatures[block.signature] = block.text

    def _cache_usage(self, body: dict[str, Any]) -> _CacheUsage:
        """Simulate prompt caching on cumulative prefix hashes.

        A prefix is cached when a request put a breakpoint (``cache_control``, or the last block with
        the top-level ``cache_control``) at its end. A breakpoint reads the longest cached prefix ending
        up to 20 blocks before it, as Anthropic's lookback does, and writes the rest up to itself.
        Cache keys include the model; ``cache_control`` itself is not part of the content.
        """
        segments = _cache_segments(body)
        breakpoints = [index for index, segment in enumerate(segments) if "cache_control" in segment]
        if body.get("cache_control") and segments:
            breakpoints.append(len(segments) - 1)
        digest = hashlib.sha256(body["model"].encode())
        hashes, ends, chars = [], [], 0
        for segment in segments:
            content = _content(segment)
            digest.update(content.encode())
            hashes.append(digest.hexdigest())
            chars += len(content)
            ends.append(chars)
        total = max(1, _tokens(chars))
        if not breakpoints:
            return _CacheUsage(total, 0, 0)
        last = max(breakpoints)
        with self._lock:
            hits = [
                position
                for point in breakpoints
                for position in range(max(0, point - _CACHE_LOOKBACK_BLOCKS + 1), point + 1)
                if hashes[position] in self._cache
            ]
            self._cache.update(hashes[point] for point in breakpoints)
        read = _tokens(ends[max(hits)]) if hits else 0
        cached = _tokens(ends[last])
        return _CacheUsage(total - cached, read, cached - read)

    def _anthropic_usage(self, body: dict[str, Any], turn: Turn) -> dict[str, int]:
        usage = {**self._cache_usage(body)._asdict(), "output_tokens": _estimate_output(turn.blocks)}
        return {**usage, **(turn.usage or {})}

    def _openai_usage(self, body: dict[str, Any], turn: Turn) -> dict[str, int]:
        chars = len(_canonical(body.get("messages"))) + len(_canonical(body.get("tools") or []))
        usage = {
            "input_tokens": max(1, _tokens(chars)),
            "output_tokens": _estimate_output(turn.blocks),
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0,
        }
        return {**usage, **(turn.usage or {})}


# --------------------------------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.model_server",
        description="Serve the fake Anthropic/OpenAI model API on loopback until SIGTERM/SIGINT.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address only")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", default=None, help="required key (default: any non-empty key)")
    parser.add_argument("--reply", default="ok", help="text of the reply when nothing is scripted")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds between streamed deltas")
    parser.add_argument("--chunk-chars", type=int, default=8, help="characters per streamed delta")
    parser.add_argument("--models-endpoint", choices=MODELS_ENDPOINTS, default="full", help="gateway variant")
    parser.add_argument(
        "--adaptive-unsupported", default="", help="comma-separated models that refuse adaptive thinking ('*': all)"
    )
    args = parser.parse_args(argv)
    try:
        _check_loopback(args.host)
    except ValueError as error:
        parser.error(str(error))

    default_turn = Turn([Text(args.reply)], token_delay=args.token_delay, chunk_chars=args.chunk_chars)
    refusing = args.adaptive_unsupported
    server = FakeModelServer(
        args.api_key,
        host=args.host,
        port=args.port,
        default_turn=default_turn,
        models_endpoint=args.models_endpoint,
        adaptive_unsupported=True if refusing == "*" else tuple(filter(None, refusing.split(","))),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with server:
        print(f"listening on {server.url}", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
