"""Claude through the official ``anthropic`` SDK (streaming Messages API)."""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import AsyncIterator

import anthropic
import httpx2

from .. import errors
from .base import Provider
from .error_body import GATEWAY_HINT, is_json, one_line, with_status
from .events import Event, Stop, TextDelta, ThinkingDelta, ToolCall, Usage
from .messages import (
    Message,
    OpaqueReasoning,
    RedactedThinking,
    Request,
    Text,
    Thinking,
    ThinkingText,
    Tool,
    ToolResult,
    ToolUse,
)

CACHE = {"type": "ephemeral"}


def _block(block) -> dict:
    if isinstance(block, Text):
        out = {"type": "text", "text": block.text}
    elif isinstance(block, ThinkingText):
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    elif isinstance(block, RedactedThinking):
        return {"type": "redacted_thinking", "data": block.data}
    elif isinstance(block, ToolUse):
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    elif isinstance(block, ToolResult):
        out = {"type": "tool_result", "tool_use_id": block.tool_use_id, "content": block.content}
        if block.is_error:
            out["is_error"] = True
    else:
        raise TypeError(f"not a content block: {block!r}")
    if block.cache:
        out["cache_control"] = CACHE
    return out


def _tool(tool: Tool) -> dict:
    out = {"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}
    if tool.cache:
        out["cache_control"] = CACHE
    return out


def _thinking(thinking: Thinking, adaptive_supported: bool) -> dict:
    if thinking.mode == "adaptive" and adaptive_supported:
        out = {"thinking": {"type": "adaptive"}}
        if thinking.effort:
            out["output_config"] = {"effort": thinking.effort}
        return out
    return {"thinking": {"type": "enabled", "budget_tokens": thinking.budget_tokens}}


def payload(request: Request, adaptive_supported: bool = True) -> dict:
    """The exact keyword arguments of ``client.messages.stream`` for a request (also shown by the dry-run)."""
    if request.infill is not None:
        raise errors.ConfigError(
            "Anthropic's models only chat: layer 1's fim and continue formats need a completion model",
            "set c.JupyterLayers.complete_format = 'auto'",
        )
    if request.cache_breakpoints > 4:
        raise errors.BadRequest(f"{request.cache_breakpoints} cache breakpoints; the API allows at most 4")
    out: dict = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        # OpenAI's encrypted reasoning (from a conversation begun with an OpenAI model) means nothing to Claude.
        "messages": [
            {"role": m.role, "content": [_block(b) for b in m.content if not isinstance(b, OpaqueReasoning)]}
            for m in request.messages
        ],
    }
    if request.system:
        out["system"] = [_block(b) for b in request.system]
    if request.tools:
        out["tools"] = [_tool(t) for t in request.tools]
        if request.tool_choice == "any":
            out["tool_choice"] = {"type": "any"}
    if request.thinking:
        out.update(_thinking(request.thinking, adaptive_supported))
    # No temperature: the Messages API of SDK 2.x has none (the model samples as it sees fit).
    if request.stop:
        out["stop_sequences"] = list(request.stop)
    return out


def _content(block) -> object:
    if block.type == "text":
        return Text(block.text)
    if block.type == "thinking":
        return ThinkingText(block.thinking, block.signature)
    if block.type == "redacted_thinking":
        return RedactedThinking(block.data)
    if block.type == "tool_use":
        return ToolUse(block.id, block.name, dict(block.input))
    raise errors.ProviderError(f"unexpected content block type {block.type!r} from the API")


def _usage(usage) -> Usage:
    return Usage(
        input_tokens=usage.input_tokens or 0,
        output_tokens=usage.output_tokens or 0,
        cache_read_tokens=usage.cache_read_input_tokens or 0,
        cache_write_tokens=usage.cache_creation_input_tokens or 0,
    )


