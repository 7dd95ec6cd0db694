"""Claude's wire formats on Amazon Bedrock and Google Vertex AI, and Google's OAuth token endpoint, for the fake.

``model_server._Handler._route`` hands these paths here first; scripting (``Turn``, ``Fault``), the request checks
and ``server.requests`` are the fake's own, so cloud tests read like the others.

* Bedrock (InvokeModel): ``POST /model/{modelId}/invoke-with-response-stream`` (``/invoke`` unstreamed), SigV4-signed.
  The fake verifies the signature with botocore's own signer and the test credentials below, as AWS would. The
  body is the Messages API's without ``model`` and ``stream`` and with ``anthropic_version``. A stream is AWS
  event-stream framing (``application/vnd.amazon.eventstream``): one ``chunk`` message per Anthropic event, its
  payload ``{"bytes": base64(the event's JSON), "p": padding}``; the last event carries Bedrock's invocation
  metrics. Errors are ``{"message": ...}`` with an ``x-amzn-errortype`` header; in a stream, an ``exception``
  message. botocore only decodes event streams, so ``event_frame`` encodes them (tests decode it with botocore).
* Vertex AI: ``POST /v1/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:streamRawPredict``
  (``:rawPredict``) with ``Authorization: Bearer`` and a token from ``POST /token``, the ``token_uri`` of a test's
  service-account file, which grants it for a JWT signed with a key in ``SERVICE_ACCOUNT_KEYS``. The body keeps
  ``stream`` and has ``anthropic_version``, not ``model``; the replies are the Messages API's. Google's own refusals
  (credentials, unknown model) come in Google's error shape.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import re
import struct
import time
import uuid
import zlib
from typing import Any
from urllib.parse import parse_qs, unquote

from .model_server import (
    Fault,
    _anthropic_message,
    _anthropic_stream,
    _check_anthropic,
    _new_id,
    _Script,
)

# The only AWS credentials the fake accepts (SigV4 is checked with the secret, as AWS does).
AWS_ACCESS_KEY_ID = "AKIAFAKEJUPYTERLAYERS"
AWS_SECRET_ACCESS_KEY = "fake/secret/access/key/of/the/fake/server0"
BEDROCK_CONTENT_TYPE = "application/vnd.amazon.eventstream"
TOKEN_PATH = "/token"
# What google-auth puts in a service account's JWT as its audience, whatever the token_uri (Google's endpoint).
JWT_AUDIENCE = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"

_BEDROCK_PATH = re.compile(r"/model/(?P<model>[^/]+)/(?P<operation>invoke|invoke-with-response-stream)")
_VERTEX_PATH = re.compile(
    r"/v1/projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)/publishers/anthropic/models/"
    r"(?P<model>[^/:]+):(?P<operation>rawPredict|streamRawPredict)"
)
# Bedrock ids: a cross-region inference profile's geography (optional), `anthropic.`, the model, a version suffix.
_BEDROCK_MODEL = re.compile(
    r"(?:(?:global|us|us-gov|eu|apac|jp|au|ca)\.)?anthropic\.(claude-[a-z0-9-]+?)(?:-v\d+(?::\d+)?)?"
)
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})"
)
_AWS_ERROR_TYPES = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
_GOOGLE_STATUS = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}
_TOKEN_SECRET = os.urandom(16)  # tokens are checked by their MAC: any fake in this process accepts its tokens
# Service accounts' public keys by key id, as Google keeps them: a test registers its throwaway key here.
SERVICE_ACCOUNT_KEYS: dict[str, Any] = {}


# --------------------------------------------------------------------------------------------------
# AWS event-stream framing


def event_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude (total length, headers length, their CRC32), string headers (type 7),
    payload, and the CRC32 of all that precedes it."""
    encoded = b"".join(_string_header(name.encode(), value.encode()) for name, value in headers.items())
    prelude = struct.pack("!II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    message = prelude + struct.pack("!I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack("!I", zlib.crc32(message))


def _string_header(name: bytes, value: bytes) -> bytes:
    return struct.pack("!B", len(name)) + name + struct.pack("!BH", 7, len(value)) + value


def bedrock_chunk(event: dict[str, Any]) -> bytes:
    """One Anthropic streaming event as Bedrock frames it; ``p`` is the random-length padding Bedrock adds."""
    data = json.dumps(event).encode()
    payload = {"bytes": base64.b64encode(data).decode(), "p": "abcdefghijklmnopqrstuvwxyz"[: len(data) % 26]}
    headers = {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
    return event_frame(headers, json.dumps(payload).encode())


def bedrock_exception(kind: str, message: str) -> bytes:
    """An error in the middle of a Bedrock stream (``modelStreamErrorException``, ``throttlingException``...)."""
    headers = {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"}
    return event_frame(headers, json.dumps({"message": message}).encode())


def _sse_data(event: bytes) -> dict[str, Any]:
    """The JSON of one of the fake's SSE events (``event: ...\\ndata: {...}\\n\\n``)."""
    return json.loads(event.decode().partition("\ndata: ")[2])


def _bedrock_script(script: _Script, usage: dict[str, int], started: float) -> _Script:
    """The fake's Anthropic stream in Bedrock's framing: pings stay behind, metrics ride on ``message_stop``."""

    def frame(event: bytes) -> bytes:
        data = _sse_data(event)
        if data["type"] == "message_stop":
            latency = max(1, int((time.monotonic() - started) * 1000))
            data["amazon-bedrock-invocationMetrics"] = {
                "inputTokenCount": usage["input_tokens"],
                "outputTokenCount": usage["output_tokens"],
                "invocationLatency": latency,
                "firstByteLatency": latency,
            }
        return bedrock_chunk(data)

    overloaded = bedrock_exception("modelStreamErrorException", "Overloaded")
    return _Script(
        [frame(event) for event in script.head if _sse_data(event)["type"] != "ping"],
        [(is_delta, frame(event)) for is_delta, event in script.body],
        [frame(event) for event in script.tail],
        overloaded,
    )


# --------------------------------------------------------------------------------------------------
# Model ids


def bedrock_model(model_id: str) -> str | None:
    """The Anthropic id behind a Bedrock model or inference-profile id, None for what Bedrock would not know."""
    match = _BEDROCK_MODEL.fullmatch(model_id)
    return match[1] if match else None


def vertex_model(model_id: str) -> str:
    """Vertex AI names dated models ``claude-sonnet-4-5@20250929``; newer ones as Anthropic does."""
    return model_id.replace("@", "-")


def _known(fake, model: str | None) -> str | None:
    """The model as the fake knows it (dated ids also by their alias), or None."""
    if model is None:
        return None
    undated = re.sub(r"-\d{8}$", "", model)
    return model if model in fake.models else undated if undated in fake.models else None


# --------------------------------------------------------------------------------------------------
# Authentication


def sigv4_problem(handler, headers: dict[str, str], raw: bytes) -> tuple[int, str, str] | None:
    """(status, AWS error type, message) when the SigV4 signature is missing or wrong; botocore recomputes it."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    found = _AUTHORIZATION.fullmatch(headers.get("authorization", ""))
    if found is None or "x-amz-date" not in headers:
        return 403, "MissingAuthenticationTokenException", "Missing Authentication Token"
    if found["key"] != AWS_ACCESS_KEY_ID:
        return 403, "UnrecognizedClientException", "The security token included in the request is invalid."
    signed = {name: headers.get(name, "") for name in found["signed"].split(";")}
    request = AWSRequest(
        method=handler.command, url=f"http://{headers['host']}{handler.path}", headers=signed, data=raw
    )
    request.context["timestamp"] = headers["x-amz-date"]
    credentials = Credentials(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, headers.get("x-amz-security-token"))
    signer = SigV4Auth(credentials, found["service"], found["region"])
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if found["service"] != "bedrock" or not hmac.compare_digest(expected, found["signature"]):
        return (
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
            "Access Key and signing method. Consult the service documentation for details.",
        )
    return None


def issue_token() -> str:
    nonce = os.urandom(12).hex()
    return f"ya29.{nonce}.{hmac.new(_TOKEN_SECRET, nonce.encode(), 'sha256').hexdigest()[:32]}"


def token_valid(token: str) -> bool:
    nonce, _, mac = token.removeprefix("ya29.").partition(".")
    return hmac.compare_digest(mac, hmac.new(_TOKEN_SECRET, nonce.encode(), "sha256").hexdigest()[:32])


def _jwt_claims(assertion: str) -> dict[str, Any] | None:
    """The claims of a JWT signed (RS256) with a registered service-account key; None for any other."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    parts = assertion.split(".")
    if len(parts) != 3:
        return None
    header, claims, signature = (base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)) for part in parts)
    header, claims = json.loads(header), json.loads(claims)
    key = SERVICE_ACCOUNT_KEYS.get(header.get("kid"))
    if header.get("alg") != "RS256" or key is None:
        return None
    try:
        key.verify(signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return None
    return claims


# --------------------------------------------------------------------------------------------------
# Serving


def serve(handler, path: str, headers: dict[str, str], body: Any, raw: bytes) -> bool:
    """Answer a cloud or OAuth request and return True; False for every other path."""
    if handler.command != "POST":
        return False
    if path == TOKEN_PATH:
        handler.record.api = "google-oauth"
        _token(handler, raw)
        return True
    if found := _BEDROCK_PATH.fullmatch(path):
        handler.record.api = handler.api = "bedrock"
        _bedrock(handler, headers, body, raw, unquote(found["model"]), found["operation"] != "invoke")
        return True
    if found := _VERTEX_PATH.fullmatch(path):
        handler.record.api, handler.api = "vertex", "anthropic"  # past Google's checks, the replies are Anthropic's
        _vertex(handler, headers, body, raw, found)
        return True
    return False


def _grant_problem(claims: dict[str, Any] | None) -> str | None:
    """What Google's token endpoint says against a service account's JWT, in its words."""
    if claims is None:
        return "Invalid JWT Signature."
    if not claims.get("iat", 0) - 300 <= time.time() < claims.get("exp", 0):
        return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
    if claims.get("aud") != JWT_AUDIENCE:
        return "Invalid JWT audience."
    if CLOUD_PLATFORM_SCOPE not in str(claims.get("scope", "")).split():
        return "Invalid OAuth scope or ID token audience provided."
    return None


def _token(handler, raw: bytes) -> None:
    """Google's OAuth 2.0 token endpoint for a service account's signed JWT (RFC 7523)."""
    form = {name: values[0] for name, values in parse_qs(raw.decode()).items()}
    if form.get("grant_type") != JWT_BEARER:
        handler._json(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."})
        return
    problem = _grant_problem(_jwt_claims(form.get("assertion", "")))
    if problem:
        handler._json(400, {"error": "invalid_grant", "error_description": problem})
        return
    handler._json(200, {"access_token": issue_token(), "expires_in": 3599, "token_type": "Bearer"})


def _model_request(handler, body: Any, model: str) -> tuple[dict[str, Any], str | None]:
    """The body with the model from the URL put back, and what the Messages API would say against it."""
    fake = handler.server.fake
    if not isinstance(body, dict):
        return {}, "There was an error parsing the body of your request as JSON"
    for extra in ("model", "stream") if handler.api == "bedrock" else ("model",):
        if extra in body:
            return body, f"{extra}: Extra inputs are not permitted"
    if not isinstance(body.get("anthropic_version"), str) or not body["anthropic_version"]:
        return body, "anthropic_version: Field required"
    full = {key: value for key, value in body.items() if key != "anthropic_version"} | {"model": model}
    problem = _check_anthropic(full, needs_max_tokens=True, signatures=fake._signatures)
    thinking = full.get("thinking") if isinstance(full.get("thinking"), dict) else {}
    if not problem and thinking.get("type") == "adaptive" and fake.refuses_adaptive(model):
        problem = "adaptive thinking is not supported on this model"
    return full, problem


def _reply(handler, full: dict[str, Any], model: str, streamed: bool, on_fault, frame=None) -> None:
    """Consume the next scripted item and answer it, streamed in SSE or (``frame``) Bedrock's framing."""
    fake = handler.server.fake
    item = fake._next_item(handler.record)
    if type(item).__name__ == "Fault":  # by name: under `python -m tests.fakes.model_server` the classes are __main__'s
        on_fault(item)
        return
    fake._remember_signatures(item)
    usage = fake._anthropic_usage(full, item)
    message_id = _new_id("msg_bdrk_" if frame else "msg_vrtx_")  # as each cloud names its messages
    if not streamed:
        handler._unstreamed(item, _anthropic_message(item, message_id, item.model or model, usage))
        return
    script = _anthropic_stream(item, message_id, item.model or model, usage)
    if frame is None:
        handler._play(item, script)
    else:
        handler._play(item, frame(script, usage), BEDROCK_CONTENT_TYPE)


def _bedrock(handler, headers: dict[str, str], body: Any, raw: bytes, model_id: str, streamed: bool) -> None:
    fake = handler.server.fake

    def error(status: int, kind: str, message: str) -> None:
        kind_header = f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"
        request_id = str(uuid.uuid4())
        handler._json(status, {"message": message}, {"x-amzn-errortype": kind_header, "x-amzn-requestid": request_id})

    bearer = headers.get("authorization", "")
    if bearer.startswith("Bearer "):  # a Bedrock API key (AWS_BEARER_TOKEN_BEDROCK)
        refused = None if bearer[7:] == fake.api_key else (403, "AccessDeniedException", "Invalid API Key format")
    else:
        refused = sigv4_problem(handler, headers, raw)
    if refused:
        error(*refused)
        return
    model = _known(fake, bedrock_model(model_id))
    if model is None:
        error(400, "ValidationException", "The provided model identifier is invalid.")
        return
    full, problem = _model_request(handler, body, model)
    if problem:
        error(400, "ValidationException", problem)
        return

    def fault(item: Fault) -> None:
        fallback = "InternalServerException" if item.status >= 500 else "ValidationException"
        error(item.status, _AWS_ERROR_TYPES.get(item.status, fallback), item.message)

    started = time.monotonic()
    _reply(handler, full, model, streamed, fault, lambda script, usage: _bedrock_script(script, usage, started))


def _vertex(handler, headers: dict[str, str], body: Any, raw: bytes, found: re.Match) -> None:
    fake = handler.server.fake

    def google_error(status: int, message: str) -> None:
        handler._json(status, {"error": {"code": status, "message": message, "status": _GOOGLE_STATUS[status]}})

    def anthropic_error(status: int, kind: str, message: str) -> None:
        handler._json(status, {"type": "error", "error": {"type": kind, "message": message}})

    token = headers.get("authorization", "").removeprefix("Bearer ")
    if not (token_valid(token) or (fake.api_key and token == fake.api_key)):
        google_error(
            401,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
            "valid authentication credential.",
        )
        return
    model_id = unquote(found["model"])
    model = _known(fake, vertex_model(model_id))
    if model is None:
        name = f"projects/{found['project']}/locations/{found['region']}/publishers/anthropic/models/{model_id}"
        google_error(404, f"Publisher Model `{name}` not found.")
        return
    full, problem = _model_request(handler, body, model)
    if problem:
        anthropic_error(400, "invalid_request_error", problem)
        return
    streamed = bool(full.get("stream"))
    _reply(handler, full, model, streamed, lambda item: anthropic_error(item.status, item.error_type, item.message))
