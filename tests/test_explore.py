"""`%explore` in real kernels: a planted bug found with scratch steps, isolation, limits, cancellation, clean-up."""

from __future__ import annotations

import json

import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from jupyter_layers.sandbox import LIVE_WARNING
from tests.fakes.model_server import Text, ToolUse, Turn
from tests.kernels import HERE
from tests.test_interrupt import run_interrupted_once_sent

PLANTED_BUG = """
import pandas as pd
orders = pd.DataFrame({"order_id": [1, 2, 3, 4, 5], "customer_id": [10, 11, 12, 10, 13],
                       "amount": [100.0, 50.0, 75.0, 20.0, 30.0]})
customers = pd.DataFrame({"customer_id": [10, 11, 12, 13, 10], "region": ["north", "south", "south", "east", "north"]})
report = orders.merge(customers, on="customer_id")
total = report["amount"].sum()
"""

FINISH = ToolUse(
    "finish",
    {
        "answer": "customer 10 is listed twice in customers, so the merge duplicates orders 1 and 4",
        "evidence": ["step 1: 5 orders became 7 rows after the merge", "step 2: customer_id 10 appears twice"],
        "fix": "customers = customers.drop_duplicates('customer_id')",
    },
)


@pytest.fixture
def kernel(kernel):
    """The shared kernel (tests/conftest.py), holding the planted bug."""
    kernel.run(PLANTED_BUG)
    return kernel


def displays(execution) -> dict[str, dict]:
    """The final state of each display the execution made, by display id."""
    final = {}
    for message in execution.messages:
        if message["msg_type"] in ("display_data", "update_display_data"):
            display_id = message["content"].get("transient", {}).get("display_id")
            final[display_id or f"anonymous-{len(final)}"] = message["content"]
    return final


def scratch_blocks(execution) -> list[dict]:
    return [
        d
        for d in displays(execution).values()
        if d["metadata"].get("jupyter_layers", {}).get("tags") == ["jupyter-layers-scratch"]
    ]


def test_a_planted_merge_bug_is_found_with_cited_scratch_steps(kernel, fake):
    fake.script(
        Turn(
            [
                Text("Compare row counts before and after the merge."),
                ToolUse("run_cell", {"code": "print(len(orders), len(report))"}),
            ]
        ),
        Turn(
            [
                ToolUse(
                    "run_cell",
                    {
                        "code": (
                            "dupes = customers[customers.customer_id.duplicated(keep=False)]\nprint(dupes)\n"
                            "customers.drop_duplicates('customer_id', inplace=True)\ndel orders\ntotal = -1"
                        )
                    },
                )
            ]
        ),
        Turn([FINISH]),
    )
    done = kernel.run("%explore why is total higher than the sum of the orders?")
    assert done.reply["content"]["status"] == "ok" and not done.of_type("error"), done.stderr

    blocks = scratch_blocks(done)
    assert [b["metadata"]["jupyter_layers"]["step"] for b in blocks] == [1, 2]
    assert "5 7" in blocks[0]["data"]["text/plain"]
    assert "customer_id" in blocks[1]["data"]["text/plain"] and "north" in blocks[1]["data"]["text/plain"]
    assert "<details open" in blocks[0]["data"]["text/html"]

    second = fake.requests[1].body["messages"]
    assert second[-1]["content"][0]["type"] == "tool_result"
    assert (
        second[-1]["content"][0]["content"].startswith("[scratch step 1]")
        and "5 7" in second[-1]["content"][0]["content"]
    )
    assert [t["name"] for t in fake.requests[0].body["tools"]][0] == "run_cell"
    assert "orders: DataFrame 5 rows × 3 columns" in json.dumps(fake.requests[0].body, ensure_ascii=False)

    findings = [d for d in displays(done).values() if d["metadata"].get("jupyter_layers", {}).get("layer") == "explore"]
    assert len(findings) == 1 and findings[0]["metadata"]["jupyter_layers"]["complete"] is True
    text = findings[0]["data"]["text/markdown"]
    assert "customer 10 is listed twice" in text and "- step 1: 5 orders became 7 rows" in text
    assert "drop_duplicates('customer_id')" in text

    summary = kernel.run(f"print({HERE}.summary())").stdout  # what this kernel's forks get
    assert done.stdout.startswith(f"scratch cells: {summary}")  # said first, in one line

    # the scratch steps mutated, deleted and rebound user names: none of it reached the user's namespace
    state = kernel.run("print(len(orders), len(customers), total, 'dupes' in dir())").stdout
    assert state == "5 5 395.0 False\n"  # 275 of orders, plus orders 1 and 4 counted twice: the planted bug

    cleaned = kernel.run("%explore --clean")
    emptied = [m for m in cleaned.of_type("update_display_data") if m["content"]["data"] == {"text/plain": ""}]
    assert len(emptied) >= 2 and "the findings stay" in cleaned.stdout


