"""`%escalate` in real kernels: the bundle sent, thinking round trips, fixes as diffs, cost guard, triggers."""

from __future__ import annotations

import json

from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from tests.conftest import API_KEY
from tests.fakes.model_server import Text, Thinking, ToolUse, Turn
from tests.test_explore import FINISH, PLANTED_BUG

FAILING = (
    "by_region = report.groupby('region')['amount'].sum()\n"
    "share = by_region / orders['amount'].sum()\n"
    "assert share.sum() == 1, share.sum()"
)


def answer(cell: int) -> str:
    """The reasoning model's reply, fixing the cell that built the report (In[cell])."""
    return (
        "The merge duplicates orders of customer 10, which is listed twice in `customers`.\n"
        f'<fix cell="{cell}">\nimport pandas as pd\ncustomers = customers.drop_duplicates("customer_id")\n'
        'report = orders.merge(customers, on="customer_id", validate="many_to_one")\n'
        'total = report["amount"].sum()\n</fix>'
    )


def blocks_of(request) -> list[str]:
    return [b.get("text", "") for b in request.body["messages"][0]["content"]]


def bug_hunt(kernel, fake) -> None:
    """A failing cell, an AI edit that fails again, an exploration: the history escalation must carry."""
    assert kernel.run(PLANTED_BUG).reply["content"]["execution_count"] == 3  # after %load_ext and %config
    kernel.run(FAILING)
    fake.script(Turn([Text("share = by_region / report['amount'].sum()")]))
    edited = kernel.run("%%rewrite normalise by the report total\nshare = by_region / orders['amount'].sum()")
    fake.script(
        Turn([ToolUse("run_cell", {"code": "print(len(orders), len(report))"})]),
        Turn([FINISH]),
    )
    kernel.run("%explore why does the share not add up to 1?")
    return edited


def test_the_whole_picture_goes_to_the_reasoning_model_and_fixes_come_back_as_diffs(kernel, fake):
    bug_hunt(kernel, fake)
    fake.script(Turn([Thinking("Orders 1 and 4 appear twice."), Text(answer(3))], chunk_chars=12))
    done = kernel.run("%escalate")
    assert done.reply["content"]["status"] == "ok" and done.stderr == "", done.stderr

    request = fake.requests[-1]
    assert request.body["model"] == "claude-opus-5-5" and request.body["max_tokens"] == 32000
    assert request.body["thinking"] == {"type": "adaptive"} and request.body["output_config"] == {"effort": "high"}
    blocks = blocks_of(request)
    text = "\n".join(blocks)
    assert blocks[0].startswith("<notebook>") and "# [cell 3] In [3]" in blocks[0]  # cells with outputs
    assert "orders: DataFrame 5 rows × 3 columns" in text  # kernel state
    assert "<last_error>\nAssertionError" in text  # the error
    assert "<exploration>\nQuestion: why does the share not add up to 1?" in text and "Scratch step 1" in text
    assert "customer 10 is listed twice" in text  # the exploration's findings
    assert "<earlier_attempts>" in text and "normalise by the report total" in text  # the edit tried before
    assert blocks[-1] == "Question: Why does the last error happen, and how do I fix it?"

    thinking = [m for m in done.of_type("update_display_data") if "thinking… (" in m["content"]["data"]["text/plain"]]
    assert thinking and "<details>" in thinking[-1]["content"]["data"]["text/html"]  # collapsed while it arrives
    diffs = [
        m
        for m in done.of_type("display_data")
        if m["content"]["metadata"].get("jupyter_layers", {}).get("fix_for_cell")
    ]
    assert [d["content"]["metadata"]["jupyter_layers"]["fix_for_cell"] for d in diffs] == [3]
    assert '+customers = customers.drop_duplicates("customer_id")' in diffs[0]["content"]["data"]["text/plain"]
    assert done.next_input.startswith("import pandas as pd\ncustomers = customers.drop_duplicates")


def test_a_model_that_does_not_think_leaves_no_thinking_placeholder(kernel, fake):
    kernel.run("x = 1")
    fake.script(Turn([Text("Nothing is wrong with x.")]))
    done = kernel.run("%escalate is x right?")
    shown = [
        m["content"]["data"]["text/plain"] for m in done.of_type("display_data") + done.of_type("update_display_data")
    ]
    assert shown and not any("thinking" in text for text in shown)


