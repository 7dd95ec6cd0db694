"""Where ``provider = "auto"`` finds a model server the user already set up, and which model it serves.

Users of Ollama, vLLM or llama.cpp's server set ``OPENAI_BASE_URL`` (which the ``openai`` SDK reads) or
``OLLAMA_HOST`` (which Ollama's own tools read); a layer should go there rather than to the embedded model.
With only a URL, the model is the first one the server's ``/v1/models`` lists (a llama.cpp server lists the
one model it loaded; Ollama the ones pulled).
"""

from __future__ import annotations

import functools
import os
from urllib.parse import urlsplit

import openai

from ..errors import ConfigError, ConnectionFailed

OLLAMA_PORT = 11434


def ollama_base_url(host: str) -> str:
    """OLLAMA_HOST as Ollama reads it ('0.0.0.0', 'host:port', 'http://host:port') → its OpenAI-compatible URL."""
    parts = urlsplit(host if "://" in host else f"http://{host}")
    hostname = parts.hostname or "127.0.0.1"
    if hostname in ("0.0.0.0", "::"):  # a bind-all address: the server is reached on this machine
        hostname = "127.0.0.1"
    if ":" in hostname:
        hostname = f"[{hostname}]"
    return f"{parts.scheme}://{hostname}:{parts.port or OLLAMA_PORT}/v1"


def openai_server(configured_url: str) -> tuple[str, str] | None:
    """(base URL, why this one) of the OpenAI-compatible server to use, or None when none is set."""
    if configured_url:
        return configured_url, "c.JupyterLayers.openai_base_url is set"
    if os.environ.get("OPENAI_BASE_URL"):
        return os.environ["OPENAI_BASE_URL"], "OPENAI_BASE_URL is set"
    if os.environ.get("OLLAMA_HOST"):
        return ollama_base_url(os.environ["OLLAMA_HOST"]), "OLLAMA_HOST is set"
    return None


@functools.lru_cache(maxsize=16)
def listed_model(base_url: str, api_key: str, timeout: float) -> tuple[str, int]:
    """(first model the server lists, how many it lists); asked once per server and key."""
    client = openai.OpenAI(base_url=base_url, api_key=api_key or "not-needed", timeout=timeout, max_retries=0)
    try:
        models = [model.id for model in client.models.list()]
    except openai.APIConnectionError:
        raise ConnectionFailed(
            f"cannot reach {base_url} to ask which model it serves",
            "is the model server running? (or name its model: c.JupyterLayers.openai_model)",
        ) from None
    except openai.APIStatusError as exc:
        raise ConfigError(
            f"{base_url} did not list its models ({exc.status_code})", "set c.JupyterLayers.openai_model"
        ) from None
    if not models:
        raise ConfigError(f"{base_url} lists no models", "load a model into the server, or set openai_model")
    return models[0], len(models)
