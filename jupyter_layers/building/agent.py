"""The build agent's loop, independent of surfaces: try, propose, verify, revise once for taste, end with a Proposal.

The model has the exploration tools (scratch cells in a sandbox, the variables, the cells, the last error) and
``propose``. A proposal is verified before anyone sees it (``verify``: the cells in order in a fresh sandbox over
the live state, then the user's check); a failure goes back to the model as the tool's error, and it tries again.
Verified cells with taste findings (``engine.taste``) get one revision turn: a revision that verifies replaces
them, one that fails does not, and what the taste check still finds is shown beside each cell. Like the
exploration, the loop is bounded by steps and a token budget, cancellable (``run`` returns None), and reads the
model's tool input without trusting it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..context.notebook import code_sources
from ..engine import junk, taste
from ..engine.complete import strip_fences
from ..engine.recipes import Prepared
from ..engine.rewrite import now
from ..explore.agent import Agent, Conversation, Exploration, ScratchStep, Workspace
from ..models.events import Stop
from ..models.messages import Message, Request, ToolResult
from ..sandbox import StepResult
from .verify import Verification

NOUN = "building cells"  # what the one line of an unusable answer says the model was doing
FENCED = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)\n?```", re.S)
NO_PROPOSAL = "Call propose with the cells that do the task (try them with run_cell first)."
REVISE = "The cells run. Before the user sees them: {note} Propose the revised cells (or the same ones if the task "
REVISE += "needs them as they are)."


class BuildWorkspace(Workspace, Protocol):
    def verify(self, cells: list[str], check: str, timeout: float) -> Verification: ...


@dataclass(frozen=True)
class ProposedCell:
    source: str
    result: StepResult  # its run in the verification sandbox
    taste: tuple[str, ...] = ()  # what the taste check finds in it (after the revision turn)

    def outputs(self) -> list[dict]:
        """Its fork run as a notebook cell's outputs (text forms: the sandbox keeps no rich data)."""
        return notebook_outputs(self.result)


@dataclass(frozen=True)
class Proposal:
    """Verified cells for the user to review: nothing of them has run in the user's kernel."""

    build: str  # the build's id
    task: str
    summary: str
    cells: tuple[ProposedCell, ...]
    model: str
    check: str = ""
    unverified: str = ""  # why the cells could not be run before proposing (no safe fork here); "" when they ran

    def payload(self) -> dict:
        """The proposal as the browser takes it (the server's ``proposal`` message, the kernel's handoff comm)."""
        return {
            "build": self.build,
            "summary": self.summary,
            "check": self.check,
            "cells": [
                {
                    "source": cell.source,
                    "outputs": cell.outputs(),
                    "taste": list(cell.taste),
                    "provenance": self.provenance(number),
                }
                for number, cell in enumerate(self.cells)
            ],
        }

    def review_notes(self, cell: int) -> dict:
        """What a proposed cell's metadata keeps while it waits for review: its provenance, and the taste check's
        notes if there are any (they go when it is accepted)."""
        taste = list(self.cells[cell].taste)
        return {"provenance": self.provenance(cell), **({"taste": taste} if taste else {})}

    def provenance(self, cell: int) -> dict:
        """What each proposed cell's metadata keeps: who wrote it, on whose task, how it was verified."""
        verified = "ran clean in a fork of the live state"
        if self.check:
            verified += f"; check passed: {self.check}"
        if self.unverified:
            verified = f"not verified, since this kernel cannot fork safely: {self.unverified}"
        return {
            "layer": "build",
            "build": self.build,
            "cell": cell,
            "task": self.task,
            "model": self.model,
            "verified": verified,
            "time": now(),
        }


@dataclass
class Build:
    """The whole record: the scratch tries (as an exploration's steps) and the proposal it ended with."""

    task: str
    check: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    tries: Exploration = field(init=False)
    proposal: Proposal | None = None
    attempts: int = 0  # proposals verified (passed or not)

    def __post_init__(self) -> None:
        self.tries = Exploration(self.task, self.id)

    @property
    def steps(self) -> list[ScratchStep]:
        return self.tries.steps


