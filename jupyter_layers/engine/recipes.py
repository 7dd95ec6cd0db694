"""One recipe per layer: the exact request a layer sends for a situation, built once for every surface.

The magics, the server, the command line and the dry-run (``%layers prompt``, ``jupyter layers prompt``) all
call ``prepare`` (or the layer's own function); none of them builds a request. So the dry-run shows the very
object that is sent: the same budget (clamped to the model's context window), the same defaulted question,
the same exploration record and earlier attempts, the same follow-up conversation.

A surface collects the Situation its own way (a kernel's history, a notebook document, an executed notebook);
``SITUATION`` says, per layer, what the situation must hold for the recipe: explore and escalate ask from a new
cell after the notebook, and escalation summarises the kernel with a larger time budget.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from ..config import JupyterLayers
from ..context.budget import estimate_tokens
from ..context.notebook import saved_last_error
from ..context.situation import Situation, as_new_cell
from ..errors import LayersError
from ..explore.agent import Exploration, Limits, with_cache_mark
from ..models.messages import Message, Request
from ..models.router import Route
from ..prompts import build as build_prompt
from ..prompts import build_request, complete_script
from .complete import Extent, answer_tokens, stops

EXPLORE_ERROR_QUESTION = "Why did the last error happen?"  # what exploring without a question asks
ESCALATE_ERROR_QUESTION = "Why does the last error happen, and how do I fix it?"  # what escalating one asks
ESCALATE_SNAPSHOT_MS = 300  # a larger kernel snapshot is worth it for the most expensive layer
ESCALATE_SNAPSHOT_DETAIL = {"other_chars": 600, "focus_chars": 2000}


@dataclass(frozen=True)
class SituationNeeds:
    """What a surface must do when it collects the situation for a layer."""

    new_cell: bool = False  # the cursor in a new, empty cell after the notebook (the cells all shown)
    snapshot_ms: int | None = None  # the kernel snapshot's time budget, if larger than the default
    snapshot_detail: dict | None = None
    runs_active_cell: bool = False  # a headless run executes the active cell too (build: its cells go below it)


SITUATION = {
    "complete": SituationNeeds(),
    "edit": SituationNeeds(),
    "explore": SituationNeeds(new_cell=True),
    "build": SituationNeeds(new_cell=True, runs_active_cell=True),  # every cell shown; where the cells go: the task
    "escalate": SituationNeeds(
        new_cell=True, snapshot_ms=ESCALATE_SNAPSHOT_MS, snapshot_detail=ESCALATE_SNAPSHOT_DETAIL
    ),
}


class NothingToExplore(LayersError):
    hint = "for example: why is revenue negative?"


class NothingToBuild(LayersError):
    hint = "for example: %build add a revenue column (price times quantity)"


class NothingToEscalate(LayersError):
    hint = "for example: why is revenue negative?"


@dataclass(frozen=True)
class Prepared:
    """A layer's request as it will be sent, with what the surface shows or enforces alongside."""

    layer: str
    route: Route
    request: Request
    situation: Situation  # what the request was built from (its question defaulted)
    question: str = ""  # explore and escalate: the question asked, defaulted when none was typed
    limits: Limits | None = None  # explore, build
    check: str = ""  # build: the user's check, run after the proposed cells


def cells_run_before(layer: str, cell: int) -> int:
    """How many cells a headless run executes before the layer works at ``cell`` (the dry-run runs as many)."""
    return cell + 1 if SITUATION[layer].runs_active_cell else cell


def with_history(situation: Situation, exploration_transcript: str, attempts: list[str]) -> Situation:
    """The situation with what exploration learned and what was already tried, as extra sections."""
    notes = list(situation.notes)
    if exploration_transcript:
        notes.append(("exploration", exploration_transcript))
    if attempts:
        notes.append(("earlier_attempts", "\n\n".join(attempts)))
    return dataclasses.replace(situation, notes=tuple(notes))


def place_cursor(layer: str, situation: Situation, nb) -> Situation:
    """For a notebook document: explore and escalate ask from a new, empty cell after the notebook, as a magic
    does from its own cell (with the cursor on a real cell, that cell would be missing from the prompt). Without
    a kernel, the last error is then the last one saved anywhere in the notebook."""
    if not SITUATION[layer].new_cell:
        return situation
    moved = as_new_cell(situation, nb)
    return (
        moved
        if situation.kernel is not None
        else dataclasses.replace(moved, last_error=saved_last_error(nb, len(nb.cells)))
    )


def _prepared_request(layer: str, route: Route, situation: Situation, config: JupyterLayers) -> Request:
    return route.prepare(build_request(layer, situation, route.prompt_budget(config.layer_budget(layer))))


