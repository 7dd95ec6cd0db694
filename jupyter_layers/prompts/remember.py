"""``%explore --remember``: one project rule from an exploration's findings, for the project's AGENTS.md.

A short call of its own, not a layer: the exploration's question and findings and the project's rules as they
are (so the model does not propose one twice), redacted as every prompt is, and an answer of one line.
"""

from __future__ import annotations

from ..context.budget import estimate_tokens
from ..context.notebook import shorten
from ..context.sections import Redactions, rules_section
from ..context.situation import Cursor, Situation
from ..models.messages import Message, Request, Text

NONE = "NONE"  # the answer when nothing is worth keeping
RULES_TOKENS = 2000  # of the project's rules shown: enough to see what is already said
FINDINGS_CHARS = 6000
NO_RULES = "<project_rules>\nThe project has no rules yet.\n</project_rules>"

SYSTEM = f"""You keep the rules file (AGENTS.md) of a project current: the facts and conventions an AI \
assistant needs to write correct code in it.
An investigation of a Jupyter notebook has just ended with findings. Propose one rule that, had it been known \
beforehand, would have made the investigation unnecessary: a project fact or convention as one imperative line \
(for example: Parse ts in events.csv as UTC.). Name the files, tables, \
columns or functions it is about. It must hold beyond this one cell and must not repeat an existing rule.
If nothing is worth keeping (a typo, a one-off slip, something the rules already say), answer {NONE}.
Answer with the rule alone on one line: no quotes, no bullet, no explanation."""


def build(question: str, findings: str, rules: tuple[tuple[str, str], ...]) -> Request:
    """The request for one rule: the project's ``rules`` ((path, text) as ``context.rules.project_rules`` gives
    them), then the exploration's ``question`` and ``findings`` (markdown); all of it redacted."""
    clean = Redactions()
    existing = rules_section(Situation(cursor=Cursor(0, ""), rules=rules), RULES_TOKENS, clean) or NO_RULES
    exploration = clean(f"Question: {question}\n\n{shorten(findings.strip(), FINDINGS_CHARS)}")
    task = (
        f"<exploration>\n{exploration}\n</exploration>\n\n"
        f"<task>\nPropose the one rule for AGENTS.md that this exploration teaches, or {NONE}.\n</task>"
    )
    sections = {"system": SYSTEM, "rules": existing, "task": task}
    return Request(
        system=(Text(SYSTEM),),
        messages=(Message("user", (Text(existing), Text(task))),),
        metadata={
            "layer": "explore",
            "purpose": "remember",
            "estimated_tokens": sum(estimate_tokens(text) for text in sections.values()),
            "sections": {name: estimate_tokens(text) for name, text in sections.items()},
            "redactions": clean.kinds,
        },
    )
