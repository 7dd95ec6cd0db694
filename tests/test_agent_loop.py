"""The exploration agent's loop without a kernel: the real Anthropic SDK against the fake server, scratch cells in
a real sandbox over a plain dict namespace.

These are the loop's own rules (tool dispatch, malformed calls, the step limit, the token budget, step timeouts,
findings that cite steps), checked in a second each; tests/test_explore.py checks the same loop inside a kernel.
"""

from __future__ import annotations

import pytest

from jupyter_layers.config import JupyterLayers
from jupyter_layers.context.notebook import CellView
from jupyter_layers.context.situation import Cursor, Situation
from jupyter_layers.engine import recipes
from jupyter_layers.explore.agent import (
    Agent,
    Exploration,
    Limits,
    StepStarted,
    ToolUsed,
)
from jupyter_layers.kernel import snapshot
from jupyter_layers.models.events import Failure, Stop, Usage
from jupyter_layers.models.router import Router
from jupyter_layers.sandbox import ForkSandbox, LiveSandbox, StepResult
from tests.conftest import API_KEY
from tests.fakes.model_server import Text, ToolUse, Turn

CELLS = (
    "orders = [(1, 10, 100.0), (2, 11, 50.0), (3, 12, 75.0), (4, 10, 20.0), (5, 13, 30.0)]",
    "customers = [(10, 'north'), (11, 'south'), (12, 'south'), (13, 'east'), (10, 'north')]",
    "report = [(o, c, a, r) for (o, c, a) in orders for (k, r) in customers if k == c]\n"
    "total = sum(a for (_, _, a, _) in report)",
)
QUESTION = "why is total higher than the sum of the orders?"


def user_namespace() -> dict:
    """The user's variables, made by running the notebook's cells in a fresh dict."""
    namespace: dict = {}
    for source in CELLS:
        exec(source, namespace)
    del namespace["__builtins__"]
    return namespace


class DictWorkspace:
    """The agent's workspace protocol over a dict: scratch code in a real sandbox, state read by the same
    snapshot the kernel uses, cells and the last error from plain data."""

    def __init__(self, namespace: dict, sandbox, last_error: str = ""):
        self.namespace, self.sandbox, self.error = namespace, sandbox, last_error

    def run(self, code: str, timeout: float) -> StepResult:
        return self.sandbox.run(code, timeout)

    def variables(self) -> str:
        return "\n".join(f"{v['name']}: {v['text']}" for v in snapshot(self.namespace)["variables"])

    def inspect(self, name: str) -> str:
        found = [v for v in snapshot(self.namespace, focus=[name])["variables"] if v["name"] == name]
        return f"{name} ({found[0]['type']}): {found[0]['text']}" if found else f"there is no variable named {name!r}"

    def cells(self, indices: list[int]) -> str:
        return "\n\n".join(CELLS[i] if 0 <= i < len(CELLS) else f"# there is no cell {i}" for i in indices)

    def last_error(self) -> str:
        return self.error or "no error has been recorded"


class Surface:
    """The smallest surface: streams one request, reports usage to the agent, returns the Stop (None on a
    failure or cancellation, which it keeps for the test to read)."""

    def __init__(self, route):
        self.route, self.agent, self.failures = route, None, []

    def __call__(self, request):
        for event in self.route.stream(request):
            if isinstance(event, Usage):
                self.agent.count(event.input_tokens + event.output_tokens)
            elif isinstance(event, Failure):
                self.failures.append(event.error)
                return None
            elif isinstance(event, Stop):
                return None if event.reason == "cancelled" else event
        return None


@pytest.fixture
def namespace():
    return user_namespace()


@pytest.fixture
def sandbox(namespace):
    """A fork of the test process over the user's dict: what the kernel's %explore uses."""
    box = ForkSandbox(namespace)
    yield box
    box.close()


