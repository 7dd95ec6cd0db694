"""Layer 1 on local models, for real: the shipped Gemma in process, llama.cpp's OpenAI-compatible server as a
process on 127.0.0.1, and the fake server for the exact wire format of fill-in-the-middle."""

from __future__ import annotations

import ast
import asyncio
import dataclasses

import pytest
from nbformat.v4 import new_code_cell, new_notebook
from traitlets.config import Config

from jupyter_layers.config import JupyterLayers
from jupyter_layers.context.situation import situation_from_notebook
from jupyter_layers.dry_run import describe
from jupyter_layers.engine import recipes
from jupyter_layers.engine.complete import clean_answer
from jupyter_layers.models import Stop, TextDelta
from jupyter_layers.models.router import Router
from jupyter_layers.models.stream import Reply
from tests.conftest import API_KEY
from tests.fakes.model_server import Text, Turn

SALES = {
    "name": "sales",
    "type": "pandas.DataFrame",
    "text": "DataFrame 8 rows × 3 columns, index RangeIndex",
    "columns": [["region", "str"], ["units", "int64"], ["price", "float64"]],
}
CELLS = (
    "import pandas as pd\nsales = pd.DataFrame({'region': list('nsewnsew'), 'units': range(8), 'price': 1.5})",
    "units_by_region = sales.groupby(",
    "units_by_region.plot.bar()",
)


def sales_situation():
    nb = new_notebook(cells=[new_code_cell(source) for source in CELLS])
    context = {"snapshot": {"variables": [SALES], "skipped": 0}, "last_error": None}
    return situation_from_notebook(nb, 1, kernel_context=context)


def router(**options) -> Router:
    return Router(JupyterLayers(config=Config({"JupyterLayers": options})))


def ghost_text(r: Router, situation) -> tuple[str, Reply]:
    route = r.route("complete")
    stop = route.stream(recipes.complete(route, situation, r.config).request).final()
    before = situation.cursor.source[: situation.cursor.position]
    return clean_answer(before, stop.message.text, route.prompt_format, "line"), stop


# --- in process -------------------------------------------------------------------------------------------------


@pytest.mark.embedded
def test_the_embedded_default_continues_the_line_from_the_live_state():
    pytest.importorskip("llama_cpp")
    r = router(provider="embedded")
    text, stop = ghost_text(r, sales_situation())
    assert r.route("complete").label == "embedded:gemma-3-270m-q4_k_m.gguf"
    assert "\n" not in text and stop.stop_reason in ("stop_sequence", "end_turn")
    ast.parse("units_by_region = sales.groupby(" + text)  # it closes the call
    assert "region" in text  # a column the state comment names; the model is greedy, so this is fixed


@pytest.mark.embedded
def test_code_that_looks_like_special_tokens_stays_text():
    pytest.importorskip("llama_cpp")
    from jupyter_layers.models.embedded import load_model
    from jupyter_layers.models.messages import Infill

    route = router(provider="embedded").route("complete")
    model = load_model(route.model, 8192, 2)
    turn = model.llama.tokenize(b"<start_of_turn>", add_bos=False, special=True)
    assert len(turn) == 1  # Gemma's own special token...
    tokens = model.infill_prompt(Infill("marker = '<start_of_turn>'"), None)
    assert turn[0] not in tokens  # ...is never produced from a user's text


@pytest.mark.embedded
def test_the_next_keystroke_shares_the_evaluated_prefix():
    """Stable text first: typing in the cell changes only the prompt's last tokens, which is what llama.cpp
    re-evaluates (it keeps the longest common prefix of its last prompt)."""
    pytest.importorskip("llama_cpp")
    from jupyter_layers.models.embedded import load_model

    r = router(provider="embedded")
    route = r.route("complete")
    model = load_model(route.model, r.config.embedded_context, route.provider.threads)
    situation = sales_situation()
    prompts = []
    for typed in ("units_by_region = sales.groupby(", "units_by_region = sales.groupby('re"):
        moved = dataclasses.replace(situation, cursor=dataclasses.replace(situation.cursor, source=typed))
        prompts.append(model.infill_prompt(recipes.complete(route, moved, r.config).request.infill, None))
    shared = next(i for i, (a, b) in enumerate(zip(*prompts)) if a != b)
    assert shared >= len(prompts[0]) - 2 and len(prompts[1]) - shared <= 4


