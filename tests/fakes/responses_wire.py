"""OpenAI's Responses API (``POST /v1/responses``) for the fake: requests checked as the API checks them, replies
streamed as the API streams them, every event built from the ``openai`` SDK's own types (so a field the SDK does
not know, or one it requires and the fake forgot, fails here rather than in a client).

``model_server._Handler._route`` hands ``/v1/responses`` here; scripting (``Turn``, ``Fault``), faults part way
(``error_after``, ``drop_after``, ``stall_after``) and ``server.requests`` are the fake's own. A Turn's blocks
become output items:

* ``Thinking``: a reasoning item. Its text streams as reasoning summary deltas, one summary part per paragraph;
  when the request includes ``reasoning.encrypted_content`` the finished item carries the encrypted reasoning,
  ``derive_encrypted_content(item id, text)``. With ``store=False`` nothing is kept, so a reasoning item sent
  back must carry encrypted content that verifies (this fake's MAC), as the real API must decrypt it.
* ``Text``: an assistant message with one ``output_text`` part.
* ``ToolUse``: a ``function_call`` item whose ``call_id`` is the block's id; its arguments stream in pieces.

The stream ends with ``response.completed``; stop_reason "max_tokens" ends it with ``response.incomplete``
(max_output_tokens), "refusal" with ``response.incomplete`` (content_filter), and "failed" with
``response.failed`` (server_error). ``error_after`` sends an ``error`` event instead of the rest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import typing
from typing import Any

from openai import BaseModel
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseErrorEvent,
    ResponseFailedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseFunctionToolCall,
    ResponseIncompleteEvent,
    ResponseInProgressEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseReasoningItem,
    ResponseReasoningSummaryPartAddedEvent,
    ResponseReasoningSummaryPartDoneEvent,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseReasoningSummaryTextDoneEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    ResponseUsage,
)
from openai.types.responses.response_create_params import ResponseCreateParamsStreaming

from .model_server import (
    Text,
    Thinking,
    ToolUse,
    Turn,
    _canonical,
    _estimate_output,
    _json_pieces,
    _new_id,
    _pieces,
    _Script,
    _sse,
    _tokens,
)

PARAMETERS = frozenset(typing.get_type_hints(ResponseCreateParamsStreaming))  # what `responses.create` may send
MIN_OUTPUT_TOKENS = 16
_KEY = b"fake-responses-reasoning-key"  # fixed, so tests can derive what the fake issues (as derive_signature)
_STOPS = {"max_tokens": ("incomplete", "max_output_tokens"), "refusal": ("incomplete", "content_filter")}
_PART_TYPES = {
    "assistant": ("output_text", "refusal"),
    "user": ("input_text", "input_image", "input_file"),
    "system": ("input_text", "input_image", "input_file"),
    "developer": ("input_text", "input_image", "input_file"),
}


# --------------------------------------------------------------------------------------------------
# Reasoning: which models reason, at which efforts, and the encrypted items they hand out


def efforts(model: str) -> tuple[str, ...] | None:
    """The reasoning efforts a model accepts, per OpenAI's model pages; None: not a reasoning model."""
    if "chat" in model:  # gpt-5-chat-latest and kin take no reasoning settings
        return None
    if re.match(r"o[134](?:-|$)", model):
        return ("low", "medium", "high")
    found = re.match(r"gpt-(\d+)(?:\.(\d+))?(?:-|$)", model)
    if found is None or int(found[1]) < 5:
        return None
    version = (int(found[1]), int(found[2] or 0))
    if re.fullmatch(r"gpt-5-pro(?:-\d{4}-\d{2}-\d{2})?", model):
        return ("high",)
    if version >= (5, 6):
        return ("none", "low", "medium", "high", "xhigh", "max")
    if version >= (5, 2):
        return ("none", "low", "medium", "high", "xhigh")
    if version == (5, 1):
        return ("none", "low", "medium", "high") + (("xhigh",) if "codex-max" in model else ())
    return ("minimal", "low", "medium", "high")


