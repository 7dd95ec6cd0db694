"""The one place that decides which provider and model serve which layer."""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass

from ..config import ANTHROPIC_DEFAULTS, EMBEDDED_DEFAULTS, LAYERS, PROVIDERS, JupyterLayers
from ..errors import ConfigError
from .base import Provider
from .messages import Request, Thinking
from .stream import ModelStream

# Model names of code models that are trained for fill-in-the-middle (an OpenAI-compatible server's model list
# says nothing about it): Qwen2.5/3-Coder, DeepSeek-Coder, CodeGemma, StarCoder2, Codestral, Code Llama...
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
        return self.provider.stream(self.prepare(request))


def split_model_spec(spec: str) -> tuple[str | None, str]:
    """'openai:qwen2.5-coder:7b' -> ('openai', 'qwen2.5-coder:7b'); without a provider prefix, colons stay."""
    prefix, sep, rest = spec.partition(":")
    if sep and prefix.lower() in PROVIDERS:
        return prefix.lower(), rest
    return None, spec


def has_anthropic_key(config: JupyterLayers) -> bool:
    return bool(
        config.anthropic_api_key or os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")
    )


class Router:
    """Resolves layers to routes from the current configuration (re-read on every call, so ``%config`` applies)."""

    def __init__(self, config: JupyterLayers | None = None):
        self.config = config or JupyterLayers()
        self._providers: dict[tuple, Provider] = {}
        self._notice_shown = False

    def default_provider(self) -> str:
        if self.config.provider != "auto":
            return self.config.provider
        if has_anthropic_key(self.config):
            return "anthropic"
        if self.config.openai_base_url:
            return "openai"
        return "embedded"

    def route(self, layer: str, model: str = "") -> Route:
        """The route for ``layer``; ``model`` (a spec such as 'claude-opus-5-5' or 'openai:llama3') overrides config."""
        if layer not in LAYERS:
            raise ConfigError(f"unknown layer {layer!r}; the layers are {', '.join(LAYERS)}")
        explicit, model_id = split_model_spec(model or getattr(self.config, f"{layer}_model"))
        provider_name = explicit or self.default_provider()
        provider = self.provider(provider_name)
        if provider_name == "anthropic":
            model_id = model_id or ANTHROPIC_DEFAULTS[layer]
        elif provider_name == "openai":
            model_id = model_id or self.config.openai_model
            if not model_id:
                raise ConfigError("no model name for the OpenAI-compatible server", "set c.JupyterLayers.openai_model")
        else:
            model_id = provider.resolve(model_id or self.config.gguf_path or EMBEDDED_DEFAULTS[layer])
        prompt_format = self.completion_format(provider_name, provider, model_id) if layer == "complete" else "chat"
        thinking = None
        if layer == "escalate" and self.config.escalate_thinking != "off":
            thinking = Thinking(self.config.escalate_thinking, self.config.thinking_budget, self.config.escalate_effort)
        max_tokens, window = self.config.layer_max_tokens(layer), None
        if provider_name == "embedded":  # a small local context: the answer may take at most half of it
            window = self.config.embedded_context
            max_tokens = min(max_tokens, window // 2)
        return Route(layer, provider, model_id, max_tokens, thinking, window, prompt_format)

    def completion_format(self, provider_name: str, provider: Provider, model_id: str) -> str:
        """The configured complete_format, or the one that suits the model (``auto``)."""
        chosen = self.config.complete_format
        if provider_name == "anthropic":
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
            key = ("anthropic", c.anthropic_api_key, c.anthropic_base_url, c.request_timeout, c.max_retries)
        elif name == "openai":
            key = ("openai", c.openai_base_url, c.openai_api_key, c.request_timeout, c.max_retries)
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
                c.anthropic_api_key or None, c.anthropic_base_url or None, c.request_timeout, c.max_retries
            )
        if name == "openai":
            from .openai_compat import OpenAICompatProvider

            if not c.openai_base_url:
                raise ConfigError(
                    "the OpenAI-compatible provider needs a base URL", "set c.JupyterLayers.openai_base_url"
                )
            return OpenAICompatProvider(c.openai_base_url, c.openai_api_key or None, c.request_timeout, c.max_retries)
        from .embedded import EmbeddedProvider

        return EmbeddedProvider(threads=c.embedded_threads or None, context=c.embedded_context)

    def offline_notice(self) -> str | None:
        """Said once per process when 'auto' fell back to the embedded model because no key is configured."""
        if self._notice_shown or self.config.provider != "auto" or self.default_provider() != "embedded":
            return None
        self._notice_shown = True
        return (
            "jupyter_layers: no ANTHROPIC_API_KEY, so the embedded offline models serve every layer "
            "(Gemma 3 270M completes code, SmolLM2-135M-Instruct the other layers). "
            "Set ANTHROPIC_API_KEY to use Claude."
        )
