"""Layer 4 for the browser: the whole picture to the reasoning model; thinking and answer streamed; fixes as diffs.

The picture is the notebook as the browser has it, the kernel's state and last error (or the saved error
output when there is no kernel), and what the last exploration of this notebook found. The cost guard refuses
before any call. Fixes are parsed here (the browser gets them structured, and the answer with a pointer in
place of each fix block); they name cells by notebook index; the browser applies one only when the user asks.
"""

from __future__ import annotations

from ..context.notebook import is_unreviewed
from ..context.situation import focus_names
from ..engine import recipes
from ..engine.escalate import FIX, check_cost, failing_cell, parse_fixes
from ..engine.recipes import SITUATION, place_cursor
from ..engine.rewrite import now
from ..usage import cost_at
from .document import notebook, situation
from .protocol import DoneReply, EscalateProvenance, Fix, FixesReply
from .threaded import SocketRun, in_thread, thread_sender


async def prepare(state, message: dict) -> recipes.Prepared:
    """The whole picture with this notebook's last exploration (also what the ``prompt`` request shows)."""
    nb = notebook(message)
    focus = focus_names(nb.cells[failing_cell(nb)].source)
    context = await state.contexts.fresh(message.get("kernel_id"), focus, SITUATION["escalate"].snapshot_ms)
    question = str(message.get("question") or "").strip()
    route = state.router.route("escalate", message.get("model", ""), notebook=message.get("path", ""))
    picture = place_cursor("escalate", situation(message, context, question, state.root_dir), nb)
    explored = state.explorations.get(message.get("path", ""))
    return recipes.escalate(route, picture, state.settings, exploration=explored)


async def escalate(state, message: dict, send) -> None:
    prepared = await prepare(state, message)
    route, request, question = prepared.route, prepared.request, prepared.question
    settings, nb = state.settings, notebook(message)
    check_cost(route, request, settings.escalate_max_cost)
    spent = []
    run = SocketRun(route, thread_sender(send), None, on_usage=spent.append)
    stop = await in_thread(lambda: run(request), run)
    if stop is None:
        return  # cancelled
    sources = {i: c.source for i, c in enumerate(nb.cells) if c.cell_type == "code" and not is_unreviewed(c)}
    fixes = parse_fixes(stop.message.text, sources)
    provenance = EscalateProvenance(question=question, model=route.label, time=now())
    send(
        FixesReply(
            fixes=[
                Fix(
                    cell=fix.cell,
                    before=fix.before,
                    after=fix.after,
                    diff=fix.diff(),
                    syntax_error=fix.syntax_error,
                    taste=list(fix.taste),
                )
                for fix in fixes
            ],
            answer=FIX.sub(lambda block: f"[fix for cell {block[1]}: see below]", stop.message.text),
            provenance=provenance,
        )
    )
    total = sum(cost_at(route.price, usage) for usage in spent)
    send(DoneReply(cost=f"${total:.4f}" if total else ""))
