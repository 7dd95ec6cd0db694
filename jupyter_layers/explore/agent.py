"""Layer 3, independent of surfaces: the exploration agent's loop.

The model works with tools (run a scratch cell, list or inspect variables, read cells, read the last error,
finish). Scratch code runs wherever the surface's workspace runs it (a fork of the kernel, normally). The loop
is bounded by steps, a per-cell timeout and a token budget, is cancellable (the surface's ``run`` returns None),
and never trusts the model's tool input: a malformed call becomes an error result the model can read, so even
a tiny model's nonsense runs to the end.

An exploration that makes no progress ends with ``UnusableAnswer`` (one line on every surface) instead of a report:
findings that are junk (``engine.junk``), a model going round in circles (turns that only repeat calls it already
made), or a step limit reached without one scratch cell that ran without an error.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..engine import junk
from ..models.events import Stop
from ..models.messages import Message, Request, Text, ToolResult, ToolUse
from ..models.router import Route
from ..sandbox import StepResult

RESULT_CHARS = 4000  # of one tool result, as the model reads it
NO_ANSWER = "(no answer)"  # findings whose finish call gave none
STALLED_TURNS = 2  # turns in a row that only repeat calls already made (same tool, same input): going in circles


class Workspace(Protocol):
    """Where the tools act: the kernel (through a sandbox) for magics, a kernel client for other surfaces."""

    def run(self, code: str, timeout: float) -> StepResult: ...
    def variables(self) -> str: ...
    def inspect(self, name: str) -> str: ...
    def cells(self, indices: list[int]) -> str: ...
    def last_error(self) -> str: ...


@dataclass(frozen=True)
class ScratchStep:
    number: int
    code: str
    result: StepResult
    note: str = ""  # what the model said before running it

    def outputs(self) -> list[dict]:
        """The step as a notebook cell's outputs: exactly what the agent read."""
        return [{"output_type": "stream", "name": "stdout", "text": self.result.as_text()}]


@dataclass(frozen=True)
class Findings:
    question: str
    answer: str
    evidence: tuple[str, ...] = ()
    fix: str = ""
    complete: bool = True  # False: the step limit or token budget ended it before the agent concluded

    def markdown(self) -> str:
        lines = [f"**Findings**: {self.answer}"]
        if not self.complete:
            lines[0] = f"**Exploration stopped before a conclusion.** {self.answer}"
        if self.evidence:
            lines += ["", "Evidence:", *(f"- {item}" for item in self.evidence)]
        if self.fix:
            lines += ["", "Suggested fix:", "```python", self.fix, "```"]
        return "\n".join(lines)


@dataclass
class Exploration:
    """The whole record: kept by the surface so escalation can send what exploration learned."""

    question: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    steps: list[ScratchStep] = field(default_factory=list)
    findings: Findings | None = None

    def transcript(self, code_chars: int = 1500, output_chars: int = 1500) -> str:
        parts = [f"Question: {self.question}"]
        for step in self.steps:
            output = step.result.as_text(output_chars)
            parts.append(f"Scratch step {step.number}:\n{step.code[:code_chars]}\nOutput:\n{output}")
        if self.findings:
            parts.append(self.findings.markdown())
        return "\n\n".join(parts)


@dataclass(frozen=True)
class StepStarted:
    number: int
    code: str
    note: str


@dataclass(frozen=True)
class StepFinished:
    step: ScratchStep


@dataclass(frozen=True)
class ToolUsed:
    name: str
    input: dict
    result: str


@dataclass(frozen=True)
class Limits:
    max_steps: int = 12  # model turns that use tools
    step_timeout: float = 30.0  # seconds per scratch cell
    token_budget: int = 400_000  # input + output tokens over the whole exploration


class Conversation:
    """An agent's turns so far. Each request carries one moving cache breakpoint on its last block, so each turn
    reuses the previous prefix; ``circling`` tells a model going round in circles (``STALLED_TURNS`` turns in a row
    that only repeat calls it already made: same tool, same input)."""

    def __init__(self, request: Request):
        self.request = request
        self.messages = without_cache_mark(list(request.messages))
        self.calls: set[str] = set()  # every call made so far, as tool and input
        self.stalled = 0

    def next_request(self) -> Request:
        return dataclasses.replace(self.request, messages=tuple(with_cache_mark(self.messages)))

    def add(self, message: Message) -> None:
        self.messages.append(message)

    def circling(self, uses: tuple[ToolUse, ...]) -> bool:
        made = {call_key(use) for use in uses}
        self.stalled = self.stalled + 1 if made <= self.calls else 0
        self.calls |= made
        return self.stalled >= STALLED_TURNS


