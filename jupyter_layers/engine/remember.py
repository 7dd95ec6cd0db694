"""``%explore --remember`` and the findings card's "Remember as a rule": one line for the project's AGENTS.md.

After an exploration with findings, the explore layer's model is asked (``prompts.remember``) for one project
fact or convention that would have made the investigation unnecessary. Its answer is cleaned into one line (the
first line with words, without a bullet, quotes or code fence, at most ``RULE_CHARS``); junk or ``NONE`` is one
error line instead. Nothing is written here: the user accepts the rule (or an edited one) and
``context.rule_writing.add_rule`` writes it.
"""

from __future__ import annotations

import dataclasses
import re

from ..errors import LayersError
from ..explore.agent import Exploration, Findings
from ..models.messages import Request
from ..models.router import Route
from ..prompts import remember
from . import junk

RULE_TOKENS = 200  # one line, and a little room for a model that says a few words first
RULE_CHARS = 200
FENCE = re.compile(r"^\s*(?:```|~~~)")
LEAD = re.compile(r"^\s*(?:(?:[-*+•]|\d+[.)])\s+|#+\s+|>\s*)+")  # bullets, numbers, headings, quotes
LABEL = re.compile(r"^(?:\*\*)?(?:proposed\s+)?rule(?:\*\*)?\s*:\s*(?:\*\*)?\s*", re.I)
QUOTES = "\"'`“”‘’*_"


class NoFindings(LayersError):
    hint = "explore first (%explore QUESTION); a rule is proposed from an exploration's findings"


class NothingToRemember(LayersError):
    hint = 'write one yourself: %explore --remember --accept "RULE"'


def findings_of(exploration: Exploration | None) -> Findings:
    """The findings a rule is proposed from: the last exploration's, if it concluded."""
    if exploration is None or exploration.findings is None:
        raise NoFindings("no exploration with findings to remember")
    if not exploration.findings.complete:
        raise NoFindings("the last exploration stopped before its findings")
    return exploration.findings


def request(route: Route, exploration: Exploration | None, rules: tuple[tuple[str, str], ...]) -> Request:
    """The request for a rule from ``exploration``'s findings, given the project's ``rules`` (path, text)."""
    findings = findings_of(exploration)
    built = remember.build(exploration.question, findings.markdown(), rules)
    return route.prepare(dataclasses.replace(built, max_tokens=min(RULE_TOKENS, route.max_tokens)))


def rule_from(route: Route, answer: str, sent: Request) -> str:
    """The model's ``answer`` to ``sent`` as one rule line; NothingToRemember for NONE, UnusableAnswer for junk."""
    verdict = junk.judge(answer, sent)
    if verdict:
        raise junk.unusable(route, verdict)
    rule = one_line(answer)
    if not rule or rule.rstrip(".").upper() == remember.NONE:
        raise NothingToRemember("the model found nothing in these findings worth a project rule")
    return rule


def one_line(answer: str) -> str:
    """The first line with words, without code fences, bullets, a "Rule:" label or quotes, cut at RULE_CHARS."""
    for line in answer.splitlines():
        if FENCE.match(line):
            continue
        line = LABEL.sub("", LEAD.sub("", line.strip())).strip().strip(QUOTES).strip()
        if re.search(r"\w", line):
            return shorten(" ".join(line.split()))
    return ""


def shorten(rule: str) -> str:
    if len(rule) <= RULE_CHARS:
        return rule
    cut = rule[: RULE_CHARS - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"
