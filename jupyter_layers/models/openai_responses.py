"""OpenAI's reasoning models through the Responses API (``/v1/responses``), the OpenAI provider's second wire path.

Why a second path: over chat completions a reasoning model's reasoning is lost after every turn, so an agent loop
(tool call, result, next call) makes it start its thinking over, and its reasoning summaries never arrive. The
Responses API streams the summaries and, with ``store=False`` and ``include=["reasoning.encrypted_content"]``,
hands back each reasoning item encrypted; it is kept in the assistant message (``OpaqueReasoning``) and sent
back as an input item on the next turn, as Claude's signed thinking blocks are.

``c.JupyterLayers.openai_api`` chooses the path; "auto" picks this one for OpenAI's reasoning models by name
(``REASONING_MODEL_NAMES``) and chat completions for every other model, which is what local servers serve.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

from .. import errors
from .error_body import one_line
from .events import Event, Stop, TextDelta, ThinkingDelta, ToolCall, Usage
from .messages import Message, OpaqueReasoning, Request, Text, ToolResult, ToolUse

# OpenAI's reasoning models: o1, o3, o4-mini..., and gpt-5 and later (gpt-5-mini, gpt-5.1-codex, gpt-6...), but not
# the chat variants (gpt-5-chat-latest), which take no reasoning settings. gpt-4o, gpt-4.1, gpt-oss and local
# models do not match.
REASONING_MODEL_NAMES = re.compile(r"(?:o[134]|gpt-(?:[5-9]|[1-9]\d+))(?:[-.]|$)(?!.*chat)", re.I)
OPENAI_APIS = ("auto", "chat", "responses")
# Thinking's effort levels, lowest first; OpenAI names its levels the same (below them: none, minimal).
EFFORTS = ("low", "medium", "high", "xhigh", "max")
MIN_OUTPUT_TOKENS = 16  # the API refuses a smaller max_output_tokens
_GPT_VERSION = re.compile(r"gpt-(\d+)(?:\.(\d+))?", re.I)
_HIGH_ONLY = re.compile(r"gpt-5-pro(?:-\d{4}-\d{2}-\d{2})?$", re.I)


def is_reasoning_model(model: str) -> bool:
    return REASONING_MODEL_NAMES.match(model) is not None


def chosen_api(configured: str, model: str) -> str:
    """'responses' or 'chat' for a model: as configured, or by the model's name ("auto")."""
    if configured != "auto":
        return configured
    return "responses" if is_reasoning_model(model) else "chat"


def reasoning_effort(effort: str | None, model: str) -> str | None:
    """Thinking's effort as the model accepts it: the same level, capped at the model's highest.

    o1/o3/o4, gpt-5 and gpt-5.1 reason at most at "high" (gpt-5.1-codex-max at "xhigh"), gpt-5.2 to 5.5 at
    "xhigh", gpt-5.6 and later at "max"; gpt-5-pro only at "high". A larger level is refused by the API, so
    "max" on o3 asks for its highest, "high". None leaves the model's default. There is no token budget here
    (``Thinking.budget_tokens``): the effort is the only dial, and max_output_tokens bounds reasoning and answer.
    """
    if effort is None:
        return None
    if _HIGH_ONLY.match(model):
        return "high"
    version = _GPT_VERSION.match(model)
    major, minor = (int(version[1]), int(version[2] or 0)) if version else (0, 0)  # no version: the o-series
    if (major, minor) >= (5, 6):
        ceiling = "max"
    elif (major, minor) >= (5, 2) or "codex-max" in model.lower():
        ceiling = "xhigh"
    else:
        ceiling = "high"
    return EFFORTS[min(EFFORTS.index(effort), EFFORTS.index(ceiling))]


def input_items(request: Request) -> list[dict]:
    """The conversation as Responses input items, in order: reasoning items sent back before the output they led
    to, function calls and their outputs paired by ``call_id``. Claude's thinking blocks are dropped (only Claude
    reads them), as chat completions drop them."""
    items: list[dict] = []
    for message in request.messages:
        for block in message.content:
            if isinstance(block, Text):
                kind = "output_text" if message.role == "assistant" else "input_text"
                last = items[-1] if items else {}
                part = {"type": kind, "text": block.text}
                if last.get("type") == "message" and last["role"] == message.role:
                    last["content"].append(part)
                else:
                    items.append({"type": "message", "role": message.role, "content": [part]})
            elif isinstance(block, OpaqueReasoning):
                summary = [{"type": "summary_text", "text": text} for text in block.summary]
                encrypted = block.encrypted_content
                items.append({"type": "reasoning", "id": block.id, "summary": summary, "encrypted_content": encrypted})
            elif isinstance(block, ToolUse):
                call = {"type": "function_call", "call_id": block.id, "name": block.name}
                items.append({**call, "arguments": json.dumps(block.input)})
            elif isinstance(block, ToolResult):
                output = f"ERROR: {block.content}" if block.is_error else block.content
                items.append({"type": "function_call_output", "call_id": block.tool_use_id, "output": output})
    return items