class Agent:
    """Runs one exploration: ``run`` streams a request for the surface and returns its Stop (None: failed or
    cancelled, already told to the user); ``on_event`` sees StepStarted, StepFinished and ToolUsed."""

    def __init__(
        self,
        route: Route,
        workspace: Workspace,
        run: Callable[[Request], Stop | None],
        limits: Limits = Limits(),
        on_event: Callable[[object], None] = lambda event: None,
    ):
        self.route, self.workspace, self.run, self.limits, self.on_event = route, workspace, run, limits, on_event
        self.spent = 0

    def explore(self, request: Request, exploration: Exploration) -> Exploration | None:
        """``request`` is the first turn as sent (``engine.recipes.explore``: its last block carries the moving
        cache breakpoint, which moves on as the conversation grows)."""
        conversation = Conversation(request)
        for _turn in range(self.limits.max_steps):
            stop = self.run(conversation.next_request())
            if stop is None:
                return None
            conversation.add(stop.message)
            uses = stop.message.tool_uses
            if not uses:  # an answer without `finish`: take it as the conclusion
                answer = stop.message.text.strip()
                self.check(answer, request)
                exploration.findings = Findings(exploration.question, answer)
                return exploration
            results = []
            for use in uses:
                if use.name == "finish":
                    findings = findings_from(exploration.question, use.input)
                    said = "" if findings.answer == NO_ANSWER else findings.answer
                    self.check("\n".join([said, *findings.evidence, findings.fix]), request)
                    exploration.findings = findings
                    return exploration
                text, is_error = self.dispatch(use, exploration, stop.message.text)
                results.append(ToolResult(use.id, text, is_error))
            if conversation.circling(uses):
                raise junk.unusable(self.route, f"it made the same {uses[0].name} call again and again")
            conversation.add(Message("user", tuple(results)))
            if self.spent >= self.limits.token_budget:
                break
        exploration.findings = self.unfinished(exploration)
        return exploration

    def check(self, answer: str, request: Request) -> None:
        """Findings that are junk are not findings: the one line replaces them."""
        verdict = junk.judge(answer, request)
        if verdict:
            raise junk.unusable(self.route, verdict)

    def count(self, tokens: int) -> None:
        """Surfaces report each call's usage here (input + output tokens)."""
        self.spent += tokens

    def dispatch(self, use: ToolUse, exploration: Exploration, note: str) -> tuple[str, bool]:
        """One tool call; bad input is the model's error to read, not ours to raise."""
        args = use.input if isinstance(use.input, dict) else {}
        if use.name == "run_cell":
            code = args.get("code")
            if not isinstance(code, str) or not code.strip():
                return "run_cell needs {'code': '<python code>'}", True
            number = len(exploration.steps) + 1
            self.on_event(StepStarted(number, code, note.strip()))
            result = self.workspace.run(code, self.limits.step_timeout)
            step = ScratchStep(number, code, result, note.strip())
            exploration.steps.append(step)
            self.on_event(StepFinished(step))
            return f"[scratch step {number}]\n{result.as_text(RESULT_CHARS)}", bool(result.error or result.timed_out)
        if use.name == "list_variables":
            text = self.workspace.variables()
        elif use.name == "inspect_variable":
            if not isinstance(args.get("name"), str):
                return "inspect_variable needs {'name': '<variable name>'}", True
            text = self.workspace.inspect(args["name"])
        elif use.name == "read_cells":
            indices = args.get("indices")
            if not isinstance(indices, list) or not all(isinstance(i, int) for i in indices):
                return "read_cells needs {'indices': [<cell numbers>]}", True
            text = self.workspace.cells(indices)
        elif use.name == "read_last_error":
            text = self.workspace.last_error()
        else:
            return f"there is no tool {use.name!r}", True
        self.on_event(ToolUsed(use.name, args, text))
        return text[:RESULT_CHARS], False

    def unfinished(self, exploration: Exploration) -> Findings:
        """Why the exploration stopped short, with what its steps printed; with no scratch cell that ran without
        an error there is nothing to report, and the one line says so."""
        ran = len(exploration.steps)
        if not any(not (step.result.error or step.result.timed_out) for step in exploration.steps):
            done = f"none of its {ran} scratch cells ran without an error" if ran else "it ran no scratch code"
            raise junk.unusable(self.route, f"it made no progress ({done})")
        reason = (
            f"the token budget ({self.limits.token_budget:,}) was spent"
            if self.spent >= self.limits.token_budget
            else f"the step limit ({self.limits.max_steps}) was reached"
        )
        evidence = tuple(f"step {s.number}: {first_output_line(printed(s.result))}" for s in exploration.steps[-5:])
        return Findings(exploration.question, f"{reason} after {ran} scratch cells.", evidence, complete=False)


def findings_from(question: str, given: dict) -> Findings:
    """The finish tool's input, tolerating a model that sends the wrong shapes."""
    answer = given.get("answer") if isinstance(given.get("answer"), str) else str(given.get("answer", ""))
    evidence = given.get("evidence")
    items = tuple(str(e) for e in evidence) if isinstance(evidence, list) else ((str(evidence),) if evidence else ())
    fix = given.get("fix") if isinstance(given.get("fix"), str) else ""
    return Findings(question, answer.strip() or NO_ANSWER, items, fix.strip())


def call_key(use: ToolUse) -> str:
    """A call as its tool and input, to see the same call made again."""
    return json.dumps([use.name, use.input], sort_keys=True, default=str)


def printed(result) -> str:
    """What a step showed first: its error, else its output, else its value (not the labels of ``as_text``)."""
    return result.error or result.stdout or result.stderr or result.result or "".join(result.outputs)


def first_output_line(text: str) -> str:
    """What a step printed or a tool answered, in one line for a summary."""
    return text.strip().splitlines()[0] if text.strip() else "(no output)"


def without_cache_mark(messages: list[Message]) -> list[Message]:
    """The conversation with the moving breakpoint (on its last block) taken off, for it to move on."""
    last = messages[-1]
    block = last.content[-1]
    if isinstance(block, (Text, ToolResult)) and block.cache:
        last = Message(last.role, (*last.content[:-1], dataclasses.replace(block, cache=False)))
    return [*messages[:-1], last]


def with_cache_mark(messages: list[Message]) -> list[Message]:
    """The conversation with one cache breakpoint on its last block, so each turn reuses the previous prefix.

    The request already carries two (system, notebook); a moving third keeps within the API's four.
    """
    last = messages[-1]
    block = last.content[-1]
    if isinstance(block, (Text, ToolResult)) and not block.cache:
        last = Message(last.role, (*last.content[:-1], dataclasses.replace(block, cache=True)))
    return [*messages[:-1], last]
