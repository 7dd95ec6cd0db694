"""Notebook context, relevance ranking, the token budget and the order of prompts."""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from jupyter_layers.context.budget import clip_around, estimate_tokens, pack
from jupyter_layers.context.notebook import around, cell_views, out_of_order, output_text
from jupyter_layers.context.relevance import rank, words_near
from jupyter_layers.context.situation import Cursor, Situation
from jupyter_layers.prompts import build_request
from jupyter_layers.prompts.explore import TOOLS


def notebook() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell("# Sales analysis"),
        new_code_cell("import pandas as pd\nsales = pd.read_csv('sales.csv')", execution_count=1),
        new_code_cell(
            "sales.head()",
            execution_count=2,
            outputs=[
                new_output("execute_result", data={"text/plain": "   region  price\n0  north   9.5"}, execution_count=2)
            ],
        ),
        new_code_cell(
            "plot(sales)",
            execution_count=5,
            outputs=[new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})],
        ),
        new_code_cell("totals = sales.groupby('region').sum()", execution_count=3),
        new_code_cell("scratch = 1", execution_count=4),
        new_code_cell("totals.plot()"),
    ]
    cells[5].metadata["tags"] = ["jupyter-layers-scratch"]
    return new_notebook(cells=cells)


def test_cells_render_with_outputs_placeholders_and_order_marks():
    views = {v.index: v for v in cell_views(notebook())}
    assert 5 not in views  # scratch cells of explorations never reach a prompt
    assert views[2].outputs == "   region  price\n0  north   9.5"
    assert views[3].outputs == "[image/png output]"
    assert views[3].note == "ran out of order"  # In [5] sits above In [3]
    assert views[6].note == "not run"
    assert views[0].render() == "# [markdown cell 0]\n# Sales analysis"
    assert views[1].render().startswith("# [cell 1] In [1]\nimport pandas as pd")


def test_out_of_order_detection():
    cells = [{"cell_type": "code", "execution_count": n} for n in (1, 7, 3, None, 4)]
    assert out_of_order(cells) == {1}


def test_long_outputs_keep_head_and_tail_and_lose_ansi():
    output = new_output("stream", name="stdout", text="\x1b[31mSTART\x1b[0m" + "x" * 5000 + "END")
    text = output_text(output, limit=200)
    assert text.startswith("START") and text.endswith("END") and "elided" in text and "\x1b" not in text


def test_neighbours_come_nearest_first_above_before_below():
    order = [v.index for v in around(cell_views(notebook()), 3)]
    assert order == [2, 4, 1, 0, 6]  # 0 and 6 are both 3 away: above first


def test_words_near_the_cursor_score_higher():
    source = "x = 1\ndf.groupby('region')['pri"
    scores = words_near(source, len(source))
    assert scores["pri"] > scores["region"] > scores["df"] > scores["x"]


def test_ranking_prefers_names_at_the_cursor_then_columns_then_errors_then_recency():
    variables = [
        {"name": "old", "text": "1", "defined": 1},
        {"name": "recent", "text": "2", "defined": 9},
        {"name": "failing", "text": "3", "defined": 2},
        {"name": "sales", "text": "DataFrame", "columns": [["region", "object"], ["price", "float64"]], "defined": 3},
        {"name": "model", "text": "LinearRegression()", "defined": 4},
    ]
    source = "model.fit(X)\ny = df['price"
    ranked = [v["name"] for v in rank(variables, source, len(source), error_names=("failing",))]
    assert ranked[:4] == ["sales", "model", "failing", "recent"]


def test_pack_and_clip_respect_the_budget():
    chosen, left = pack(["a" * 30, "b" * 30, "c" * 300, "d" * 6], tokens=25)
    assert chosen == ["a" * 30, "b" * 30, "d" * 6] and left == 1  # first fit: the long one is skipped
    text = "0123456789" * 100
    window, offset = clip_around(text, 500, tokens=40)
    assert estimate_tokens(window) <= 40 and window[offset:].startswith(text[500:510])


def situation(**kwargs) -> Situation:
    nb = notebook()
    source = "totals = sales.groupby('region')['pr"
    defaults = dict(
        cursor=Cursor(6, source),
        cells=tuple(cell_views(nb)),
        kernel={
            "variables": [
                {
                    "name": "sales",
                    "text": "DataFrame 120 rows × 2 columns\n  region object\n  price float64",
                    "columns": [["region", "object"], ["price", "float64"]],
                    "defined": 1,
                },
                {
                    "name": "totals",
                    "text": "DataFrame 4 rows × 1 columns",
                    "columns": [["price", "float64"]],
                    "defined": 3,
                },
            ]
            + [{"name": f"v{i}", "text": "int 7", "defined": 2} for i in range(500)],
            "skipped": 0,
        },
        last_error={
            "execution_count": 3,
            "cell": "sales['cost']",
            "ename": "KeyError",
            "evalue": "'cost'",
            "traceback": "KeyError: 'cost'",
            "names": ["sales"],
        },
        path="sales.ipynb",
    )
    return Situation(**{**defaults, **kwargs})


