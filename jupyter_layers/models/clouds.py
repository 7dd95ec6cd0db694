"""Claude on Amazon Bedrock and Google Vertex AI, through the anthropic SDK's own clients.

Only the client and the model's name differ from the Anthropic API. The SDK moves the model into the URL and
``anthropic_version`` into the body, signs Bedrock's requests with SigV4 (boto3's credentials) and Vertex AI's with
a Google OAuth token (google-auth's), and turns Bedrock's AWS event stream back into the Messages API's events; the
payload, streaming, thinking and error translation are ``AnthropicProvider``'s. Credentials come from where the
clouds' own tools keep them (environment, ~/.aws, GOOGLE_APPLICATION_CREDENTIALS, gcloud), never from a notebook.
"""

from __future__ import annotations

import abc
import asyncio
import importlib
import os
from collections.abc import AsyncIterator

import anthropic
from anthropic._constants import ANTHROPIC_API_VERSION  # what the SDK's cloud clients put in the body

from .. import errors
from .anthropic import AnthropicProvider
from .events import Event
from .messages import Request

AWS_CREDENTIALS_HINT = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (~/.aws/config; `aws sso login` for SSO), "
    "or AWS_BEARER_TOKEN_BEDROCK"
)
GOOGLE_CREDENTIALS_HINT = (
    "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file"
)
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def _require(module: str, extra: str, library: str):
    """The cloud's library, or one line that says which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise errors.ConfigError(
            f"the {extra} provider needs {library}", f"pip install 'jupyter_layers[{extra}]'"
        ) from None


class CloudProvider(AnthropicProvider):
    """Claude through a cloud: no Anthropic key, no Models API, the cloud's credentials checked before a call."""

    # The SDK's cloud clients drop `stream` from the body (Bedrock: the URL says it) or keep it (Vertex AI).
    body_keeps_stream = False

    def __init__(self, base_url: str | None, timeout: float, max_retries: int, default_headers: dict | None):
        super().__init__(None, base_url, timeout, max_retries, default_headers=default_headers)
        self.base_url = base_url or None  # ANTHROPIC_BASE_URL is the Anthropic API's; the SDK reads the cloud's own
        self._ready = False

    def _credentials(self, api_key: str | None, auth_token: str | None) -> tuple[None, None]:
        return None, None

    def payload(self, request: Request) -> dict:
        """The body as the SDK sends it: the model goes into the URL, ``anthropic_version`` into the body."""
        body = {key: value for key, value in super().payload(request).items() if key != "model"}
        if self.body_keeps_stream:
            body["stream"] = True
        return {**body, "anthropic_version": ANTHROPIC_API_VERSION}

    async def supports_adaptive_thinking(self, model: str) -> bool | None:
        """Unknown until a request says otherwise: the clouds have no Models API, so adaptive thinking is tried
        and the refusal of an older model makes the base class fall back to a budget (and remember it)."""
        return self._adaptive.get(model)

    @abc.abstractmethod
    def check_credentials(self) -> None:
        """Find the cloud's credentials (blocking: files, perhaps a metadata server) or raise one line."""

    @abc.abstractmethod
    def credential_errors(self) -> tuple[type[Exception], ...]:
        """The cloud library's exceptions for credentials that fail while signing (an expired SSO session)."""

    async def events(self, request: Request) -> AsyncIterator[Event]:
        if not self._ready:
            await asyncio.to_thread(self.check_credentials)
            self._ready = True
        try:
            async for event in super().events(request):
                yield event
        except self.credential_errors() as exc:
            first = exc.args[0] if exc.args else exc  # google-auth's RefreshError: (message, the token response)
            message = " ".join(str(first).split())
            raise errors.AuthenticationFailed(
                f"the {self.service} credentials failed: {message}", self.credentials_hint
            ) from None