def explore(fake, workspace, limits: Limits | None = None, request_timeout: float = 60.0, record=None):
    """One exploration through the real router, SDK and prompt builder; returns (exploration or None, events,
    surface)."""
    config = JupyterLayers(
        provider="anthropic",
        anthropic_api_key=API_KEY,
        anthropic_base_url=fake.url,
        max_retries=0,
        request_timeout=request_timeout,
    )
    route = Router(config).route("explore")
    cells = tuple(CellView(i, "code", source, i + 1) for i, source in enumerate(CELLS))
    situation = Situation(Cursor(len(CELLS), ""), cells, snapshot(workspace.namespace), instruction=QUESTION)
    request = recipes.explore(route, situation, config).request  # the first turn, as every surface sends it
    events: list = []
    surface = Surface(route)
    agent = Agent(route, workspace, surface, limits or Limits(), events.append)
    surface.agent = agent
    return agent.explore(request, record or Exploration(QUESTION)), events, surface


def tool_results(request) -> list[dict]:
    """The tool_result blocks of the last user turn the SDK sent."""
    return [b for b in request.body["messages"][-1]["content"] if b["type"] == "tool_result"]


def tool_results_of(request) -> list[dict]:
    """Every tool_result block the SDK sent, oldest first."""
    return [
        b for m in request.body["messages"] if m["role"] == "user" for b in m["content"] if b["type"] == "tool_result"
    ]


FINISH = ToolUse(
    "finish",
    {
        "answer": "customer 10 is listed twice in customers, so orders 1 and 4 are counted twice",
        "evidence": ["step 1: 5 orders became 7 report rows", "step 2: customer 10 appears twice"],
        "fix": "customers = list(dict(customers).items())",
    },
)


def test_findings_come_from_finish_and_cite_the_steps_that_ran(fake, namespace, sandbox):
    """The happy path: each run_cell is a numbered step whose real output the model reads back, finish's input
    becomes the findings, and the record escalation sends has both."""
    fake.script(
        Turn([Text("Compare row counts."), ToolUse("run_cell", {"code": "print(len(orders), len(report))"})]),
        Turn(
            [
                ToolUse(
                    "run_cell",
                    {"code": "from collections import Counter\nprint(Counter(k for k, _ in customers))\ndel orders"},
                )
            ]
        ),
        Turn([FINISH]),
    )
    before = repr(namespace)
    exploration, events, surface = explore(fake, DictWorkspace(namespace, sandbox))

    assert surface.failures == [] and len(fake.requests) == 3
    assert [s.code.splitlines()[0] for s in exploration.steps] == [
        "print(len(orders), len(report))",
        "from collections import Counter",
    ]
    assert exploration.steps[0].result.stdout == "5 7\n" and exploration.steps[0].note == "Compare row counts."
    assert "Counter({10: 2, 11: 1, 12: 1, 13: 1})" in exploration.steps[1].result.stdout
    assert [type(e).__name__ for e in events] == ["StepStarted", "StepFinished", "StepStarted", "StepFinished"]
    assert events[0] == StepStarted(1, "print(len(orders), len(report))", "Compare row counts.")

    (first,) = tool_results(fake.requests[1])
    assert first["content"] == "[scratch step 1]\nstdout:\n5 7\n" and not first.get("is_error")
    assert first["cache_control"] == {"type": "ephemeral"}  # the moving breakpoint sits on the newest result
    earlier, newest = tool_results_of(fake.requests[2])
    assert "cache_control" not in earlier and newest["cache_control"] == {"type": "ephemeral"}

    findings = exploration.findings
    assert findings.complete and findings.question == QUESTION
    assert findings.answer == FINISH.input["answer"] and findings.evidence == tuple(FINISH.input["evidence"])
    assert findings.fix == FINISH.input["fix"]
    transcript = exploration.transcript()
    assert "Scratch step 1:\nprint(len(orders), len(report))\nOutput:\nstdout:\n5 7" in transcript
    assert "- step 2: customer 10 appears twice" in transcript
    assert repr(namespace) == before  # `del orders` ran in the fork only


