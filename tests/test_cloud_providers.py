"""Claude on Amazon Bedrock and Google Vertex AI: the SDK's own cloud clients against the fake's cloud wire formats.

Bedrock's requests are SigV4-signed by botocore and verified by the fake with the same algorithm; its streams are
AWS event-stream frames. Vertex AI's token comes from google-auth's real service-account flow (a JWT signed with a
throwaway key, exchanged at the fake's token endpoint). Nothing here reaches AWS or Google.
"""

from __future__ import annotations

import base64
import json
import sys
import zlib
from urllib.parse import parse_qs

import anthropic
import pytest
from anthropic.lib.aws._auth import _get_session
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from traitlets.config import Config

from jupyter_layers import errors
from jupyter_layers.config import BEDROCK_DEFAULTS, SECRET_SETTINGS, VERTEX_DEFAULTS, JupyterLayers
from jupyter_layers.models import (
    Message,
    Request,
    Stop,
    TextDelta,
    Thinking,
    ThinkingDelta,
    Tool,
    ToolCall,
    Usage,
)
from jupyter_layers.models.clouds import BedrockProvider, VertexProvider
from jupyter_layers.models.router import Router
from jupyter_layers.usage_record import UsageRecord
from tests.conftest import API_KEY
from tests.fakes import cloud_wire
from tests.fakes.model_server import Fault, Turn
from tests.fakes.model_server import Text as ScriptText
from tests.fakes.model_server import Thinking as ScriptThinking
from tests.fakes.model_server import ToolUse as ScriptToolUse

LOOKUP = Tool(
    name="lookup_column",
    description="Return the dtype of one column of the DataFrame `df`.",
    input_schema={"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
)
CLOUD_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_BEARER_TOKEN_BEDROCK",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "ANTHROPIC_BEDROCK_BASE_URL",
    "ANTHROPIC_VERTEX_BASE_URL",
    "ANTHROPIC_VERTEX_PROJECT_ID",
    "CLOUD_ML_REGION",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_PROJECT",
)


@pytest.fixture(autouse=True)
def no_cloud_credentials(monkeypatch, tmp_path):
    """No developer's AWS or Google credentials, files or metadata servers: only what a test gives."""
    for name in CLOUD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws" / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws" / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    # The SDK keeps one boto3 session (and the credentials it resolved) per set of arguments for the process.
    _get_session.cache_clear()


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", cloud_wire.AWS_ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", cloud_wire.AWS_SECRET_ACCESS_KEY)


@pytest.fixture(scope="session")
def service_account_key():
    """A throwaway RSA key, registered with the fake as Google keeps a service account's public keys."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cloud_wire.SERVICE_ACCOUNT_KEYS["test-key-1"] = key.public_key()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def google(fake, monkeypatch, tmp_path, service_account_key):
    """A service-account key file whose token_uri is the fake's, as GOOGLE_APPLICATION_CREDENTIALS."""
    path = tmp_path / "service-account.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "layers-test-project",
                "private_key_id": "test-key-1",
                "private_key": service_account_key,
                "client_email": "notebooks@layers-test-project.iam.gserviceaccount.com",
                "client_id": "1234567890",
                "token_uri": f"{fake.url}{cloud_wire.TOKEN_PATH}",
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    return path


def bedrock_provider(fake, **options) -> BedrockProvider:
    return BedrockProvider("us-east-1", fake.url, timeout=10, max_retries=0, **options)


def vertex_provider(fake, **options) -> VertexProvider:
    return VertexProvider("us-east5", "", f"{fake.url}/v1", timeout=10, max_retries=0, **options)


@pytest.fixture(params=["bedrock", "vertex"])
def cloud(request, fake):
    """(provider, model id) for each cloud, with its credentials in place."""
    if request.param == "bedrock":
        request.getfixturevalue("aws")
        return bedrock_provider(fake), BEDROCK_DEFAULTS["edit"]
    request.getfixturevalue("google")
    return vertex_provider(fake), VERTEX_DEFAULTS["edit"]


def model_requests(fake) -> list:
    return [r for r in fake.requests if r.api in ("bedrock", "vertex")]


def failure(stream) -> errors.LayersError:
    with pytest.raises(errors.LayersError) as caught:
        stream.final()
    message = str(caught.value)
    assert "\n" not in message and "(hint: " in message, message
    return caught.value


# --------------------------------------------------------------------------------------------------
# The fake's wire formats


