"""The model layer: one request shape, one event stream, several providers."""

from .base import Provider
from .events import Event, Failure, Stop, TextDelta, ThinkingDelta, ToolCall, Usage
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
from .router import Route, Router
from .stream import ModelStream, Reply

__all__ = [
    "Event",
    "Failure",
    "Message",
    "ModelStream",
    "Provider",
    "RedactedThinking",
    "Reply",
    "Request",
    "Route",
    "Router",
    "Stop",
    "Text",
    "TextDelta",
    "Thinking",
    "ThinkingDelta",
    "ThinkingText",
    "Tool",
    "ToolCall",
    "ToolResult",
    "ToolUse",
    "Usage",
]
