"""Asking the Models API whether a model thinks adaptively is never fatal.

Gateways in front of Anthropic often serve ``/v1/messages`` without ``GET /v1/models/{id}``, or answer it without
``capabilities``: then the capability is unknown, the request tries adaptive thinking, and a 400 about it falls back
once to a thinking budget, remembered per model. Only refused credentials stay an error of the probe.
"""

from __future__ import annotations

import pytest

from jupyter_layers import errors
from jupyter_layers.models import Message, Request, Thinking
from jupyter_layers.models.anthropic import AnthropicProvider
from tests.conftest import API_KEY
from tests.fakes.model_server import FakeModelServer, Fault, Text, Turn
from tests.fakes.model_server import Thinking as ScriptThinking
from tests.kernels import Kernel

MODEL = "claude-opus-5-5"
ADAPTIVE = {"type": "adaptive"}
BUDGET = {"type": "enabled", "budget_tokens": 16000}


def escalation(model: str = MODEL) -> Request:
    """What ``%escalate`` asks: adaptive thinking with high effort, a budget for models without it."""
    return Request(
        messages=(Message.user("Why does the share not add up to 1?"),),
        model=model,
        max_tokens=32000,
        thinking=Thinking("adaptive", 16000, "high"),
    )


def provider_for(server: FakeModelServer, api_key: str = API_KEY) -> AnthropicProvider:
    return AnthropicProvider(api_key, server.url, timeout=5.0, max_retries=0)


def sent(server: FakeModelServer) -> list[dict]:
    return [r.body for r in server.requests if r.path == "/v1/messages"]


def probes(server: FakeModelServer) -> list:
    return [r for r in server.requests if r.path.startswith("/v1/models")]


def answer() -> Turn:
    return Turn([ScriptThinking("The merge duplicates rows."), Text("Deduplicate the customers.")])


@pytest.mark.parametrize("mode", ["full", "bare", "missing", "missing-json"])
def test_adaptive_thinking_is_sent_whatever_the_models_endpoint_says(mode):
    with FakeModelServer(api_key=API_KEY, models_endpoint=mode) as server:
        server.script(answer())
        reply = provider_for(server).stream(escalation()).final()
        assert reply.text == "Deduplicate the customers."
        [body] = sent(server)
        assert body["thinking"] == ADAPTIVE and body["output_config"] == {"effort": "high"}
        [probe] = probes(server)
        assert probe.status == (404 if mode.startswith("missing") else 200)


def test_a_gateway_without_the_models_endpoint_leaves_unknown_models_to_the_messages_api():
    """No 'does not know the model' from the probe: /v1/messages is asked, and its own 404 is the answer."""
    with FakeModelServer(api_key=API_KEY, models_endpoint="missing") as server:
        provider = provider_for(server)
        assert provider.stream(escalation()).final().text == "ok"

        with pytest.raises(errors.ModelNotFound, match="claude-opus-9-9"):
            provider.stream(escalation("claude-opus-9-9")).final()
        assert [r.status for r in server.requests if r.path == "/v1/messages"] == [200, 404]


def test_a_refusal_of_adaptive_thinking_falls_back_once_to_a_budget_and_is_remembered():
    with FakeModelServer(api_key=API_KEY, models_endpoint="missing", adaptive_unsupported=(MODEL,)) as server:
        provider = provider_for(server)
        assert provider.payload(escalation())["thinking"] == ADAPTIVE  # the dry-run: what the first call sends

        server.script(answer())
        assert provider.stream(escalation()).final().text == "Deduplicate the customers."
        first, second = sent(server)
        assert first["thinking"] == ADAPTIVE and first["output_config"] == {"effort": "high"}
        assert second["thinking"] == BUDGET and "output_config" not in second
        refused = [r for r in server.requests if r.path == "/v1/messages"][0]
        assert refused.status == 400

        server.script(Turn([Text("Again.")]))
        assert provider.stream(escalation()).final().text == "Again."
        assert sent(server)[2]["thinking"] == BUDGET  # straight to the budget
        assert len(sent(server)) == 3 and len(probes(server)) == 1  # no second refusal, no second probe
        assert provider.payload(escalation())["thinking"] == BUDGET  # the dry-run shows the request as it goes


def test_the_fallback_is_per_model():
    with FakeModelServer(api_key=API_KEY, models_endpoint="bare", adaptive_unsupported=(MODEL,)) as server:
        provider = provider_for(server)
        provider.stream(escalation()).final()
        provider.stream(escalation("claude-sonnet-5-5")).final()
        assert [(b["model"], b["thinking"]) for b in sent(server)] == [
            (MODEL, ADAPTIVE),
            (MODEL, BUDGET),
            ("claude-sonnet-5-5", ADAPTIVE),
        ]


def test_known_capabilities_send_the_budget_directly():
    """The Models API says no adaptive thinking: no refused request at all."""
    with FakeModelServer(api_key=API_KEY, adaptive_unsupported=(MODEL,)) as server:
        provider_for(server).stream(escalation()).final()
        assert [b["thinking"] for b in sent(server)] == [BUDGET]


def test_other_rejections_while_probing_are_the_users_error_and_not_retried():
    with FakeModelServer(api_key=API_KEY, models_endpoint="missing") as server:
        server.script(Fault(400, message="prompt is too long: 250000 tokens > 200000 maximum"))
        with pytest.raises(errors.BadRequest, match="prompt is too long"):
            provider_for(server).stream(escalation()).final()
        assert [b["thinking"] for b in sent(server)] == [ADAPTIVE]


@pytest.mark.parametrize("mode", ["full", "missing"])
def test_refused_credentials_at_the_models_endpoint_are_still_a_credentials_error(mode):
    with FakeModelServer(api_key=API_KEY, models_endpoint=mode) as server:
        with pytest.raises(errors.AuthenticationFailed) as caught:
            provider_for(server, api_key="wrong-key").stream(escalation()).final()
        assert "\n" not in str(caught.value) and "refused the credentials" in str(caught.value)
        assert sent(server) == [] and len(probes(server)) == 1


def test_escalate_in_a_kernel_behind_a_gateway_without_the_models_endpoint(monkeypatch):
    """The reported bug: `%escalate` said "Anthropic does not know the model" and sent nothing."""
    with FakeModelServer(api_key=API_KEY, models_endpoint="missing", adaptive_unsupported=True) as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        kernel = Kernel()
        try:
            kernel.run("%config JupyterLayers.max_retries = 0")
            kernel.run("x = 1")
            server.script(Turn([ScriptThinking("x is one."), Text("Nothing is wrong with x.")]))
            done = kernel.run("%escalate is x right?")
        finally:
            kernel.close()
        assert done.reply["content"]["status"] == "ok" and done.stderr == "", done.stderr
        assert "Nothing is wrong with x." in done.last_display()["data"]["text/plain"]
        assert [b["thinking"]["type"] for b in sent(server)] == ["adaptive", "enabled"]
