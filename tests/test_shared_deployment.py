"""Shared deployments: auto-detected model servers, the admin's limits, spending caps, usage kept on disk, and
kernels that reach models through their Jupyter server (which keeps the keys), with real servers and kernels."""

from __future__ import annotations

import multiprocessing

import pytest
from traitlets.config import Config

from jupyter_layers import errors
from jupyter_layers.config import JupyterLayers
from jupyter_layers.engine.escalate import CostTooHigh, check_cost
from jupyter_layers.limits import Limits, NotAllowed, SpendingCapReached, worst_case_cost
from jupyter_layers.models import Message, Request
from jupyter_layers.models.discovery import listed_model, ollama_base_url
from jupyter_layers.models.events import Failure, Stop, Usage
from jupyter_layers.models.router import Router
from jupyter_layers.status import format_status, layer_status, spending_status
from jupyter_layers.usage import price
from jupyter_layers.usage_record import UsageRecord
from tests.conftest import API_KEY
from tests.fakes.model_server import FakeModelServer, Text, Turn


def router(record: UsageRecord | None = None, **options) -> Router:
    return Router(JupyterLayers(config=Config({"JupyterLayers": options})), record=record)


@pytest.fixture(autouse=True)
def fresh_model_lists():
    listed_model.cache_clear()
    yield
    listed_model.cache_clear()


# ── auto-detection ──────────────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "host, url",
    [
        ("127.0.0.1", "http://127.0.0.1:11434/v1"),
        ("0.0.0.0", "http://127.0.0.1:11434/v1"),
        ("0.0.0.0:8080", "http://127.0.0.1:8080/v1"),
        ("http://gpu-box:11434", "http://gpu-box:11434/v1"),
        ("https://ollama.example.org", "https://ollama.example.org:11434/v1"),
        ("[::1]:9000", "http://[::1]:9000/v1"),
    ],
)
def test_ollama_host_is_read_as_ollama_reads_it(host, url):
    assert ollama_base_url(host) == url


def test_an_openai_base_url_in_the_environment_serves_every_layer_with_the_model_it_lists(monkeypatch):
    with FakeModelServer(openai_models=["qwen2.5-coder:7b", "llama3.2"]) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
        r = router()
        routes = {layer: r.route(layer) for layer in ("complete", "edit", "explore", "escalate")}
        assert {route.provider.name for route in routes.values()} == {"openai"}
        assert {route.model for route in routes.values()} == {"qwen2.5-coder:7b"}
        assert routes["complete"].prompt_format == "fim"  # a coder model fills in the middle
        assert "OPENAI_BASE_URL is set" in routes["edit"].reason
        assert "the first of the 2 models the server lists" in routes["edit"].reason
        assert r.offline_notice() is None
        listings = [q for q in server.requests if q.path == "/v1/models"]
        assert len(listings) == 1  # asked once, not per route


def test_ollama_host_in_the_environment_is_used_and_said(monkeypatch):
    with FakeModelServer(openai_models=["llama3.2:1b"]) as server:
        monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{server.port}")
        route = router().route("edit")
        assert (route.provider.name, route.model) == ("openai", "llama3.2:1b")
        assert route.reason == "OLLAMA_HOST is set; model: the model the server lists"
        assert route.provider.base_url == f"http://127.0.0.1:{server.port}/v1"


def test_an_anthropic_key_wins_over_a_model_server_and_a_configured_model_over_the_listing(monkeypatch):
    with FakeModelServer(openai_models=["llama3.2"]) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
        assert router(openai_model="mistral").route("edit").model == "mistral"
        assert not [q for q in server.requests if q.path == "/v1/models"]
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        route = router().route("edit")
        assert route.provider.name == "anthropic"
        assert route.reason == "an Anthropic key is set; model: the layer's default"