def test_a_live_exploration_says_nothing_is_isolated(kernel, fake):
    fake.script(Turn([ToolUse("run_cell", {"code": "print(len(orders))"})]), Turn([FINISH]))
    done = kernel.run("%explore --live why?")
    assert done.stdout.splitlines()[:2] == [
        "scratch cells: live (scratch cells run in your kernel: nothing is isolated)",
        f"{LIVE_WARNING}. Why: you asked for --live. File writes, subprocesses and network access are not blocked "
        "in this mode.",
    ]
    assert "── output ──\nstdout:\n5\n" in scratch_blocks(done)[0]["data"]["text/plain"]


def test_a_timeout_kills_the_step_and_the_exploration_goes_on(kernel, fake):
    fake.script(
        Turn([ToolUse("run_cell", {"code": "import time\ntime.sleep(20)"})]),
        Turn([ToolUse("run_cell", {"code": "print('after', len(orders))"})]),
        Turn([FINISH]),
    )
    done = kernel.run("%explore --timeout 1 why?", timeout=60)
    blocks = scratch_blocks(done)
    assert "TimeoutError: the scratch cell ran longer than 1 s" in blocks[0]["data"]["text/plain"]
    assert "after 5" in blocks[1]["data"]["text/plain"]
    result = fake.requests[1].body["messages"][-1]["content"][0]
    assert result["is_error"] is True and "ran longer than 1 s" in result["content"]


def test_the_step_limit_ends_an_exploration_without_findings(kernel, fake):
    fake.respond_with(lambda request: Turn([ToolUse("run_cell", {"code": "print(1)"})]))
    done = kernel.run("%explore --steps 2 why?")
    assert len(fake.requests) == 2
    findings = [d for d in displays(done).values() if d["metadata"].get("jupyter_layers", {}).get("layer") == "explore"]
    assert findings[0]["metadata"]["jupyter_layers"]["complete"] is False
    assert "step limit (2) was reached after 2 scratch cells" in findings[0]["data"]["text/markdown"]


def test_ctrl_c_stops_the_whole_exploration(kernel, fake):
    fake.script(Turn([ToolUse("run_cell", {"code": "import time\ntime.sleep(30)"})]), Turn([FINISH]))
    done = run_interrupted_once_sent(kernel, fake, "%explore why?")  # once asked: not after a fixed delay
    assert done.reply["content"]["status"] == "ok"
    assert "%explore: cancelled" in done.stderr
    assert len(fake.requests) == 1
    assert kernel.run("print(len(orders))").stdout == "5\n"


def test_without_a_question_or_an_error_it_asks_for_one(kernel, fake):
    done = kernel.run("%explore")
    assert done.stderr.startswith("%explore: ask a question (there is no error to explore)")
    assert fake.requests == []


@pytest.mark.embedded
@pytest.mark.timeout(1800)  # a hang guard: the run is bounded by tokens (answers, prompt, steps), not seconds
def test_an_exploration_on_the_embedded_model_runs_to_its_end():
    """Each turn re-reads the whole prompt on the CPU, so a small prompt and small answers keep it short on any
    machine; no cell timeout, which a busy machine would outrun."""
    pytest.importorskip("llama_cpp")
    nb = new_notebook(
        cells=[
            new_code_cell(
                "%load_ext jupyter_layers\n%config JupyterLayers.max_tokens = {'explore': 96}\n"
                "%config JupyterLayers.context_budget = {'explore': 1200}"
            ),
            new_code_cell(PLANTED_BUG),
            new_code_cell("%explore --steps 3 --timeout 10 why is total higher than the sum of the orders?"),
            new_code_cell("print(len(orders), len(customers))"),
        ]
    )
    NotebookClient(nb, timeout=None).execute()
    outputs = nb.cells[2].outputs
    assert not [o for o in outputs if o.output_type == "error"]
    findings = [o for o in outputs if o.get("metadata", {}).get("jupyter_layers", {}).get("layer") == "explore"]
    said = [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    too_small = "%explore: the embedded model (SmolLM2-135M-Instruct) is too small for exploration: "
    assert len(findings) == 1 or (findings == [] and [line[: len(too_small)] for line in said] == [too_small])
    assert nb.cells[3].outputs[0].text == "5 5\n"