class BedrockProvider(CloudProvider):
    """Claude on Amazon Bedrock (InvokeModel), signed with SigV4 by boto3 or sent with a Bedrock API key."""

    name = "bedrock"
    service = "Bedrock"
    credentials_hint = AWS_CREDENTIALS_HINT

    def __init__(
        self,
        region: str = "",
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        default_headers: dict[str, str] | None = None,
    ):
        _require("boto3", "bedrock", "boto3")  # before anything else: the missing extra is the problem to name
        self.region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        self.region = self.region or self._session().region_name  # the profile's region (~/.aws/config)
        if not self.region:
            raise errors.ConfigError(
                "no AWS region for Bedrock", "set c.JupyterLayers.aws_region, AWS_REGION or your profile's region"
            )
        super().__init__(base_url, timeout, max_retries, default_headers)

    def _session(self):
        """boto3's session: the same environment, profile and files the SDK signs with."""
        boto3 = _require("boto3", "bedrock", "boto3")
        from botocore.exceptions import BotoCoreError

        try:
            return boto3.Session()
        except BotoCoreError as exc:  # AWS_PROFILE names no profile, a config file does not parse
            raise errors.ConfigError(f"the AWS configuration is unusable: {exc}", AWS_CREDENTIALS_HINT) from None

    def check_credentials(self) -> None:
        if os.environ.get("AWS_BEARER_TOKEN_BEDROCK"):  # a Bedrock API key: the SDK sends it as a bearer token
            return
        try:
            found = self._session().get_credentials()
        except self.credential_errors() as exc:  # an SSO session that expired, an assumed role refused
            message = " ".join(str(exc).split())
            raise errors.AuthenticationFailed(f"the AWS credentials failed: {message}", AWS_CREDENTIALS_HINT) from None
        if found is None:
            raise errors.MissingKeyError("no AWS credentials for Bedrock", AWS_CREDENTIALS_HINT)

    def credential_errors(self) -> tuple[type[Exception], ...]:
        from botocore.exceptions import BotoCoreError, ClientError

        return (BotoCoreError, ClientError)

    def _new_client(self) -> anthropic.AsyncAnthropicBedrock:
        return anthropic.AsyncAnthropicBedrock(
            aws_region=self.region,
            base_url=self.base_url,
            max_retries=self.max_retries,
            timeout=anthropic.Timeout(self.timeout, connect=5.0),
            default_headers=self.default_headers or None,
        )


class VertexProvider(CloudProvider):
    """Claude on Google Vertex AI, with an OAuth token from Application Default Credentials."""

    name = "vertex"
    service = "Vertex AI"
    credentials_hint = GOOGLE_CREDENTIALS_HINT
    body_keeps_stream = True

    def __init__(
        self,
        region: str = "",
        project_id: str = "",
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        default_headers: dict[str, str] | None = None,
    ):
        _require("google.auth", "vertex", "google-auth")
        self.region = region or os.environ.get("CLOUD_ML_REGION")
        if not self.region:
            raise errors.ConfigError(
                "no Google Cloud region for Vertex AI",
                "set c.JupyterLayers.vertex_region or CLOUD_ML_REGION ('global', or a region such as 'us-east5')",
            )
        self.project_id = project_id or os.environ.get("ANTHROPIC_VERTEX_PROJECT_ID") or None
        self.google_credentials = None
        super().__init__(base_url, timeout, max_retries, default_headers)

    def check_credentials(self) -> None:
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        try:
            credentials, project = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
        except DefaultCredentialsError as exc:
            problem = " ".join(str(exc).split(". ")[0].split())  # its first sentence; advice with a URL follows
            raise errors.MissingKeyError(
                f"no Google credentials for Vertex AI: {problem}", GOOGLE_CREDENTIALS_HINT
            ) from None
        self.project_id = self.project_id or project
        if not self.project_id:
            raise errors.ConfigError(
                "no Google Cloud project for Vertex AI",
                "set c.JupyterLayers.vertex_project_id or ANTHROPIC_VERTEX_PROJECT_ID",
            )
        self.google_credentials = credentials

    def credential_errors(self) -> tuple[type[Exception], ...]:
        from google.auth.exceptions import GoogleAuthError

        return (GoogleAuthError,)

    def _new_client(self) -> anthropic.AsyncAnthropicVertex:
        # The SDK refreshes the token (a POST to the credentials' token_uri) whenever it has expired.
        return anthropic.AsyncAnthropicVertex(
            region=self.region,
            project_id=self.project_id,
            credentials=self.google_credentials,
            base_url=self.base_url,
            max_retries=self.max_retries,
            timeout=anthropic.Timeout(self.timeout, connect=5.0),
            default_headers=self.default_headers or None,
        )