def translate_error(
    exc: Exception, model: str, streamed: bool, service: str = "Anthropic", credentials_hint: str | None = None
) -> errors.LayersError:
    """One typed, one-line error for whatever the SDK raised (a proxy's HTML page becomes its status and title)."""
    if isinstance(exc, anthropic.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        detail = body.get("error", {}) if isinstance(body.get("error"), dict) else {}
        content_type = exc.response.headers.get("content-type", "")
        kind, text = detail.get("type", ""), one_line(exc.status_code, exc.body, content_type)
        # The API answers in JSON (a stream's error event arrives in an SSE reply); anything else came from between.
        gateway = GATEWAY_HINT if exc.status_code != 200 and not is_json(content_type) else None
        if exc.status_code == 200:  # an `event: error` inside a stream that had started
            cause = "overloaded" if kind == "overloaded_error" else (detail.get("message") or kind or text)
            return errors.StreamInterrupted(f"Claude's answer broke off: {cause}")
        if isinstance(exc, (anthropic.AuthenticationError, anthropic.PermissionDeniedError)):
            hint = gateway or credentials_hint
            return errors.AuthenticationFailed(f"{service} refused the credentials: {text}", hint)
        if isinstance(exc, anthropic.NotFoundError) and gateway:
            return errors.ModelNotFound(f"no model {model!r} at this address: {with_status(404, text)}", gateway)
        if isinstance(exc, anthropic.NotFoundError):
            return errors.ModelNotFound(f"{service} does not know the model {model!r}")
        if isinstance(exc, anthropic.RateLimitError):
            retry = exc.response.headers.get("retry-after")
            return errors.RateLimited(
                f"{service} rate limit reached" + (f" (retry after {retry} s)" if retry else ""),
                retry_after=float(retry) if retry and retry.replace(".", "", 1).isdigit() else None,
            )
        if isinstance(exc, anthropic.OverloadedError) or kind == "overloaded_error":
            return errors.Overloaded(f"{service} is overloaded ({exc.status_code})")
        if isinstance(exc, anthropic.BadRequestError):
            return errors.BadRequest(f"{service} rejected the request: {text}", gateway)
        return errors.ProviderError(f"{service} error {with_status(exc.status_code, text)}", gateway)
    if isinstance(exc, (anthropic.APITimeoutError, httpx2.TimeoutException)):
        return errors.TimedOut(f"no answer from {service} within the timeout ({model})")
    if isinstance(exc, (anthropic.APIConnectionError, httpx2.TransportError)):
        if streamed:
            return errors.StreamInterrupted(f"the connection to {service} dropped in the middle of the answer")
        return errors.ConnectionFailed(f"cannot reach the {service} API")
    return errors.ProviderError(f"unexpected answer from {service}: {one_line(None, str(exc))}")


class _AdaptiveRefused(Exception):
    """The API turned down adaptive thinking for a model whose capabilities were unknown."""


def _adaptive_capability(info) -> bool | None:
    """What model info says of adaptive thinking; None when it names no capabilities (a gateway's bare answer)."""
    node: object = info.to_dict()
    for key in ("capabilities", "thinking", "types", "adaptive", "supported"):
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, bool) else None


def _refuses_adaptive(exc: Exception) -> bool:
    """A 400 about adaptive thinking: the API says "adaptive thinking is not supported on this model", gateways
    word it their own way ("'adaptive' is not supported") but name it."""
    return isinstance(exc, anthropic.BadRequestError) and "adaptive" in one_line(400, exc.body).lower()


