"""Renders docs/configuration.md from the traits of ``JupyterLayers``, so the options' documentation cannot drift.

    python -m jupyter_layers.config_doc > docs/configuration.md

tests/test_configuration_doc.py fails when the committed file differs from what this renders, when an option is
in no topic below, and when the package reads an environment variable that ENVIRONMENT does not describe.
"""

from __future__ import annotations

import json
import sys

from traitlets import Bool, Dict, Enum, Float, Int, List, TraitType, Unicode

from .config import LAYERS, JupyterLayers
from .sandbox.safety import FORCE_FORK

TOPICS = (
    ("Providers and models", ("provider", "complete_model", "edit_model", "explore_model", "escalate_model")),
    ("Layer 1: completion (docs/completion.md)", ("complete_format",)),
    ("Sizes: answers and prompts", ("max_tokens", "context_budget")),
    ("Anthropic", ("anthropic_api_key", "anthropic_auth_token", "anthropic_base_url", "anthropic_default_headers")),
    ("Claude on Amazon Bedrock and Google Vertex AI", ("aws_region", "vertex_region", "vertex_project_id")),
    (
        "OpenAI-compatible server (Ollama, vLLM, llama.cpp)",
        ("openai_base_url", "openai_api_key", "openai_model", "openai_api"),
    ),
    ("Embedded offline models", ("gguf_path", "embedded_threads", "embedded_context")),
    ("Network calls", ("request_timeout", "max_retries")),
    (
        "Layer 3: explore and build",
        ("explore_max_steps", "build_max_steps", "explore_step_timeout", "explore_token_budget"),
    ),
    (
        "Layer 4: escalate",
        ("escalate_thinking", "escalate_effort", "thinking_budget", "escalate_max_cost", "escalate_auto"),
    ),
    ("Terminal IPython", ("terminal_suggestions", "terminal_debounce")),
    (
        "Shared deployments: JupyterHub (docs/deploy.md)",
        ("allowed_providers", "allowed_models", "max_daily_cost", "max_monthly_cost", "model_prices", "kernel_models"),
    ),
)

ENVIRONMENT = (
    (
        "ANTHROPIC_API_KEY",
        'The Anthropic API key. With `provider = "auto"` (the default) a key selects Claude for every layer; '
        "without one, and without `openai_base_url`, every layer runs on the embedded model. "
        "`anthropic_api_key` takes precedence.",
    ),
    (
        "ANTHROPIC_AUTH_TOKEN",
        "A bearer token (OAuth, a gateway) sent as `Authorization: Bearer` when no API key is set.",
    ),
    ("ANTHROPIC_BASE_URL", "The default of `anthropic_base_url`: send Anthropic requests to a proxy or gateway."),
    (
        "AWS_REGION",
        "The default of `aws_region` (Bedrock); `AWS_DEFAULT_REGION` when it is not set, then the AWS profile's "
        "region. AWS credentials themselves are read by boto3 (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, "
        "`AWS_SESSION_TOKEN`, `AWS_PROFILE`, ~/.aws), never by jupyter_layers.",
    ),
    ("AWS_DEFAULT_REGION", "The default of `aws_region` when `AWS_REGION` is not set."),
    (
        "AWS_BEARER_TOKEN_BEDROCK",
        "A Bedrock API key: the SDK sends it as a bearer token instead of signing with AWS credentials.",
    ),
    (
        "CLOUD_ML_REGION",
        "The default of `vertex_region` (Vertex AI). Google credentials are read by google-auth "
        "(`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's application-default credentials), never by jupyter_layers.",
    ),
    ("ANTHROPIC_VERTEX_PROJECT_ID", "The default of `vertex_project_id`; else the Google credentials' project."),
    (
        "OPENAI_API_KEY",
        "The key for the OpenAI-compatible server when `openai_api_key` is not set (local servers need none).",
    ),
    (
        "OPENAI_BASE_URL",
        'With `provider = "auto"`, no Anthropic key and no `openai_base_url`: the OpenAI-compatible server every '
        "layer uses (the model is `openai_model`, else the first its `/v1/models` lists).",
    ),
    (
        "OLLAMA_HOST",
        "As `OPENAI_BASE_URL`, for Ollama: `host:port` as Ollama reads it (default port 11434; `0.0.0.0` means "
        "this machine), served at `/v1`.",
    ),
    (
        "JPY_SESSION_NAME",
        "Set by the Jupyter server for each kernel: the notebook whose usage the kernel's calls are recorded under.",
    ),
    (
        "JUPYTERHUB_USER",
        "Set by JupyterHub: the user whose usage file and spending caps apply (else the operating-system user).",
    ),
    (
        "JUPYTERHUB_API_TOKEN",
        'Set by JupyterHub in a single-user server: with `kernel_models = "auto"`, kernels then reach models '
        "through the server, which holds the keys.",
    ),
    (
        "JUPYTER_LAYERS_RELAY",
        "Set by the server extension for its kernels when they reach models through it (`kernel_models`): the "
        "relay's address and token. Not for users to set.",
    ),
    (
        FORCE_FORK,
        "`fork` runs exploration scratch cells in a fork of the kernel on macOS and other systems than Linux, "
        "where forking is not trusted by default and they run in the live namespace ([sandbox.md](sandbox.md)).",
    ),
)

