"""The project's errors: each one renders as a single line with a hint, never a traceback.

Surfaces (magics, the server, the command line) show ``str(error)``; providers translate their SDK's
exceptions into these so every layer handles one vocabulary.
"""

from __future__ import annotations


class LayersError(Exception):
    """Base class. ``message`` says what went wrong, ``hint`` what the user can do about it."""

    hint = ""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


class ConfigError(LayersError):
    hint = "check `%layers status` or your jupyter_layers configuration"


class MissingKeyError(ConfigError):
    hint = "set ANTHROPIC_API_KEY, or c.JupyterLayers.provider = 'embedded' to stay offline"


class AuthenticationFailed(LayersError):
    hint = "check that the API key is valid and allowed to use this model"


class ModelNotFound(LayersError):
    hint = "check the model id for this layer (`%layers status` lists them)"


class BadRequest(LayersError):
    hint = "the provider rejected the request; try a smaller context budget"


class RateLimited(LayersError):
    hint = "wait a moment and try again, or use a smaller model for this layer"

    def __init__(self, message: str, retry_after: float | None = None, hint: str | None = None):
        super().__init__(message, hint)
        self.retry_after = retry_after


class Overloaded(LayersError):
    hint = "the provider is overloaded; try again shortly"


class ProviderError(LayersError):
    hint = "the provider failed on its side; try again"


class ConnectionFailed(LayersError):
    hint = "check the network connection and the provider's base URL"


class TimedOut(LayersError):
    hint = "the model stopped answering; try again or raise the timeout"


class StreamInterrupted(LayersError):
    """The answer broke off part way; what was already shown stays, nothing is retried into duplicate text."""

    hint = "the answer above is incomplete; run the request again"


class EmbeddedModelUnavailable(ConfigError):
    hint = "install the offline model with `pip install 'jupyter_layers[local]'`, or set ANTHROPIC_API_KEY"


class UnusableAnswer(LayersError):
    """A model's answer that is no answer (it echoes the prompt, loops on one passage, makes no progress): this one
    line is shown in its place (``engine.junk.unusable`` names the model and the layer)."""

    hint = "set ANTHROPIC_API_KEY, or point c.JupyterLayers.openai_base_url to a local server"
