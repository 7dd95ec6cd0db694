"""`%build` in real kernels: a planted task built by a scripted model, verified in a fork, proposed for review.

The user's namespace is unchanged until the user runs an offered cell; a proposal that only works because of a
scratch cell fails verification; the taste check sends needless try/except back for one revision; the user's
check must pass; Ctrl-C stops the build with nothing proposed.
"""

from __future__ import annotations

import json

import pytest

from tests.fakes.model_server import Text, ToolUse, Turn
from tests.test_explore import displays, scratch_blocks

SALES = """
import pandas as pd
sales = pd.DataFrame({"region": ["north", "south", "north", "east"], "price": [10.0, 4.0, 2.5, 8.0],
                      "quantity": [3, 5, 4, None]})
"""

TASK = "add a revenue column (price times quantity, 0 where quantity is missing) and the total per region"
SCRATCH = "sales['revenue'] = sales.price * sales.quantity.fillna(0)\nhelper = sales.groupby('region').revenue.sum()\n"
SCRATCH += "print(helper)\ndel sales"
RELIES_ON_SCRATCH = ["by_region = helper.sort_values()", "by_region"]
PADDED = [
    "try:\n    sales['revenue'] = sales.price * sales.quantity.fillna(0)\nexcept Exception:\n    pass",
    "by_region = sales.groupby('region').revenue.sum()\nby_region",
]
CLEAN = [
    "sales['revenue'] = sales.price * sales.quantity.fillna(0)",
    "by_region = sales.groupby('region').revenue.sum()\nby_region",
]


@pytest.fixture
def kernel(kernel):
    kernel.run(SALES)
    return kernel


def proposals(execution) -> list[dict]:
    return [
        d
        for d in displays(execution).values()
        if d["metadata"].get("jupyter_layers", {}).get("tags") == ["jupyter-layers-proposed"]
    ]


def tool_result(request) -> dict:
    return request.body["messages"][-1]["content"][0]


def test_a_planted_task_is_built_verified_in_a_fork_and_proposed(kernel, fake):
    fake.script(
        Turn([Text("Try the column first."), ToolUse("run_cell", {"code": SCRATCH})]),
        Turn([ToolUse("propose", {"cells": RELIES_ON_SCRATCH, "summary": "sorted totals"})]),
        Turn([ToolUse("propose", {"cells": PADDED, "summary": "revenue and totals"})]),
        Turn([ToolUse("propose", {"cells": CLEAN, "summary": "A revenue column and the revenue per region."})]),
    )
    done = kernel.run(f'%build --check "assert (sales.revenue >= 0).all()" {TASK}')
    assert done.reply["content"]["status"] == "ok" and not done.of_type("error"), done.stderr

    # the prompt: the build's tools and task, the kernel state; the dry-run is this request
    first = fake.requests[0].body
    assert [t["name"] for t in first["tools"]] == [
        "run_cell",
        "list_variables",
        "inspect_variable",
        "read_cells",
        "read_last_error",
        "propose",
    ]
    sent = json.dumps(first, ensure_ascii=False)
    assert f"Task: {TASK}" in sent and "this check must pass: assert (sales.revenue >= 0).all()" in sent
    assert "sales: DataFrame 4 rows × 3 columns" in sent

    # the scratch try ran in the fork and is shown as a scratch block
    assert "north" in scratch_blocks(done)[0]["data"]["text/plain"]

    # proposal 1 used a scratch-only name: verification in a fresh fork failed, and the model read why
    failed = tool_result(fake.requests[2])
    assert failed["is_error"] is True and "NameError" in failed["content"] and "helper" in failed["content"]
    # proposal 2 ran but swallowed errors: one taste revision turn
    revise = tool_result(fake.requests[3])
    assert "is_error" not in revise or revise["is_error"] is False
    assert revise["content"].startswith("The cells run.") and "Cell 1:" in revise["content"]
    assert len(fake.requests) == 4

    shown = proposals(done)
    assert len(shown) == 2
    assert [p["metadata"]["jupyter_layers"]["provenance"]["cell"] for p in shown] == [0, 1]
    provenance = shown[0]["metadata"]["jupyter_layers"]["provenance"]
    assert provenance["layer"] == "build" and provenance["task"] == TASK
    assert (
        provenance["verified"]
        == "ran clean in a fork of the live state; check passed: assert (sales.revenue >= 0).all()"
    )
    text = shown[1]["data"]["text/plain"]
    assert "proposed cell 2 of 2" in text and "north    40.0" in text  # its output in the fork
    assert "taste:" not in shown[0]["data"]["text/plain"]  # the revision took the try/except out
    assert (
        "verifying proposal 1 (2 cells)" in done.stdout
        and "✗ cell 1 of your proposal failed: NameError: name 'helper' is not defined" in done.stdout
    )
    assert done.stdout.count("✓ ran clean") == 2
    assert not [d for d in displays(done).values() if "is building" in d["data"].get("text/plain", "")]  # no turn
    # that only called tools leaves its "working…" line behind
    assert "check passed in the fork" in done.stdout

    # offered, not run: the user's namespace is as it was
    assert done.next_input == CLEAN[0]
    state = kernel.run("print(list(sales.columns), 'by_region' in dir(), 'helper' in dir())").stdout
    assert state == "['region', 'price', 'quantity'] False False\n"

    offered = kernel.run("%build --next")
    assert offered.next_input == CLEAN[1] and "Proposed cell 2 of 2" in offered.stdout
    assert "all 2 proposed cells were offered" in kernel.run("%build --next").stdout

    # accepting is running the offered cells: only now does the user's state change
    kernel.run(CLEAN[0])
    kernel.run(CLEAN[1])
    assert kernel.run("print(by_region['north'])").stdout == "40.0\n"