WHERE = (
    (
        "the magics in a notebook's kernel, and so in `jupyter layers run`",
        "`ipython_kernel_config.py` or `ipython_config.py` in the IPython profile (`ipython locate profile`); "
        "in a running kernel, `%config JupyterLayers.<name> = <value>` or `%layers config <name> <value>`",
    ),
    ("terminal `ipython`", "`ipython_config.py` in the IPython profile; `%config` as above"),
    (
        "the jupyter-server extension (JupyterLab)",
        "`jupyter_server_config.py` or `jupyter_config.py` in `jupyter --config-dir`; on the command line, "
        "`jupyter lab --JupyterLayers.<name>=<value>`",
    ),
    (
        "`jupyter layers SUBCOMMAND`",
        "`jupyter_config.py` in `jupyter --config-dir`; on the command line after the subcommand, "
        "`jupyter layers status --JupyterLayers.provider=embedded`",
    ),
)

INTRO = """\
# Configuration

<!-- Generated by `python -m jupyter_layers.config_doc > docs/configuration.md`; do not edit by hand. -->

Every option is a trait of one class, `jupyter_layers.config.JupyterLayers`. In a configuration file it is set as

```python
c.JupyterLayers.provider = "embedded"
c.JupyterLayers.max_tokens = {"complete": 64}
```
"""

WHERE_NOTE = """\
`jupyter layers run` executes the notebook's magics in a kernel, which reads the kernel's configuration (the
first row) and, on top of it, the `JupyterLayers` options given to `jupyter layers run` (its command line and
`jupyter_config.py`): they are passed to the kernel as its arguments, and the API keys in its environment (never
on a command line, which every user of the machine can read). Nested options (dicts such as `max_tokens`) are
not passed on. Changes made with `%config` or `%layers config` apply to the next call. `%layers config` refuses
the API keys: a key typed into a cell is saved with the notebook; use the environment variables below.
"""


def type_text(trait: TraitType) -> str:
    if isinstance(trait, Enum):
        return "one of " + ", ".join(f"`{value}`" for value in trait.values)
    if isinstance(trait, Dict) and not isinstance(trait._key_trait, Enum):
        return f"dict: {type_text(trait._key_trait)} → {type_text(trait._value_trait)}"
    if isinstance(trait, Dict):
        return f"dict: layer ({', '.join(f'`{layer}`' for layer in LAYERS)}) → {type_text(trait._value_trait)}"
    if isinstance(trait, List):
        return f"list of {type_text(trait._trait)}s"
    names = {Unicode: "string", Int: "int", Float: "float", Bool: "bool"}
    return next(name for kind, name in names.items() if isinstance(trait, kind))


def default_text(trait: TraitType) -> str:
    """As it would be written in a config file (traitlets' own repr quotes strings with single quotes)."""
    value = trait.default_value
    return f"`{json.dumps(value)}`" if isinstance(value, str) else f"`{trait.default_value_repr()}`"


def table_cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def options_table(names: tuple[str, ...]) -> list[str]:
    traits = JupyterLayers.class_own_traits(config=True)
    rows = ["| option | type | default | what it does |", "|---|---|---|---|"]
    for name in names:
        trait = traits[name]
        rows.append(f"| `{name}` | {type_text(trait)} | {default_text(trait)} | {table_cell(trait.help)} |")
    return rows


def check_topics() -> None:
    """Every option in exactly one topic, so a new trait cannot go undocumented."""
    grouped = [name for _, names in TOPICS for name in names]
    options = set(JupyterLayers.class_own_traits(config=True))
    missing, unknown = options - set(grouped), set(grouped) - options
    if missing or unknown or len(grouped) != len(set(grouped)):
        raise ValueError(
            f"TOPICS in jupyter_layers/config_doc.py: add {sorted(missing)}, remove {sorted(unknown)}, "
            "and name each option once"
        )


def render() -> str:
    check_topics()
    lines = [INTRO, "## Where to set an option", "", "Each surface reads its own configuration:", ""]
    lines += ["| the option is used by | set it in |", "|---|---|"]
    lines += [f"| {table_cell(used_by)} | {table_cell(set_in)} |" for used_by, set_in in WHERE]
    lines += ["", WHERE_NOTE, "## Options"]
    for title, names in TOPICS:
        lines += ["", f"### {title}", "", *options_table(names)]
    lines += [
        "",
        "## Environment variables",
        "",
        "The variables jupyter_layers itself reads. None of the environment is ever included in a prompt.",
        "",
        "| variable | what it does |",
        "|---|---|",
        *(f"| `{name}` | {table_cell(text)} |" for name, text in ENVIRONMENT),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
