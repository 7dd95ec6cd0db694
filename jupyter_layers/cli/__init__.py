"""``jupyter layers``: the headless surface, a Jupyter application with one subcommand per task."""

from __future__ import annotations

from jupyter_core.application import JupyterApp

from .. import __version__


class LayersApp(JupyterApp):
    name = "jupyter-layers"
    version = __version__
    description = (
        "Notebook-native AI coding in layers: completion, edits, an agent that explores and builds, and escalation, "
        "with the live kernel state as context."
    )
    subcommands = {  # imported on use, so `jupyter layers status` does not pay for nbclient
        "status": ("jupyter_layers.cli.status.StatusApp", "Show which provider and model serve each layer."),
        "prompt": (
            "jupyter_layers.cli.prompt.PromptApp",
            "Print exactly the request a layer would send for a cell of a notebook (nothing is sent).",
        ),
        "run": ("jupyter_layers.cli.run.RunApp", "Execute a notebook headless (magics work); write the result."),
        "clean": (
            "jupyter_layers.cli.clean.CleanApp",
            "Remove every scratch cell (tag jupyter-layers-scratch); --proposals: proposed cells too.",
        ),
        "explore": (
            "jupyter_layers.cli.explore.ExploreApp",
            "Execute a notebook, explore a question against its live kernel, write scratch cells and findings.",
        ),
        "build": (
            "jupyter_layers.cli.build.BuildApp",
            "Execute a notebook up to a cell, build a task against its live kernel, insert the verified cells.",
        ),
        "rewrite": ("jupyter_layers.cli.rewrite.RewriteApp", "Rewrite a cell by an instruction; print the diff."),
        "escalate": (
            "jupyter_layers.cli.escalate.EscalateApp",
            "Execute a notebook and escalate with the whole picture; print the answer and per-cell diffs.",
        ),
        "mcp": (
            "jupyter_layers.cli.mcp.McpApp",
            "Serve a running kernel to outside agents (Claude Code, other MCP clients) over MCP.",
        ),
    }

    def start(self) -> None:
        if self.subapp is None:
            self.print_help()
            self.exit(0)
        super().start()


main = LayersApp.launch_instance
