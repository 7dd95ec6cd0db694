"""``jupyter layers``: the headless surface, a Jupyter application with one subcommand per task."""

from __future__ import annotations

from jupyter_core.application import JupyterApp

from .. import __version__


class LayersApp(JupyterApp):
    name = "jupyter-layers"
    version = __version__
    description = (
        "Notebook-native AI coding in layers: completion, edits, exploration and escalation, "
        "with the live kernel state as context."
    )
    subcommands = {  # imported on use, so `jupyter layers status` does not pay for nbclient
        "status": ("jupyter_layers.cli.status.StatusApp", "Show which provider and model serve each layer."),
        "prompt": (
            "jupyter_layers.cli.prompt.PromptApp",
            "Print exactly the request a layer would send for a cell of a notebook (nothing is sent).",
        ),
    }

    def start(self) -> None:
        if self.subapp is None:
            self.print_help()
            self.exit(0)
        super().start()


main = LayersApp.launch_instance
