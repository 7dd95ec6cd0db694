"""The JupyterLab front end in a real Chromium against a real `jupyter lab` whose model is the fake Anthropic server.

One server and one browser serve the module; each test opens its own notebook. Screenshots are saved under
test-artifacts/screenshots/.
"""

from __future__ import annotations

import collections
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from tests.browser.lab import (
    CHROMIUM,
    CHROMIUM_ARGS,
    KERNEL_IDLE_JS,
    JupyterServer,
    cells,
    chromium_available,
    open_notebook,
    run_all,
    run_command,
    screenshot,
    write_notebook,
)
from tests.conftest import API_KEY
from tests.fakes.model_server import Text, Thinking, ToolUse, Turn
from tests.kernels import protections_here
from tests.test_mcp_server import over_stdio, text

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not chromium_available(), reason=f"needs Debian's chromium at {CHROMIUM}"),
]

PLANTED_BUG = """\
import pandas as pd
orders = pd.DataFrame({"order_id": [1, 2, 3, 4, 5], "customer_id": [10, 11, 12, 10, 13],
                       "amount": [100.0, 50.0, 75.0, 20.0, 30.0]})
customers = pd.DataFrame({"customer_id": [10, 11, 12, 13, 10], "region": ["north", "south", "south", "east", "north"]})
report = orders.merge(customers, on="customer_id")"""
CHECK = 'total = report["amount"].sum()\nassert total == orders["amount"].sum(), total'


class ModelQueues:
    """Replies per model (completion, edit/explore, escalation), so typing-time completions never take a reply
    meant for the sidebar."""

    def __init__(self, fake):
        self.fake = fake
        self.lock = threading.Lock()
        self.queues: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self.markers: dict[str, tuple[str, Turn]] = {}
        fake.respond_with(self.reply)

    def add(self, model: str, *turns: Turn) -> None:
        with self.lock:
            self.queues[model].extend(turns)

    def when(self, model: str, marker: str, turn: Turn) -> None:
        """Reply ``turn`` to every request for ``model`` whose prompt contains ``marker`` (a completion typed
        keystroke by keystroke sends several requests; only the one at the final cursor should get it)."""
        with self.lock:
            self.markers[model] = (marker, turn)

    def prompt_with(self, marker: str) -> str:
        """The last prompt sent that contains ``marker`` (the request behind the ghost text shown)."""
        return [text for r in self.fake.requests if r.body and marker in (text := json.dumps(r.body))][-1]

    def reply(self, request) -> Turn:
        with self.lock:
            model = request.body["model"]
            marker, turn = self.markers.get(model, (None, None))
            if marker is not None and marker in json.dumps(request.body):
                return turn
            queue = self.queues[model]
            return queue.popleft() if queue and marker is None else Turn([Text("")])


@pytest.fixture(scope="module")
def lab(model_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("lab-root")
    with JupyterServer(root, model_server.url, API_KEY) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, lab):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture
def models(fake):
    return ModelQueues(fake)


def notebook(lab, name: str, sources: list[tuple[str, str]]) -> str:
    write_notebook(lab.root / name, sources)
    return name


def focus_cell_end(page, index: int) -> None:
    """Click into cell ``index``'s editor and put the cursor at the end of its text."""
    editor = page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+End")


def test_ghost_text_streams_while_typing_and_tab_accepts_it(page, lab, models):
    name = notebook(lab, "complete.ipynb", [("code", "values = [3, 4, 5]"), ("code", "")])
    open_notebook(page, lab, name)
    run_all(page)
    models.when(
        "claude-haiku-5-5",
        "total = sum(<CURSOR>",
        Turn([Text("```python\ntotal = sum(values)\n```")], chunk_chars=4, token_delay=0.05),
    )
    focus_cell_end(page, 1)
    page.keyboard.type("total = sum(")
    ghost = page.locator(".jp-GhostText")
    ghost.wait_for(state="visible", timeout=20_000)
    page.wait_for_function("() => document.querySelector('.jp-GhostText').textContent === 'values)'")
    screenshot(page, "ghost-text")
    page.keyboard.press("Tab")
    page.wait_for_function("() => !document.querySelector('.jp-GhostText')")
    assert cells(page)[1]["source"] == "total = sum(values)"
    prompt = models.prompt_with("total = sum(<CURSOR>")
    assert "<kernel_state>" in prompt and "values: [3, 4, 5]" in prompt  # the live kernel's state
    assert "total = sum(<CURSOR>" in prompt


