"""Layer 3 for the browser: the exploration agent on the server, its scratch code in a fork of the kernel.

The browser inserts each step as a tagged scratch cell as it starts and fills in its output when it ends; the
notebook's variables are never changed (the sandbox is a fork, or a copy-on-write overlay when forking is not
possible, which the browser is told). Once the sandbox is open, a ``sandbox`` message (protocol.py) names
what protects it (the kernel's summary line). The last exploration of each notebook is kept for escalation.
"""

from __future__ import annotations

import asyncio

from ..context.situation import focus_names
from ..engine import recipes
from ..engine.recipes import place_cursor
from ..errors import LayersError
from ..explore.agent import Agent, Exploration, StepFinished, StepStarted, first_output_line
from ..explore.notebook_workspace import NotebookWorkspace
from .document import notebook, situation
from .protocol import (
    DoneReply,
    FindingsReply,
    NoticeReply,
    SandboxReply,
    StepFinishedReply,
    StepStartedReply,
    ToolReply,
)
from .server_kernel import ServerKernel
from .threaded import SocketRun, in_thread, thread_sender


class NoKernel(LayersError):
    hint = "start the notebook's kernel (run any cell), then explore again"


def event_message(exploration: Exploration, event) -> StepStartedReply | StepFinishedReply | ToolReply:
    if isinstance(event, StepStarted):
        return StepStartedReply(exploration=exploration.id, number=event.number, code=event.code, note=event.note)
    if isinstance(event, StepFinished):
        result = event.step.result
        return StepFinishedReply(
            exploration=exploration.id,
            number=event.step.number,
            outputs=event.step.outputs(),
            error=result.error,
            timed_out=result.timed_out,
        )
    return ToolReply(name=event.name, summary=first_output_line(event.result))


async def prepare(state, message: dict) -> recipes.Prepared:
    """The exploration's first request (also what the ``prompt`` request shows); it needs the live kernel."""
    kernel_id = message.get("kernel_id")
    if not kernel_id or kernel_id not in state.contexts.kernel_manager:
        raise NoKernel("exploration runs against the notebook's live kernel, and it has none")
    nb = notebook(message)
    context = await state.contexts.fresh(kernel_id, focus_names(nb.cells[int(message["cell"])].source))
    if context is None:
        raise NoKernel("the kernel is busy and has not reported its state yet")
    question = str(message.get("question") or "").strip()
    route = state.router.route("explore", message.get("model", ""), notebook=message.get("path", ""))
    picture = place_cursor("explore", situation(message, context, question, state.root_dir), nb)
    return recipes.explore(route, picture, state.settings)


async def explore(state, message: dict, send) -> None:
    prepared = await prepare(state, message)
    route, request, limits, path = prepared.route, prepared.request, prepared.limits, message.get("path", "")
    kernel_id, nb = message["kernel_id"], notebook(message)
    exploration = Exploration(prepared.question)
    run = SocketRun(
        route,
        thread_sender(send),
        None,
        on_usage=lambda usage: agent.count(usage.input_tokens + usage.output_tokens),
    )
    kernel = ServerKernel(state.contexts.kernel_manager.get_kernel(kernel_id), asyncio.get_running_loop())
    workspace = NotebookWorkspace(kernel, nb, exploration.id, bool(message.get("live")))
    agent = Agent(route, workspace, run, limits, lambda event: run.post(event_message(exploration, event)))

    def work():
        with workspace:  # opens the sandbox in the kernel, and closes it
            run.post(SandboxReply(protections=workspace.protections))
            if workspace.warning:
                run.post(NoticeReply(text=workspace.warning))
            return agent.explore(request, exploration)

    if await in_thread(work, run) is None:
        return  # cancelled
    state.explorations[path] = exploration
    findings = exploration.findings
    send(
        FindingsReply(
            exploration=exploration.id,
            answer=findings.answer,
            evidence=list(findings.evidence),
            fix=findings.fix,
            complete=findings.complete,
            markdown=findings.markdown(),
        )
    )
    send(DoneReply(steps=len(exploration.steps)))
