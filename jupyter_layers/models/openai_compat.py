"""Any OpenAI-compatible chat server (Ollama, vLLM, llama.cpp server, LM Studio) through the ``openai`` SDK."""

from __future__ import annotations

import asyncio
import json
import os
import weakref
from collections.abc import AsyncIterator

import httpx2
import openai

from .. import errors
from .base import Provider
from .error_body import GATEWAY_HINT, is_json, one_line, with_status
from .events import Event, Stop, TextDelta, ThinkingDelta, ToolCall, Usage
from .messages import Message, Request, Text, ToolResult, ToolUse
from .openai_responses import OPENAI_APIS, ResponseEvents, chosen_api, responses_payload

STOP_REASONS = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens", "content_filter": "refusal"}


def chat_messages(request: Request) -> list[dict]:
    """Anthropic-shaped turns as chat messages: tool results become 'tool' messages, thinking is dropped."""
    out: list[dict] = []
    if request.system:
        out.append({"role": "system", "content": "\n\n".join(b.text for b in request.system)})
    for message in request.messages:
        text = "".join(b.text for b in message.content if isinstance(b, Text))
        if message.role == "assistant":
            turn: dict = {"role": "assistant", "content": text or None}
            calls = [
                {"id": b.id, "type": "function", "function": {"name": b.name, "arguments": json.dumps(b.input)}}
                for b in message.tool_uses
            ]
            if calls:
                turn["tool_calls"] = calls
            out.append(turn)
            continue
        for block in message.content:
            if isinstance(block, ToolResult):
                content = f"ERROR: {block.content}" if block.is_error else block.content
                out.append({"role": "tool", "tool_call_id": block.tool_use_id, "content": content})
        if text:
            out.append({"role": "user", "content": text})
    return out


def completion_payload(request: Request) -> dict:
    """The keyword arguments of ``completions.create`` (``/v1/completions``) for layer 1's ``fim`` and
    ``continue`` formats: the prompt, and the suffix for fill-in-the-middle (the server adds its model's FIM
    tokens, as Ollama, vLLM and llama.cpp's server do)."""
    out: dict = {"model": request.model, "prompt": request.infill.prefix}
    if request.infill.suffix is not None:
        out["suffix"] = request.infill.suffix
    out.update(max_tokens=request.max_tokens, stream=True, stream_options={"include_usage": True})
    if request.temperature is not None:
        out["temperature"] = request.temperature
    if request.stop:
        out["stop"] = list(request.stop)
    return out


