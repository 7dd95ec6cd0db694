"""`jupyter layers mcp --existing [FILE]`: the live kernel for outside agents, as an MCP server.

Only parses and starts: the tools are in ``headless/mcp_server.py``. Over stdio by default (what Claude Code and
most MCP clients launch); ``--http`` serves streamable HTTP on 127.0.0.1 behind a bearer token, printed once to
stderr unless given with ``--token`` (stdout stays the protocol's, and a command line is visible to every user).
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import sys

from traitlets import Bool, Int, Unicode

from ..errors import ConfigError
from .base import LayersSubcommand

USAGE = "jupyter layers mcp --existing [CONNECTION_FILE] [--notebook NB] [--http [--port N] [--token T]]"


class McpApp(LayersSubcommand):
    name = "jupyter-layers-mcp"
    description = f"Serve a running kernel to outside agents over MCP. Usage: {USAGE}"

    existing = Unicode(
        "", help="The kernel's connection file: a path, a name in the Jupyter runtime dir, or a glob."
    ).tag(config=True)
    notebook = Unicode("", help="The notebook open on this kernel: adds the notebook_cells tool.").tag(config=True)
    http = Bool(False, help="Serve streamable HTTP on 127.0.0.1 instead of stdio.").tag(config=True)
    port = Int(8765, help="The HTTP port (with --http).").tag(config=True)
    token = Unicode("", help="The bearer token HTTP clients must send (default: a random one, printed).").tag(
        config=True
    )

    aliases = {
        **LayersSubcommand.aliases,
        "existing": "McpApp.existing",
        "notebook": "McpApp.notebook",
        "port": "McpApp.port",
        "token": "McpApp.token",
    }
    flags = {
        **LayersSubcommand.flags,
        # like `jupyter console --existing`: with no value, the most recent kernel in the runtime dir
        "existing": ({"McpApp": {"existing": "kernel*.json"}}, "The most recent kernel in the runtime dir."),
        "http": ({"McpApp": {"http": True}}, "Streamable HTTP on 127.0.0.1 with a bearer token."),
    }

    def start(self) -> None:
        try:
            super().start()
        except KeyboardInterrupt:  # how a stdio server is stopped by hand; its sandboxes were closed on the way out
            self.exit(130)

    def run(self) -> None:
        if not self.existing:
            raise ConfigError("say which kernel to serve", USAGE)
        if importlib.util.find_spec("mcp") is None:
            raise ConfigError("the MCP SDK is not installed", "pip install 'jupyter_layers[mcp]'")
        if self.notebook and not os.path.isfile(self.notebook):
            raise ConfigError(f"no notebook at {self.notebook}", "give the path of the notebook open on this kernel")
        from ..headless.mcp_server import KernelTools, LiveKernel, build_server, connection_file, serve_http

        path = connection_file(self.existing)
        tools = KernelTools(LiveKernel(path), os.path.abspath(self.notebook) if self.notebook else None)
        server = build_server(tools, port=self.port)
        try:
            if self.http:
                token = self.token or secrets.token_urlsafe(24)
                shown = "" if self.token else f"; token {token}"
                print(f"jupyter layers mcp: serving http://127.0.0.1:{self.port}/mcp{shown}", file=sys.stderr)
                serve_http(server, token)
            else:
                server.run("stdio")
        finally:
            tools.close()
