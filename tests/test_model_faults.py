"""Every fault the API can produce becomes one typed project error with a one-line message.

The SDKs' own retries are used before any output; a stream that breaks after text was shown is never
retried (that would duplicate text), and the text already received stays in the events.
"""

from __future__ import annotations

import socket

import pytest

from jupyter_layers import errors
from jupyter_layers.models import Failure, Message, Request, TextDelta
from jupyter_layers.models.anthropic import AnthropicProvider
from jupyter_layers.models.openai_compat import OpenAICompatProvider
from tests.conftest import API_KEY
from tests.fakes.model_server import Fault, Text, Turn

QUESTION = Message.user("Explain the traceback.")


def anthropic(fake, **options):
    options = {"timeout": 5.0, "max_retries": 0, **options}
    return AnthropicProvider(options.pop("api_key", API_KEY), fake.url, **options), "claude-sonnet-5-5"


def openai_compat(fake, **options):
    options = {"timeout": 5.0, "max_retries": 0, **options}
    return OpenAICompatProvider(fake.url + "/v1", options.pop("api_key", API_KEY), **options), "llama3"


PROVIDERS = [anthropic, openai_compat]


def failure_of(provider, model) -> tuple[list, errors.LayersError]:
    events = list(provider.stream(Request(messages=(QUESTION,), model=model)))
    assert isinstance(events[-1], Failure), events[-1]
    error = events[-1].error
    assert "\n" not in str(error) and "Traceback" not in str(error)
    assert error.hint
    return events, error


@pytest.mark.parametrize("make", PROVIDERS)
def test_rate_limit_is_retried_with_retry_after_then_succeeds(fake, make):
    provider, model = make(fake, max_retries=2)
    fake.script(Fault(429, headers={"retry-after-ms": "50", "retry-after": "0.05"}), Turn([Text("fine now")]))
    reply = provider.stream(Request(messages=(QUESTION,), model=model)).final()
    assert reply.text == "fine now"
    assert len(fake.requests) == 2
    assert fake.requests[1].headers["x-stainless-retry-count"] == "1"


@pytest.mark.parametrize("make", PROVIDERS)
def test_rate_limit_after_retries_is_one_error(fake, make):
    provider, model = make(fake)
    fake.script(Fault(429, headers={"retry-after": "7"}))
    _, error = failure_of(provider, model)
    assert isinstance(error, errors.RateLimited)
    assert "rate limit" in str(error)


def test_anthropic_overload_529(fake):
    fake.script(Fault(529))
    _, error = failure_of(*anthropic(fake))
    assert isinstance(error, errors.Overloaded)


def test_openai_compatible_server_unavailable_503_counts_as_overload(fake):
    fake.script(Fault(503))
    _, error = failure_of(*openai_compat(fake))
    assert isinstance(error, errors.Overloaded)


@pytest.mark.parametrize("make", PROVIDERS)
def test_server_error_500_is_retried_by_the_sdk(fake, make):
    provider, model = make(fake, max_retries=1)
    fake.script(Fault(500, headers={"retry-after-ms": "10"}), Fault(500, headers={"retry-after-ms": "10"}))
    _, error = failure_of(provider, model)
    assert isinstance(error, errors.ProviderError)
    assert len(fake.requests) == 2


@pytest.mark.parametrize("make", PROVIDERS)
def test_wrong_key_is_an_authentication_error(fake, make):
    _, error = failure_of(*make(fake, api_key="wrong-key"))
    assert isinstance(error, errors.AuthenticationFailed)


def test_unknown_anthropic_model_names_the_model(fake):
    provider, _ = anthropic(fake)
    _, error = failure_of(provider, "claude-nonexistent-9")
    assert isinstance(error, errors.ModelNotFound)
    assert "claude-nonexistent-9" in str(error)


@pytest.mark.parametrize("make", PROVIDERS)
def test_error_event_mid_stream_keeps_shown_text_and_is_not_retried(fake, make):
    provider, model = make(fake, max_retries=2)
    fake.script(Turn([Text("The first part of a long answer that breaks off")], chunk_chars=5, error_after=3))
    events, error = failure_of(provider, model)
    assert isinstance(error, errors.StreamInterrupted)
    shown = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert shown == "The first part "[: len(shown)] and len(shown) >= 10
    assert len(fake.requests) == 1


@pytest.mark.parametrize("make", PROVIDERS)
def test_dropped_connection_mid_stream(fake, make):
    provider, model = make(fake, max_retries=2)
    fake.script(Turn([Text("an answer whose connection drops part way")], chunk_chars=5, drop_after=2))
    events, error = failure_of(provider, model)
    assert isinstance(error, errors.StreamInterrupted)
    assert any(isinstance(e, TextDelta) for e in events)
    assert len(fake.requests) == 1


@pytest.mark.parametrize("make", PROVIDERS)
def test_slow_first_byte_beyond_the_timeout(fake, make):
    provider, model = make(fake, timeout=0.5)
    fake.script(Turn([Text("too late")], first_byte_delay=2.0))
    _, error = failure_of(provider, model)
    assert isinstance(error, errors.TimedOut)


@pytest.mark.parametrize("make", PROVIDERS)
def test_stall_mid_stream_times_out(fake, make):
    provider, model = make(fake, timeout=0.5)
    fake.script(Turn([Text("starts, then stalls for a long time")], chunk_chars=5, stall_after=2, stall_seconds=5))
    events, error = failure_of(provider, model)
    assert isinstance(error, (errors.TimedOut, errors.StreamInterrupted))
    assert any(isinstance(e, TextDelta) for e in events)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_network_down_is_a_connection_error():
    provider = AnthropicProvider(API_KEY, f"http://127.0.0.1:{free_port()}", timeout=2, max_retries=0)
    _, error = failure_of(provider, "claude-sonnet-5-5")
    assert isinstance(error, errors.ConnectionFailed)

    provider = OpenAICompatProvider(f"http://127.0.0.1:{free_port()}/v1", timeout=2, max_retries=0)
    _, error = failure_of(provider, "llama3")
    assert isinstance(error, errors.ConnectionFailed)
    assert "local model server" in str(error)


def test_missing_key_is_refused_before_any_call():
    with pytest.raises(errors.MissingKeyError) as caught:
        AnthropicProvider()
    assert "ANTHROPIC_API_KEY" in str(caught.value)


def test_an_auth_token_goes_out_as_a_bearer_token(fake, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", API_KEY)
    provider = AnthropicProvider(base_url=fake.url, max_retries=0)
    fake.script(Turn([Text("ok")]))
    assert provider.stream(Request(messages=(QUESTION,), model="claude-sonnet-5-5")).final().message.text == "ok"
    headers = fake.requests[-1].headers
    assert headers["authorization"] == f"Bearer {API_KEY}" and "x-api-key" not in headers


def test_final_raises_the_typed_error(fake):
    provider, model = anthropic(fake)
    fake.script(Fault(529))
    with pytest.raises(errors.Overloaded):
        provider.stream(Request(messages=(QUESTION,), model=model)).final()
