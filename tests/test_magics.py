"""The magics of layers 1 and 2 in real kernels, against the fake Anthropic server and the embedded model.

Each test asserts on what the user sees (streamed display updates, the final output, the next-input payload,
one-line errors) and on what was sent (the kernel state reached the prompt; secrets did not).
"""

from __future__ import annotations

import json
import time

import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from tests.conftest import API_KEY
from tests.fakes.model_server import Fault, Text, Turn
from tests.test_interrupt import run_interrupted_once_sent

SECRET = "sk-ant-api03-" + "Kq7Lm2Np9Rs4Tv6Wx8Yz" * 4 + "-ZZZZZZ"
SETUP = f"""
import pandas as pd
sales = pd.DataFrame({{"region": ["north", "south"], "price": [9.5, 12.0]}})
anthropic_key = "{SECRET}"
"""


def sent_text(request) -> str:
    return json.dumps(request.body, ensure_ascii=False)


def test_complete_streams_shows_and_offers_the_completed_cell(kernel, fake):
    kernel.run(SETUP)
    fake.script(Turn([Text("```python\nsales.groupby('region')['price'].sum()\n```")], chunk_chars=4, token_delay=0.01))
    done = kernel.run("%%complete\ntotals = ")
    assert done.reply["content"]["status"] == "ok" and done.stderr == ""
    assert len(done.of_type("update_display_data")) >= 3  # the text appeared while it was generated
    final = done.last_display()
    assert final["data"]["text/plain"] == "totals = sales.groupby('region')['price'].sum()"
    assert final["data"]["text/markdown"].startswith("```python\ntotals = sales.groupby")
    assert final["metadata"]["jupyter_layers"]["model"] == "anthropic:claude-haiku-5-5"
    assert done.next_input == "totals = sales.groupby('region')['price'].sum()"

    request = fake.requests[-1]
    assert request.body["model"] == "claude-haiku-5-5" and request.body["max_tokens"] == 256
    sent = sent_text(request)
    assert "sales: DataFrame 2 rows × 2 columns" in sent and "float64: price" in sent  # kernel state reached it
    assert "totals = <CURSOR>" in sent
    assert SECRET not in sent and "REDACTED" in sent  # the secret did not


def test_complete_with_alternatives_and_options(kernel, fake):
    fake.script(Turn([Text("1")]), Turn([Text("2")]))
    done = kernel.run("%%complete -n 2 --max-tokens 20 --model claude-sonnet-5-5\nanswer = ")
    finals = [m["content"]["data"]["text/plain"] for m in done.of_type("update_display_data")][-1:]
    assert finals == ["answer = 2"]
    assert done.next_input == "answer = 1"
    bodies = [r.body for r in fake.requests[-2:]]
    assert [(b["model"], b["max_tokens"]) for b in bodies] == [("claude-sonnet-5-5", 20)] * 2
    assert not any("temperature" in b for b in bodies)  # the Messages API has none; local models get 0.8


def test_rewrite_shows_a_diff_with_provenance_and_applies_nothing(kernel, fake):
    kernel.run("values = [1, 2, 3]")
    fake.script(Turn([Text("result = [x * 2 for x in values]")]))
    body = "result = []\nfor x in values:\n    result.append(x * 2)"
    done = kernel.run(f"%%rewrite use a list comprehension\n{body}")
    final = done.last_display()
    assert "-for x in values:" in final["data"]["text/plain"]
    assert "+result = [x * 2 for x in values]" in final["data"]["text/plain"]
    assert "jupyter-layers-diff" in final["data"]["text/html"]
    provenance = final["metadata"]["jupyter_layers"]
    assert provenance["instruction"] == "use a list comprehension"
    assert provenance["model"] == "anthropic:claude-sonnet-5-5"
    assert provenance["time"].endswith("+00:00")
    assert done.next_input == "result = [x * 2 for x in values]"
    task = fake.requests[-1].body["messages"][0]["content"][-1]["text"]
    assert f"<SELECTION>{body}</SELECTION>" in task and task.endswith("Instruction: use a list comprehension")
    assert "values: [1, 2, 3]" in sent_text(fake.requests[-1])
    assert "result" not in kernel.run("print('result' in dir())").stdout.replace("False", "")  # nothing ran


def test_rewrite_retries_once_with_the_parser_message(kernel, fake):
    fake.script(Turn([Text("total = sum(values")]), Turn([Text("total = sum(values)")]))
    done = kernel.run("%%rewrite use sum\ntotal = 0\nfor v in values: total += v")
    assert done.next_input == "total = sum(values)"
    retry = fake.requests[-1].body["messages"]
    assert retry[1] == {"role": "assistant", "content": [{"type": "text", "text": "total = sum(values"}]}
    assert retry[2]["content"][0]["text"].startswith("That does not parse (line 1: '(' was never closed)")


def test_rewrite_lines_of_an_earlier_cell(kernel, fake):
    first = kernel.run("a = 1\nb = a + 1\nc = b * 3").reply["content"]["execution_count"]
    fake.script(Turn([Text("total = a + 1\n")]))
    done = kernel.run(f"%rewrite -c {first} --lines 2-2 rename b to total")
    assert done.next_input == "a = 1\ntotal = a + 1\nc = b * 3"
    assert "a = 1\n<SELECTION>b = a + 1\n</SELECTION>c = b * 3" in sent_text(fake.requests[-1]).replace("\\n", "\n")