# --- llama.cpp's server, a real process ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def llama_cpp_server():
    pytest.importorskip("uvicorn")
    from jupyter_layers.models.shipped_models import GEMMA3
    from tests.llama_server import llama_server

    with llama_server(GEMMA3.path(), "gemma3-270m") as base_url:
        yield base_url


@pytest.mark.embedded
def test_continuation_through_llama_cpp_server(llama_cpp_server):
    r = router(
        provider="openai", openai_base_url=llama_cpp_server, openai_model="gemma3-270m", complete_format="continue"
    )
    text, stop = ghost_text(r, sales_situation())
    assert "\n" not in text and text
    ast.parse("units_by_region = sales.groupby(" + text)
    assert stop.model == "gemma3-270m"


@pytest.mark.embedded
def test_fill_in_the_middle_through_llama_cpp_server(llama_cpp_server):
    """The fim wire format (prompt and suffix on /v1/completions) streams through a real server.

    What the server makes of the suffix is its own: llama-cpp-python's server puts token id 0 where a model's
    FIM tokens belong (a TODO in its _create_completion) and Gemma 3 has none, so the text itself is not judged
    here; the benchmark reports it (docs/benchmarks.md)."""
    r = router(provider="openai", openai_base_url=llama_cpp_server, openai_model="gemma3-270m", complete_format="fim")
    route = r.route("complete")
    prepared = recipes.complete(route, sales_situation(), r.config)
    assert describe(prepared)["suffix"] == "\n\n# %%\nunits_by_region.plot.bar()"
    events = asyncio.run(collect(route.provider.stream(prepared.request)))
    stop = events[-1]
    assert isinstance(stop, Stop) and stop.reason in ("end_turn", "max_tokens")
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == stop.message.text


async def collect(stream) -> list:
    return [event async for event in stream]


# --- the exact wire format, against the fake server ---------------------------------------------------------------


def test_the_fim_request_received_is_the_dry_run(fake):
    r = router(openai_base_url=f"{fake.url}/v1", openai_api_key=API_KEY, openai_model="qwen2.5-coder:1.5b")
    fake.script(Turn([Text("by='region')['units'].sum()")]))
    route = r.route("complete")
    prepared = recipes.complete(route, sales_situation(), r.config)
    text, stop = ghost_text(r, sales_situation())
    sent = next(req.body for req in fake.requests if req.path == "/v1/completions")
    shown = describe(prepared)
    assert {key: shown[key] for key in sent if key != "stream"} == {k: v for k, v in sent.items() if k != "stream"}
    assert sent["suffix"] == "\n\n# %%\nunits_by_region.plot.bar()" and sent["stop"] == ["\n"]
    assert text == "by='region')['units'].sum()" and stop.usage.input_tokens > 0


@pytest.mark.embedded
def test_a_server_named_by_openai_base_url_serves_every_layer_with_the_model_it_lists(llama_cpp_server, monkeypatch):
    """As a user sets it up: llama.cpp's server running, OPENAI_BASE_URL exported, nothing configured."""
    from jupyter_layers.models import Message, Request
    from jupyter_layers.models.discovery import listed_model

    listed_model.cache_clear()
    monkeypatch.setenv("OPENAI_BASE_URL", llama_cpp_server)
    r = router()
    routes = [r.route(layer) for layer in ("complete", "edit", "explore", "escalate")]
    assert {(route.provider.name, route.model) for route in routes} == {("openai", "gemma3-270m")}
    assert routes[1].reason == "OPENAI_BASE_URL is set; model: the model the server lists"
    stop = routes[1].stream(Request(messages=(Message.user("Say hi."),), max_tokens=4)).final()
    assert stop.model == "gemma3-270m" and stop.stop_reason in ("end_turn", "max_tokens")  # the server answered
    listed_model.cache_clear()