def test_a_check_that_fails_goes_back_to_the_model(kernel, fake):
    fake.script(
        Turn([ToolUse("propose", {"cells": ["sales['revenue'] = sales.price * sales.quantity"], "summary": "x"})]),
        Turn([ToolUse("propose", {"cells": CLEAN[:1], "summary": "revenue, missing quantities as 0"})]),
    )
    done = kernel.run('%build --check "assert sales.revenue.notna().all()" add revenue')
    failed = tool_result(fake.requests[1])
    assert failed["is_error"] is True and "the user's check failed" in failed["content"]
    assert "AssertionError" in failed["content"]
    assert done.next_input == CLEAN[0]
    assert kernel.run("print('revenue' in sales.columns)").stdout == "False\n"


def test_a_build_that_never_verifies_is_one_line(kernel, fake):
    fake.script(*[Turn([ToolUse("propose", {"cells": [f"undefined_{n}"], "summary": "x"})]) for n in range(3)])
    done = kernel.run("%build --steps 3 add revenue")
    assert done.next_input is None and not proposals(done)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "building cells" in lines[0] and "none of its 3 proposals ran clean (last: NameError" in lines[0]


def test_build_without_a_task_says_what_to_do(kernel, fake):
    done = kernel.run("%build")
    assert "say what to build" in done.stderr and not fake.requests


def test_ctrl_c_stops_a_build_and_proposes_nothing(kernel, fake):
    fake.script(Turn([ToolUse("run_cell", {"code": "import time\ntime.sleep(30)"})]), Turn([ToolUse("propose", {})]))
    done = kernel.run("%build add revenue", interrupt_when=lambda: len(fake.requests) >= 1, timeout=60)
    assert "cancelled" in done.stderr and not proposals(done) and done.next_input is None
    assert kernel.run("print(len(sales))").stdout == "4\n"  # the kernel is alive and its state intact


def test_where_the_kernel_cannot_fork_nothing_is_run_to_verify_and_the_proposal_says_so(kernel, fake):
    """Verification never runs in the live namespace: that would run the cells for the user before they accept."""
    kernel.run("import sys, types\nsys.modules['cupy'] = types.ModuleType('cupy')")  # a GPU runtime: no fork
    fake.script(Turn([ToolUse("propose", {"cells": CLEAN[:1], "summary": "revenue"})]))
    done = kernel.run("%build add revenue")
    assert "scratch cells run in your live namespace" in done.stdout  # the tries' sandbox says it, as %explore does
    [line] = [line for line in done.stderr.splitlines() if line.strip()]
    assert line.startswith("%build: not verified, since this kernel cannot fork safely: a CUDA context is init")
    assert line.endswith("read the cells before you run them")
    shown = proposals(done)[0]
    assert shown["metadata"]["jupyter_layers"]["provenance"]["verified"].startswith("not verified")
    assert done.next_input == CLEAN[0]
    assert kernel.run("print('revenue' in sales.columns)").stdout == "False\n"  # not run to verify it


def test_what_the_taste_check_still_finds_stays_beside_the_proposed_cell(kernel, fake):
    padded = {"cells": PADDED[:1], "summary": "revenue"}
    fake.script(Turn([ToolUse("propose", padded)]), Turn([ToolUse("propose", padded)]))  # not revised after all
    done = kernel.run("%build add revenue")
    [shown] = proposals(done)
    [note] = shown["metadata"]["jupyter_layers"]["taste"]  # kept in the proposal's metadata while it is reviewed
    assert "except" in note and f"taste: {note}" in shown["data"]["text/plain"]
    assert done.next_input == PADDED[0]