@dataclass(frozen=True)
class VerifyStarted:
    attempt: int
    cells: tuple[str, ...]


@dataclass(frozen=True)
class VerifyFinished:
    attempt: int
    verification: Verification


def verification_line(event: object) -> str | None:
    """A verification as the progress line every text surface prints, or None for any other event."""
    if isinstance(event, VerifyStarted):
        cells = f"{len(event.cells)} cell{'s' if len(event.cells) != 1 else ''}"
        return f"verifying proposal {event.attempt} ({cells}) in a fresh sandbox of the live state…"
    if isinstance(event, VerifyFinished):
        verification = event.verification
        if verification.unverified:
            return f"  – not run: this kernel cannot fork safely ({verification.unverified})"
        return f"  ✗ {verification.failure.splitlines()[0]}" if verification.failure else "  ✓ ran clean"
    return None


def notebook_outputs(result: StepResult) -> list[dict]:
    """A sandbox step's result as nbformat outputs: streams, displays, the value."""
    outputs: list[dict] = []
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        if text:
            outputs.append({"output_type": "stream", "name": name, "text": text})
    for shown in result.outputs:
        outputs.append({"output_type": "display_data", "data": {"text/plain": shown}, "metadata": {}})
    if result.result is not None:
        outputs.append(
            {
                "output_type": "execute_result",
                "data": {"text/plain": result.result},
                "metadata": {},
                "execution_count": None,
            }
        )
    return outputs


def proposed_cells(given: dict) -> list[str]:
    """The cells of a ``propose`` call, tolerating a model that sends one string or fenced code."""
    cells = given.get("cells")
    if isinstance(cells, str):
        cells = [cells]
    if not isinstance(cells, list):
        return []
    return [source for source in (strip_fences(str(cell)).strip("\n") for cell in cells) if source.strip()]


