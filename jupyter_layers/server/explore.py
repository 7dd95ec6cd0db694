"""Layer 3 for the browser: the exploration agent on the server, its scratch code in a fork of the kernel.

The browser inserts each step as a tagged scratch cell as it starts and fills in its output when it ends; the
notebook's variables are never changed (the sandbox is a fork, or a copy-on-write overlay when forking is not
possible, which the browser is told). Once the sandbox is open, ``{"type": "sandbox", "protections": ...}`` names
what protects it (the kernel's summary line). The last exploration of each notebook is kept for escalation.
"""

from __future__ import annotations

import asyncio

from ..context.situation import as_new_cell, focus_names
from ..errors import LayersError
from ..explore.agent import Agent, Exploration, Limits, StepFinished, StepStarted, first_line
from ..explore.notebook_workspace import NotebookWorkspace
from ..prompts import build_request
from ..prompts.explore import ERROR_QUESTION
from .document import notebook, situation
from .kernel_workspace import ServerKernel
from .threaded import SocketRun, in_thread, thread_sender


class NoKernel(LayersError):
    hint = "start the notebook's kernel (run any cell), then explore again"


class NothingToExplore(LayersError):
    hint = "type a question in the Explore box"


def event_message(exploration: Exploration, event) -> dict:
    if isinstance(event, StepStarted):
        return {
            "type": "step",
            "phase": "started",
            "exploration": exploration.id,
            "number": event.number,
            "code": event.code,
            "note": event.note,
        }
    if isinstance(event, StepFinished):
        result = event.step.result
        return {
            "type": "step",
            "phase": "finished",
            "exploration": exploration.id,
            "number": event.step.number,
            "outputs": event.step.outputs(),
            "error": result.error,
            "timed_out": result.timed_out,
        }
    return {"type": "tool", "name": event.name, "summary": first_line(event.result)}


async def explore(state, message: dict, send) -> None:
    kernel_id = message.get("kernel_id")
    if not kernel_id or kernel_id not in state.contexts.kernel_manager:
        raise NoKernel("exploration runs against the notebook's live kernel, and it has none")
    nb = notebook(message)
    context = await state.contexts.get(kernel_id, focus_names(nb.cells[int(message["cell"])].source))
    if context is None:
        raise NoKernel("the kernel is busy and has not reported its state yet")
    question = str(message.get("question") or "").strip()
    if not question and context["last_error"] is None:
        raise NothingToExplore("ask a question: there is no error to explore")
    question = question or ERROR_QUESTION
    settings, path = state.settings, message.get("path", "")
    route = state.router.route("explore", message.get("model", ""))
    start = as_new_cell(situation(message, nb, context, question), nb)
    request = route.prepare(build_request("explore", start, route.prompt_budget(settings.layer_budget("explore"))))
    limits = Limits(settings.explore_max_steps, settings.explore_step_timeout, settings.explore_token_budget)
    exploration = Exploration(question)
    run = SocketRun(
        route,
        thread_sender(send),
        state.ledger(path),
        on_usage=lambda usage: agent.count(usage.input_tokens + usage.output_tokens),
    )
    kernel = ServerKernel(state.contexts.kernel_manager.get_kernel(kernel_id), asyncio.get_running_loop())
    workspace = NotebookWorkspace(kernel, nb, exploration.id, bool(message.get("live")))
    agent = Agent(route, workspace, run, limits, lambda event: run.post(event_message(exploration, event)))

    def work():
        with workspace:  # opens the sandbox in the kernel, and closes it
            run.post({"type": "sandbox", "protections": workspace.protections})
            if workspace.warning:
                run.post({"type": "notice", "text": workspace.warning})
            return agent.explore(request, exploration)

    if await in_thread(work, run) is None:
        return  # cancelled
    state.explorations[path] = exploration
    findings = exploration.findings
    send(
        {
            "type": "findings",
            "exploration": exploration.id,
            "answer": findings.answer,
            "evidence": list(findings.evidence),
            "fix": findings.fix,
            "complete": findings.complete,
            "markdown": findings.markdown(),
        }
    )
    send({"type": "done", "done": True, "steps": len(exploration.steps)})
