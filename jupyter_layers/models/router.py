"""The one place that decides which provider and model serve which layer."""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..config import (
    ANTHROPIC_DEFAULTS,
    BEDROCK_DEFAULTS,
    EMBEDDED_DEFAULTS,
    LAYERS,
    PROVIDERS,
    VERTEX_DEFAULTS,
    JupyterLayers,
)
from ..errors import ConfigError
from ..limits import Limits
from ..metering import Meter
from ..usage import Price, price
from ..usage_record import UsageRecord
from .base import Provider
from .discovery import listed_model, openai_server
from .messages import Request, Thinking
from .openai_responses import chosen_api
from .relay import Relay, RelayProvider
from .stream import ModelStream

# Model names of code models that are trained for fill-in-the-middle (an OpenAI-compatible server's model list
# says nothing about it): Qwen2.5/3-Coder, DeepSeek-Coder, CodeGemma, StarCoder2, Codestral, Code Llama...
# Claude's providers: the Anthropic API and the clouds' (models/clouds.py), all chat-only and with default models.
CLAUDE_DEFAULTS = {"anthropic": ANTHROPIC_DEFAULTS, "bedrock": BEDROCK_DEFAULTS, "vertex": VERTEX_DEFAULTS}
FIM_MODEL_NAMES = re.compile(r"coder|codegemma|starcoder|codestral|codellama|code-llama|stable-code|codeqwen", re.I)


@dataclass(frozen=True)
class Route:
    """A layer bound to a provider and a model, with that layer's answer size and thinking settings."""

    layer: str
    provider: Provider
    model: str
    max_tokens: int
    thinking: Thinking | None = None
    context_window: int | None = None  # known only for the embedded model; the APIs' windows are far larger
    prompt_format: str = "chat"  # layer 1: "chat", "fim" or "continue" (config.complete_format)
    reason: str = ""  # why this provider and model (`%layers status` says it)
    meter: Meter | None = None  # the spending caps and the usage record its calls count against
    price: Price | None = None  # (input, output) USD per million tokens; None: free (local) or not known

    def prompt_budget(self, budget: int) -> int:
        """The layer's prompt budget, within what the model can read beside its answer."""
        if self.context_window is None:
            return budget
        return max(256, min(budget, self.context_window - self.max_tokens - 128))

    @property
    def label(self) -> str:
        return self.provider.describe(self.model)

    def prepare(self, request: Request) -> Request:
        """Fill in what the layer decides: model, answer size and thinking (unless the caller set them)."""
        return dataclasses.replace(
            request,
            model=request.model or self.model,
            thinking=request.thinking or self.thinking,
            max_tokens=request.max_tokens or self.max_tokens,
        )

    def stream(self, request: Request) -> ModelStream:
        """The one way a layer calls its model: checked against the caps first, its usage recorded."""
        request = self.prepare(request)
        if self.meter is None:
            return self.provider.stream(request)
        events = functools.partial(self.provider.events, request)
        return ModelStream(lambda: self.meter.recorded(self.layer, self.price, request, events), request.model)


def split_model_spec(spec: str) -> tuple[str | None, str]:
    """'openai:qwen2.5-coder:7b' -> ('openai', 'qwen2.5-coder:7b'); without a provider prefix, colons stay."""
    prefix, sep, rest = spec.partition(":")
    if sep and prefix.lower() in PROVIDERS:
        return prefix.lower(), rest
    return None, spec


def has_anthropic_key(config: JupyterLayers) -> bool:
    return bool(
        config.anthropic_api_key
        or config.anthropic_auth_token
        or os.environ.get("ANTHROPIC_API_KEY")
        or os.environ.get("ANTHROPIC_AUTH_TOKEN")
    )