def test_event_stream_frames_decode_with_botocore():
    """The fake's encoder is faithful: botocore's decoder reads its frames, split anywhere, and checks their CRCs."""
    event = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "héllo"}}
    frames = cloud_wire.bedrock_chunk(event) + cloud_wire.bedrock_exception("throttlingException", "Too many requests")
    buffer = EventStreamBuffer()
    buffer.add_data(frames[:7])
    assert list(buffer) == []
    buffer.add_data(frames[7:])
    chunk, exception = list(buffer)
    assert chunk.headers == {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
    payload = json.loads(chunk.payload)
    assert json.loads(base64.b64decode(payload["bytes"])) == event
    assert exception.headers[":exception-type"] == "throttlingException"
    assert exception.to_response_dict()["status_code"] == 400

    broken = bytearray(cloud_wire.bedrock_chunk(event))
    broken[-6] ^= 0xFF  # a payload byte: the message CRC no longer matches
    buffer = EventStreamBuffer()
    buffer.add_data(bytes(broken))
    with pytest.raises(ChecksumMismatch):
        list(buffer)
    assert zlib.crc32(bytes(broken[:8])) == int.from_bytes(broken[8:12], "big")  # the prelude's own CRC is intact


def test_the_sdk_decodes_the_frames_as_anthropic_events():
    from anthropic.lib.bedrock._stream_decoder import AWSEventStreamDecoder

    frames = [
        cloud_wire.bedrock_chunk({"type": "message_stop"}),
        cloud_wire.bedrock_exception("throttlingException", "gone"),
    ]
    events = list(AWSEventStreamDecoder().iter_bytes(iter(frames)))
    assert [(e.event, json.loads(e.data)) for e in events] == [
        ("message_stop", {"type": "message_stop"}),
        ("error", {"type": "error", "error": {"type": "throttlingException", "message": "gone"}}),
    ]


# --------------------------------------------------------------------------------------------------
# Both clouds through the SDK's clients


def test_streams_thinking_text_and_a_tool_call(cloud, fake):
    provider, model = cloud
    fake.script(
        Turn(
            [
                ScriptThinking("The dtype is in df.dtypes."),
                ScriptText("Let me look."),
                ScriptToolUse("lookup_column", {"name": "price"}),
            ]
        )
    )
    request = Request(
        messages=(Message.user("What dtype is price?"),),
        model=model,
        max_tokens=2048,
        tools=(LOOKUP,),
        thinking=Thinking("enabled", 1024),
    )
    events = list(provider.stream(request))
    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == "The dtype is in df.dtypes."
    assert sum(isinstance(e, TextDelta) for e in events) >= 2
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Let me look."
    calls = [e.tool_use for e in events if isinstance(e, ToolCall)]
    assert [(c.name, c.input) for c in calls] == [("lookup_column", {"name": "price"})]
    usage = [e for e in events if isinstance(e, Usage)]
    assert len(usage) == 1 and usage[0].input_tokens > 0 and usage[0].output_tokens > 0
    stop = events[-1]
    assert isinstance(stop, Stop) and stop.reason == "tool_use" and stop.message.tool_uses == calls
    assert stop.model == "claude-sonnet-5-5"  # the clouds answer with Anthropic's name of the model


def test_the_model_is_in_the_path_and_the_dry_run_is_the_body_sent(cloud, fake):
    provider, model = cloud
    request = Request(messages=(Message.user("Say hi."),), model=model, max_tokens=64)
    assert provider.stream(request).final().text == "ok"
    (sent,) = model_requests(fake)
    assert sent.body == provider.payload(request)  # what the dry-run shows is what arrived
    assert "model" not in sent.body and sent.body["anthropic_version"]
    assert sent.body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Say hi."}]}]
    if provider.name == "bedrock":
        assert sent.path == "/model/global.anthropic.claude-sonnet-5-5/invoke-with-response-stream"
        assert "stream" not in sent.body  # the URL says it
        assert sent.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={cloud_wire.AWS_ACCESS_KEY_ID}/")
        assert "/us-east-1/bedrock/aws4_request" in sent.headers["authorization"]
    else:
        project = "layers-test-project"  # from the service account's key file
        assert sent.path == (
            f"/v1/projects/{project}/locations/us-east5/publishers/anthropic/models/claude-sonnet-5-5:streamRawPredict"
        )
        assert sent.body["stream"] is True
        (grant,) = [r for r in fake.requests if r.api == "google-oauth"]
        assert parse_qs(grant.body)["grant_type"] == [cloud_wire.JWT_BEARER]  # a service account's signed JWT
        assert sent.headers["authorization"].startswith("Bearer ya29.")


def test_unstreamed_calls_use_invoke_and_raw_predict(aws, google, fake):
    """The SDK's own clients, unstreamed: the fake's other two endpoints answer as the clouds do."""
    bedrock = anthropic.AnthropicBedrock(aws_region="us-east-1", base_url=fake.url, max_retries=0)
    # The project is given: the SDK checks it before it would read it from the credentials (VertexProvider reads it).
    vertex = anthropic.AnthropicVertex(region="global", project_id="p", base_url=f"{fake.url}/v1", max_retries=0)
    fake.script(Turn([ScriptText("from bedrock")]), Turn([ScriptText("from vertex")]))
    for client, model in ((bedrock, BEDROCK_DEFAULTS["complete"]), (vertex, VERTEX_DEFAULTS["complete"])):
        message = client.messages.create(model=model, max_tokens=32, messages=[{"role": "user", "content": "hi"}])
        assert message.content[0].text.startswith("from ") and message.model == "claude-haiku-5-5"
    assert [r.path.rpartition("/")[2] for r in model_requests(fake)] == ["invoke", "claude-haiku-5-5:rawPredict"]


def test_a_4xx_is_one_line_naming_the_cloud(cloud, fake):
    provider, model = cloud
    fake.script(Fault(400, message="messages: text content blocks must be non-empty"))
    error = failure(provider.stream(Request(messages=(Message.user("hi"),), model=model, max_tokens=64)))
    assert isinstance(error, errors.BadRequest)
    assert error.message == f"{provider.service} rejected the request: messages: text content blocks must be non-empty"


def test_an_unknown_model_is_refused_as_each_cloud_does(cloud, fake):
    provider, _ = cloud
    request = Request(messages=(Message.user("hi"),), model="claude-nonesuch-9", max_tokens=64)
    if provider.name == "bedrock":
        request = Request(messages=request.messages, model="anthropic.claude-nonesuch-9-v1:0", max_tokens=64)
    error = failure(provider.stream(request))
    if provider.name == "bedrock":  # Bedrock: 400 ValidationException
        assert isinstance(error, errors.BadRequest)
        assert error.message == "Bedrock rejected the request: The provided model identifier is invalid."
        assert model_requests(fake)[-1].path == "/model/anthropic.claude-nonesuch-9-v1:0/invoke-with-response-stream"
    else:  # Vertex AI: Google's 404
        assert isinstance(error, errors.ModelNotFound)
        assert error.message == "Vertex AI does not know the model 'claude-nonesuch-9'"


def test_bedrock_rate_limit_and_a_broken_stream(aws, fake):
    provider = bedrock_provider(fake)
    fake.script(Fault(429, message="Too many requests, please wait before trying again."))
    request = Request(messages=(Message.user("hi"),), model=BEDROCK_DEFAULTS["complete"], max_tokens=64)
    error = failure(provider.stream(request))
    assert isinstance(error, errors.RateLimited) and error.message == "Bedrock rate limit reached"

    fake.script(Turn([ScriptText("an answer that breaks off")], chunk_chars=4, error_after=2))
    events = list(provider.stream(request))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "an answe"
    assert str(events[-1].error).startswith("Claude's answer broke off: Overloaded")  # the exception frame


def test_a_wrong_aws_secret_fails_the_signature_check(monkeypatch, aws, fake):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not/the/secret/the/fake/knows/at/all/0000")
    request = Request(messages=(Message.user("hi"),), model=BEDROCK_DEFAULTS["edit"], max_tokens=64)
    error = failure(bedrock_provider(fake).stream(request))
    assert isinstance(error, errors.AuthenticationFailed)
    assert error.message.startswith("Bedrock refused the credentials: The request signature we calculated")
    assert "AWS_PROFILE" in error.hint
    assert fake.requests[-1].status == 403


def test_a_bedrock_api_key_is_sent_as_a_bearer_token(monkeypatch, fake):
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", API_KEY)
    request = Request(messages=(Message.user("hi"),), model=BEDROCK_DEFAULTS["edit"], max_tokens=64)
    assert bedrock_provider(fake).stream(request).final().text == "ok"
    assert model_requests(fake)[-1].headers["authorization"] == f"Bearer {API_KEY}"


def test_adaptive_thinking_is_tried_and_falls_back_without_the_models_api(aws, fake):
    """The clouds have no Models API: adaptive is sent, an older model's 400 makes the budget go instead."""
    provider = bedrock_provider(fake)
    model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"  # Sonnet 4.5 only takes a thinking budget
    fake.script(Turn([ScriptThinking("plan"), ScriptText("done")]))
    request = Request(
        messages=(Message.user("Think, then answer."),),
        model=model,
        max_tokens=20000,
        thinking=Thinking("adaptive", 16000, "high"),
    )
    assert provider.stream(request).final().text == "done"
    sent = model_requests(fake)
    assert [r.body["thinking"]["type"] for r in sent] == ["adaptive", "enabled"]
    assert sent[0].status == 400 and sent[1].status == 200
    assert not [r for r in fake.requests if "/models" in r.path and "/model/" not in r.path]
    assert provider.payload(request)["thinking"] == {"type": "enabled", "budget_tokens": 16000}  # remembered


# --------------------------------------------------------------------------------------------------
# Credentials, regions and extras


def test_missing_aws_credentials_are_one_line(fake):
    request = Request(messages=(Message.user("hi"),), model=BEDROCK_DEFAULTS["edit"], max_tokens=64)
    error = failure(bedrock_provider(fake).stream(request))
    assert isinstance(error, errors.MissingKeyError)
    assert error.message == "no AWS credentials for Bedrock"
    assert "AWS_ACCESS_KEY_ID" in error.hint and "AWS_BEARER_TOKEN_BEDROCK" in error.hint
    assert fake.requests == []  # nothing unsigned left the machine


def test_missing_google_credentials_are_one_line(fake, monkeypatch, tmp_path):
    request = Request(messages=(Message.user("hi"),), model=VERTEX_DEFAULTS["edit"], max_tokens=64)
    error = failure(vertex_provider(fake).stream(request))
    assert isinstance(error, errors.MissingKeyError)
    assert error.message.startswith("no Google credentials for Vertex AI: ")
    assert "gcloud auth application-default login" in error.hint

    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "nowhere.json"))
    error = failure(vertex_provider(fake).stream(request))
    assert "nowhere.json was not found" in error.message
    assert fake.requests == []