def test_a_server_that_lists_no_model_is_one_line_naming_the_setting(monkeypatch):
    with FakeModelServer(openai_models=[]) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
        with pytest.raises(errors.ConfigError) as refused:
            router().route("edit")
    assert "lists no models" in str(refused.value) and "openai_model" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_status_says_why_each_layer_went_where_it_went(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    r = router(escalate_model="claude-opus-4-8")
    rows = layer_status(r)
    assert rows["edit"]["reason"] == "an Anthropic key is set; model: the layer's default"
    assert rows["escalate"]["reason"] == "an Anthropic key is set; model: c.JupyterLayers.escalate_model"
    text = format_status(rows, spending_status(r))
    assert "limits    any provider and model" in text
    assert "spent today" in text


# ── the admin's limits ─────────────────────────────────────────────────────────────────────────────────────────


def test_a_model_or_provider_not_allowed_is_refused_in_one_line_naming_the_setting(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    r = router(allowed_models=["claude-haiku-*", "claude-sonnet-*"])
    assert r.route("edit").model == "claude-sonnet-5-5"
    with pytest.raises(NotAllowed) as refused:
        r.route("escalate")
    message = str(refused.value)
    assert "claude-opus-5-5" in message and "c.JupyterLayers.allowed_models" in message and "\n" not in message
    with pytest.raises(NotAllowed, match="allowed_providers"):
        router(allowed_providers=["openai", "embedded"]).route("edit")
    rows = layer_status(r)  # the status still shows every layer, and which one is refused
    assert rows["escalate"]["label"] == "refused" and "allowed_models" in rows["escalate"]["reason"]
    assert rows["complete"]["model"] == "claude-haiku-5-5"


def test_patterns_match_provider_prefixed_names_and_model_files():
    limits = Limits(allowed_models=("openai:*", "gemma-3-270m*", "claude-haiku-*"))
    limits.check_model("openai", "llama3.2")
    limits.check_model("embedded", "/home/u/.cache/jupyter_layers/models/ab12/gemma-3-270m-q4_k_m.gguf")
    limits.check_model("bedrock", "global.anthropic.claude-haiku-5-5")
    with pytest.raises(NotAllowed):
        limits.check_model("bedrock", "global.anthropic.claude-opus-5-5")
    with pytest.raises(NotAllowed):
        limits.check_model("anthropic", "claude-sonnet-5-5")


# ── spending caps and the usage record ─────────────────────────────────────────────────────────────────────────


def ask(route, text: str = "hello") -> list:
    return list(route.stream(Request(messages=(Message.user(text),))))


def test_a_call_whose_worst_case_passes_the_daily_cap_is_refused_before_it_is_sent(fake, monkeypatch, tmp_path):
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    record = UsageRecord(tmp_path, user="bob")
    r = router(record, max_daily_cost=0.05, max_tokens={"edit": 1000})
    fake.script(Turn([Text("fine")], usage={"input_tokens": 2000, "output_tokens": 1000}))
    events = ask(r.route("edit", notebook="a.ipynb"))
    assert isinstance(events[-1], Stop)
    today, _ = record.spent()
    assert today == pytest.approx((2000 * 3 + 1000 * 15) / 1e6)  # sonnet: $3 in, $15 out per million
    # worst case of the next call: its prompt plus all 1000 answer tokens at $15/M = $0.015+; 0.021 + that > 0.05?
    r.config.max_daily_cost = today + 0.01
    events = ask(r.route("edit", notebook="a.ipynb"))
    assert isinstance(events[-1], Failure) and isinstance(events[-1].error, SpendingCapReached)
    line = str(events[-1].error)
    assert "c.JupyterLayers.max_daily_cost" in line and "\n" not in line
    assert len(fake.requests) == 1  # the refused call never left
    r.config.max_daily_cost = 0
    r.config.max_monthly_cost = today + 0.01
    events = ask(r.route("edit"))
    assert isinstance(events[-1].error, SpendingCapReached) and "max_monthly_cost" in str(events[-1].error)


def test_local_models_cost_nothing_so_caps_never_stop_them(tmp_path):
    limits = Limits(max_daily_cost=0.000001)
    request = Request(messages=(Message.user("x" * 10_000),), max_tokens=4096)
    assert price("llama3.2") is None and worst_case_cost(None, request) == 0
    limits.check_spend("llama3.2", worst_case_cost(None, request), 0.0, 0.0)
    assert price("us.anthropic.claude-sonnet-4-5-20250929-v1:0") == (3.0, 15.0)  # a Bedrock id is priced


def test_the_admin_prices_other_models_and_caps_and_the_escalation_guard_count_them(monkeypatch, tmp_path):
    """OpenAI's models are not in the built-in table: model_prices gives them a price, per route."""
    with FakeModelServer(openai_models=["gpt-4.1"]) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
        record = UsageRecord(tmp_path, user="dana")
        r = router(record, model_prices={"gpt-4*": [2.0, 8.0]}, max_daily_cost=1.0)
        route = r.route("edit", notebook="gpt.ipynb")
        assert route.price == (2.0, 8.0)
        server.script(Turn([Text("fine")], usage={"input_tokens": 100_000, "output_tokens": 10_000}))
        assert isinstance(ask(route)[-1], Stop)
        assert record.spent()[0] == pytest.approx((100_000 * 2 + 10_000 * 8) / 1e6)  # $0.28
        assert record.notebook("gpt.ipynb")["edit"]["estimated_cost_usd"] == pytest.approx(0.28)
        # ~1M tokens (as the recipe estimated it): $2 and more at worst
        big = Request(messages=(Message.user("x" * 4_000_000),), max_tokens=4096, metadata={"estimated_tokens": 10**6})
        with pytest.raises(CostTooHigh, match="could cost up to \\$2.0"):
            check_cost(route, big, limit=1.0)
        events = list(r.route("edit").stream(big))
        assert isinstance(events[-1].error, SpendingCapReached) and len(server.requests) == 2  # models + 1 call
        assert router(record).route("edit").price is None  # without the setting: unknown, free


def test_usage_is_kept_per_user_and_notebook_and_survives_a_new_process(tmp_path):
    first = UsageRecord(tmp_path, user="alice")
    first.add("id-1", "a.ipynb", "complete", "claude-haiku-5-5", Usage(100, 10))
    first.add("id-1", "b.ipynb", "complete", "claude-haiku-5-5", Usage(100, 10))  # renamed: same id
    first.add("id-2", "c.ipynb", "edit", "claude-sonnet-5-5", Usage(1000, 100))
    again = UsageRecord(tmp_path, user="alice")
    assert again.notebook("id-1")["complete"]["calls"] == 2
    assert again.notebook("id-1")["complete"]["input_tokens"] == 200
    assert again.read()["notebooks"]["id-1"]["path"] == "b.ipynb"
    assert UsageRecord(tmp_path, user="bob").spent() == (0.0, 0.0)
    today, month = again.spent()
    assert today == month == pytest.approx((200 * 1 + 20 * 5 + 1000 * 3 + 100 * 15) / 1e6)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def _add_many(directory: str, worker: int) -> None:
    record = UsageRecord(__import__("pathlib").Path(directory), user="carol")
    for _ in range(25):
        record.add(f"nb-{worker}", f"nb-{worker}.ipynb", "complete", "claude-haiku-5-5", Usage(10, 1))


def test_processes_sharing_the_record_lose_no_update(tmp_path):
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_add_many, args=(str(tmp_path), n)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    data = UsageRecord(tmp_path, user="carol").read()
    assert sum(day["calls"] for day in data["days"].values()) == 100
    assert {nb: v["layers"]["complete"]["calls"] for nb, v in data["notebooks"].items()} == {
        f"nb-{n}": 25 for n in range(4)
    }
