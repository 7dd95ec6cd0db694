"""The model layer: one request shape, one event stream, several providers.

The router (``models.router``) is imported from its module: it sits on the limits and the usage record, which
sit on these types.
"""

from .base import Provider
from .events import Event, Failure, Stop, TextDelta, ThinkingDelta, ToolCall, Usage
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
from .stream import ModelStream, Reply

__all__ = [
    "Event",
    "Failure",
    "Message",
    "ModelStream",
    "OpaqueReasoning",
    "Provider",
    "RedactedThinking",
    "Reply",
    "Request",
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