class Builder:
    """Runs one build (``recipes.build``'s ``prepared``): ``run`` streams a request for the surface and returns its
    Stop (None: failed or cancelled, already told to the user); ``on_event`` sees the scratch events
    (``explore.agent``) and VerifyStarted/Finished. The notebook's code cells (the situation's) are the taste
    check's measure of style and where copies come from."""

    def __init__(
        self,
        prepared: Prepared,
        workspace: BuildWorkspace,
        run: Callable[[Request], Stop | None],
        on_event: Callable[[object], None] = lambda event: None,
    ):
        self.route, self.limits, self.request = prepared.route, prepared.limits, prepared.request
        self.workspace, self.run, self.on_event = workspace, run, on_event
        self.existing = code_sources(prepared.situation.cells)
        self.tools = Agent(self.route, workspace, run, self.limits, on_event)  # the scratch tools, the token count

    def count(self, tokens: int) -> None:
        """Surfaces report each call's usage here (input + output tokens)."""
        self.tools.count(tokens)

    def build(self, record: Build) -> Build | None:
        request = self.request
        conversation = Conversation(request)
        verified: Proposal | None = None  # the first verified cells, while their taste revision is asked for
        failure = ""
        for _turn in range(self.limits.max_steps):
            stop = self.run(conversation.next_request())
            if stop is None:
                return None
            conversation.add(stop.message)
            uses = stop.message.tool_uses
            if not uses:  # an answer in prose: its fenced code is the proposal, else it is asked for one
                cells = [block.strip("\n") for block in FENCED.findall(stop.message.text)]
                if not cells:
                    junk_reason = junk.judge(stop.message.text, request)
                    if junk_reason:
                        raise junk.unusable(self.route, junk_reason, NOUN)
                    conversation.add(Message.user(NO_PROPOSAL))
                    continue
                done, feedback, verified = self.consider(cells, "", record, verified)
                if done is not None:
                    return self.finish(record, done)
                failure = feedback
                conversation.add(Message.user(feedback))
                continue
            results = []
            for use in uses:
                args = use.input if isinstance(use.input, dict) else {}
                if use.name == "propose":
                    cells = proposed_cells(args)
                    if not cells:
                        results.append(ToolResult(use.id, "propose needs {'cells': ['<code>', ...]}", True))
                        continue
                    summary = args.get("summary") if isinstance(args.get("summary"), str) else ""
                    done, feedback, verified = self.consider(cells, summary, record, verified)
                    if done is not None:
                        return self.finish(record, done)
                    failure = feedback
                    results.append(ToolResult(use.id, feedback, verified is None))
                else:
                    text, is_error = self.tools.dispatch(use, record.tries, stop.message.text)
                    results.append(ToolResult(use.id, text, is_error))
            if conversation.circling(uses):
                raise junk.unusable(self.route, f"it made the same {uses[0].name} call again and again", NOUN)
            conversation.add(Message("user", tuple(results)))
            if self.tools.spent >= self.limits.token_budget:
                break
        if verified is not None:  # the revision turn never came: the verified cells stand
            return self.finish(record, verified)
        raise junk.unusable(self.route, self.unfinished(record, failure), NOUN)

    def consider(
        self, cells: list[str], summary: str, record: Build, verified: Proposal | None
    ) -> tuple[Proposal | None, str, Proposal | None]:
        """Verify a proposal: (the proposal to end with, or None; what the model is told; the verified cells
        kept while a taste revision is asked for)."""
        record.attempts += 1
        self.on_event(VerifyStarted(record.attempts, tuple(cells)))
        verification = self.workspace.verify(cells, record.check, self.limits.step_timeout)
        self.on_event(VerifyFinished(record.attempts, verification))
        if verification.failure:
            if verified is not None:  # the taste revision broke the cells: the verified ones stand
                return verified, "", None
            return None, f"{verification.failure}\nFix the cells (try them with run_cell) and propose again.", None
        findings = taste_findings(cells, self.existing, record.task)
        proposal = proposal_from(record, cells, summary, verification, findings, self.route.label)
        if verified is not None or not any(findings):
            return proposal, "", None
        notes = " ".join(
            f"Cell {number}: {taste.revision_note(found)}" for number, found in enumerate(findings, 1) if found
        )
        return None, REVISE.format(note=notes), proposal

    def finish(self, record: Build, proposal: Proposal) -> Build:
        record.proposal = proposal
        return record

    def unfinished(self, record: Build, failure: str) -> str:
        """Why no cells were verified: the last failure, or that none were proposed."""
        reason = (
            f"the token budget ({self.limits.token_budget:,}) was spent"
            if self.tools.spent >= self.limits.token_budget
            else f"the step limit ({self.limits.max_steps}) was reached"
        )
        if record.attempts:
            return f"{reason} and none of its {record.attempts} proposals ran clean (last: {first_failure(failure)})"
        tried = len(record.steps)
        return f"{reason} without a proposal ({tried} scratch cell{'' if tried == 1 else 's'})"


def taste_findings(cells: list[str], existing: list[str], task: str) -> list[list[taste.Finding]]:
    """The taste check of each cell, against the notebook's cells and the proposal's cells before it."""
    return [taste.check(source, existing + cells[:number], task) for number, source in enumerate(cells)]


def proposal_from(
    record: Build,
    cells: list[str],
    summary: str,
    verification: Verification,
    findings: list[list[taste.Finding]],
    model: str,
) -> Proposal:
    """Verified cells as a Proposal: each with its run's result (an empty one when nothing could run) and what the
    taste check finds in it."""
    results = verification.results or tuple(StepResult() for _ in cells)
    return Proposal(
        record.id,
        record.task,
        summary.strip(),
        tuple(
            ProposedCell(source, result, tuple(taste.describe(found).splitlines()))
            for source, result, found in zip(cells, results, findings)
        ),
        model,
        record.check,
        verification.unverified,
    )


def first_failure(failure: str) -> str:
    """What failed, in one line: the verification failure's headline, after its "... failed: "."""
    return failure.split("\n", 1)[0].split("failed: ", 1)[-1]