def test_malformed_tool_calls_become_error_results_the_model_reads(fake, namespace, sandbox):
    """Every bad call in one turn gets its own error result, in order, with the id it answers; good calls in the
    same turn still run, and no scratch step is recorded for a call that ran nothing."""
    bad = [
        ToolUse("run_cell", {}),
        ToolUse("run_cell", {"code": "   \n"}),
        ToolUse("run_cell", {"code": ["print(1)"]}),
        ToolUse("inspect_variable", {"name": 3}),
        ToolUse("read_cells", {"indices": "0,1"}),
        ToolUse("read_cells", {"indices": [0, "x"]}),
        ToolUse("delete_everything", {"really": True}),
    ]
    good = [ToolUse("inspect_variable", {"name": "customers"}), ToolUse("read_cells", {"indices": [1, 9]})]
    fake.script(Turn([Text("Let me look."), *bad, *good]), Turn([FINISH]))
    exploration, events, _ = explore(fake, DictWorkspace(namespace, sandbox))

    results = tool_results(fake.requests[1])
    assert [r["tool_use_id"] for r in results] == [use.id for use in bad + good]
    errors = [(r["content"], r.get("is_error", False)) for r in results[: len(bad)]]
    assert errors == [
        ("run_cell needs {'code': '<python code>'}", True),
        ("run_cell needs {'code': '<python code>'}", True),
        ("run_cell needs {'code': '<python code>'}", True),
        ("inspect_variable needs {'name': '<variable name>'}", True),
        ("read_cells needs {'indices': [<cell numbers>]}", True),
        ("read_cells needs {'indices': [<cell numbers>]}", True),
        ("there is no tool 'delete_everything'", True),
    ]
    inspected, cells = results[len(bad) :]
    assert not inspected.get("is_error") and inspected["content"].startswith("customers (list): ")
    assert "(10, 'north')" in inspected["content"]
    assert cells["content"] == f"{CELLS[1]}\n\n# there is no cell 9" and not cells.get("is_error")
    assert exploration.steps == [] and [e.name for e in events if isinstance(e, ToolUsed)] == [
        "inspect_variable",
        "read_cells",
    ]
    assert exploration.findings.complete


def test_finish_with_the_wrong_shapes_still_gives_findings(fake, namespace, sandbox):
    """A small model's finish call: a number for the answer, one string for the evidence, a list for the fix."""
    fake.script(Turn([ToolUse("finish", {"answer": 42, "evidence": "step 1 shows it", "fix": ["x = 1"]})]))
    exploration, _, _ = explore(fake, DictWorkspace(namespace, sandbox))
    findings = exploration.findings
    assert (findings.answer, findings.evidence, findings.fix, findings.complete) == (
        "42",
        ("step 1 shows it",),
        "",
        True,
    )
    assert findings.markdown() == "**Findings**: 42\n\nEvidence:\n- step 1 shows it"


def test_an_answer_in_prose_without_finish_is_the_conclusion(fake, namespace, sandbox):
    fake.script(Turn([Text("  Customer 10 is listed twice.  ")]))
    exploration, _, _ = explore(fake, DictWorkspace(namespace, sandbox))
    assert exploration.findings.answer == "Customer 10 is listed twice." and exploration.findings.complete
    assert exploration.steps == []


def test_the_step_limit_ends_the_loop_with_unfinished_findings(fake, namespace, sandbox):
    """A model that never finishes gets exactly max_steps turns; the findings say why they stopped."""
    counter = iter(range(100))
    fake.respond_with(lambda request: Turn([ToolUse("run_cell", {"code": f"print('probe', {next(counter)})"})]))
    exploration, _, _ = explore(fake, DictWorkspace(namespace, sandbox), Limits(max_steps=3))
    assert len(fake.requests) == 3 and len(exploration.steps) == 3
    findings = exploration.findings
    assert not findings.complete
    assert findings.answer == "the step limit (3) was reached after 3 scratch cells."
    assert findings.markdown().startswith("**Exploration stopped before a conclusion.** the step limit (3)")
    assert [item.split(":")[0] for item in findings.evidence] == ["step 1", "step 2", "step 3"]


