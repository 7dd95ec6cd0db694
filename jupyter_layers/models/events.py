"""What comes back from a model: a stream of typed events, the same for every provider."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LayersError
from .messages import Message, ToolUse


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ThinkingDelta:
    text: str


@dataclass(frozen=True)
class ToolCall:
    """A complete tool call: its input JSON has been fully received and parsed."""

    tool_use: ToolUse


@dataclass(frozen=True)
class Usage:
    """Token counts of one call. ``input_tokens`` excludes the cached part, as the Anthropic API counts it."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )


@dataclass(frozen=True)
class Stop:
    """The last event of a successful stream.

    ``message`` is the whole assistant turn (thinking blocks with signatures included) so a caller can append
    it to the conversation unchanged. ``reason`` is the provider's stop reason normalised to Anthropic's names
    (end_turn, max_tokens, stop_sequence, tool_use, refusal, ...) or ``cancelled``.
    """

    reason: str
    message: Message
    model: str


@dataclass(frozen=True)
class Failure:
    """The last event of a failed stream; events before it (text already shown) stay valid."""

    error: LayersError


Event = TextDelta | ThinkingDelta | ToolCall | Usage | Stop | Failure
