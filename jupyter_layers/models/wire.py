"""Requests and events as JSON, for the relay between a kernel and its Jupyter server (models/relay.py).

Every type here is a frozen dataclass of plain data; content blocks carry their ``type`` tag, so the JSON of a
request names each block's class and the round trip is exact (tests/test_relay.py checks it for every type).
"""

from __future__ import annotations

import dataclasses
import typing

from .. import errors
from .events import Event, Failure, Stop, TextDelta, ThinkingDelta, ToolCall, Usage
from .messages import Block, Infill, Message, Request, Text, Thinking, Tool, ToolUse

BLOCKS = {cls.__dataclass_fields__["type"].default: cls for cls in typing.get_args(Block)}
EVENTS = {"text": TextDelta, "thinking": ThinkingDelta, "tool_call": ToolCall, "usage": Usage, "stop": Stop}


def block(data: dict):
    return BLOCKS[data["type"]](**data)


def message(data: dict) -> Message:
    return Message(data["role"], tuple(block(b) for b in data["content"]))


def request_to_json(request: Request) -> dict:
    return request.to_dict()


def request_from_json(data: dict) -> Request:
    return Request(
        messages=tuple(message(m) for m in data["messages"]),
        system=tuple(Text(**b) for b in data.get("system", ())),
        tools=tuple(Tool(**t) for t in data.get("tools", ())),
        tool_choice=data.get("tool_choice", "auto"),
        max_tokens=data.get("max_tokens"),
        thinking=Thinking(**data["thinking"]) if data.get("thinking") else None,
        temperature=data.get("temperature"),
        stop=tuple(data.get("stop", ())),
        model=data.get("model", ""),
        infill=Infill(**data["infill"]) if data.get("infill") else None,
        metadata=data.get("metadata", {}),
    )


def event_to_json(event: Event) -> dict:
    if isinstance(event, Failure):
        error = event.error
        extra = {k: v for k, v in vars(error).items() if k not in ("message", "hint")}  # e.g. retry_after
        return {"type": "failure", "error": type(error).__name__, "message": error.message, "hint": error.hint, **extra}
    kind = next(name for name, cls in EVENTS.items() if isinstance(event, cls))
    return {"type": kind, **dataclasses.asdict(event)}


def event_from_json(data: dict) -> Event:
    kind = data.pop("type")
    if kind == "failure":
        return Failure(error_from_json(data))
    if kind == "tool_call":
        return ToolCall(ToolUse(**data["tool_use"]))
    if kind == "stop":
        return Stop(data["reason"], message(data["message"]), data["model"])
    return EVENTS[kind](**data)


def error_from_json(data: dict) -> errors.LayersError:
    """The same error class where this side knows it (the hint travels either way)."""
    cls = next((c for c in _error_classes(errors.LayersError) if c.__name__ == data["error"]), errors.LayersError)
    error = cls.__new__(cls)
    errors.LayersError.__init__(error, data.pop("message"), data.pop("hint"))
    vars(error).update({k: v for k, v in data.items() if k != "error"})
    return error


def _error_classes(root: type) -> list[type]:
    return [root, *(c for sub in root.__subclasses__() for c in _error_classes(sub))]