class AnthropicProvider(Provider):
    """Claude models. Retries before the first byte are the SDK's; a stream that breaks is never retried."""

    name = "anthropic"
    service = "Anthropic"  # who answers, in error messages (models/clouds.py: Bedrock, Vertex AI)
    credentials_hint: str | None = None  # a refusal's hint where the credentials are not an Anthropic key

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        auth_token: str | None = None,
        default_headers: dict[str, str] | None = None,
    ):
        self.api_key, self.auth_token = self._credentials(api_key, auth_token)
        self.base_url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
        self.timeout = timeout
        self.max_retries = max_retries
        self.default_headers = dict(default_headers or {})  # a gateway's headers (config.anthropic_default_headers)
        # httpx2's async pool belongs to one event loop: keep one client per loop (server loop, background loop).
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._adaptive: dict[str, bool | None] = {}  # per model: adaptive thinking supported, None = unknown

    def _credentials(self, api_key: str | None, auth_token: str | None) -> tuple[str | None, str | None]:
        """(API key, bearer token); the clouds' subclasses sign with the cloud's own credentials instead."""
        api_key = api_key or os.environ.get("ANTHROPIC_API_KEY")
        # An OAuth / gateway token goes out as `Authorization: Bearer`, as the SDK sends ANTHROPIC_AUTH_TOKEN.
        auth_token = None if api_key else auth_token or os.environ.get("ANTHROPIC_AUTH_TOKEN")
        if not (api_key or auth_token):
            raise errors.MissingKeyError("no Anthropic API key is configured")
        return api_key, auth_token

    def client(self) -> anthropic.AsyncAnthropic:
        loop = asyncio.get_running_loop()
        if loop not in self._clients:
            self._clients[loop] = self._new_client()
        return self._clients[loop]

    def _new_client(self) -> anthropic.AsyncAnthropic:
        """The SDK client; Bedrock and Vertex AI make their own (models/clouds.py) and share everything else."""
        return anthropic.AsyncAnthropic(
            api_key=self.api_key,
            auth_token=self.auth_token,
            base_url=self.base_url,
            max_retries=self.max_retries,
            timeout=anthropic.Timeout(self.timeout, connect=5.0),
            default_headers=self.default_headers or None,
        )

    def payload(self, request: Request) -> dict:
        """The request as sent: adaptive thinking as configured, a budget once the model turned adaptive down
        (finding out beforehand would need a call)."""
        return payload(request, self._adaptive.get(request.model) is not False)

    async def supports_adaptive_thinking(self, model: str) -> bool | None:
        """Ask the Models API once per model; older models only take a fixed thinking budget.

        None means unknown: a gateway without ``GET /v1/models/{id}`` (or with model info lacking capabilities)
        still serves ``/v1/messages``, which alone can say whether the model exists. Refused credentials are no
        gateway's quirk and are reported as such.
        """
        if model not in self._adaptive:
            try:
                info = await self.client().models.retrieve(model)
            except (anthropic.AuthenticationError, anthropic.PermissionDeniedError) as exc:
                raise translate_error(exc, model, streamed=False) from None
            except (anthropic.APIStatusError, anthropic.APIResponseValidationError):
                info = None  # no answer about capabilities: the request tries adaptive and falls back once
            self._adaptive[model] = None if info is None else _adaptive_capability(info)
        return self._adaptive[model]

    async def events(self, request: Request) -> AsyncIterator[Event]:
        adaptive: bool | None = True
        if request.thinking and request.thinking.mode == "adaptive":
            adaptive = await self.supports_adaptive_thinking(request.model)
        try:
            async for event in self._events(request, payload(request, adaptive is not False), adaptive is None):
                yield event
        except _AdaptiveRefused:
            self._adaptive[request.model] = False  # the next request (and the dry-run) sends the budget directly
            async for event in self._events(request, payload(request, False), False):
                yield event

    async def _events(self, request: Request, kwargs: dict, probing: bool) -> AsyncIterator[Event]:
        """One streamed call; ``probing``: adaptive thinking was sent untested, and a 400 about it is
        ``_AdaptiveRefused`` rather than the user's error."""
        streamed = False
        try:
            async with self.client().messages.stream(**kwargs) as stream:
                async for event in stream:
                    if event.type == "text":
                        streamed = True
                        yield TextDelta(event.text)
                    elif event.type == "thinking":
                        streamed = True
                        yield ThinkingDelta(event.thinking)
                    elif event.type == "content_block_stop" and event.content_block.type == "tool_use":
                        block = event.content_block
                        yield ToolCall(ToolUse(block.id, block.name, dict(block.input)))
                final = await stream.get_final_message()
        except (anthropic.APIError, httpx2.TransportError) as exc:
            if probing and _refuses_adaptive(exc):
                raise _AdaptiveRefused from None
            raise translate_error(exc, request.model, streamed, self.service, self.credentials_hint) from None
        yield _usage(final.usage)
        content = tuple(_content(b) for b in final.content)
        yield Stop(final.stop_reason or "end_turn", Message("assistant", content), final.model)