def derive_encrypted_content(item_id: str, text: str) -> str:
    """The encrypted content the fake issues for a reasoning item: the reasoning itself, sealed with a MAC."""
    sealed = base64.urlsafe_b64encode(json.dumps({"id": item_id, "text": text}).encode()).decode()
    return f"enc_{sealed}.{hmac.new(_KEY, sealed.encode(), hashlib.sha256).hexdigest()[:32]}"


def decrypt(encrypted: str) -> dict[str, str] | None:
    """The sealed reasoning ({"id", "text"}) if the fake issued ``encrypted``, else None."""
    sealed, _, mac = encrypted.removeprefix("enc_").rpartition(".")
    if not hmac.compare_digest(mac, hmac.new(_KEY, sealed.encode(), hashlib.sha256).hexdigest()[:32]):
        return None
    return json.loads(base64.urlsafe_b64decode(sealed))


# --------------------------------------------------------------------------------------------------
# Request checks the real API makes; each returns its error message or None


def _listing(values: tuple[str, ...]) -> str:
    quoted = [f"'{value}'" for value in values]
    if len(quoted) < 3:
        return " and ".join(quoted)
    return f"{', '.join(quoted[:-1])}, and {quoted[-1]}"


def check_request(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "Invalid body: expected an object."
    unknown = [name for name in body if name not in PARAMETERS]
    if unknown:
        return f"Unknown parameter: '{unknown[0]}'."
    for name in ("model", "input"):
        if name not in body:
            return f"Missing required parameter: '{name}'."
    limit = body.get("max_output_tokens")
    if isinstance(limit, int) and limit < MIN_OUTPUT_TOKENS:
        return (
            "Invalid 'max_output_tokens': integer below minimum value. "
            f"Expected a value >= {MIN_OUTPUT_TOKENS}, but got {limit} instead."
        )
    return _check_reasoning(body) or _check_tools(body) or _check_input(body["input"], body.get("store", True))


def _check_reasoning(body: dict[str, Any]) -> str | None:
    accepted = efforts(body["model"])
    reasoning = body.get("reasoning") or {}
    for name in ("effort", "summary"):
        if accepted is None and reasoning.get(name) is not None:
            return f"Unsupported parameter: 'reasoning.{name}' is not supported with this model."
    effort = reasoning.get("effort")
    if effort is not None and effort not in accepted:
        return (
            f"Unsupported value: '{effort}' is not supported with the '{body['model']}' model. "
            f"Supported values are: {_listing(accepted)}."
        )
    if accepted is None and "reasoning.encrypted_content" in (body.get("include") or []):
        return "Encrypted content is not supported with this model."
    if accepted is not None and body.get("temperature") is not None:
        return "Unsupported parameter: 'temperature' is not supported with this model."
    return None


def _check_tools(body: dict[str, Any]) -> str | None:
    tools = body.get("tools") or []
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            return f"Invalid value for 'tools[{index}].type': only 'function' tools are served by this fake."
        for name in ("name", "parameters"):
            if name not in tool:
                return f"Missing required parameter: 'tools[{index}].{name}'."
        if tool.get("strict", True) is not False:  # strict is the Responses API's default
            problem = _strict_schema_problem(tool["parameters"] or {})
            if problem:
                return f"Invalid schema for function '{tool['name']}': In context=(), {problem}"
    choice = body.get("tool_choice")
    if choice == "required" and not tools:
        return "Tool choice 'required' must be specified with 'tools' parameter."
    if choice is not None and not isinstance(choice, dict) and choice not in ("auto", "none", "required"):
        return f"Invalid value: '{choice}'. Supported values are: 'none', 'auto', and 'required'."
    return None


def _strict_schema_problem(schema: dict[str, Any]) -> str | None:
    if schema.get("additionalProperties") is not False:
        return "'additionalProperties' is required to be supplied and to be false."
    missing = [key for key in schema.get("properties", {}) if key not in schema.get("required", [])]
    if missing:
        return (
            "'required' is required to be supplied and to be an array including every key in properties. "
            f"Missing '{missing[0]}'."
        )
    return None


def _check_input(items: Any, store: bool) -> str | None:
    """Item shapes, reasoning items that can be decrypted and lead to an output, and calls paired with outputs."""
    if isinstance(items, str):
        return None
    if not isinstance(items, list):
        return "Invalid type for 'input': expected a string or an array of input items."
    calls: list[str] = []
    answered: set[str] = set()
    for index, item in enumerate(items):
        where = f"input[{index}]"
        if not isinstance(item, dict):
            return f"Invalid type for '{where}': expected an object."
        kind = item.get("type", "message" if "role" in item else None)
        following = items[index + 1] if index + 1 < len(items) else {}
        if kind == "message":
            problem = _check_message(item, where)
        elif kind == "reasoning":
            problem = _check_reasoning_item(item, where, store, following)
        elif kind == "function_call":
            problem = _missing(item, where, ("call_id", "name", "arguments"))
            if not problem and not isinstance(item["arguments"], str):
                problem = f"Invalid type for '{where}.arguments': expected a string, but got an object instead."
            calls.append(item.get("call_id"))
        elif kind == "function_call_output":
            problem = _missing(item, where, ("call_id", "output"))
            if not problem and item["call_id"] not in calls:
                problem = f"No tool call found for function call output with call_id {item['call_id']}."
            answered.add(item.get("call_id"))
        else:
            problem = (
                f"Invalid value: '{kind}'. Supported values are: 'message', 'reasoning', 'function_call', and "
                "'function_call_output' (the item types this fake serves)."
            )
        if problem:
            return problem
    unanswered = [call for call in calls if call not in answered]
    return f"No tool output found for function call {unanswered[0]}." if unanswered else None


def _missing(item: dict[str, Any], where: str, names: tuple[str, ...]) -> str | None:
    absent = [name for name in names if item.get(name) is None]
    return f"Missing required parameter: '{where}.{absent[0]}'." if absent else None


def _check_message(item: dict[str, Any], where: str) -> str | None:
    role = item.get("role")
    if role not in _PART_TYPES:
        return f"Invalid value: '{role}'. Supported values are: 'assistant', 'system', 'developer', and 'user'."
    content = item.get("content")
    if isinstance(content, str):
        return None
    if not isinstance(content, list):
        return f"Missing required parameter: '{where}.content'."
    for position, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in _PART_TYPES[role]:
            return f"Invalid value: '{kind}'. Supported values are: {_listing(_PART_TYPES[role])}."
        if kind in ("input_text", "output_text") and not isinstance(part.get("text"), str):
            return f"Missing required parameter: '{where}.content[{position}].text'."
    return None


def _check_reasoning_item(item: dict[str, Any], where: str, store: bool, following: dict[str, Any]) -> str | None:
    problem = _missing(item, where, ("id", "summary"))
    if problem:
        return problem
    encrypted = item.get("encrypted_content")
    if not encrypted:
        kept = "" if store else " Items are not persisted when `store` is set to false."
        return f"Item with id '{item['id']}' not found.{kept} Try again with `store` set to true, or remove this item."
    sealed = decrypt(encrypted)
    if sealed is None or sealed["id"] != item["id"]:
        return f"The encrypted content for item {item['id']} could not be verified."
    next_kind = following.get("type", "message" if "role" in following else None)
    if next_kind != "function_call" and not (next_kind == "message" and following.get("role") == "assistant"):
        return f"Item '{item['id']}' of type 'reasoning' was provided without its required following item."
    return None


# --------------------------------------------------------------------------------------------------
# Replies


def _dump(model: BaseModel) -> dict[str, Any]:
    """As the API sends it: the fields set, by their wire names."""
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)