def complete(route: Route, situation: Situation, config: JupyterLayers, *, extent: Extent = "line") -> Prepared:
    """Ghost text (``line``) or ``%%complete`` (``statement``), in the route's prompt format: a chat prompt, or
    the notebook as a script that a text-continuing model goes on from (docs/completion.md)."""
    if route.prompt_format == "chat":
        return Prepared("complete", route, _prepared_request("complete", route, situation, config), situation)
    budget = route.prompt_budget(config.layer_budget("complete"))
    request = complete_script.build(situation, budget, fill_in_the_middle=route.prompt_format == "fim")
    cursor = situation.cursor
    stop = stops(cursor.source[: cursor.position], extent)
    request = dataclasses.replace(request, stop=stop, max_tokens=answer_tokens(stop, route.max_tokens))
    return Prepared("complete", route, route.prepare(request), situation)


def edit(route: Route, situation: Situation, config: JupyterLayers) -> Prepared:
    return Prepared("edit", route, _prepared_request("edit", route, situation, config), situation)


def explore(
    route: Route,
    situation: Situation,
    config: JupyterLayers,
    *,
    max_steps: int | None = None,
    step_timeout: float | None = None,
) -> Prepared:
    """The exploration's first request; without a question it asks about the last error, if there is one."""
    question = situation.instruction.strip()
    if not question and situation.last_error is None:
        raise NothingToExplore("ask a question (there is no error to explore)")
    question = question or EXPLORE_ERROR_QUESTION
    situation = dataclasses.replace(situation, instruction=question)
    limits = Limits(
        max_steps or config.explore_max_steps, step_timeout or config.explore_step_timeout, config.explore_token_budget
    )
    request = _prepared_request("explore", route, situation, config)
    first_turn = dataclasses.replace(request, messages=tuple(with_cache_mark(list(request.messages))))
    return Prepared("explore", route, first_turn, situation, question, limits)


def build(
    route: Route,
    situation: Situation,
    config: JupyterLayers,
    *,
    check: str = "",
    below: int | None = None,
    max_steps: int | None = None,
    step_timeout: float | None = None,
) -> Prepared:
    """The build's first request: the task, where its cells go (``below`` the active notebook cell), the check."""
    task = situation.instruction.strip()
    if not task:
        raise NothingToBuild("say what to build")
    situation = dataclasses.replace(situation, instruction=task)
    limits = Limits(
        max_steps or config.build_max_steps, step_timeout or config.explore_step_timeout, config.explore_token_budget
    )
    budget = route.prompt_budget(config.layer_budget("explore"))
    request = route.prepare(build_prompt.build(situation, budget, check.strip(), below))
    first_turn = dataclasses.replace(request, messages=tuple(with_cache_mark(list(request.messages))))
    return Prepared("build", route, first_turn, situation, task, limits, check.strip())


def escalation_question(situation: Situation, exploration: Exploration | None) -> str:
    """The question typed, else the last error's, else an exploration's that stopped without findings."""
    question = situation.instruction.strip()
    if question:
        return question
    if situation.last_error is not None:
        return ESCALATE_ERROR_QUESTION
    if exploration is not None and exploration.findings is not None and not exploration.findings.complete:
        return exploration.question
    raise NothingToEscalate("nothing to escalate: no error and no open exploration; ask a question")


def escalate(
    route: Route,
    situation: Situation,
    config: JupyterLayers,
    *,
    exploration: Exploration | None = None,
    attempts: tuple[str, ...] = (),
    conversation: Request | None = None,
) -> Prepared:
    """The whole picture with what exploration learned and what was tried; or, after an earlier escalation
    (``conversation``: its request with the answer appended), the follow-up: earlier turns, thinking blocks and
    signatures unchanged, the new question appended."""
    question = escalation_question(situation, exploration)
    if conversation is not None:
        messages = (*conversation.messages, Message.user(question))
        wire = route.provider.payload(conversation)
        size = estimate_tokens(json.dumps(wire.get("messages", wire.get("input"))))  # "input": the Responses API
        metadata = {**conversation.metadata, "estimated_tokens": size + estimate_tokens(question)}
        follow_up = dataclasses.replace(conversation, messages=messages, metadata=metadata)
        return Prepared("escalate", route, follow_up, situation, question)
    picture = with_history(
        dataclasses.replace(situation, instruction=question),
        exploration.transcript() if exploration is not None else "",
        list(attempts),
    )
    return Prepared("escalate", route, _prepared_request("escalate", route, picture, config), picture, question)


RECIPES = {"complete": complete, "edit": edit, "explore": explore, "build": build, "escalate": escalate}
ROUTED_AS = {"build": "explore"}  # the build is layer 3's agent: it has the explore layer's model and budget


def model_layer(recipe: str) -> str:
    """The layer whose model, budget and limits a recipe uses."""
    return ROUTED_AS.get(recipe, recipe)


def prepare(layer: str, route: Route, situation: Situation, config: JupyterLayers, **history) -> Prepared:
    """Any layer's recipe by name (the dry-run's entry); ``history`` is the layer's keyword arguments."""
    return RECIPES[layer](route, situation, config, **history)
