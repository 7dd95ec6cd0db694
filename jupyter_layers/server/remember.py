"""The findings card's "Remember as a rule": one project rule from a notebook's last exploration, for the
AGENTS.md nearest the notebook (engine/remember.py), written only when the user accepts it.

``remember`` proposes the rule from ``state.explorations[path]`` (server/explore.py keeps it) and answers with
the rule and the file it would go to; ``remember_accept`` writes the rule the browser sends back (the user may
have edited it) and answers ``done``. The rules file is found from the notebook's folder within the server's root
and must resolve inside it: a path or a link that leads out of the root is refused.
"""

from __future__ import annotations

from pathlib import Path

from ..context.rule_writing import add_rule
from ..context.rules import project_rules, rules_file_for
from ..engine import remember as engine
from ..errors import LayersError
from .protocol import DoneReply, NoticeReply, RuleReply


class OutsideRoot(LayersError):
    hint = "rules are written only inside the Jupyter server's root directory"


def rules_place(state, path: str) -> tuple[Path, Path, Path]:
    """(the notebook's folder, the rules file, the server's root) for the notebook at ``path``."""
    root = Path(state.root_dir).resolve()
    folder = (root / path).parent.resolve()
    if not folder.is_relative_to(root):
        raise OutsideRoot(f"the notebook {path!r} is outside the server's root")
    target = rules_file_for(folder, root)
    if not target.resolve().is_relative_to(root):
        raise OutsideRoot(f"{target.relative_to(root)} leads outside the server's root")
    return folder, target, root


async def remember(state, message: dict, send) -> None:
    path = message.get("path", "")
    exploration = state.explorations.get(path)
    engine.findings_of(exploration)  # no findings: that one line, before any model is chosen
    folder, target, root = rules_place(state, path)
    route = state.router.route("explore", message.get("model", ""), notebook=path)
    request = engine.request(route, exploration, project_rules(folder, stop=root))
    reply = await route.stream(request).afinal()
    send(RuleReply(text=engine.rule_from(route, reply.text, request), file=str(target.relative_to(root))))


async def remember_accept(state, message: dict, send) -> None:
    _, target, root = rules_place(state, message.get("path", ""))
    shown = str(target.relative_to(root))
    added = add_rule(target, message["rule"])
    send(NoticeReply(text=f"added to {shown}" if added else f"already in {shown}"))
    send(DoneReply())
