"""Layer 1's prompt formats without a model: which format a route gets, the script a text-continuing model
reads (order, budget, redaction, stability across keystrokes), where its answer ends, and what the dry-run shows."""

from __future__ import annotations

import dataclasses

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from traitlets.config import Config

from jupyter_layers import errors
from jupyter_layers.config import JupyterLayers
from jupyter_layers.context.situation import situation_from_notebook
from jupyter_layers.dry_run import as_text, describe
from jupyter_layers.engine import recipes
from jupyter_layers.engine.complete import clean_answer, statement_end, stops, syntax_problem
from jupyter_layers.models.anthropic import payload as anthropic_payload
from jupyter_layers.models.messages import Infill, Request
from jupyter_layers.models.openai_compat import payload as openai_payload
from jupyter_layers.models.router import Router
from jupyter_layers.prompts import complete_script
from tests.fakes.model_server import Text, Turn

SALES = {
    "name": "sales",
    "type": "pandas.DataFrame",
    "text": "DataFrame 5 rows × 3 columns, index RangeIndex\n  columns: str: region; int64: units; object: price",
    "columns": [["region", "str"], ["units", "int64"], ["price", "object"]],
}
TOKEN = {"name": "token", "type": "str", "text": "'sk-ant-api03-" + "x" * 40 + "'"}
PD = {"name": "pd", "type": "module", "text": "module pandas"}


def notebook(*sources: str):
    cells = [new_markdown_cell(s[3:]) if s.startswith("md:") else new_code_cell(s) for s in sources]
    return new_notebook(cells=cells)


def situation_at(nb, cell: int, offset: int | None = None, variables=(SALES, PD)):
    context = {"snapshot": {"variables": list(variables), "skipped": 0}, "last_error": None}
    return situation_from_notebook(nb, cell, offset=offset, kernel_context=context)


def router(**options) -> Router:
    return Router(JupyterLayers(config=Config({"JupyterLayers": options})))


# --- which format -----------------------------------------------------------------------------------------------


