"""Configuration: one traitlets class, read from jupyter/ipython config files, ``%config`` and env vars."""

from __future__ import annotations

import os

from traitlets import Bool, CaselessStrEnum, Dict, Float, Int, Unicode, default
from traitlets.config import Configurable

LAYERS = ("complete", "edit", "explore", "escalate")
PROVIDERS = ("anthropic", "openai", "embedded")

ANTHROPIC_DEFAULTS = {
    "complete": "claude-haiku-5-5",
    "edit": "claude-sonnet-5-5",
    "explore": "claude-sonnet-5-5",
    "escalate": "claude-opus-5-5",
}
# Shipped GGUF models (models/shipped_models.py): the pretrained Gemma continues code best (docs/benchmarks.md);
# the chat layers need an instruction-tuned model.
EMBEDDED_DEFAULTS = {
    "complete": "gemma3-270m",
    "edit": "smollm2-135m",
    "explore": "smollm2-135m",
    "escalate": "smollm2-135m",
}
COMPLETE_FORMATS = ("chat", "fim", "continue")
MAX_TOKENS_DEFAULTS = {"complete": 256, "edit": 4096, "explore": 4096, "escalate": 32000}
CONTEXT_BUDGET_DEFAULTS = {"complete": 2000, "edit": 8000, "explore": 50000, "escalate": 50000}


class JupyterLayers(Configurable):
    """Which models serve which layer, and how to reach them.

    Set options as ``c.JupyterLayers.<name>`` in ``jupyter_server_config.py`` / ``ipython_kernel_config.py``,
    or with ``%config JupyterLayers.<name> = ...`` in a kernel.
    """

    provider = CaselessStrEnum(
        ("auto", *PROVIDERS),
        default_value="auto",
        help="Where models run. 'auto' uses Anthropic when an API key is set, else an OpenAI-compatible server "
        "when openai_base_url is set, else the embedded offline model.",
    ).tag(config=True)

    complete_model = Unicode(
        "",
        help="Model for layer 1, inline completion. Empty: the provider's default (claude-haiku-5-5). "
        "Prefix with 'anthropic:', 'openai:' or 'embedded:' to send this layer to another provider.",
    ).tag(config=True)
    edit_model = Unicode("", help="Model for layer 2, editing selected code (default claude-sonnet-5-5).").tag(
        config=True
    )
    explore_model = Unicode("", help="Model for layer 3, the exploration agent (default claude-sonnet-5-5).").tag(
        config=True
    )
    escalate_model = Unicode(
        "", help="Model for layer 4, escalation with extended thinking (default claude-opus-5-5)."
    ).tag(config=True)

    max_tokens = Dict(
        key_trait=CaselessStrEnum(LAYERS),
        value_trait=Int(),
        help=f"Largest answer per layer, in tokens; merged over the defaults {MAX_TOKENS_DEFAULTS}.",
    ).tag(config=True)

    context_budget = Dict(
        key_trait=CaselessStrEnum(LAYERS),
        value_trait=Int(),
        help="Prompt size per layer, in (estimated) tokens, for cells, kernel state and the task together; merged "
        f"over the defaults {CONTEXT_BUDGET_DEFAULTS}.",
    ).tag(config=True)

    anthropic_api_key = Unicode("", help="Anthropic API key. Prefer the ANTHROPIC_API_KEY environment variable.").tag(
        config=True
    )
    anthropic_base_url = Unicode(
        "", help="Anthropic API base URL (default: ANTHROPIC_BASE_URL, else the public API)."
    ).tag(config=True)

    openai_base_url = Unicode(
        "", help="Base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:11434/v1 for Ollama."
    ).tag(config=True)
    openai_api_key = Unicode("", help="API key for the OpenAI-compatible server, if it needs one.").tag(config=True)
    openai_model = Unicode("", help="Model name on the OpenAI-compatible server, for every layer not set.").tag(
        config=True
    )

    complete_format = CaselessStrEnum(
        ("auto", *COMPLETE_FORMATS),
        default_value="auto",
        help="How layer 1 asks for a completion. 'chat': instructions and the cell with a cursor mark (Anthropic, "
        "chat models); 'fim': fill-in-the-middle, the code before and after the cursor (OpenAI-compatible servers' "
        "/v1/completions with a suffix, GGUF models with FIM tokens); 'continue': the notebook as a script that "
        "the model continues (base and small models). 'auto': chat for Anthropic; for an OpenAI-compatible server, "
        "fim if the model's name is a code model's (coder, codegemma, starcoder, codestral...) else chat; for the "
        "embedded model, fim if its vocabulary has FIM tokens, else continue.",
    ).tag(config=True)

    gguf_path = Unicode(
        "",
        help="A GGUF model file, or the name of a shipped model (gemma3-270m, smollm2-135m), for every layer on the "
        f"embedded provider. Empty: {EMBEDDED_DEFAULTS['complete']} for completion, "
        f"{EMBEDDED_DEFAULTS['edit']} for the other layers.",
    ).tag(config=True)
    embedded_threads = Int(0, help="CPU threads for the embedded model (0: all cores).").tag(config=True)
    embedded_context = Int(8192, help="Context window of the embedded model, in tokens.").tag(config=True)

    escalate_thinking = CaselessStrEnum(
        ("adaptive", "enabled", "off"),
        default_value="adaptive",
        help="Extended thinking for escalation; 'adaptive' falls back to 'enabled' where a model lacks it.",
    ).tag(config=True)
    escalate_effort = CaselessStrEnum(
        ("low", "medium", "high", "xhigh", "max"), default_value="high", help="Effort with adaptive thinking."
    ).tag(config=True)
    thinking_budget = Int(16000, help="Thinking tokens when thinking is 'enabled'.").tag(config=True)
    escalate_max_cost = Float(
        2.0, help="Largest worst-case cost (USD, list prices) one escalation may have; larger ones are refused."
    ).tag(config=True)
    escalate_auto = Bool(
        False,
        help="Escalate by itself (within escalate_max_cost) when escalation is offered: an AI-edited cell "
        "failing again, or an exploration stopping without findings.",
    ).tag(config=True)

    request_timeout = Float(60.0, help="Seconds without a byte from the model before a call fails.").tag(config=True)
    max_retries = Int(2, help="Retries of a failed call before any output (429, 5xx, 529, network).").tag(config=True)

    explore_max_steps = Int(12, help="Model turns an exploration may take before it must stop.").tag(config=True)
    explore_step_timeout = Float(30.0, help="Seconds one scratch cell may run before its sandbox is killed.").tag(
        config=True
    )
    explore_token_budget = Int(
        400_000, help="Input plus output tokens one exploration may spend over all its turns."
    ).tag(config=True)

    terminal_suggestions = Bool(
        True,
        help="In a terminal `ipython`, show the complete layer's suggestion as ghost text after a pause in typing "
        "(accepted like history suggestions, with Right or End). Off: history suggestions only.",
    ).tag(config=True)
    terminal_debounce = Float(
        0.3,
        help="Seconds without a keystroke before the terminal asks the model for a suggestion; shorter feels "
        "faster but sends more requests.",
    ).tag(config=True)

    @default("anthropic_base_url")
    def _anthropic_base_url_default(self):
        return os.environ.get("ANTHROPIC_BASE_URL", "")

    def layer_max_tokens(self, layer: str) -> int:
        return {**MAX_TOKENS_DEFAULTS, **self.max_tokens}[layer]

    def layer_budget(self, layer: str) -> int:
        return {**CONTEXT_BUDGET_DEFAULTS, **self.context_budget}[layer]
