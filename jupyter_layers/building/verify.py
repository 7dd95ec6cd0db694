"""Verification, inside the kernel: the proposed cells run in order, from the live state, in a fork of their own.

A fresh fork, not the sandbox the agent tried things in: cells that only work because a scratch cell defined
something first fail here, as they would for the user. The user's check (``--check "assert ..."``) runs last in
the same fork. ``verify_json`` is the same for a driver in another process (``kernel/rpc.py``).

Never in the live namespace: running proposed cells there would be running them for the user before they accept
(a cell that doubles a column would double it twice). Where forking is unsafe (``sandbox.safety``), the cells are
not run at all and the Verification says why (``unverified``); the build then proposes them unverified, saying so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..sandbox import ForkSandbox, StepResult, fork_unsafe_reason


@dataclass(frozen=True)
class Verification:
    results: tuple[StepResult, ...]  # one per cell run; the first that failed is the last
    check: StepResult | None = None  # the user's check, when given and every cell ran clean
    unverified: str = ""  # why nothing ran (no fork here); "" when the cells ran in a fork

    @property
    def failure(self) -> str:
        """Why the cells are not verified, as the agent reads it (its first line says it alone, for progress
        lines); "" when they are, or when they could not be run at all."""
        for number, result in enumerate(self.results, 1):
            if failed(result):
                return f"cell {number} of your proposal failed: {headline(result)}\n{result.as_text(3000)}"
        if self.check is not None and failed(self.check):
            return f"the cells ran, but the user's check failed: {headline(self.check)}\n{self.check.as_text(3000)}"
        return ""

    def to_dict(self) -> dict:
        return {
            "results": [result.to_dict() for result in self.results],
            "check": self.check.to_dict() if self.check else None,
            "unverified": self.unverified,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Verification:
        check = StepResult.from_dict(data["check"]) if data["check"] else None
        return cls(tuple(StepResult.from_dict(r) for r in data["results"]), check, data["unverified"])


def failed(result: StepResult) -> bool:
    return bool(result.error or result.timed_out)


def headline(result: StepResult) -> str:
    """A failed step in one line: its exception and message, or that it timed out."""
    return (result.error or "").strip().split("\n", 1)[0] or "it timed out"


def verify(namespace: dict, cells: list[str], check: str = "", timeout: float = 30.0) -> Verification:
    """Run ``cells`` in order in a new fork over ``namespace``, stopping at the first that fails, then ``check``."""
    reason = fork_unsafe_reason()
    if reason is not None:
        return Verification((), unverified=reason)
    sandbox = ForkSandbox(namespace)
    try:
        results: list[StepResult] = []
        for code in cells:
            results.append(sandbox.run(code, timeout))
            if failed(results[-1]):
                return Verification(tuple(results))
        return Verification(tuple(results), sandbox.run(check, timeout) if check.strip() else None)
    finally:
        sandbox.close()


def verify_json(cells: list[str], check: str = "", timeout: float = 30.0) -> str:
    """``verify`` over the kernel's own namespace, as JSON for a driver in another process."""
    from IPython import get_ipython

    return json.dumps(verify(get_ipython().user_ns, cells, check, timeout).to_dict())