def responses_payload(request: Request) -> dict:
    """The exact keyword arguments of ``responses.create`` for a request (also shown by the dry-run)."""
    if request.stop:
        raise errors.ConfigError(
            "the Responses API has no stop sequences", "set c.JupyterLayers.openai_api = 'chat' for this model"
        )
    reasoning = is_reasoning_model(request.model)
    out: dict = {"model": request.model}
    if request.system:
        out["instructions"] = "\n\n".join(b.text for b in request.system)
    out["input"] = input_items(request)
    if request.max_tokens is not None:
        out["max_output_tokens"] = max(MIN_OUTPUT_TOKENS, request.max_tokens)
    out.update(stream=True, store=False)  # nothing kept at OpenAI: the reasoning travels encrypted instead
    if reasoning:
        effort = reasoning_effort(request.thinking.effort, request.model) if request.thinking else None
        out["reasoning"] = {"effort": effort, "summary": "auto"} if effort else {"summary": "auto"}
        out["include"] = ["reasoning.encrypted_content"]
    if request.tools:
        # strict=False: strict mode (the API's default) requires every property listed as required.
        out["tools"] = [
            {
                "type": "function",
                "name": t.name,
                "description": t.description,
                "parameters": t.input_schema,
                "strict": False,
            }
            for t in request.tools
        ]
        if request.tool_choice == "any":
            out["tool_choice"] = "required"
    if request.temperature is not None and not reasoning:  # reasoning models refuse a temperature
        out["temperature"] = request.temperature
    return out


def _usage(usage) -> Usage:
    """Usage as Anthropic counts it: input without its cached part (output includes the reasoning tokens)."""
    if usage is None:
        return Usage()
    cached = getattr(usage.input_tokens_details, "cached_tokens", None) or 0
    return Usage(usage.input_tokens - cached, usage.output_tokens, cached, 0)


def _arguments(name: str, arguments: str) -> dict:
    try:
        return json.loads(arguments or "{}")
    except json.JSONDecodeError:
        raise errors.ProviderError(f"the model sent invalid JSON arguments for the tool {name!r}") from None


def _block(item) -> Text | OpaqueReasoning | ToolUse | None:
    """An output item as a content block; None for what is not sent back (reasoning without encrypted content,
    which a server that keeps nothing could not read again)."""
    if item.type == "reasoning":
        if not item.encrypted_content:
            return None
        return OpaqueReasoning(item.id, item.encrypted_content, tuple(part.text for part in item.summary))
    if item.type == "message":
        text = "".join(getattr(part, "text", None) or getattr(part, "refusal", "") for part in item.content)
        return Text(text) if text else None
    if item.type == "function_call":
        return ToolUse(item.call_id, item.name, _arguments(item.name, item.arguments))
    raise errors.ProviderError(f"unexpected output item type {item.type!r} from the Responses API")


def _stop_reason(response, content: list) -> str:
    """Anthropic's names: tool_use when the model called a tool, max_tokens when the answer was cut."""
    if response.status == "incomplete":
        reason = getattr(response.incomplete_details, "reason", None)
        return {"max_output_tokens": "max_tokens", "content_filter": "refusal"}.get(reason, reason or "incomplete")
    if any(isinstance(block, ToolUse) for block in content):
        return "tool_use"
    refused = any(part.type == "refusal" for item in response.output if item.type == "message" for part in item.content)
    return "refusal" if refused else "end_turn"


class ResponseEvents:
    """Translates one Responses stream into the project's events. ``streamed``: something was shown already,
    so an HTTP fault is a broken answer rather than a failed call."""

    def __init__(self, model: str, base_url: str):
        self.model, self.base_url = model, base_url
        self.streamed = False

    def broke_off(self, cause: str) -> errors.StreamInterrupted:
        return errors.StreamInterrupted(f"the answer from {self.base_url} broke off: {one_line(None, cause)}")

    async def events(self, stream) -> AsyncIterator[Event]:
        content: list = []
        final = None
        thought = False
        async for event in stream:
            kind = event.type
            if kind == "response.created":
                self.model = event.response.model or self.model
            elif kind == "response.reasoning_summary_part.added" and thought:
                yield ThinkingDelta("\n\n")  # summaries come in parts, each a paragraph
            elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
                self.streamed = thought = True
                yield ThinkingDelta(event.delta)
            elif kind in ("response.output_text.delta", "response.refusal.delta"):
                self.streamed = True
                yield TextDelta(event.delta)
            elif kind == "response.output_item.done":
                block = _block(event.item)
                if isinstance(block, ToolUse):
                    yield ToolCall(block)
                if block is not None:
                    content.append(block)
            elif kind == "error":
                raise self.broke_off(f"{event.message} ({event.code})" if event.code else event.message)
            elif kind == "response.failed":
                error = event.response.error
                raise self.broke_off(f"{error.message} ({error.code})" if error else "the response failed")
            elif kind in ("response.completed", "response.incomplete"):
                final = event.response
        if final is None:
            raise self.broke_off("the stream ended before the response was complete")
        yield _usage(final.usage)
        yield Stop(_stop_reason(final, content), Message("assistant", tuple(content)), final.model or self.model)
