"""Layer 3 for a feature, from the browser: the build agent on the server; its tries and the verification of its
proposals run in forks of the notebook's kernel.

The browser shows the tries and each verification in the Build tab; the verified cells come in one ``proposal``
message, which the browser inserts below the active cell as cells tagged ``jupyter-layers-proposed`` with their
fork outputs, for the user to accept or reject. Nothing runs in the user's kernel on the way.
"""

from __future__ import annotations

import asyncio

from ..building.agent import Build, Builder, Proposal, VerifyFinished, VerifyStarted
from ..context.situation import focus_names
from ..engine import recipes
from ..engine.recipes import place_cursor
from ..explore.notebook_workspace import NotebookWorkspace
from .document import notebook, situation
from .explore import NoKernel, event_message
from .protocol import DoneReply, NoticeReply, ProposalReply, SandboxReply, VerifyReply
from .server_kernel import ServerKernel
from .threaded import SocketRun, in_thread, thread_sender


async def prepare(state, message: dict) -> recipes.Prepared:
    """The build's first request (also what the ``prompt`` request shows); it needs the live kernel."""
    kernel_id = message.get("kernel_id")
    if not kernel_id or kernel_id not in state.contexts.kernel_manager:
        raise NoKernel("a build runs against the notebook's live kernel, and it has none")
    nb = notebook(message)
    cell = int(message["cell"])
    context = await state.contexts.fresh(kernel_id, focus_names(nb.cells[cell].source))
    if context is None:
        raise NoKernel("the kernel is busy and has not reported its state yet")
    task = str(message.get("task") or "")
    route = state.router.route("explore", message.get("model", ""), notebook=message.get("path", ""))
    picture = place_cursor("build", situation(message, context, task, state.root_dir), nb)
    return recipes.build(route, picture, state.settings, check=str(message.get("check") or ""), below=cell)


def progress(record: Build, event):
    if isinstance(event, VerifyStarted):
        return VerifyReply(phase="started", attempt=event.attempt, cells=len(event.cells))
    if isinstance(event, VerifyFinished):
        verification = event.verification
        return VerifyReply(
            phase="finished",
            attempt=event.attempt,
            cells=len(verification.results),
            failure=verification.failure,
            unverified=verification.unverified,
        )
    return event_message(record.tries, event)


def proposal_reply(proposal: Proposal) -> ProposalReply:
    return ProposalReply(**proposal.payload())


async def build(state, message: dict, send) -> None:
    prepared = await prepare(state, message)
    route, nb = prepared.route, notebook(message)
    record = Build(prepared.question, prepared.check)
    run = SocketRun(
        route,
        thread_sender(send),
        None,
        on_usage=lambda usage: builder.count(usage.input_tokens + usage.output_tokens),
    )
    kernel = ServerKernel(state.contexts.kernel_manager.get_kernel(message["kernel_id"]), asyncio.get_running_loop())
    workspace = NotebookWorkspace(kernel, nb, record.id, bool(message.get("live")))
    builder = Builder(prepared, workspace, run, lambda event: run.post(progress(record, event)))

    def work():
        with workspace:  # opens the tries' sandbox in the kernel, and closes it
            run.post(SandboxReply(protections=workspace.protections))
            if workspace.warning:
                run.post(NoticeReply(text=workspace.warning))
            return builder.build(record)

    if await in_thread(work, run) is None:
        return  # cancelled
    send(proposal_reply(record.proposal))
    send(DoneReply(steps=len(record.steps)))
