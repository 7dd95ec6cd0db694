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
from .events import Event, Stop, TextDelta, ThinkingDelta, ToolCall, Usage
from .messages import (
    Message,
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
        "messages": [{"role": m.role, "content": [_block(b) for b in m.content]} for m in request.messages],
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


def translate_error(exc: Exception, model: str, streamed: bool) -> errors.LayersError:
    """One typed, one-line error for whatever the SDK raised."""
    if isinstance(exc, anthropic.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        detail = body.get("error", {}) if isinstance(body.get("error"), dict) else {}
        kind, text = detail.get("type", ""), detail.get("message") or exc.message
        if exc.status_code == 200:  # an `event: error` inside a stream that had started
            cause = "overloaded" if kind == "overloaded_error" else (text or kind)
            return errors.StreamInterrupted(f"Claude's answer broke off: {cause}")
        if isinstance(exc, (anthropic.AuthenticationError, anthropic.PermissionDeniedError)):
            return errors.AuthenticationFailed(f"Anthropic refused the credentials: {text}")
        if isinstance(exc, anthropic.NotFoundError):
            return errors.ModelNotFound(f"Anthropic does not know the model {model!r}")
        if isinstance(exc, anthropic.RateLimitError):
            retry = exc.response.headers.get("retry-after")
            return errors.RateLimited(
                "Anthropic rate limit reached" + (f" (retry after {retry} s)" if retry else ""),
                retry_after=float(retry) if retry and retry.replace(".", "", 1).isdigit() else None,
            )
        if isinstance(exc, anthropic.OverloadedError) or kind == "overloaded_error":
            return errors.Overloaded("Anthropic is overloaded (529)")
        if isinstance(exc, anthropic.BadRequestError):
            return errors.BadRequest(f"Anthropic rejected the request: {text}")
        return errors.ProviderError(f"Anthropic error {exc.status_code}: {text}")
    if isinstance(exc, (anthropic.APITimeoutError, httpx2.TimeoutException)):
        return errors.TimedOut(f"no answer from Anthropic within the timeout ({model})")
    if isinstance(exc, (anthropic.APIConnectionError, httpx2.TransportError)):
        if streamed:
            return errors.StreamInterrupted("the connection to Anthropic dropped in the middle of the answer")
        return errors.ConnectionFailed("cannot reach the Anthropic API")
    return errors.ProviderError(f"unexpected answer from Anthropic: {exc}")


class AnthropicProvider(Provider):
    """Claude models. Retries before the first byte are the SDK's; a stream that breaks is never retried."""

    name = "anthropic"

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
    ):
        self.api_key = api_key or os.environ.get("ANTHROPIC_API_KEY")
        # An OAuth / gateway token goes out as `Authorization: Bearer`, as the SDK sends ANTHROPIC_AUTH_TOKEN.
        self.auth_token = None if self.api_key else os.environ.get("ANTHROPIC_AUTH_TOKEN")
        if not (self.api_key or self.auth_token):
            raise errors.MissingKeyError("no Anthropic API key is configured")
        self.base_url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
        self.timeout = timeout
        self.max_retries = max_retries
        # httpx2's async pool belongs to one event loop: keep one client per loop (server loop, background loop).
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._adaptive: dict[str, bool] = {}

    def client(self) -> anthropic.AsyncAnthropic:
        loop = asyncio.get_running_loop()
        if loop not in self._clients:
            self._clients[loop] = anthropic.AsyncAnthropic(
                api_key=self.api_key,
                auth_token=self.auth_token,
                base_url=self.base_url,
                max_retries=self.max_retries,
                timeout=anthropic.Timeout(self.timeout, connect=5.0),
            )
        return self._clients[loop]

    def payload(self, request: Request) -> dict:
        """The request as sent; adaptive thinking is shown as configured (checking the model would need a call)."""
        return payload(request)

    async def supports_adaptive_thinking(self, model: str) -> bool:
        """Ask the Models API once per model; older models only take a fixed thinking budget."""
        if model not in self._adaptive:
            try:
                info = await self.client().models.retrieve(model)
            except anthropic.APIError as exc:
                raise translate_error(exc, model, streamed=False) from None
            self._adaptive[model] = bool(info.capabilities.thinking.types.adaptive.supported)
        return self._adaptive[model]

    async def events(self, request: Request) -> AsyncIterator[Event]:
        adaptive = bool(request.thinking) and request.thinking.mode == "adaptive"
        kwargs = payload(request, await self.supports_adaptive_thinking(request.model) if adaptive else True)
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
            raise translate_error(exc, request.model, streamed) from None
        yield _usage(final.usage)
        content = tuple(_content(b) for b in final.content)
        yield Stop(final.stop_reason or "end_turn", Message("assistant", content), final.model)