class _Output:
    """One Turn as output items and the events that stream them, numbered in order."""

    def __init__(self, turn: Turn, body: dict[str, Any]):
        self.turn, self.body = turn, body
        self.encrypt = "reasoning.encrypted_content" in (body.get("include") or [])
        self.numbers = iter(range(1_000_000))
        self.items: list[BaseModel] = []

    def event(self, cls: type[BaseModel], **fields: Any) -> bytes:
        event = cls(sequence_number=next(self.numbers), **fields)
        return _sse(event.type, _dump(event))

    def stream(self) -> list[tuple[bool, bytes]]:
        body: list[tuple[bool, bytes]] = []
        for index, block in enumerate(self.turn.blocks):
            if isinstance(block, Thinking):
                body += self._reasoning(index, block)
            elif isinstance(block, Text):
                body += self._message(index, block)
            else:
                body += self._function_call(index, block)
        return body

    def _added(self, index: int, item: BaseModel) -> tuple[bool, bytes]:
        return False, self.event(
            ResponseOutputItemAddedEvent, type="response.output_item.added", output_index=index, item=item
        )

    def _done(self, index: int, item: BaseModel) -> tuple[bool, bytes]:
        self.items.append(item)
        return False, self.event(
            ResponseOutputItemDoneEvent, type="response.output_item.done", output_index=index, item=item
        )

    def _reasoning(self, index: int, block: Thinking) -> list[tuple[bool, bytes]]:
        item_id = _new_id("rs_")
        parts = block.text.split("\n\n")
        encrypted = derive_encrypted_content(item_id, block.text) if self.encrypt else None
        summary = [{"type": "summary_text", "text": part} for part in parts]
        done = ResponseReasoningItem(id=item_id, type="reasoning", summary=summary, encrypted_content=encrypted)
        at = {"item_id": item_id, "output_index": index}
        out = [self._added(index, ResponseReasoningItem(id=item_id, type="reasoning", summary=[]))]
        for number, part in enumerate(parts):
            empty, full = {"type": "summary_text", "text": ""}, {"type": "summary_text", "text": part}
            kind = "response.reasoning_summary_part.added"
            out.append(
                (
                    False,
                    self.event(
                        ResponseReasoningSummaryPartAddedEvent, type=kind, summary_index=number, part=empty, **at
                    ),
                )
            )
            kind = "response.reasoning_summary_text.delta"
            for piece in _pieces(part, self.turn.chunk_chars):
                out.append(
                    (
                        True,
                        self.event(
                            ResponseReasoningSummaryTextDeltaEvent, type=kind, summary_index=number, delta=piece, **at
                        ),
                    )
                )
            kind = "response.reasoning_summary_text.done"
            out.append(
                (
                    False,
                    self.event(ResponseReasoningSummaryTextDoneEvent, type=kind, summary_index=number, text=part, **at),
                )
            )
            kind = "response.reasoning_summary_part.done"
            out.append(
                (
                    False,
                    self.event(ResponseReasoningSummaryPartDoneEvent, type=kind, summary_index=number, part=full, **at),
                )
            )
        return [*out, self._done(index, done)]

    def _message(self, index: int, block: Text) -> list[tuple[bool, bytes]]:
        item_id = _new_id("msg_")
        empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        full = {**empty, "text": block.text}

        def message(status: str, content: list[dict[str, Any]]) -> ResponseOutputMessage:
            return ResponseOutputMessage(id=item_id, type="message", role="assistant", status=status, content=content)

        at = {"item_id": item_id, "output_index": index, "content_index": 0}
        out = [self._added(index, message("in_progress", []))]
        out.append(
            (False, self.event(ResponseContentPartAddedEvent, type="response.content_part.added", part=empty, **at))
        )
        for piece in _pieces(block.text, self.turn.chunk_chars):
            kind = "response.output_text.delta"
            out.append((True, self.event(ResponseTextDeltaEvent, type=kind, delta=piece, logprobs=[], **at)))
        kind = "response.output_text.done"
        out.append((False, self.event(ResponseTextDoneEvent, type=kind, text=block.text, logprobs=[], **at)))
        out.append(
            (False, self.event(ResponseContentPartDoneEvent, type="response.content_part.done", part=full, **at))
        )
        return [*out, self._done(index, message("completed", [full]))]

    def _function_call(self, index: int, block: ToolUse) -> list[tuple[bool, bytes]]:
        item_id, arguments = _new_id("fc_"), json.dumps(block.input)

        def call(status: str, arguments: str) -> ResponseFunctionToolCall:
            fields = {"id": item_id, "call_id": block.id, "name": block.name, "arguments": arguments}
            return ResponseFunctionToolCall(type="function_call", status=status, **fields)

        at = {"item_id": item_id, "output_index": index}
        out = [self._added(index, call("in_progress", ""))]
        for piece in _json_pieces(block.input, self.turn.chunk_chars):
            kind = "response.function_call_arguments.delta"
            out.append((True, self.event(ResponseFunctionCallArgumentsDeltaEvent, type=kind, delta=piece, **at)))
        kind = "response.function_call_arguments.done"
        out.append((False, self.event(ResponseFunctionCallArgumentsDoneEvent, type=kind, arguments=arguments, **at)))
        return [*out, self._done(index, call("completed", arguments))]


