"""What a layer asks of a model: one provider-neutral request shape.

The shape follows the Anthropic Messages API (content blocks, thinking with signatures, tool_use/tool_result
pairs, cache breakpoints) because it is the richest of the supported protocols; the other providers translate
from it. Everything here is plain data that serialises to JSON, so a request can be shown to the user exactly
as it would leave the machine (the prompt dry-run).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

Role = Literal["user", "assistant"]


@dataclass(frozen=True)
class Text:
    """A text block. ``cache=True`` puts a prompt-cache breakpoint right after it."""

    text: str
    cache: bool = False
    type: Literal["text"] = "text"


@dataclass(frozen=True)
class ThinkingText:
    """A block of model reasoning; it must be sent back unchanged, signature included, in later turns."""

    thinking: str
    signature: str
    type: Literal["thinking"] = "thinking"


@dataclass(frozen=True)
class RedactedThinking:
    """Reasoning the API returned encrypted; opaque, but it must be sent back too."""

    data: str
    type: Literal["redacted_thinking"] = "redacted_thinking"


@dataclass(frozen=True)
class ToolUse:
    """The model asked to call a tool."""

    id: str
    name: str
    input: dict
    type: Literal["tool_use"] = "tool_use"


@dataclass(frozen=True)
class ToolResult:
    """The answer to a ToolUse, sent in the next user turn."""

    tool_use_id: str
    content: str
    is_error: bool = False
    cache: bool = False
    type: Literal["tool_result"] = "tool_result"


@dataclass(frozen=True)
class OpaqueReasoning:
    """An OpenAI reasoning item (Responses API): its reasoning is encrypted, ``summary`` the readable part.

    With ``store=False`` nothing is kept on OpenAI's side, so the item must be sent back whole in later turns
    for the model to keep its reasoning across tool calls. Only the Responses API can read it; Claude and chat
    completions never see it.
    """

    id: str
    encrypted_content: str
    summary: tuple[str, ...] = ()
    type: Literal["openai_reasoning"] = "openai_reasoning"

    def __post_init__(self):
        object.__setattr__(self, "summary", tuple(self.summary))  # a list after a JSON round trip (the relay)


Block = Text | ThinkingText | RedactedThinking | OpaqueReasoning | ToolUse | ToolResult


@dataclass(frozen=True)
class Message:
    role: Role
    content: tuple[Block, ...]

    @classmethod
    def user(cls, *blocks: Block | str) -> Message:
        return cls("user", tuple(Text(b) if isinstance(b, str) else b for b in blocks))

    @classmethod
    def assistant(cls, *blocks: Block | str) -> Message:
        return cls("assistant", tuple(Text(b) if isinstance(b, str) else b for b in blocks))

    @property
    def text(self) -> str:
        return "".join(b.text for b in self.content if isinstance(b, Text))

    @property
    def tool_uses(self) -> list[ToolUse]:
        return [b for b in self.content if isinstance(b, ToolUse)]


@dataclass(frozen=True)
class Tool:
    """A tool the model may call; ``input_schema`` is a JSON Schema object."""

    name: str
    description: str
    input_schema: dict
    cache: bool = False


@dataclass(frozen=True)
class Thinking:
    """Extended reasoning.

    ``adaptive`` lets the model decide how much to think (with an effort level); ``enabled`` gives it a fixed
    token budget. Providers fall back from adaptive to enabled where a model lacks it, and ignore thinking
    where the protocol has none.
    """

    mode: Literal["adaptive", "enabled"] = "adaptive"
    budget_tokens: int = 16000
    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = "high"


@dataclass(frozen=True)
class Infill:
    """A code-completion prompt for a model that continues text rather than chats (layer 1's ``fim`` and
    ``continue`` formats): the text before the cursor and, for fill-in-the-middle, the text after it."""

    prefix: str
    suffix: str | None = None  # None: plain continuation of the prefix


@dataclass(frozen=True)
class Request:
    """One model call. ``model`` is the provider's model id; the router fills it in per layer."""

    messages: tuple[Message, ...]
    system: tuple[Text, ...] = ()
    tools: tuple[Tool, ...] = ()
    tool_choice: Literal["auto", "any"] = "auto"  # "any": the model must call one of the tools
    max_tokens: int | None = None  # None: the layer's answer size (a provider called directly uses 1024)
    thinking: Thinking | None = None
    temperature: float | None = None  # local models only: the Anthropic Messages API has no temperature
    stop: tuple[str, ...] = ()
    model: str = ""
    infill: Infill | None = None  # set: a raw completion of this text; messages and system are empty
    metadata: dict = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict:
        """Plain JSON-ready form, for logs and the prompt dry-run."""
        return asdict(self)

    @property
    def cache_breakpoints(self) -> int:
        blocks = [*self.tools, *self.system, *(b for m in self.messages for b in m.content)]
        return sum(1 for b in blocks if getattr(b, "cache", False))
