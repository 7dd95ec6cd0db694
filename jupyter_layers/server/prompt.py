"""The dry-run for the browser: what a layer request would send now, by the code that would send it.

``{"type": "prompt", "of": <a complete, rewrite, explore, build or escalate request>}`` is answered with one ``prompt``
message carrying ``dry_run.describe`` of the layer's own ``prepare``: the same kernel context, the same recipe,
this notebook's last exploration. Nothing is sent to a model.
"""

from __future__ import annotations

from ..dry_run import describe
from . import build, completion, edit, escalate, explore
from .protocol import PromptReply

PREPARE = {
    "complete": completion.prepare,
    "rewrite": edit.prepare,
    "explore": explore.prepare,
    "build": build.prepare,
    "escalate": escalate.prepare,
}


async def prompt(state, message: dict, send) -> None:
    of = message["of"]
    send(PromptReply(payload=describe(await PREPARE[of["type"]](state, of))))