def test_anthropic_chats_and_refuses_the_text_formats(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    assert router().route("complete").prompt_format == "chat"
    with pytest.raises(errors.ConfigError, match="only chat"):
        router(complete_format="fim").route("complete")
    with pytest.raises(errors.ConfigError, match="only chat"):
        anthropic_payload(Request(messages=(), infill=Infill("x = "), model="claude-haiku-5-5", max_tokens=8))


@pytest.mark.parametrize(
    ("model", "expected"),
    [("qwen2.5-coder:1.5b", "fim"), ("codegemma:2b", "fim"), ("starcoder2:3b", "fim"), ("llama3.2:3b", "chat")],
)
def test_an_openai_compatible_server_gets_fim_for_code_models_by_name(model, expected):
    route = router(openai_base_url="http://127.0.0.1:11434/v1", openai_model=model).route("complete")
    assert route.prompt_format == expected
    assert (
        router(openai_base_url="http://127.0.0.1:1/v1", openai_model=model, complete_format="continue")
        .route("complete")
        .prompt_format
        == "continue"
    )


def test_the_embedded_models_continue_text_and_fim_needs_tokens_they_lack():
    pytest.importorskip("llama_cpp")
    offline = router(provider="embedded")
    assert offline.route("complete").prompt_format == "continue"  # neither shipped model has FIM tokens
    assert offline.route("edit").prompt_format == "chat"
    fim = router(provider="embedded", complete_format="fim")
    route = fim.route("complete")
    prepared = recipes.complete(route, situation_at(notebook("x = 1", "y = "), 1), fim.config)
    with pytest.raises(errors.ConfigError, match="no fill-in-the-middle tokens"):
        describe(prepared)


# --- the script -------------------------------------------------------------------------------------------------


def test_the_script_holds_the_cells_above_then_the_state_then_the_cell_up_to_the_cursor():
    nb = notebook(
        "md:# Sales\nLoad the data.",
        "import pandas as pd\n%matplotlib inline\nsales = pd.read_csv('sales.csv')",
        "units_by_region = sales.groupby(",
        "print(units_by_region)",
    )
    request = complete_script.build(situation_at(nb, 2), 2000, fill_in_the_middle=False)
    assert request.infill.suffix is None and request.messages == ()
    assert request.infill.prefix == (
        "# # Sales\n# Load the data.\n\n# %%\n"
        "import pandas as pd\n# %matplotlib inline\nsales = pd.read_csv('sales.csv')\n\n# %%\n"
        "# sales: DataFrame 5 rows × 3 columns, index RangeIndex; "
        "columns 'region': str, 'units': int64, 'price': object\n"
        "units_by_region = sales.groupby("
    )  # pd is imported by a shown cell: no comment for it, no repeated import
    fim = complete_script.build(situation_at(nb, 2), 2000, fill_in_the_middle=True)
    assert fim.infill.prefix == request.infill.prefix
    assert fim.infill.suffix == "\n\n# %%\nprint(units_by_region)"  # the cells below follow the cursor


def test_imports_of_cells_left_out_of_the_budget_are_kept_as_statements():
    far = "import pandas as pd\n" + "\n".join(f"step_{i} = {i}" for i in range(300))
    nb = notebook(far, "total = sales.")
    prefix = complete_script.build(situation_at(nb, 1), 400, fill_in_the_middle=False).infill.prefix
    assert "step_1 = 1" not in prefix
    assert prefix.endswith("import pandas as pd\n# sales: DataFrame 5 rows × 3 columns, index RangeIndex; "
                           "columns 'region': str, 'units': int64, 'price': object\ntotal = sales.")  # fmt: skip


def test_secrets_in_cells_and_state_are_redacted():
    nb = notebook("key = 'sk-ant-api03-" + "y" * 40 + "'", "client = make(")
    request = complete_script.build(situation_at(nb, 1, variables=(TOKEN,)), 2000, fill_in_the_middle=True)
    assert "sk-ant-api03-" not in request.infill.prefix
    assert request.metadata["redactions"]


def test_typing_in_the_cell_keeps_the_start_of_the_prompt_for_the_model_cache():
    """Each part has a fixed share: a longer active cell never pushes a far cell out of the prompt."""
    cells = [f"frame_{i} = load({i})\n" + "x = 1\n" * 40 for i in range(12)]
    nb = notebook(*cells, "result = frame_3.")
    situation = situation_at(nb, 12)
    first = complete_script.build(situation, 2000, fill_in_the_middle=False).infill.prefix
    longer = dataclasses.replace(situation.cursor, source="result = frame_3.merge(frame_4, on='key')\nmore = (")
    second = complete_script.build(dataclasses.replace(situation, cursor=longer), 2000, False).infill.prefix
    stable = first[: first.rindex("result = ")]
    assert second.startswith(stable) and len(stable) > 1000


def test_a_cell_magic_body_is_commented_out():
    nb = notebook("%%bash\nls -l", "x = ")
    assert "# %%bash\n# ls -l" in complete_script.build(situation_at(nb, 1), 2000, False).infill.prefix


# --- where the answer ends --------------------------------------------------------------------------------------


def test_ghost_text_stops_at_the_line_end_or_after_a_block():
    assert stops("sales.groupby(", "line") == ("\n",)
    assert stops("for row in rows:", "line") == ("\n\n", "\n# %%")
    assert stops("x = (", "statement") == ("\n\n\n", "\n# %%")


@pytest.mark.parametrize(
    ("before", "answer", "kept"),
    [
        ("total = sales.groupby(", "'region').sum()\nprint(total)\nmore()", "'region').sum()"),
        ("for row in rows:", "\n    print(row)\n    n += 1\nprint(n)", "\n    print(row)\n    n += 1"),
        ("x = f(", "1,\n      2)\ny = 3", "1,\n      2)"),
        ("x = f(", "1,", "1,"),  # never parses: kept as it came (the stops bound it)
    ],
)
def test_statement_extent_cuts_after_the_statement(before, answer, kept):
    assert statement_end(before, answer) == kept


def test_text_formats_are_not_cleaned_like_chat_answers():
    """A chat answer's echo of the line is removed; a continuation that repeats text is the model's choice."""
    assert clean_answer("df.groupby('reg", "df.groupby('region')", "chat", "line") == "ion')"
    assert clean_answer("x = x", " + x\n", "continue", "line") == " + x"


# --- what the dry-run shows -------------------------------------------------------------------------------------


def test_the_openai_fim_payload_and_its_dry_run():
    r = router(openai_base_url="http://127.0.0.1:1/v1", openai_model="qwen2.5-coder:1.5b")
    nb = notebook("import pandas as pd", "units = sales.groupby(", "units.plot()")
    prepared = recipes.complete(r.route("complete"), situation_at(nb, 1), r.config)
    wire = openai_payload(prepared.request)
    assert wire["prompt"].endswith("units = sales.groupby(") and wire["suffix"] == "\n\n# %%\nunits.plot()"
    assert wire["stop"] == ["\n"] and wire["temperature"] == 0.0 and "messages" not in wire
    shown = describe(prepared)
    assert {key: shown[key] for key in wire} == wire and shown["format"] == "fim"
    text = as_text(shown)
    assert "(fim format)" in text and "suffix (after the cursor)" in text and "units.plot()" in text


def test_a_notebook_without_a_kernel_still_gets_a_script():
    nb = nbformat.from_dict(notebook("a = 1", "b = a + "))
    situation = situation_from_notebook(nb, 1)
    request = complete_script.build(situation, 2000, fill_in_the_middle=False)
    assert request.infill.prefix == "a = 1\n\n# %%\nb = a +"  # the space goes: the model writes it with a word


@pytest.mark.parametrize(
    ("before", "answer", "inserted"),
    [
        ("total = ", " sales.sum()", "sales.sum()"),  # the space the prompt lost comes back with the word
        ("total = ", "sales.sum()", "sales.sum()"),
        ("total =", " sales.sum()", " sales.sum()"),  # nothing was taken
        ("for x in y:\n    ", "print(x)", "print(x)"),  # indentation is kept in the prompt
    ],
)
def test_the_space_before_the_cursor_is_healed(before, answer, inserted):
    assert clean_answer(before, answer, "continue", "line") == inserted


# --- answers that cannot be code ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "answer", "extent", "problem"),
    [
        ("x = sales.groupby(", "region)", "statement", ""),
        ("x = sales.groupby(", "\n    ['region'],\n    as_index=False,", "statement", "line 1: '(' was never closed"),
        ("x = sales.groupby(", "'region',", "line", ""),  # ghost text: the rest of the call may follow
        ("x = sales.groupby(", "]", "line", "line 1: closing parenthesis ']' does not match opening parenthesis '('"),
        ("%matplotlib inline\nx = (", "1,", "line", ""),  # IPython's syntax is Python here
        ("x = (1 +* 2)\ny = f(", "3)", "statement", ""),  # the error is the user's, before the cursor's line
        ("%%bash\nls ", "-l (", "statement", ""),  # a cell magic's body is not Python
    ],
)
def test_what_cannot_be_python_is_named(before, answer, extent, problem):
    assert syntax_problem(before, answer, extent) == problem


def test_a_continuation_that_does_not_parse_is_withheld_in_one_line(kernel, fake):
    kernel.run("import pandas as pd\nsales = pd.DataFrame({'region': ['n', 's'], 'units': [1, 2]})")
    fake.script(Turn([Text("\n    ['region'],\n    as_index=False,\n    sort=False,")]))
    done = kernel.run("%%complete\nunits = sales.groupby(")
    assert done.reply["content"]["status"] == "ok" and done.next_input is None  # nothing offered
    assert done.last_display()["data"]["text/plain"] == ""  # what streamed came off the display
    assert done.stderr.count("\n") == 1 and "%%complete:" in done.stderr
    assert "does not parse (line 1: '(' was never closed)" in done.stderr
