"""Configuration: which provider and model serve which layer, and the thinking settings of escalation."""

from __future__ import annotations

import pytest
from traitlets import TraitError
from traitlets.config import Config

from jupyter_layers import errors
from jupyter_layers.config import JupyterLayers
from jupyter_layers.models import Message, Request, Stop, Text, ThinkingDelta, ThinkingText
from jupyter_layers.models.router import Router, split_model_spec
from tests.conftest import API_KEY
from tests.fakes.model_server import Text as ScriptText
from tests.fakes.model_server import Thinking as ScriptThinking
from tests.fakes.model_server import Turn


def router(**options) -> Router:
    return Router(JupyterLayers(config=Config({"JupyterLayers": options})))


def test_with_a_key_each_layer_gets_its_claude_model(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    r = router()
    models = {layer: r.route(layer).model for layer in ("complete", "edit", "explore", "escalate")}
    assert models == {
        "complete": "claude-haiku-5-5",
        "edit": "claude-sonnet-5-5",
        "explore": "claude-sonnet-5-5",
        "escalate": "claude-opus-5-5",
    }
    assert r.route("complete").provider.name == "anthropic"
    assert r.offline_notice() is None


def test_escalation_thinks_adaptively_with_high_effort(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    route = router().route("escalate")
    assert (route.thinking.mode, route.thinking.effort) == ("adaptive", "high")
    assert router().route("edit").thinking is None
    assert router(escalate_thinking="off").route("escalate").thinking is None


def test_without_a_key_every_layer_is_embedded_and_it_says_so_once():
    pytest.importorskip("llama_cpp")
    r = router()
    routes = [r.route(layer) for layer in ("complete", "edit", "explore", "escalate")]
    assert {route.provider.name for route in routes} == {"embedded"}
    assert routes[0].label == "embedded:gemma-3-270m-q4_k_m.gguf"  # the best at continuing code
    assert {route.label for route in routes[1:]} == {"embedded:SmolLM2-135M-Instruct.Q4_1.gguf"}  # it chats
    notice = r.offline_notice()
    assert "Gemma 3 270M" in notice and "SmolLM2-135M-Instruct" in notice and "ANTHROPIC_API_KEY" in notice
    assert r.offline_notice() is None


def test_openai_compatible_server_is_chosen_when_configured():
    r = router(openai_base_url="http://127.0.0.1:11434/v1", openai_model="qwen2.5-coder:7b")
    route = r.route("edit")
    assert (route.provider.name, route.model) == ("openai", "qwen2.5-coder:7b")


def test_a_layer_can_be_sent_to_another_provider(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    r = router(complete_model="openai:qwen2.5-coder:1.5b", openai_base_url="http://127.0.0.1:11434/v1")
    assert (r.route("complete").provider.name, r.route("complete").model) == ("openai", "qwen2.5-coder:1.5b")
    assert r.route("edit").provider.name == "anthropic"


def test_model_spec_keeps_colons_of_local_model_names():
    assert split_model_spec("qwen2.5-coder:7b") == (None, "qwen2.5-coder:7b")
    assert split_model_spec("anthropic:claude-opus-5-5") == ("anthropic", "claude-opus-5-5")
    assert split_model_spec("OpenAI:llama3:8b") == ("openai", "llama3:8b")


def test_misconfiguration_is_one_clear_error(monkeypatch):
    with pytest.raises(errors.MissingKeyError):
        router(provider="anthropic").route("edit")
    with pytest.raises(errors.ConfigError, match="openai_base_url"):
        router(provider="openai").route("edit")
    with pytest.raises(errors.ConnectionFailed, match="openai_model"):  # no model named: the server is asked
        router(provider="openai", openai_base_url="http://127.0.0.1:1/v1").route("edit")
    with pytest.raises(errors.ConfigError, match="unknown layer"):
        router().route("chat")
    with pytest.raises(TraitError):
        JupyterLayers(provider="gemini")


def test_config_changes_apply_to_the_next_route(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    config = JupyterLayers()
    r = Router(config)
    assert r.route("edit").model == "claude-sonnet-5-5"
    config.edit_model = "claude-opus-5-5"  # what `%config JupyterLayers.edit_model = ...` does
    assert r.route("edit").model == "claude-opus-5-5"


def test_max_tokens_per_layer_merge_over_defaults(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    r = router(max_tokens={"complete": 64})
    assert r.route("complete").max_tokens == 64
    assert r.route("escalate").max_tokens == 32000
    prepared = r.route("complete").prepare(Request(messages=(Message.user("x"),)))
    assert (prepared.model, prepared.max_tokens) == ("claude-haiku-5-5", 64)


def escalation_router(fake, model: str) -> Router:
    return router(
        provider="anthropic",
        anthropic_api_key=API_KEY,
        anthropic_base_url=fake.url,
        escalate_model=model,
        max_retries=0,
    )


def test_escalation_sends_adaptive_thinking_and_effort(fake):
    fake.script(Turn([ScriptThinking("Look at the merge keys."), ScriptText("The merge duplicates rows.")]))
    route = escalation_router(fake, "claude-opus-5-5").route("escalate")
    events = list(route.stream(Request(messages=(Message.user("Why are there duplicates?"),))))
    sent = fake.requests[-1].body
    assert sent["model"] == "claude-opus-5-5" and sent["max_tokens"] == 32000
    assert sent["thinking"] == {"type": "adaptive"}
    assert sent["output_config"] == {"effort": "high"}
    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == "Look at the merge keys."


def test_escalation_falls_back_to_a_thinking_budget_where_adaptive_is_missing(fake):
    fake.script(Turn([ScriptThinking("Hmm."), ScriptText("Answer.")]))
    route = escalation_router(fake, "claude-haiku-4-5").route("escalate")
    route.stream(Request(messages=(Message.user("Why?"),))).final()
    sent = fake.requests[-1].body
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 16000}
    assert "output_config" not in sent


def test_thinking_blocks_go_back_unchanged_with_their_signatures(fake):
    fake.script(
        Turn([ScriptThinking("First I check df.", signature="sig-abc123"), ScriptText("It is the join.")]),
        Turn([ScriptText("Use validate='one_to_one'.")]),
    )
    route = escalation_router(fake, "claude-opus-5-5").route("escalate")
    question = Message.user("Why are there duplicates?")
    first = list(route.stream(Request(messages=(question,))))[-1]
    assert isinstance(first, Stop)
    assert first.message.content[0] == ThinkingText("First I check df.", "sig-abc123")
    follow_up = Request(messages=(question, first.message, Message.user("How do I prevent it?")))
    assert route.stream(follow_up).final().text == "Use validate='one_to_one'."
    sent_back = fake.requests[-1].body["messages"][1]["content"]
    assert sent_back[0] == {"type": "thinking", "thinking": "First I check df.", "signature": "sig-abc123"}
    assert sent_back[1] == {"type": "text", "text": "It is the join."}


def test_too_many_cache_breakpoints_are_refused_before_sending(fake):
    route = escalation_router(fake, "claude-opus-5-5").route("edit")
    request = Request(messages=(Message.user(*(Text(str(i), cache=True) for i in range(5))),))
    with pytest.raises(errors.BadRequest, match="at most 4"):
        route.stream(request).final()
    assert fake.requests == []


def test_the_embedded_models_small_context_bounds_answers_and_prompts():
    pytest.importorskip("llama_cpp")
    r = router(provider="embedded", embedded_context=8192)
    explore = r.route("explore")
    assert (explore.max_tokens, explore.context_window) == (4096, 8192)
    assert explore.prompt_budget(50_000) == 8192 - 4096 - 128  # prompt and answer fit the window together
    escalate = r.route("escalate")
    assert escalate.max_tokens == 4096  # 32,000 would not fit
    assert r.route("complete").prompt_budget(2000) == 2000


def test_api_models_keep_the_configured_budget(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    route = router().route("explore")
    assert route.context_window is None and route.prompt_budget(50_000) == 50_000