def payload(request: Request) -> dict:
    """The keyword arguments of ``chat.completions.create`` for a request (``completions.create`` for an infill)."""
    if request.infill is not None:
        return completion_payload(request)
    out: dict = {
        "model": request.model,
        "messages": chat_messages(request),
        "max_tokens": request.max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.tools:
        out["tools"] = [
            {
                "type": "function",
                "function": {"name": t.name, "description": t.description, "parameters": t.input_schema},
            }
            for t in request.tools
        ]
        if request.tool_choice == "any":
            out["tool_choice"] = "required"
    if request.temperature is not None:
        out["temperature"] = request.temperature
    if request.stop:
        out["stop"] = list(request.stop)
    return out


def translate_error(exc: Exception, base_url: str, model: str, streamed: bool) -> errors.LayersError:
    """One typed, one-line error for whatever the SDK raised (a proxy's HTML page becomes its status and title)."""
    if isinstance(exc, openai.APIStatusError):
        content_type = exc.response.headers.get("content-type", "")
        text = one_line(exc.status_code, exc.body, content_type)
        # Model servers answer errors in JSON; a page or bare text came from something in between.
        gateway = None if is_json(content_type) else GATEWAY_HINT
        if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
            return errors.AuthenticationFailed(f"{base_url} refused the credentials: {text}", gateway)
        if isinstance(exc, openai.NotFoundError) and gateway:
            return errors.ModelNotFound(f"no model {model!r} at {base_url}: {with_status(404, text)}", gateway)
        if isinstance(exc, openai.NotFoundError):
            return errors.ModelNotFound(f"{base_url} does not serve the model {model!r}")
        if isinstance(exc, openai.RateLimitError):
            return errors.RateLimited(f"{base_url} rate limit reached")
        if isinstance(exc, openai.BadRequestError):
            return errors.BadRequest(f"{base_url} rejected the request: {text}", gateway)
        if exc.status_code in (503, 529):
            status = with_status(exc.status_code, text) if gateway else exc.status_code
            return errors.Overloaded(f"{base_url} is overloaded ({status})", gateway)
        return errors.ProviderError(f"{base_url} error {with_status(exc.status_code, text)}", gateway)
    if isinstance(exc, (openai.APITimeoutError, httpx2.TimeoutException)):
        return errors.TimedOut(f"no answer from {base_url} within the timeout ({model})")
    if isinstance(exc, (openai.APIConnectionError, httpx2.TransportError)):
        if streamed:
            return errors.StreamInterrupted(f"the connection to {base_url} dropped in the middle of the answer")
        return errors.ConnectionFailed(f"cannot reach {base_url}", "is the local model server running?")
    if isinstance(exc, openai.APIError):  # an error object inside a stream that had started
        return errors.StreamInterrupted(f"the answer from {base_url} broke off: {one_line(None, exc.message)}")
    return errors.ProviderError(f"unexpected answer from {base_url}: {one_line(None, str(exc))}")


class _ToolCallParts:
    """Accumulates one streamed tool call: id and name arrive first, arguments in fragments."""

    def __init__(self):
        self.id = ""
        self.name = ""
        self.arguments = ""

    def add(self, delta) -> None:
        self.id = delta.id or self.id
        if delta.function:
            self.name = delta.function.name or self.name
            self.arguments += delta.function.arguments or ""

    def tool_use(self) -> ToolUse:
        try:
            arguments = json.loads(self.arguments or "{}")
        except json.JSONDecodeError:
            raise errors.ProviderError(f"the model sent invalid JSON arguments for the tool {self.name!r}") from None
        return ToolUse(self.id, self.name, arguments)


class OpenAICompatProvider(Provider):
    """Streams chat completions; reasoning text (``reasoning_content`` / ``reasoning``) becomes thinking deltas.
    OpenAI's reasoning models go through the Responses API instead (``api``: config.openai_api, decided per
    request from the model's name; models/openai_responses.py)."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        api: str = "auto",
    ):
        if api not in OPENAI_APIS:
            raise errors.ConfigError(f"unknown OpenAI API {api!r}; c.JupyterLayers.openai_api is one of {OPENAI_APIS}")
        self.base_url = base_url
        self.api = api
        # Local servers ignore the key, but the SDK insists on one.
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"
        self.timeout = timeout
        self.max_retries = max_retries
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def uses_responses(self, request: Request) -> bool:
        """A code completion (``infill``) always goes to ``/v1/completions``: the Responses API has no infill."""
        return request.infill is None and chosen_api(self.api, request.model) == "responses"

    def payload(self, request: Request) -> dict:
        return responses_payload(request) if self.uses_responses(request) else payload(request)

    def client(self) -> openai.AsyncOpenAI:
        loop = asyncio.get_running_loop()
        if loop not in self._clients:
            self._clients[loop] = openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=self.api_key,
                max_retries=self.max_retries,
                timeout=openai.Timeout(self.timeout, connect=5.0),
            )
        return self._clients[loop]

    async def events(self, request: Request) -> AsyncIterator[Event]:
        if self.uses_responses(request):
            async for event in self._responses(request):
                yield event
            return
        text: list[str] = []
        calls: dict[int, _ToolCallParts] = {}
        finish, usage, model = "stop", Usage(), request.model
        endpoint = self.client().completions if request.infill is not None else self.client().chat.completions
        try:
            stream = await endpoint.create(**payload(request))
            async with stream:
                async for chunk in stream:
                    model = chunk.model or model
                    if chunk.usage:
                        cached = getattr(chunk.usage.prompt_tokens_details, "cached_tokens", None) or 0
                        usage = Usage(chunk.usage.prompt_tokens - cached, chunk.usage.completion_tokens, cached, 0)
                    if request.infill is not None:
                        for choice in chunk.choices:
                            if choice.text:
                                text.append(choice.text)
                                yield TextDelta(choice.text)
                            finish = choice.finish_reason or finish
                        continue
                    for choice in chunk.choices:
                        delta = choice.delta
                        reasoning = (delta.model_extra or {}).get("reasoning_content") or (delta.model_extra or {}).get(
                            "reasoning"
                        )
                        if reasoning:
                            yield ThinkingDelta(reasoning)
                        if delta.content:
                            text.append(delta.content)
                            yield TextDelta(delta.content)
                        for part in delta.tool_calls or ():
                            calls.setdefault(part.index, _ToolCallParts()).add(part)
                        finish = choice.finish_reason or finish
        except (openai.APIError, httpx2.TransportError) as exc:
            raise translate_error(exc, self.base_url, request.model, bool(text or calls)) from None
        tool_uses = [calls[i].tool_use() for i in sorted(calls)]
        for tool_use in tool_uses:
            yield ToolCall(tool_use)
        yield usage
        content = ((Text("".join(text)),) if text else ()) + tuple(tool_uses)
        yield Stop(STOP_REASONS.get(finish, finish), Message("assistant", content), model)

    async def _responses(self, request: Request) -> AsyncIterator[Event]:
        """One streamed ``responses.create``; its events become the project's as they arrive."""
        translation = ResponseEvents(request.model, self.base_url)
        try:
            stream = await self.client().responses.create(**responses_payload(request))
            async with stream:
                async for event in translation.events(stream):
                    yield event
        except (openai.APIError, httpx2.TransportError) as exc:
            raise translate_error(exc, self.base_url, request.model, translation.streamed) from None