def test_a_follow_up_sends_thinking_back_with_its_signature(kernel, fake):
    kernel.run(PLANTED_BUG)
    kernel.run("orders['missing']")
    fake.script(
        Turn([Thinking("The column is not there.", signature="sig-first"), Text("There is no such column.")]),
        Turn([Text("Use `amount`.")]),
    )
    kernel.run("%escalate")
    kernel.run("%escalate which column should I use?")
    messages = fake.requests[-1].body["messages"]
    assert messages[1]["content"][0] == {
        "type": "thinking",
        "thinking": "The column is not there.",
        "signature": "sig-first",
    }
    assert messages[2] == {"role": "user", "content": [{"type": "text", "text": "which column should I use?"}]}


def test_a_broken_stream_keeps_what_was_shown_and_says_one_line(kernel, fake):
    kernel.run("1 / 0")
    fake.script(Turn([Text("The division fails because the divisor is zero " * 5)], chunk_chars=8, error_after=6))
    done = kernel.run("%escalate")
    assert done.stderr.strip().splitlines() == [
        "%escalate: Claude's answer broke off: overloaded (hint: the answer above is incomplete; run the request again)"
    ]
    shown = done.of_type("update_display_data")[-1]["content"]["data"]["text/plain"]
    assert shown.startswith("The division fails because")
    assert len([r for r in fake.requests if r.path == "/v1/messages"]) == 1  # not retried into duplicate text


def test_the_cost_guard_refuses_before_any_call(kernel, fake):
    kernel.run("1 / 0")
    done = kernel.run("%escalate --max-cost 0.05")
    line = done.stderr.strip()
    assert line.startswith("%escalate: this escalation could cost up to $0.8") and "(limit $0.05)" in line
    assert fake.requests == []


def test_an_exploration_without_findings_offers_escalation_with_its_cost(kernel, fake):
    kernel.run(PLANTED_BUG)
    fake.respond_with(lambda request: Turn([ToolUse("run_cell", {"code": "print(1)"})]))
    done = kernel.run("%explore --steps 1 why?")
    assert "The exploration stopped without findings. `%escalate` would send ~" in done.stdout
    assert "to anthropic:claude-opus-5-5 (estimated $" in done.stdout and ", at most $" in done.stdout
    assert all(r.body["model"] == "claude-sonnet-5-5" for r in fake.requests)  # offered, not sent


def test_auto_mode_escalates_when_an_ai_edit_fails_again(kernel, fake):
    kernel.run("values = [1, 2, 0]")
    kernel.run("%escalate --auto")
    fake.script(Turn([Text("inverse = [1 / v for v in values]")]))
    edited = kernel.run("%%rewrite invert each value\ninverse = []")
    fake.script(Turn([Text("Zero has no inverse; filter it out.")]))
    done = kernel.run(edited.next_input)
    assert "This cell failed again after an AI edit: escalating to anthropic:claude-opus-5-5 (auto)" in done.stdout
    assert fake.requests[-1].body["model"] == "claude-opus-5-5"
    assert "An AI edit ('invert each value'" in json.dumps(fake.requests[-1].body)


def test_the_bug_hunt_flow_in_one_notebook(fake, monkeypatch):
    """A failing cell, %explore, then %escalate using the exploration's findings, headless."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    fake.script(
        Turn([ToolUse("run_cell", {"code": "print(len(orders), len(report))"})]),
        Turn([FINISH]),
        Turn([Thinking("Use the findings."), Text(answer(2))]),
    )
    nb = new_notebook(
        cells=[
            new_code_cell("%load_ext jupyter_layers"),
            new_code_cell(PLANTED_BUG),
            new_code_cell(FAILING),
            new_code_cell("%explore why does the share not add up to 1?"),
            new_code_cell("%escalate"),
        ]
    )
    NotebookClient(nb, timeout=120, allow_errors=True).execute()
    assert nb.cells[2].outputs[0].output_type == "error"
    assert "customer 10 is listed twice" in json.dumps(nb.cells[3].outputs)
    escalated = json.dumps(nb.cells[4].outputs)
    assert "fix for In[2]" in escalated and "drop_duplicates" in escalated
    assert "customer 10 is listed twice" in json.dumps(fake.requests[-1].body)
