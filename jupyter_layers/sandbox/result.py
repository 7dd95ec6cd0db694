"""What one scratch cell produced, as data for the agent loop and as the text the model reads.

Every part is capped where it is made (in the sandbox) and again when it is shown, keeping the head and the
tail: the start of a traceback or table and the end of a loop's output are what a reader needs.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

RESTARTED_NOTE = (
    "[the sandbox was restarted for this cell: the previous sandbox process was stopped (timeout or crash), so "
    "names defined by earlier scratch cells are gone; the kernel's own variables are as they were at the fork]"
)


MARKER = "\n...[{} characters cut]...\n"
EARLIER_CUT = re.compile(r"\.\.\.\[(\d+) characters cut\]\.\.\.")


def clip(text: str, limit: int) -> str:
    """At most about ``limit`` characters: the head and the tail, with a note of how much was cut between
    (counting what an earlier cut, now inside the removed middle, had already taken out)."""
    if len(text) <= limit:
        return text
    keep = max(limit - len(MARKER) - 8, 0)
    head = keep // 2
    tail = keep - head
    middle = text[head : len(text) - tail]
    cut = len(middle) + sum(int(n) for n in EARLIER_CUT.findall(middle))
    return text[:head] + MARKER.format(cut) + (text[-tail:] if tail else "")


def fit(parts: list[str], limit: int) -> list[str]:
    """Shares ``limit`` among parts: short ones keep everything, long ones split what is left evenly."""
    budget = max(limit, 0)
    shares = {}
    order = sorted(range(len(parts)), key=lambda i: len(parts[i]))
    for position, index in enumerate(order):
        share = budget // (len(parts) - position)
        shares[index] = min(len(parts[index]), share)
        budget -= shares[index]
    return [clip(part, shares[i]) if len(part) > shares[i] else part for i, part in enumerate(parts)]


@dataclass(frozen=True)
class StepResult:
    stdout: str = ""
    stderr: str = ""
    result: str | None = None  # text form of the last expression's value (like Out[n]), capped
    outputs: tuple[str, ...] = ()  # rich display outputs as text
    error: str | None = None  # "ExcName: message" and a short traceback of the scratch code only
    refused: tuple[str, ...] = ()  # what the audit hook refused
    timed_out: bool = False
    restarted: bool = False  # the child had died (timeout/crash) and a fresh fork was made for this step
    elapsed: float = 0.0

    def as_text(self, limit: int = 4000) -> str:
        """What the agent reads as the tool result: labelled parts, each cut (head and tail) to share ``limit``."""
        labelled: list[tuple[str, str]] = []
        if self.stdout:
            labelled.append(("stdout:", self.stdout))
        if self.stderr:
            labelled.append(("stderr:", self.stderr))
        for number, output in enumerate(self.outputs, 1):
            labelled.append((f"display {number}:", output))
        if self.result is not None:
            labelled.append(("Out:", self.result))
        if self.error:
            labelled.append(("error:", self.error))
        if self.refused:
            labelled.append(("refused by the sandbox:", "\n".join(f"- {what}" for what in self.refused)))
        lines = [RESTARTED_NOTE] if self.restarted else []
        room = limit - sum(len(line) + 1 for line in lines) - sum(len(label) + 2 for label, _ in labelled)
        bodies = fit([body for _, body in labelled], room)
        lines += [f"{label}\n{body}" for (label, _), body in zip(labelled, bodies)]
        if not labelled:
            lines.append("(no output)")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["outputs"] = list(self.outputs)
        data["refused"] = list(self.refused)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> StepResult:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        for name in ("outputs", "refused"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)