def _usage(body: dict[str, Any], turn: Turn) -> ResponseUsage:
    """Estimated from the request and the turn, overridden by ``turn.usage`` (Anthropic's names, as for every API
    of the fake: input_tokens uncached, cache_read_input_tokens, output_tokens; plus reasoning_tokens)."""
    chars = len(_canonical(body.get("input"))) + len(body.get("instructions") or "")
    chars += len(_canonical(body.get("tools") or []))
    thinking = sum(len(block.text) for block in turn.blocks if isinstance(block, Thinking))
    usage = {
        "input_tokens": max(1, _tokens(chars)),
        "cache_read_input_tokens": 0,
        "output_tokens": _estimate_output(turn.blocks),
        "reasoning_tokens": -(-thinking // 4),
        **(turn.usage or {}),
    }
    cached = usage["cache_read_input_tokens"]
    total = usage["input_tokens"] + cached
    return ResponseUsage(
        input_tokens=total,
        input_tokens_details={"cached_tokens": cached, "cache_write_tokens": 0},
        output_tokens=usage["output_tokens"],
        output_tokens_details={"reasoning_tokens": usage["reasoning_tokens"]},
        total_tokens=total + usage["output_tokens"],
    )


def _response(
    body: dict[str, Any],
    response_id: str,
    model: str,
    status: str,
    output: list[BaseModel] | tuple = (),
    usage: ResponseUsage | None = None,
    error: dict[str, str] | None = None,
    incomplete_details: dict[str, str] | None = None,
) -> Response:
    """The response object as the API echoes the request's settings in it."""
    accepted = efforts(model)
    reasoning = body.get("reasoning") or {}
    return Response(
        id=response_id,
        object="response",
        created_at=time.time(),
        status=status,
        model=model,
        instructions=body.get("instructions"),
        max_output_tokens=body.get("max_output_tokens"),
        parallel_tool_calls=body.get("parallel_tool_calls", True),
        previous_response_id=None,
        reasoning={"effort": reasoning.get("effort", "medium"), "summary": reasoning.get("summary")}
        if accepted
        else None,
        temperature=body.get("temperature", 1.0),
        tool_choice=body.get("tool_choice", "auto"),
        tools=body.get("tools") or [],
        top_p=1.0,
        truncation="disabled",
        metadata={},
        output=list(output),
        usage=usage,
        error=error,
        incomplete_details=incomplete_details,
    )


def serve(handler, body: Any) -> None:
    """Answer ``POST /v1/responses``: the API's 404 or 400, a scripted Fault, or the Turn streamed (or whole)."""
    item = handler._openai_turn(body, check_request)
    if item is None:
        return
    response_id, model = _new_id("resp_"), item.model or body["model"]
    output = _Output(item, body)
    started = _response(body, response_id, model, "in_progress")
    head = [
        output.event(ResponseCreatedEvent, type="response.created", response=started),
        output.event(ResponseInProgressEvent, type="response.in_progress", response=started),
    ]
    deltas = output.stream()
    status, reason = _STOPS.get(item.stop_reason, ("completed", None))
    final: dict[str, Any] = {"output": output.items, "usage": _usage(body, item)}
    if item.stop_reason == "failed":
        status = "failed"
        final["error"] = {"code": "server_error", "message": "The model failed to generate a response."}
    elif reason:
        final["incomplete_details"] = {"reason": reason}
    done = _response(body, response_id, model, status, **final)
    if not body.get("stream"):
        handler._unstreamed(item, _dump(done))
        return
    ending = {"completed": ResponseCompletedEvent, "incomplete": ResponseIncompleteEvent, "failed": ResponseFailedEvent}
    tail = [output.event(ending[status], type=f"response.{status}", response=done)]
    error = output.event(
        ResponseErrorEvent,
        type="error",
        code="server_error",
        message="The server had an error while processing your request. Sorry about that!",
        param=None,
    )
    handler._play(item, _Script(head, deltas, tail, error))