class Router:
    """Resolves layers to routes from the current configuration (re-read on every call, so ``%config`` applies)."""

    def __init__(
        self,
        config: JupyterLayers | None = None,
        record: UsageRecord | None = None,
        notebook: str = "",
        notebook_id: Callable[[str], str] = str,
        relay: Relay | None = None,
    ):
        """``record``: where usage is kept (default: the user's file in the Jupyter data directory); ``notebook``:
        the notebook every call is for unless a route names one; ``notebook_id``: its stable id from its path;
        ``relay``: in a kernel of a Jupyter server that holds the keys, the server decides every route."""
        self.config = config or JupyterLayers()
        self.record = record or UsageRecord()
        self.notebook, self.notebook_id = notebook, notebook_id
        self.relay = relay
        self._providers: dict[tuple, Provider] = {}
        self._notice_shown = False

    @property
    def limits(self) -> Limits:
        return Limits.of(self.config)

    def default_provider(self) -> str:
        return self.choose_provider()[0]

    def choose_provider(self) -> tuple[str, str]:
        """(provider, why): what ``provider = "auto"`` finds, in the order a user expects."""
        if self.config.provider != "auto":
            return self.config.provider, "c.JupyterLayers.provider is set"
        if has_anthropic_key(self.config):
            return "anthropic", "an Anthropic key is set"
        server = openai_server(self.config.openai_base_url)
        if server:
            return "openai", server[1]
        return "embedded", "no Anthropic key and no model server is set"

    def openai_base_url(self) -> str:
        server = openai_server(self.config.openai_base_url)
        if server is None:
            raise ConfigError(
                "the OpenAI-compatible provider needs a base URL",
                "set c.JupyterLayers.openai_base_url, or OPENAI_BASE_URL / OLLAMA_HOST",
            )
        return server[0]

    def openai_model(self) -> tuple[str, str]:
        """(model, why) on the OpenAI-compatible server: the configured one, or the first the server lists."""
        if self.config.openai_model:
            return self.config.openai_model, "c.JupyterLayers.openai_model"
        c = self.config
        first, count = listed_model(self.openai_base_url(), c.openai_api_key, c.request_timeout)
        return first, f"the first of the {count} models the server lists" if count > 1 else "the model the server lists"

    def route(self, layer: str, model: str = "", notebook: str = "") -> Route:
        """The route for ``layer``; ``model`` (a spec such as 'claude-opus-5-5' or 'openai:llama3') overrides config;
        ``notebook``: the notebook the call is for (its usage is recorded under it)."""
        if layer not in LAYERS:
            raise ConfigError(f"unknown layer {layer!r}; the layers are {', '.join(LAYERS)}")
        spec = model or getattr(self.config, f"{layer}_model")
        if self.relay is not None:
            return self.relayed(layer, spec)
        explicit, model_id = split_model_spec(spec)
        provider_name, why = (explicit, f"the model {spec!r} names it") if explicit else self.choose_provider()
        model_why = ("asked for" if model else f"c.JupyterLayers.{layer}_model") if model_id else "the layer's default"
        self.limits.check_provider(provider_name)
        provider = self.provider(provider_name)
        if provider_name in CLAUDE_DEFAULTS:
            model_id = model_id or CLAUDE_DEFAULTS[provider_name][layer]
        elif provider_name == "openai":
            if not model_id:
                model_id, model_why = self.openai_model()
        else:
            model_id = provider.resolve(model_id or self.config.gguf_path or EMBEDDED_DEFAULTS[layer])
        reason = f"{why}; model: {model_why}"
        if provider_name in CLAUDE_DEFAULTS and self.config.anthropic_default_headers:  # names only: values may be keys
            reason += f"; extra headers {', '.join(sorted(self.config.anthropic_default_headers))}"
        if provider_name == "openai" and chosen_api(self.config.openai_api, model_id) == "responses":
            reason += "; through the Responses API (c.JupyterLayers.openai_api)"
        self.limits.check_model(provider_name, model_id)
        prompt_format = self.completion_format(provider_name, provider, model_id) if layer == "complete" else "chat"
        thinking = None
        if layer == "escalate" and self.config.escalate_thinking != "off":
            thinking = Thinking(self.config.escalate_thinking, self.config.thinking_budget, self.config.escalate_effort)
        max_tokens, window = self.config.layer_max_tokens(layer), None
        if provider_name == "embedded":  # a small local context: the answer may take at most half of it
            window = self.config.embedded_context
            max_tokens = min(max_tokens, window // 2)
        notebook = notebook or self.notebook
        meter = Meter(self.limits, self.record, notebook, self.notebook_id(notebook))
        price_per_million = price(model_id, self.config.model_prices)
        return Route(
            layer, provider, model_id, max_tokens, thinking, window, prompt_format, reason, meter, price_per_million
        )

    def relayed(self, layer: str, spec: str) -> Route:
        """The route the Jupyter server decided (its limits apply there), with a provider that calls through it."""
        remote = self.relay.route(layer, spec)
        provider = RelayProvider(self.relay, remote.provider, layer, spec)
        return Route(
            layer,
            provider,
            remote.model,
            remote.max_tokens,
            remote.thinking,
            remote.context_window,
            remote.prompt_format,
            f"{remote.reason}; through the Jupyter server, which holds the keys",
            price=remote.price,
        )

    def spending(self) -> dict:
        """The limits that apply and what this user spent (the server's, for a relayed kernel)."""
        if self.relay is not None:
            return self.relay.call("usage", {})["spending"]
        today, month = self.record.spent()
        return {
            "user": self.record.user,
            "limits": self.limits.to_dict(),
            "spent": {"today_usd": round(today, 6), "month_usd": round(month, 6)},
        }

    def notebook_usage(self, notebook: str = "") -> dict:
        """Per layer, what the notebook used over all its sessions."""
        if self.relay is not None:
            return self.relay.call("usage", {})["notebook"]
        return self.record.notebook(self.notebook_id(notebook or self.notebook))

    def completion_format(self, provider_name: str, provider: Provider, model_id: str) -> str:
        """The configured complete_format, or the one that suits the model (``auto``)."""
        chosen = self.config.complete_format
        if provider_name in CLAUDE_DEFAULTS:
            if chosen in ("fim", "continue"):
                raise ConfigError(
                    f"Anthropic's models only chat: complete_format {chosen!r} needs a completion model",
                    "set c.JupyterLayers.complete_format = 'auto', or complete_model to 'openai:...' or 'embedded:...'",
                )
            return "chat"
        if chosen != "auto":
            return chosen
        if provider_name == "openai":
            return "fim" if FIM_MODEL_NAMES.search(model_id) else "chat"
        return provider.completion_format(model_id)

    def provider(self, name: str) -> Provider:
        c = self.config
        if name == "anthropic":
            key = ("anthropic", c.anthropic_api_key, c.anthropic_auth_token, c.anthropic_base_url, c.request_timeout)
            key += (c.max_retries, tuple(sorted(c.anthropic_default_headers.items())))
        elif name in ("bedrock", "vertex"):  # credentials are the cloud's, read when a call is made
            key = (name, c.aws_region, c.vertex_region, c.vertex_project_id, c.request_timeout, c.max_retries)
            key += (tuple(sorted(c.anthropic_default_headers.items())),)
        elif name == "openai":
            key = ("openai", self.openai_base_url(), c.openai_api_key, c.request_timeout, c.max_retries, c.openai_api)
        else:
            key = ("embedded", c.embedded_threads, c.embedded_context)
        if key not in self._providers:
            self._providers[key] = self._make(name)
        return self._providers[key]

    def _make(self, name: str) -> Provider:
        c = self.config
        if name == "anthropic":
            from .anthropic import AnthropicProvider

            return AnthropicProvider(
                c.anthropic_api_key or None,
                c.anthropic_base_url or None,
                c.request_timeout,
                c.max_retries,
                c.anthropic_auth_token or None,
                dict(c.anthropic_default_headers),
            )
        if name == "bedrock":
            from .clouds import BedrockProvider

            return BedrockProvider(
                c.aws_region, None, c.request_timeout, c.max_retries, dict(c.anthropic_default_headers)
            )
        if name == "vertex":
            from .clouds import VertexProvider

            return VertexProvider(
                c.vertex_region,
                c.vertex_project_id,
                None,
                c.request_timeout,
                c.max_retries,
                dict(c.anthropic_default_headers),
            )
        if name == "openai":
            from .openai_compat import OpenAICompatProvider

            return OpenAICompatProvider(
                self.openai_base_url(), c.openai_api_key or None, c.request_timeout, c.max_retries, c.openai_api
            )
        from .embedded import EmbeddedProvider

        return EmbeddedProvider(threads=c.embedded_threads or None, context=c.embedded_context)

    def offline_notice(self) -> str | None:
        """Said once per process when 'auto' fell back to the embedded model because no key is configured."""
        if self._notice_shown or self.relay is not None:
            return None
        if self.config.provider != "auto" or self.default_provider() != "embedded":
            return None
        self._notice_shown = True
        return (
            "jupyter_layers: no ANTHROPIC_API_KEY, so the embedded offline models serve every layer "
            "(Gemma 3 270M completes code, SmolLM2-135M-Instruct the other layers). "
            "Set ANTHROPIC_API_KEY to use Claude."
        )