def test_a_refused_service_account_is_one_line(google, fake):
    """The token endpoint refuses a JWT signed with a key Google does not have for the account."""
    key = json.loads(google.read_text())
    google.write_text(json.dumps({**key, "private_key_id": "revoked-key"}))
    request = Request(messages=(Message.user("hi"),), model=VERTEX_DEFAULTS["edit"], max_tokens=64)
    error = failure(vertex_provider(fake).stream(request))
    assert isinstance(error, errors.AuthenticationFailed)
    assert error.message == "the Vertex AI credentials failed: invalid_grant: Invalid JWT Signature."
    assert [r.api for r in fake.requests] == ["google-oauth"]


def test_regions_and_the_project_come_from_settings_or_the_environment(monkeypatch, aws, google):
    with pytest.raises(errors.ConfigError, match="no AWS region for Bedrock") as caught:
        BedrockProvider()
    assert "aws_region" in str(caught.value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    assert BedrockProvider().region == "eu-west-3"
    assert BedrockProvider("ap-northeast-1").region == "ap-northeast-1"

    with pytest.raises(errors.ConfigError, match="no Google Cloud region for Vertex AI"):
        VertexProvider()
    monkeypatch.setenv("CLOUD_ML_REGION", "global")
    monkeypatch.setenv("ANTHROPIC_VERTEX_PROJECT_ID", "from-the-environment")
    assert (VertexProvider().region, VertexProvider().project_id) == ("global", "from-the-environment")


@pytest.mark.parametrize(("module", "extra"), [("boto3", "bedrock"), ("google.auth", "vertex")])
def test_a_missing_extra_names_it(monkeypatch, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # what `import` meets when it is not installed
    make = BedrockProvider if extra == "bedrock" else VertexProvider
    with pytest.raises(errors.ConfigError) as caught:
        make("us-east-1")
    assert str(caught.value).endswith(f"(hint: pip install 'jupyter_layers[{extra}]')")


# --------------------------------------------------------------------------------------------------
# Routing and configuration


def router(tmp_path, **options) -> Router:
    config = JupyterLayers(config=Config({"JupyterLayers": options}))
    return Router(config, record=UsageRecord(tmp_path / "usage"), notebook="analysis.ipynb")


def test_the_router_sends_every_layer_to_the_configured_cloud(tmp_path, aws, google):
    r = router(tmp_path, provider="bedrock", aws_region="us-west-2")
    routes = {layer: r.route(layer) for layer in BEDROCK_DEFAULTS}
    assert {layer: route.model for layer, route in routes.items()} == BEDROCK_DEFAULTS
    assert routes["escalate"].model == "global.anthropic.claude-opus-5-5"
    assert {route.provider.name for route in routes.values()} == {"bedrock"}
    assert routes["complete"].prompt_format == "chat"
    assert routes["edit"].label == "bedrock:global.anthropic.claude-sonnet-5-5"

    r = router(tmp_path, provider="vertex", vertex_region="europe-west1", vertex_project_id="p1")
    assert {layer: r.route(layer).model for layer in VERTEX_DEFAULTS} == VERTEX_DEFAULTS
    assert (r.route("edit").provider.region, r.route("edit").provider.project_id) == ("europe-west1", "p1")


def test_a_model_spec_sends_one_layer_to_a_cloud(tmp_path, monkeypatch, aws):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    r = router(tmp_path, aws_region="us-east-1", complete_model="bedrock:anthropic.claude-haiku-4-5-20251001-v1:0")
    complete = r.route("complete")
    assert (complete.provider.name, complete.model) == ("bedrock", "anthropic.claude-haiku-4-5-20251001-v1:0")
    assert r.route("edit").provider.name == "anthropic"
    assert "names it" in complete.reason
    with pytest.raises(errors.ConfigError, match="only chat"):
        router(tmp_path, provider="bedrock", aws_region="us-east-1", complete_format="fim").route("complete")


def test_a_routed_call_reaches_the_cloud_and_its_usage_is_recorded(tmp_path, monkeypatch, aws, fake):
    monkeypatch.setenv("ANTHROPIC_BEDROCK_BASE_URL", fake.url)  # the SDK's own setting, as for a gateway
    r = router(tmp_path, edit_model="bedrock:eu.anthropic.claude-sonnet-5-5", aws_region="eu-central-1")
    fake.script(Turn([ScriptText("x = 1")], usage={"input_tokens": 1200, "output_tokens": 40}))
    reply = r.route("edit").stream(Request(messages=(Message.user("Set x."),), max_tokens=64)).final()
    assert reply.text == "x = 1" and reply.usage.input_tokens == 1200
    assert model_requests(fake)[-1].path == "/model/eu.anthropic.claude-sonnet-5-5/invoke-with-response-stream"
    usage = r.notebook_usage()["edit"]
    assert (usage["calls"], usage["input_tokens"], usage["output_tokens"]) == (1, 1200, 40)
    assert usage["estimated_cost_usd"] > 0  # priced as the Claude model behind the Bedrock id


def test_anthropic_default_headers_reach_the_api_and_only_their_names_are_shown(tmp_path, claude):
    headers = {"x-portkey-api-key": "pk-live-0123456789abcdef", "x-portkey-provider": "anthropic"}
    r = router(tmp_path, anthropic_default_headers=headers)
    route = r.route("edit")
    assert route.stream(Request(messages=(Message.user("hi"),), max_tokens=16)).final().text == "ok"
    sent = claude.requests[-1].headers
    assert (sent["x-portkey-api-key"], sent["x-portkey-provider"]) == tuple(headers.values())
    assert "extra headers x-portkey-api-key, x-portkey-provider" in route.reason
    assert "pk-live" not in route.reason and "pk-live" not in json.dumps(
        route.provider.payload(Request(messages=(Message.user("hi"),), model=route.model, max_tokens=16))
    )
    assert "anthropic_default_headers" in SECRET_SETTINGS  # not listed by %layers config, not set from a cell


def test_default_headers_are_signed_into_bedrock_requests(aws, fake):
    provider = bedrock_provider(fake, default_headers={"x-gateway-team": "data-science"})
    request = Request(messages=(Message.user("hi"),), model=BEDROCK_DEFAULTS["edit"], max_tokens=16)
    assert provider.stream(request).final().text == "ok"
    sent = model_requests(fake)[-1]
    assert sent.headers["x-gateway-team"] == "data-science" and sent.status == 200
    assert "x-gateway-team" in sent.headers["authorization"]  # among the SignedHeaders