def test_usage_is_accounted_per_layer(kernel, fake):
    fake.script(
        Turn([Text("x")], usage={"input_tokens": 1000, "output_tokens": 100, "cache_creation_input_tokens": 0}),
        Turn([Text("y = 2")], usage={"input_tokens": 2000, "output_tokens": 200, "cache_creation_input_tokens": 0}),
    )
    kernel.run("%%complete\nx = ")
    kernel.run("%%rewrite make it two\ny = 1")
    table = kernel.run("%layers usage").stdout.splitlines()
    assert table[1].split()[:4] == ["complete", "1", "1,000", "100"]
    assert table[2].split()[:4] == ["edit", "1", "2,000", "200"]
    assert "$0.0015" in table[1] and "$0.0090" in table[2]  # haiku $1/$5, sonnet $3/$15 per million
    assert table[3] == "estimated total $0.0105 (list prices; local models free)"


def test_layers_config_shows_and_changes_settings_for_the_next_call(kernel, fake):
    shown = kernel.run("%layers config").stdout
    assert "complete_model = ''" in shown and "provider = 'auto'" in shown and "api_key" not in shown
    assert (
        kernel.run("%layers config complete_model claude-sonnet-5-5").stdout == "complete_model = 'claude-sonnet-5-5'\n"
    )
    fake.script(Turn([Text("1")]))
    kernel.run("%%complete\nx = ")
    assert fake.requests[-1].body["model"] == "claude-sonnet-5-5"
    refused = kernel.run("%layers config anthropic_api_key sk-ant-123")
    assert "keys typed into a cell are saved with the notebook" in refused.stderr + refused.stdout


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (Fault(429, headers={"retry-after": "3"}), "Anthropic rate limit reached (retry after 3 s)"),
        (Fault(529), "Anthropic is overloaded (529)"),
        (Turn([Text("partial answer that breaks")], chunk_chars=4, error_after=2), "answer broke off: overloaded"),
        (Turn([Text("partial answer that drops")], chunk_chars=4, drop_after=2), "connection to Anthropic dropped"),
        (Fault(404), "does not know the model"),
    ],
)
def test_faults_are_one_line_and_the_kernel_lives(kernel, fake, item, expected):
    fake.script(item)
    done = kernel.run("%%complete\nx = ")
    assert done.reply["content"]["status"] == "ok"
    assert not done.of_type("error")
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("%%complete: ") and expected in lines[0] and "hint:" in lines[0]
    assert kernel.run("print(6 * 7)").stdout == "42\n"


def test_missing_key_is_one_line(kernel, fake):
    kernel.run("import os; del os.environ['ANTHROPIC_API_KEY']\n%config JupyterLayers.provider = 'anthropic'")
    done = kernel.run("%%complete\nx = ")
    assert done.stderr.strip() == (
        "%%complete: no Anthropic API key is configured (hint: set ANTHROPIC_API_KEY, "
        "or c.JupyterLayers.provider = 'embedded' to stay offline)"
    )


def test_ctrl_c_cancels_the_stream_cleanly(kernel, fake):
    """Interrupted once the model holds the request (a fixed delay may come before it on a busy machine: that
    case, and every other moment, is tests/test_interrupt.py's)."""
    fake.script(Turn([Text("word " * 300)], chunk_chars=5, token_delay=0.02))
    done = run_interrupted_once_sent(kernel, fake, "%%complete\nx = ")
    assert done.reply["content"]["status"] == "ok"
    assert "%%complete: cancelled" in done.stderr
    assert done.next_input is None
    deadline = time.monotonic() + 10  # the background loop closes the HTTP stream
    while not fake.requests[-1].client_disconnected and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.requests[-1].client_disconnected
    assert kernel.run("print('alive')").stdout == "alive\n"


def test_headless_runs_keep_the_code_in_the_output(fake, monkeypatch):
    """nbclient ignores set_next_input, so the completed code must be in the saved output."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    fake.script(Turn([Text("sum(range(10))")]))
    nb = new_notebook(cells=[new_code_cell("%load_ext jupyter_layers"), new_code_cell("%%complete\ntotal = ")])
    NotebookClient(nb, timeout=60).execute()
    outputs = nb.cells[1].outputs
    assert [o.output_type for o in outputs] == ["display_data"]
    assert outputs[0].data["text/plain"] == "total = sum(range(10))"


@pytest.mark.embedded
def test_magics_run_on_the_embedded_model(monkeypatch):
    pytest.importorskip("llama_cpp")
    nb = new_notebook(
        cells=[
            new_code_cell("%load_ext jupyter_layers\n%config JupyterLayers.max_tokens = {'edit': 64}"),
            new_code_cell("numbers = [3, 1, 2]"),
            new_code_cell("%%complete --max-tokens 24\nsorted_numbers = "),
            new_code_cell("%%rewrite sort in reverse order\nresult = sorted(numbers)"),
            new_code_cell("%layers usage"),
        ]
    )
    NotebookClient(nb, timeout=None).execute()  # bounded by tokens (24 and 64), not by the machine's speed
    assert "embedded offline models serve every layer" in nb.cells[2].outputs[0].text
    completed = [o for o in nb.cells[2].outputs if o.output_type == "display_data"][-1]
    assert completed.data["text/plain"].startswith("sorted_numbers = ")
    rewrite_outputs = nb.cells[3].outputs
    assert any(o.output_type == "display_data" for o in rewrite_outputs)
    assert "complete" in nb.cells[4].outputs[0].text and "$0.0000" in nb.cells[4].outputs[0].text