def test_unfinished_findings_cite_what_each_step_printed(fake, namespace, sandbox):
    """What escalation gets from an exploration that ran out of steps: each step's own output, not a label."""
    counter = iter(range(100))
    fake.respond_with(lambda request: Turn([ToolUse("run_cell", {"code": f"print('probe', {next(counter)})"})]))
    exploration, _, _ = explore(fake, DictWorkspace(namespace, sandbox), Limits(max_steps=2))
    assert exploration.findings.evidence == ("step 1: probe 0", "step 2: probe 1")


def test_the_token_budget_ends_the_loop_after_the_turn_that_spent_it(fake, namespace, sandbox):
    """Usage as the API reports it (input + output) is counted per call; the turn that crosses the budget still
    has its tools run, then the loop stops short of its step limit."""
    fake.respond_with(
        lambda request: Turn(
            [ToolUse("run_cell", {"code": "print(len(report))"})], usage={"input_tokens": 600, "output_tokens": 10}
        )
    )
    exploration, _, _ = explore(fake, DictWorkspace(namespace, sandbox), Limits(max_steps=10, token_budget=1000))
    assert len(fake.requests) == 2 and len(exploration.steps) == 2
    assert exploration.findings.answer == "the token budget (1,000) was spent after 2 scratch cells."
    assert not exploration.findings.complete


def test_a_step_past_its_timeout_is_killed_and_the_exploration_goes_on(fake, namespace, sandbox):
    """The sandbox kills a step at its deadline; the model reads an error result, and the next step runs in a
    fresh fork that still sees the user's variables."""
    fake.script(
        Turn([ToolUse("run_cell", {"code": "import time\ntime.sleep(60)"})]),
        Turn([ToolUse("run_cell", {"code": "print('after', len(orders))"})]),
        Turn([FINISH]),
    )
    exploration, _, _ = explore(fake, DictWorkspace(namespace, sandbox), Limits(step_timeout=2.0))
    slow, after = exploration.steps
    assert slow.result.timed_out and "ran longer than 2 s" in slow.result.error
    assert slow.result.elapsed < 60  # killed, not waited for: the sleep alone would take 60 s
    (result,) = tool_results(fake.requests[1])
    assert result["is_error"] is True and result["content"].startswith("[scratch step 1]")
    assert after.result.restarted and after.result.stdout == "after 5\n"
    assert exploration.findings.complete


def test_a_live_sandbox_step_timeout_interrupts_python_code(fake, namespace):
    """Live mode (no fork) stops a busy Python loop at its deadline, and removes the names scratch code made."""
    fake.script(
        Turn([ToolUse("run_cell", {"code": "spins = 0\nwhile True:\n    spins += 1"})]),
        Turn([FINISH]),
    )
    with LiveSandbox(namespace) as live:
        exploration, _, _ = explore(fake, DictWorkspace(namespace, live), Limits(step_timeout=0.5))
        assert namespace["spins"] > 0  # live: the scratch name is in the user's dict while it runs
    (step,) = exploration.steps
    assert step.result.timed_out and "ran longer than 0.5 s" in step.result.error
    assert "spins" not in namespace


def test_a_model_call_that_stalls_ends_the_exploration_and_keeps_the_steps(fake, namespace, sandbox):
    """A stream that stops sending hits the request timeout: the surface reports one failure, the loop returns
    None (nothing more to show), and the steps already run stay in the record."""
    fake.script(
        Turn([ToolUse("run_cell", {"code": "print(total)"})]),
        Turn([Text("Now I will check the customers")], stall_after=2, stall_seconds=60),
    )
    record = Exploration(QUESTION)
    result, _, surface = explore(fake, DictWorkspace(namespace, sandbox), request_timeout=5, record=record)
    assert result is None
    (failure,) = surface.failures
    assert "\n" not in str(failure) and "time" in str(failure).lower()
    assert [s.result.stdout for s in record.steps] == ["395.0\n"] and record.findings is None
