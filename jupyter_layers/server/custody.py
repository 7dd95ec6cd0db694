"""Where the server keeps the API keys on a shared deployment, and how its kernels reach models instead.

With ``kernel_models = "server"`` (the default under JupyterHub, or when a limit is set), the extension takes the
provider keys out of the server's environment when it loads: kernels and terminals inherit that environment,
and a key there is one ``os.environ`` away from any notebook. The keys go into the server's own settings; each
kernel gets the relay's address and a token instead (``JUPYTER_LAYERS_RELAY``), and its calls go through the
server (server/relay.py), where the admin's limits are enforced and usage is recorded.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import sys

from ..limits import Limits
from ..models.relay import RELAY_ENV, RelayAddress

# environment variable -> the JupyterLayers setting that holds it on the server
KEY_VARIABLES = {
    "ANTHROPIC_API_KEY": "anthropic_api_key",
    "ANTHROPIC_AUTH_TOKEN": "anthropic_auth_token",
    "OPENAI_API_KEY": "openai_api_key",
}
WILDCARD = ("", "0.0.0.0", "::", "localhost")
PR_SET_DUMPABLE, PR_GET_DUMPABLE = 4, 3


def kernels_through_server(settings) -> bool:
    if settings.kernel_models != "auto":
        return settings.kernel_models == "server"
    return bool(os.environ.get("JUPYTERHUB_API_TOKEN")) or Limits.of(settings).any


def hold_keys(settings) -> list[str]:
    """Move the keys from the environment into the settings (a configured key wins); the names moved."""
    moved = []
    for variable, setting in KEY_VARIABLES.items():
        value = os.environ.pop(variable, None)
        if value is not None:
            moved.append(variable)
            if not getattr(settings, setting):
                setattr(settings, setting, value)
    return moved


def guard_process() -> bool:
    """Make this process non-dumpable (Linux): ``/proc/PID/environ`` still holds the environment the server was
    started with, keys included, and any process of the same user could read it, or the server's memory,
    but for this. Kernels are started with execve, which makes them dumpable again, so they are unaffected.
    Returns whether the process is now guarded."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    return libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0


def open_relay(server_app) -> RelayAddress:
    """The relay's address as the server's kernels reach it (on this machine), with a new token; put in the
    environment every kernel started from now on inherits."""
    host = "127.0.0.1" if server_app.ip in WILDCARD else server_app.ip
    host = f"[{host}]" if ":" in host else host
    scheme = "https" if server_app.certfile else "http"
    base = server_app.base_url.rstrip("/")
    address = RelayAddress(f"{scheme}://{host}:{server_app.port}{base}/jupyter-layers/relay", secrets.token_urlsafe(32))
    os.environ[RELAY_ENV] = address.to_environment()
    return address
