"""Layer 4 for the browser: the whole picture to the reasoning model; thinking and answer streamed; fixes as diffs.

The picture is the notebook as the browser has it, the kernel's state and last error (or the saved error
output when there is no kernel), and what the last exploration of this notebook found. The cost guard refuses
before any call. Fixes name cells by notebook index; the browser applies one only when the user asks.
"""

from __future__ import annotations

from ..context.notebook import is_scratch, saved_last_error
from ..context.situation import as_new_cell, focus_names
from ..engine.escalate import ERROR_QUESTION, SNAPSHOT_BUDGET_MS, check_cost, failing_cell, parse_fixes, with_history
from ..engine.rewrite import now
from ..errors import LayersError
from ..prompts import build_request
from ..usage import cost
from .document import notebook, situation
from .threaded import SocketRun, in_thread, thread_sender


class NothingToEscalate(LayersError):
    hint = "type a question in the Escalate box"


async def escalate(state, message: dict, send) -> None:
    nb = notebook(message)
    cursor = failing_cell(nb)
    focus = focus_names(nb.cells[cursor].source)
    context = await state.contexts.get(message.get("kernel_id"), focus, SNAPSHOT_BUDGET_MS)
    question = str(message.get("question") or "").strip()
    last_error = context["last_error"] if context else saved_last_error(nb, len(nb.cells))
    if not question and last_error is None:
        raise NothingToEscalate("nothing to escalate: the notebook shows no error; ask a question")
    question = question or ERROR_QUESTION
    settings, path = state.settings, message.get("path", "")
    route = state.router.route("escalate", message.get("model", ""))
    explored = state.explorations.get(path)
    picture = with_history(
        as_new_cell(situation(message, nb, context, question), nb), explored.transcript() if explored else "", []
    )
    request = route.prepare(build_request("escalate", picture, route.prompt_budget(settings.layer_budget("escalate"))))
    check_cost(route.model, request, settings.escalate_max_cost)
    spent = []
    run = SocketRun(route, thread_sender(send), state.ledger(path), on_usage=spent.append)
    stop = await in_thread(lambda: run(request), run)
    if stop is None:
        return  # cancelled
    sources = {i: c.source for i, c in enumerate(nb.cells) if c.cell_type == "code" and not is_scratch(c)}
    fixes = parse_fixes(stop.message.text, sources)
    provenance = {"layer": "escalate", "question": question, "model": route.label, "time": now()}
    send(
        {
            "type": "fixes",
            "fixes": [
                {
                    "cell": fix.cell,
                    "before": fix.before,
                    "after": fix.after,
                    "diff": fix.diff(),
                    "syntax_error": fix.syntax_error,
                }
                for fix in fixes
            ],
            "provenance": provenance,
        }
    )
    total = sum(cost(route.model, usage) for usage in spent)
    send({"type": "done", "done": True, "cost": f"${total:.4f}" if total else ""})
