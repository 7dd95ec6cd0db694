"""Configuration: one traitlets class, read from jupyter/ipython config files, ``%config`` and env vars."""

from __future__ import annotations

import os

from traitlets import Bool, CaselessStrEnum, Dict, Float, Int, List, Unicode, default
from traitlets.config import Configurable

LAYERS = ("complete", "edit", "explore", "escalate")
PROVIDERS = ("anthropic", "openai", "embedded", "bedrock", "vertex")

ANTHROPIC_DEFAULTS = {
    "complete": "claude-haiku-5-5",
    "edit": "claude-sonnet-5-5",
    "explore": "claude-sonnet-5-5",
    "escalate": "claude-opus-5-5",
}
# Claude on the clouds (models/clouds.py). Since the 4.6 models the clouds name Claude without a date: Vertex AI by
# Anthropic's id, Bedrock by the global cross-region inference profile of it (on-demand Bedrock takes no bare model
# id for current Claude models). Older or regional models have other ids: set complete_model etc. to the cloud's id.
BEDROCK_DEFAULTS = {layer: f"global.anthropic.{model}" for layer, model in ANTHROPIC_DEFAULTS.items()}
VERTEX_DEFAULTS = dict(ANTHROPIC_DEFAULTS)
# Shipped GGUF models (models/shipped_models.py): the pretrained Gemma continues code best (docs/benchmarks.md);
# the chat layers need an instruction-tuned model.
EMBEDDED_DEFAULTS = {
    "complete": "gemma3-270m",
    "edit": "smollm2-135m",
    "explore": "smollm2-135m",
    "escalate": "smollm2-135m",
}
COMPLETE_FORMATS = ("chat", "fim", "continue")
# Settings that hold credentials: never listed, never set from a cell (a cell is saved with the notebook)
SECRET_SETTINGS = ("anthropic_api_key", "anthropic_auth_token", "openai_api_key", "anthropic_default_headers")
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
        "when openai_base_url is set, else the embedded offline model. 'bedrock' and 'vertex': Claude on Amazon "
        "Bedrock or Google Vertex AI, with the cloud's credentials (pip install 'jupyter_layers[bedrock]' / "
        "'jupyter_layers[vertex]').",
    ).tag(config=True)

    complete_model = Unicode(
        "",
        help="Model for layer 1, inline completion. Empty: the provider's default (claude-haiku-5-5). "
        "Prefix with 'anthropic:', 'openai:', 'embedded:', 'bedrock:' or 'vertex:' to send this layer to another "
        "provider; on Bedrock and Vertex AI give the cloud's model id (aws_region, vertex_region).",
    ).tag(config=True)
    edit_model = Unicode("", help="Model for layer 2, editing selected code (default claude-sonnet-5-5).").tag(
        config=True
    )
    explore_model = Unicode(
        "", help="Model for layer 3, the agent that explores and builds (default claude-sonnet-5-5)."
    ).tag(config=True)
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
    anthropic_auth_token = Unicode(
        "",
        help="A bearer token for a gateway or OAuth, sent as `Authorization: Bearer` when no API key is set. Prefer "
        "the ANTHROPIC_AUTH_TOKEN environment variable.",
    ).tag(config=True)
    anthropic_base_url = Unicode(
        "", help="Anthropic API base URL (default: ANTHROPIC_BASE_URL, else the public API)."
    ).tag(config=True)
    anthropic_default_headers = Dict(
        key_trait=Unicode(),
        value_trait=Unicode(),
        help="Extra HTTP headers for every Claude request (anthropic, bedrock and vertex), as gateways want them, "
        "e.g. {'x-portkey-provider': 'anthropic'}; merged over the SDK's ANTHROPIC_CUSTOM_HEADERS. Only their names "
        "are ever shown, and they cannot be set from a cell: one may hold a gateway's key.",
    ).tag(config=True)

    aws_region = Unicode(
        "",
        help="AWS region of Bedrock (provider 'bedrock'). Empty: AWS_REGION, AWS_DEFAULT_REGION, else the region of "
        "your AWS profile. Credentials are boto3's (AWS_ACCESS_KEY_ID..., AWS_PROFILE, ~/.aws, SSO, instance roles) "
        "or a Bedrock API key in AWS_BEARER_TOKEN_BEDROCK; the SDK sends to ANTHROPIC_BEDROCK_BASE_URL when set. "
        "Model ids are Bedrock's: default global.anthropic.<Anthropic's id>.",
    ).tag(config=True)
    vertex_region = Unicode(
        "",
        help="Google Cloud region of Vertex AI (provider 'vertex'), e.g. 'global' or 'us-east5'. Empty: "
        "CLOUD_ML_REGION. Credentials are Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, "
        "`gcloud auth application-default login`, the metadata server); the SDK sends to ANTHROPIC_VERTEX_BASE_URL "
        "when set. Model ids are Vertex AI's: default Anthropic's id.",
    ).tag(config=True)
    vertex_project_id = Unicode(
        "",
        help="Google Cloud project for Vertex AI. Empty: ANTHROPIC_VERTEX_PROJECT_ID, else the credentials' project.",
    ).tag(config=True)

    openai_base_url = Unicode(
        "", help="Base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:11434/v1 for Ollama."
    ).tag(config=True)
    openai_api_key = Unicode("", help="API key for the OpenAI-compatible server, if it needs one.").tag(config=True)
    openai_model = Unicode("", help="Model name on the OpenAI-compatible server, for every layer not set.").tag(
        config=True
    )
    openai_api = CaselessStrEnum(
        ("auto", "chat", "responses"),
        default_value="auto",
        help="The API the openai provider speaks. 'responses': OpenAI's Responses API (/v1/responses), with which "
        "reasoning models stream reasoning summaries and keep their reasoning between tool calls (sent back "
        "encrypted, nothing stored at OpenAI); 'chat': Chat Completions (/v1/chat/completions), which every "
        "OpenAI-compatible server serves. 'auto': responses for OpenAI's reasoning models (o1, o3, o4-mini, gpt-5 "
        "and later), chat for every other model (Ollama, vLLM and llama.cpp models).",
    ).tag(config=True)

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

    allowed_providers = List(
        Unicode(),
        help="Shared deployments: the providers that may be used (glob patterns, e.g. ['openai', 'bedrock']); a "
        "layer routed to any other is refused before its request is built. Empty: all.",
    ).tag(config=True)
    allowed_models = List(
        Unicode(),
        help="Shared deployments: the models that may be used, as glob patterns matched against the model id and "
        "'provider:model' (e.g. ['claude-haiku-*', 'claude-sonnet-*', 'openai:*']). Empty: all.",
    ).tag(config=True)
    max_daily_cost = Float(
        0.0,
        help="Spending cap per user and day (USD, estimated at list prices; 0: none). Each request is checked "
        "before it is sent with its worst case (the whole prompt and the largest answer).",
    ).tag(config=True)
    max_monthly_cost = Float(0.0, help="Spending cap per user and calendar month (USD, as max_daily_cost).").tag(
        config=True
    )
    model_prices = Dict(
        key_trait=Unicode(),
        value_trait=List(Float(), minlen=2, maxlen=2),
        help="Prices of models the built-in table lacks (it has Claude's list prices), in USD per million tokens "
        "[input, output], by glob pattern on the model id: e.g. {'gpt-5*': [1.25, 10.0]}. They count toward the "
        "spending caps, the escalation cost guard and the usage shown; a model with no price is free there.",
    ).tag(config=True)
    kernel_models = CaselessStrEnum(
        ("auto", "server", "direct"),
        default_value="auto",
        help="How kernels started by the Jupyter server reach models. 'server': through the server, which holds "
        "the API keys (they are taken out of the environment kernels and terminals inherit), enforces the allowed "
        "providers and models and the spending caps, and records usage. 'direct': kernels call the providers "
        "with the keys in their environment. 'auto': 'server' under JupyterHub or when a limit is set.",
    ).tag(config=True)

    request_timeout = Float(60.0, help="Seconds without a byte from the model before a call fails.").tag(config=True)
    max_retries = Int(2, help="Retries of a failed call before any output (429, 5xx, 529, network).").tag(config=True)

    explore_max_steps = Int(12, help="Model turns an exploration may take before it must stop.").tag(config=True)
    build_max_steps = Int(
        16, help="Model turns a build (%build, the Build tab) may take, tries and proposals together."
    ).tag(config=True)
    explore_step_timeout = Float(30.0, help="Seconds one scratch cell may run before its sandbox is killed.").tag(
        config=True
    )
    explore_token_budget = Int(
        400_000, help="Input plus output tokens one exploration (or build) may spend over all its turns."
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