def test_completion_prompt_is_ordered_stable_first_with_cache_breakpoints():
    request = build_request("complete", situation(), budget=2000)
    assert request.system[0].cache  # breakpoint 1: system (and tools)
    blocks = request.messages[0].content
    assert blocks[0].cache and blocks[0].text.startswith("<notebook>")  # breakpoint 2: the other cells
    assert [b.text.split("\n")[0] for b in blocks[1:]] == ["<kernel_state>", "<last_error>", '<cell index="6">']
    assert not any(b.cache for b in blocks[1:])
    assert blocks[-1].text.endswith("['pr<CURSOR>\n</cell>")
    assert request.metadata["estimated_tokens"] <= 2000


def test_completion_prompt_stays_in_budget_and_keeps_the_relevant_schema():
    request = build_request("complete", situation(), budget=2000)
    kernel = request.messages[0].content[1].text
    assert kernel.index("sales: DataFrame") < kernel.index("v0:")  # the frame the cursor touches leads
    assert "price float64" in kernel
    assert "more variables not shown" in kernel  # 500 ints do not fit 2k tokens
    total = sum(estimate_tokens(b.text) for b in request.system) + sum(
        estimate_tokens(b.text) for b in request.messages[0].content
    )
    assert total <= 2000


def test_consecutive_keystrokes_keep_the_cached_prefix_identical():
    first = build_request("complete", situation(), budget=2000)
    typed = situation(cursor=Cursor(6, "totals = sales.groupby('region')['price'].su"))
    second = build_request("complete", typed, budget=2000)
    assert first.system == second.system
    assert first.messages[0].content[0] == second.messages[0].content[0]
    assert first.messages[0].content[-1] != second.messages[0].content[-1]


def test_without_a_kernel_the_prompt_says_so():
    request = build_request("complete", situation(kernel=None), budget=2000)
    assert "No live kernel state is available" in request.messages[0].content[1].text


def test_edit_marks_the_selection_and_carries_the_instruction():
    source = "a = 1\nb = a + 1\nprint(b)"
    s = situation(cursor=Cursor(6, source, selection=(6, 15)), instruction="use a constant")
    task = build_request("edit", s, budget=8000).messages[0].content[-1].text
    assert "a = 1\n<SELECTION>b = a + 1</SELECTION>\nprint(b)" in task
    assert task.endswith("Instruction: use a constant")


def test_explore_sends_its_tools_and_escalate_asks_for_cell_fixes():
    explore = build_request("explore", situation(instruction="why NaN?"), budget=50000)
    assert [t.name for t in explore.tools] == [t.name for t in TOOLS]
    assert explore.messages[0].content[-1].text == "Question: why NaN?"
    escalate = build_request("escalate", situation(), budget=50000)
    assert '<fix cell="N">' in escalate.system[0].text
    assert escalate.tools == () and "# [cell 4] In [3]" in escalate.messages[0].content[0].text


def test_secrets_in_cells_never_reach_the_prompt():
    key = "sk-ant-api03-" + "A1b2C3d4E5f6G7h8I9j0" * 4 + "-AAAAAA"
    nb_cells = cell_views(new_notebook(cells=[new_code_cell(f"client = Anthropic(api_key='{key}')")]))
    s = situation(cells=tuple(nb_cells), cursor=Cursor(1, f"# uses {key}\nclient."))
    request = build_request("complete", s, budget=2000)
    everything = "\n".join(b.text for b in request.messages[0].content)
    assert key not in everything and "REDACTED" in everything
    assert request.metadata["redactions"]


def test_imported_names_cost_one_line_of_import_statements():
    cells = cell_views(
        new_notebook(cells=[new_code_cell("import numpy as np\nfrom sklearn.linear_model import Ridge, Lasso")])
    )
    kernel = {
        "variables": [
            {"name": "np", "text": "module numpy", "defined": 1},
            {"name": "Ridge", "text": "class Ridge(MultiOutputMixin, RegressorMixin, _BaseRidge) ...", "defined": 1},
            {"name": "X", "text": "ndarray float64 shape (10, 3)", "defined": 2},
        ],
        "skipped": 0,
    }
    s = situation(cells=tuple(cells), cursor=Cursor(1, "model = "), kernel=kernel, last_error=None)
    text = build_request("complete", s, budget=2000).messages[0].content[1].text
    assert "Imported: import numpy as np; from sklearn.linear_model import Ridge, Lasso\nX: ndarray" in text
    assert "class Ridge" not in text and "np: module" not in text