def test_completions_send_the_notebook_once_then_the_cell_typed_in(page, lab, models):
    """A 61-cell notebook with 2 kB of output per cell goes to the server whole with the first keystroke only;
    later keystrokes carry the cell typed in. When the server does not hold the document (here: a keystroke's
    changes are redirected to a document it never got), it says ``resync`` and the page sends it whole again."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    output = "".join(f"row {n:3d}: {'value ' * 6}\n" for n in range(60))[:2000]
    nb.cells = [nbformat.v4.new_code_cell("")] + [
        nbformat.v4.new_code_cell(
            f"part_{n} = {n}\nprint(part_{n})",
            execution_count=n + 1,
            outputs=[nbformat.v4.new_output("stream", name="stdout", text=output)],
        )
        for n in range(60)
    ]
    nbformat.write(nb, lab.root / "many.ipynb")
    sent: list[dict] = []  # the completion requests as the page sent them
    redirect = threading.Event()

    def route(page_side):
        server_side = page_side.connect_to_server()

        def to_server(message):
            data = json.loads(message)
            if data.get("type") == "complete":
                sent.append(data)
                if redirect.is_set() and not data["sync"].get("full"):
                    redirect.clear()
                    message = json.dumps({**data, "sync": {**data["sync"], "key": "never-sent"}})
            server_side.send(message)

        page_side.on_message(to_server)
        server_side.on_message(page_side.send)

    page.route_web_socket(re.compile(r"/jupyter-layers/ws"), route)
    open_notebook(page, lab, "many.ipynb")
    models.when("claude-haiku-5-5", "total = len(<CURSOR>", Turn([Text("parts)")]))
    focus_cell_end(page, 0)
    page.keyboard.type("total = len(", delay=300)  # slower than the completer's debouncing: a request per key
    page.wait_for_function("() => document.querySelector('.jp-GhostText')?.textContent === 'parts)'")
    first, *later = sent
    assert first["sync"]["full"] and len(first["sync"]["cells"]) == 61 and len(json.dumps(first)) > 100_000
    assert later, "one request per keystroke"
    active = first["sync"]["order"][0]
    for request in later:
        assert "full" not in request["sync"] and [c["id"] for c in request["sync"]["cells"]] == [active]
        assert len(json.dumps(request)) < 10_000

    sent.clear()
    redirect.set()
    models.when("claude-haiku-5-5", "total = len(q<CURSOR>", Turn([Text("uarters)")]))
    page.keyboard.type("q")
    page.wait_for_function("() => document.querySelector('.jp-GhostText')?.textContent === 'uarters)'")
    assert [bool(request["sync"].get("full")) for request in sent][:2] == [False, True]  # resync: sent whole again
    assert sent[1]["id"] != sent[0]["id"] and len(sent[1]["sync"]["cells"]) == 61


def test_edit_selection_shows_a_diff_and_reject_restores_the_cell_exactly(page, lab, models):
    original = "x = 1\ny = 2\nprint(x + y)\n"
    name = notebook(lab, "edit.ipynb", [("code", original)])
    open_notebook(page, lab, name)
    models.add("claude-sonnet-5-5", Turn([Text("x = 10\ny = 20")], chunk_chars=3, token_delay=0.02))
    editor = page.locator(".jp-Notebook .jp-Cell").nth(0).locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+Home")
    page.keyboard.press("Shift+ArrowDown")
    page.keyboard.press("Shift+ArrowDown")  # lines 1-2 selected
    page.keyboard.press("Control+k")
    box = page.locator(".jp-layers-instruction-input")
    box.wait_for(state="visible")
    box.fill("multiply both by ten")
    box.press("Enter")
    page.locator(".jp-layers-review-bar").wait_for(state="visible")
    assert page.locator(".cm-deletedChunk").count() >= 1 and page.locator("button[name=accept]").count() >= 1
    screenshot(page, "edit-diff")
    page.locator(".jp-layers-reject-all").click()
    page.locator(".jp-layers-review-bar").wait_for(state="detached")
    cell = cells(page)[0]
    assert cell["source"] == original and "jupyter_layers" not in cell["metadata"]


def test_edit_selection_accept_keeps_the_change_with_its_provenance(page, lab, models):
    name = notebook(lab, "edit-accept.ipynb", [("code", "x = 1\ny = 2\nprint(x + y)\n")])
    open_notebook(page, lab, name)
    models.add("claude-sonnet-5-5", Turn([Text("x = 10\ny = 20")]))
    page.locator(".jp-Notebook .jp-Cell").nth(0).locator(".cm-content").click()
    page.keyboard.press("Control+Home")
    page.keyboard.press("Shift+ArrowDown")
    page.keyboard.press("Shift+ArrowDown")
    page.locator(".jp-Notebook .jp-Cell").nth(0).locator(".cm-content").click(button="right")
    page.locator(".lm-Menu-itemLabel", has_text="Edit Selection with AI…").click()  # the context menu entry
    page.locator(".jp-layers-instruction-input").fill("multiply both by ten")
    page.locator(".jp-layers-instruction-input").press("Enter")
    page.locator("button[name=accept]").first.wait_for(state="visible")
    while page.locator("button[name=accept]").count():  # accept chunk by chunk
        page.locator("button[name=accept]").first.dispatch_event("mousedown")
    page.locator(".jp-layers-review-bar").wait_for(state="detached")
    cell = cells(page)[0]
    assert cell["source"] == "x = 10\ny = 20\nprint(x + y)\n"
    provenance = cell["metadata"]["jupyter_layers"]["provenance"]
    assert provenance["instruction"] == "multiply both by ten" and provenance["model"].endswith("claude-sonnet-5-5")
    assert provenance["layer"] == "edit" and provenance["time"]


def test_exploration_inserts_tagged_scratch_cells_and_clean_up_removes_exactly_them(page, lab, models):
    name = notebook(lab, "explore.ipynb", [("markdown", "# Orders"), ("code", PLANTED_BUG), ("code", CHECK)])
    open_notebook(page, lab, name)
    run_all(page)
    before = cells(page)
    models.add(
        "claude-sonnet-5-5",
        Turn(
            [
                Text("Compare row counts before and after the merge."),
                ToolUse("run_cell", {"code": "print(len(orders), len(report))"}),
            ]
        ),
        Turn([ToolUse("run_cell", {"code": "print(customers[customers.customer_id.duplicated(keep=False)])"})]),
        Turn(
            [
                ToolUse(
                    "finish",
                    {
                        "answer": "customer 10 appears twice in customers, so the merge duplicates its orders",
                        "evidence": ["step 1: 5 orders, 7 rows after the merge"],
                        "fix": "customers = customers.drop_duplicates('customer_id')",
                    },
                )
            ]
        ),
    )
    run_command(page, "jupyter-layers:open-sidebar")
    page.locator(".jp-layers-question").first.fill("why does the total not match the orders?")
    page.locator(".jp-layers-explore-start").click()
    page.locator(".jp-layers-findings .jp-layers-card").wait_for(state="visible", timeout=60_000)
    sandbox = page.locator("#jupyter-layers-explore .jp-layers-sandbox")  # what protects the scratch cells, said
    # by the notebook's kernel
    assert sandbox.is_visible() and sandbox.inner_text() == f"scratch cells: {protections_here().summary()}"
    after = cells(page)
    scratch = [c for c in after if "jupyter-layers-scratch" in c["metadata"].get("tags", [])]
    assert [c["source"] for c in scratch] == [
        "print(len(orders), len(report))",
        "print(customers[customers.customer_id.duplicated(keep=False)])",
    ]
    assert "5 7" in "".join(scratch[0]["outputs"][0]["text"]) and len(after) == len(before) + 2
    assert [c["id"] for c in after if c not in scratch] == [c["id"] for c in before]
    screenshot(page, "explore-sidebar")

    # "Remember as a rule": the rule proposed from the findings, edited, added to the AGENTS.md at the root
    models.add("claude-sonnet-5-5", Turn([Text("- Deduplicate customers on customer_id before merging orders.")]))
    page.locator(".jp-layers-remember").click()
    rule = page.locator(".jp-layers-remember-rule")
    rule.wait_for(state="visible", timeout=30_000)
    assert rule.input_value() == "Deduplicate customers on customer_id before merging orders."
    assert page.locator(".jp-layers-remember-file").inner_text() == "goes to AGENTS.md"
    rule.fill("Deduplicate customers on customer_id before any merge.")
    page.locator(".jp-layers-remember-accept").click()
    page.locator(".jp-layers-remember-section", has_text="added to AGENTS.md").wait_for(timeout=30_000)
    rules = lab.root / "AGENTS.md"
    assert rules.read_text().endswith("\n- Deduplicate customers on customer_id before any merge.\n")
    rules.unlink()  # the other tests' prompts stay as they were

    page.locator(".jp-layers-insert-findings").click()
    page.wait_for_timeout(1000)  # a person's pause: edits within 0.5 s share one undo step
    page.locator(".jp-layers-explore-clean").click()
    kept = cells(page)
    findings = [c for c in kept if c["metadata"].get("jupyter_layers", {}).get("findings")]
    assert len(findings) == 1 and "customer 10 appears twice" in "".join(findings[0]["source"])
    assert [c for c in kept if c not in findings] == before  # the user's cells exactly as they were
    run_command(page, "notebook:undo-cell-action")  # one undo brings the scratch cells back, and only them
    restored = [c["source"] for c in cells(page)]
    assert restored == [c["source"] for c in after] + [findings[0]["source"]]


SALES = """\
import pandas as pd
sales = pd.DataFrame({"region": ["north", "south", "north"], "price": [10.0, 4.0, 2.5], "quantity": [3, 5, 4]})"""
BUILT = [
    "sales['revenue'] = sales.price * sales.quantity",
    "by_region = sales.groupby('region').revenue.sum()\nby_region",
]
# what the kernel holds, read without running a cell (a silent request with a user expression)
KERNEL_EXPRESSION_JS = """async (expression) => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const future = kernel.requestExecute({code: '', silent: true, store_history: false,
                                         user_expressions: {value: expression}});
  const reply = await future.done;
  return reply.content.user_expressions.value.data['text/plain'];
}"""


def test_build_proposes_verified_cells_accept_one_reject_one_and_undo(page, lab, models):
    name = notebook(lab, "build.ipynb", [("markdown", "# Sales"), ("code", SALES), ("code", "print(len(sales))")])
    open_notebook(page, lab, name)
    run_all(page)
    before = cells(page)
    page.locator(".jp-Notebook .jp-Cell").nth(1).click()  # the active cell: the proposals go below it
    models.add(
        "claude-sonnet-5-5",
        Turn(
            [Text("Try it on a copy first."), ToolUse("run_cell", {"code": BUILT[0] + "\nprint(sales.revenue.sum())"})]
        ),
        Turn([ToolUse("propose", {"cells": BUILT, "summary": "A revenue column and its total per region."})]),
    )
    run_command(page, "jupyter-layers:open-sidebar")
    page.locator("#jupyter-layers-sidebar .lm-TabBar-tab", has_text="Build").click()
    page.locator("#jupyter-layers-build .jp-layers-question").fill("add a revenue column and the total per region")
    page.locator(".jp-layers-check").fill("assert (sales.revenue > 0).all()")
    page.locator(".jp-layers-build-start").click()
    page.locator(".jp-layers-proposed-card").nth(1).wait_for(state="visible", timeout=60_000)
    assert "✓ ran clean" in page.locator("#jupyter-layers-build .jp-layers-verify").inner_text()
    assert page.locator(".jp-layers-verified").inner_text() == (
        "ran clean in a fork of the live state; check passed: assert (sales.revenue > 0).all()"
    )

    proposed = cells(page)
    assert [c["source"] for c in proposed] == [before[0]["source"], before[1]["source"], *BUILT, before[2]["source"]]
    for number, cell in enumerate(proposed[2:4]):
        assert cell["metadata"]["tags"] == ["jupyter-layers-proposed"]
        provenance = cell["metadata"]["jupyter_layers"]["provenance"]
        assert provenance["layer"] == "build" and provenance["cell"] == number
        assert provenance["verified"].startswith("ran clean in a fork of the live state; check passed")
    assert "north    40.0" in proposed[3]["outputs"][0]["data"]["text/plain"]  # the fork's output
    assert page.locator(".jp-Notebook .jp-Cell.jp-layers-proposed").count() == 2
    # neither the tries nor the verification touched the kernel: no revenue column, no by_region
    assert page.evaluate(KERNEL_EXPRESSION_JS, "(list(sales.columns), 'by_region' in dir())") == (
        "(['region', 'price', 'quantity'], False)"
    )
    screenshot(page, "build-sidebar")

    page.locator(".jp-layers-accept-cell").nth(0).click()
    accepted = cells(page)[2]
    assert accepted["source"] == BUILT[0] and "tags" not in accepted["metadata"]
    assert accepted["outputs"] == [] and accepted["execution_count"] is None  # ordinary, and not run
    assert accepted["metadata"]["jupyter_layers"]["provenance"]["layer"] == "build"
    page.wait_for_timeout(1000)  # a person's pause: edits within 0.5 s share one undo step
    page.locator(".jp-layers-reject-cell").nth(1).click()
    after = [c["source"] for c in cells(page)]
    assert after == [before[0]["source"], before[1]["source"], BUILT[0], before[2]["source"]]
    run_command(page, "notebook:undo-cell-action")  # one undo brings the rejected proposal back
    restored = cells(page)
    assert [c["source"] for c in restored] == [before[0]["source"], before[1]["source"], *BUILT, before[2]["source"]]
    assert restored[3]["metadata"]["tags"] == ["jupyter-layers-proposed"]
    assert page.evaluate(KERNEL_EXPRESSION_JS, "'revenue' in sales.columns") == "False"  # still nothing ran


def test_build_in_a_cell_and_an_outside_agent_propose_cells_in_jupyterlab(page, lab, models):
    build = '%build --check "assert (sales.revenue > 0).all()" add a revenue column'
    sources = [("code", SALES), ("code", "%load_ext jupyter_layers"), ("code", build), ("code", "print(len(sales))")]
    name = notebook(lab, "build-magic.ipynb", sources)
    open_notebook(page, lab, name)
    page.locator(".jp-Notebook .jp-Cell").nth(0).click()
    for _ in range(2):  # one at a time: the extension's question to the frontend is answered between cells
        run_command(page, "notebook:run-cell-and-select-next")
        page.wait_for_function(KERNEL_IDLE_JS, timeout=60_000)
    models.add("claude-sonnet-5-5", Turn([ToolUse("propose", {"cells": BUILT[:1], "summary": "Revenue per row."})]))
    run_command(page, "jupyter-layers:open-sidebar")
    page.locator("#jupyter-layers-sidebar .lm-TabBar-tab", has_text="Build").click()
    run_command(page, "notebook:run-cell")  # the %build cell
    page.locator(".jp-layers-proposed-card").wait_for(state="visible", timeout=60_000)
    after = cells(page)
    assert [c["source"] for c in after] == [SALES, "%load_ext jupyter_layers", build, BUILT[0], "print(len(sales))"]
    proposed = after[3]  # below the %build cell, not offered as a next input
    assert proposed["metadata"]["tags"] == ["jupyter-layers-proposed"]
    assert proposed["metadata"]["jupyter_layers"]["provenance"]["task"] == "add a revenue column"
    page.wait_for_function(KERNEL_IDLE_JS, timeout=60_000)
    said = "".join("".join(o.get("text", "")) for o in cells(page)[2]["outputs"])
    assert "1 proposed cells go below this cell in JupyterLab" in said
    assert page.evaluate(KERNEL_EXPRESSION_JS, "'revenue' in sales.columns") == "False"

    # an outside agent (an MCP client) proposes through `jupyter layers mcp` on the same kernel
    page.locator(".jp-Notebook .jp-Cell").nth(4).click()  # the active cell: the proposal goes below it
    kernel_id = page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.id")
    connection = str(Path(lab.env["JUPYTER_RUNTIME_DIR"]) / f"kernel-{kernel_id}.json")
    cell = "sales.price.max()"
    with ThreadPoolExecutor(1) as thread:  # its own event loop, away from Playwright's
        answer = thread.submit(
            over_stdio,
            ["--existing", connection],
            lambda session: text(session, "propose_cells", cells=[cell], summary="x"),
        ).result()
    assert answer.startswith("Proposed 1 cells in JupyterLab below the active cell")
    shown = cells(page)
    assert [c["source"] for c in shown][-1] == cell and shown[-1]["metadata"]["tags"] == ["jupyter-layers-proposed"]
    assert shown[-1]["metadata"]["jupyter_layers"]["provenance"]["model"] == "mcp:mcp"
    assert shown[-1]["outputs"][0]["data"]["text/plain"] == "np.float64(10.0)"  # its run in a fork
    page.locator(".jp-layers-accept-all").first.click()  # the newest proposal first; the %build one stays below it
    assert [c["source"] for c in cells(page) if "tags" in c["metadata"]] == [BUILT[0]]
    page.locator(".jp-layers-proposed-card .jp-layers-accept-cell").nth(1).click()
    assert not [c for c in cells(page) if "tags" in c["metadata"]]  # both now ordinary cells, unrun


def test_escalation_streams_and_applying_a_fix_changes_only_the_named_cell(page, lab, models):
    name = notebook(lab, "escalate.ipynb", [("markdown", "# Orders"), ("code", PLANTED_BUG), ("code", CHECK)])
    open_notebook(page, lab, name)
    run_all(page)
    before = cells(page)
    fixed = PLANTED_BUG + "\ncustomers = customers.drop_duplicates('customer_id')"
    answer = f'Customer 10 is listed twice, so the merge duplicates orders 1 and 4.\n<fix cell="1">\n{fixed}\n</fix>\n'
    models.add(
        "claude-opus-5-5",
        Turn(
            [Thinking("The merge key is not unique in customers. " * 20), Text(answer)],
            chunk_chars=24,
            token_delay=0.02,
        ),
    )
    run_command(page, "jupyter-layers:open-sidebar")
    page.locator("#jupyter-layers-sidebar .lm-TabBar-tab", has_text="Escalate").click()
    page.locator(".jp-layers-escalate-start").click()
    page.locator(".jp-layers-thinking").wait_for(state="visible")
    page.locator(".jp-layers-fix-card").wait_for(state="visible", timeout=60_000)
    assert "Customer 10 is listed twice" in page.locator("#jupyter-layers-escalate .jp-layers-answer").inner_text()
    assert page.locator(".jp-layers-diff-add").count() >= 1
    screenshot(page, "escalate-sidebar")
    page.locator(".jp-layers-apply-fix").click()
    after = cells(page)
    assert after[1]["source"] == fixed and after[1]["metadata"]["jupyter_layers"]["provenance"]["layer"] == "escalate"
    assert [after[0], after[2]] == [before[0], before[2]]
    page.locator("#jupyter-layers-sidebar .lm-TabBar-tab", has_text="Status").click()
    page.locator(".jp-layers-status-table").wait_for(state="visible")
    status = page.locator("#jupyter-layers-status").inner_text()
    assert "claude-opus-5-5" in status and "claude-haiku-5-5" in status and "online" in status
    assert "Allowed: any provider and model" in status and "this month" in status  # limits and spending
    screenshot(page, "status-sidebar")


@pytest.fixture(scope="module")
def notebook7(model_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("notebook7-root")
    with JupyterServer(root, model_server.url, API_KEY, app="notebook") as server:
        yield server


def test_notebook_7_gets_ghost_text_and_the_sidebar(browser, notebook7, models):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    name = notebook(notebook7, "nb7.ipynb", [("code", "values = [3, 4, 5]"), ("code", "")])
    open_notebook(page, notebook7, name, app_path="notebooks")
    run_all(page)
    models.when("claude-haiku-5-5", "total = sum(<CURSOR>", Turn([Text("values)")]))
    focus_cell_end(page, 1)
    page.keyboard.type("total = sum(")
    page.wait_for_function("() => document.querySelector('.jp-GhostText')?.textContent === 'values)'")
    page.keyboard.press("Tab")
    page.wait_for_function("() => !document.querySelector('.jp-GhostText')")
    assert cells(page)[1]["source"] == "total = sum(values)"
    run_command(page, "jupyter-layers:open-sidebar")
    page.locator("#jupyter-layers-sidebar .jp-layers-explore-start").wait_for(state="visible")
    screenshot(page, "notebook7")
    page.close()


def test_ghost_text_in_a_python_file_and_a_console(page, lab, models):
    (lab.root / "script.py").write_text("import math\n\nradius = 2.0\n")
    page.goto(lab.url("lab/workspaces/files/tree/script.py?reset"))
    editor = page.locator(".jp-FileEditor .cm-content")
    editor.click()
    page.keyboard.press("Control+End")
    models.when("claude-haiku-5-5", "ar<CURSOR>", Turn([Text("area = math.pi * radius ** 2")]))
    page.keyboard.type("ar")
    page.wait_for_function(
        "() => document.querySelector('.jp-GhostText')?.textContent === 'ea = math.pi * radius ** 2'"
    )
    page.keyboard.press("Tab")
    page.wait_for_function("() => !document.querySelector('.jp-GhostText')")
    assert editor.inner_text().endswith("area = math.pi * radius ** 2")
    sent = models.prompt_with("ar<CURSOR>")
    assert "radius = 2.0" in sent

    run_command(page, "console:create", {"kernelPreference": {"name": "python3"}})
    prompt = page.locator(".jp-CodeConsole-promptCell .cm-content")
    prompt.wait_for(state="visible", timeout=60_000)
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'",
        timeout=60_000,
    )
    prompt.click()
    page.keyboard.type("x = 41")
    page.keyboard.press("Shift+Enter")
    page.wait_for_function(  # executed: its prompt shows [1] (the kernel's status may not have left idle yet)
        "() => [...document.querySelectorAll('.jp-CodeConsole-content .jp-InputPrompt')]"
        ".some(prompt => prompt.textContent.includes('[1]'))"
    )
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'"
    )
    models.when("claude-haiku-5-5", "y = <CURSOR>", Turn([Text("x + 1")]))
    prompt.click()
    page.keyboard.type("y = ")
    page.wait_for_function("() => document.querySelector('.jp-GhostText')?.textContent === 'x + 1'")
    page.keyboard.press("Tab")
    assert prompt.inner_text() == "y = x + 1"
    sent = models.prompt_with("y = <CURSOR>")
    assert "x = 41" in sent and "x: 41" in sent, sent  # the console's history and its kernel's state


def test_sidebar_errors_are_one_line_with_a_hint(page, lab, models):
    name = notebook(lab, "fine.ipynb", [("code", "x = 1")])
    open_notebook(page, lab, name)
    run_all(page)
    run_command(page, "jupyter-layers:open-sidebar")
    page.locator("#jupyter-layers-sidebar .lm-TabBar-tab", has_text="Escalate").click()
    page.locator(".jp-layers-escalate-start").click()
    error = page.locator("#jupyter-layers-escalate .jp-layers-error")
    error.wait_for(state="visible")
    text = error.inner_text()  # the engine's words, one line with a hint
    assert text.startswith("nothing to escalate: ") and "(hint: " in text and "\n" not in text
    assert page.locator(".jp-layers-escalate-start").is_enabled()  # ready for the next try
    assert not [r for r in models.fake.requests if r.path == "/v1/messages"]  # nothing was sent


def test_the_explore_tab_keeps_a_run_per_notebook_and_one_run_at_a_time(page, lab, models):
    first = notebook(lab, "explore-a.ipynb", [("code", PLANTED_BUG)])
    second = notebook(lab, "explore-b.ipynb", [("code", "x = 1")])
    open_notebook(page, lab, first)
    run_all(page)
    models.add(
        "claude-sonnet-5-5",
        Turn([Text("Count the rows."), ToolUse("run_cell", {"code": "print(len(report))"})]),
        Turn([ToolUse("finish", {"answer": "report has 7 rows", "evidence": ["step 1: 7"], "fix": ""})]),
    )
    run_command(page, "jupyter-layers:open-sidebar")
    question = page.locator("#jupyter-layers-explore .jp-layers-question")
    question.fill("how many rows?")
    question.press("Control+Enter")
    question.press("Control+Enter")  # while the first run is going: starts nothing
    findings = page.locator("#jupyter-layers-explore .jp-layers-findings .jp-layers-card")
    findings.wait_for(state="visible", timeout=60_000)
    explore_calls = [r for r in models.fake.requests if r.body and r.body.get("model") == "claude-sonnet-5-5"]
    assert len(explore_calls) == 2  # one run: its two turns
    assert len([c for c in cells(page) if "jupyter-layers-scratch" in c["metadata"].get("tags", [])]) == 1

    run_command(page, "docmanager:open", {"path": second})  # the other notebook: its own, empty view
    page.wait_for_function(f"() => window.jupyterapp.shell.currentWidget?.context?.path === '{second}'")
    page.wait_for_function(KERNEL_IDLE_JS, timeout=60_000)
    assert findings.count() == 0 and page.locator("#jupyter-layers-explore .jp-layers-step").count() == 0
    models.add("claude-sonnet-5-5", Turn([Text("thinking " * 300)], chunk_chars=4, token_delay=0.02))
    page.locator(".jp-layers-explore-start").click()
    page.locator("#jupyter-layers-explore .jp-layers-narration").filter(has_text="thinking").wait_for()
    page.locator(".jp-layers-explore-stop").click()  # the server confirms with `cancelled`
    status = page.locator("#jupyter-layers-explore .jp-layers-status-line")
    page.wait_for_function(
        "() => document.querySelector('#jupyter-layers-explore .jp-layers-run .jp-layers-status-line')"
        "?.textContent === 'stopped'"
    )
    assert page.locator(".jp-layers-explore-start").is_enabled()

    run_command(page, "docmanager:open", {"path": first})  # back: the first notebook's findings are still there
    page.wait_for_function(f"() => window.jupyterapp.shell.currentWidget?.context?.path === '{first}'")
    findings.wait_for(state="visible")
    assert "report has 7 rows" in findings.inner_text() and status.first.inner_text() == "1 scratch cell run"
