"""Proposals handed from the kernel to JupyterLab, for ``%build`` in a notebook and the MCP server's
``propose_cells``: a Jupyter comm, the kernel's one way to reach a frontend unasked.

The kernel opens a comm on ``PROPOSALS`` carrying a proposal (``Proposal.payload``, with ``below``: the id of the
cell to insert under, "" for the active cell). The lab extension (``labextension/src/handoff.ts``, registered on
every notebook's kernel) inserts the cells as tagged proposals and answers ``{"inserted": n}``; a frontend
without it closes the comm unanswered. The answer can only arrive once the kernel is idle again, so a driver in
another process (the MCP server) asks ``answer_json`` afterwards.

A magic cannot wait for that answer (its own cell keeps the kernel busy), so it needs to know beforehand whether a
frontend will take proposals: ``announce`` opens a comm on ``FRONTEND`` before a cell runs (until one frontend
answered), and the lab extension answers it. Outside a kernel (a terminal ``ipython``) there is no frontend.
"""

from __future__ import annotations

import json

PROPOSALS = "jupyter_layers.proposals"
FRONTEND = "jupyter_layers.frontend"
ANNOUNCEMENTS = 20  # cells to announce before, while no frontend answered (a frontend without the extension never will)

ANSWERS: dict[str, dict] = {}  # comm id -> what the frontend answered to an offer
FRONTENDS: set[str] = set()  # comm ids of announcements a frontend answered
_announced = 0


def _in_kernel() -> bool:
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None) is not None


def offer(payload: dict) -> str:
    """Open a proposals comm carrying ``payload``; its id (to find the frontend's answer by)."""
    from comm import create_comm

    channel = create_comm(target_name=PROPOSALS, data=payload)
    channel.on_msg(lambda message: ANSWERS.__setitem__(channel.comm_id, message["content"]["data"]))
    return channel.comm_id


def offer_json(payload: dict) -> str:
    """``offer`` for a driver in another process: ``{"comm": id}``, or ``{"comm": null}`` outside a kernel."""
    return json.dumps({"comm": offer(payload) if _in_kernel() else None})


def answer_json(comm_id: str) -> str:
    """What a frontend answered to the offer ``comm_id`` (``{"inserted": n}``), or null if none has yet."""
    return json.dumps(ANSWERS.get(comm_id))


def announce() -> None:
    """Ask the frontends whether one takes proposals (the lab extension answers); a few times at most."""
    global _announced
    if FRONTENDS or _announced >= ANNOUNCEMENTS or not _in_kernel():
        return
    from comm import create_comm

    _announced += 1
    channel = create_comm(target_name=FRONTEND, data={})
    channel.on_msg(lambda message: FRONTENDS.add(channel.comm_id))


def frontend_takes_proposals() -> bool:
    return bool(FRONTENDS)
