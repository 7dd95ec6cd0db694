"""``jupyter layers``: the headless surface, a Jupyter application with one subcommand per task."""

from __future__ import annotations

import json
import sys

from jupyter_core.application import JupyterApp
from traitlets import Bool

from . import __version__
from .config import JupyterLayers
from .errors import LayersError
from .models.router import Router
from .status import format_status, layer_status


class LayersSubcommand(JupyterApp):
    """Base of the subcommands: one JupyterLayers configuration, errors as one line and exit status 2."""

    version = __version__
    json_output = Bool(False, help="Print one machine-readable JSON result.").tag(config=True)
    flags = {**JupyterApp.flags, "json": ({"LayersSubcommand": {"json_output": True}}, "Print JSON.")}
    classes = [JupyterLayers]

    def layers_config(self) -> JupyterLayers:
        return JupyterLayers(parent=self)

    def start(self) -> None:
        try:
            self.run()
        except LayersError as error:
            print(f"jupyter layers: {error}", file=sys.stderr)
            self.exit(2)

    def run(self) -> None:
        raise NotImplementedError


class StatusApp(LayersSubcommand):
    """Show which provider and model serve each layer."""

    name = "jupyter-layers-status"
    description = "Show which provider and model serve each layer."

    def run(self) -> None:
        rows = layer_status(Router(self.layers_config()))
        print(json.dumps(rows) if self.json_output else format_status(rows))


class LayersApp(JupyterApp):
    name = "jupyter-layers"
    version = __version__
    description = (
        "Notebook-native AI coding in layers: completion, edits, exploration and escalation, "
        "with the live kernel state as context."
    )
    subcommands = {"status": (StatusApp, StatusApp.description)}

    def start(self) -> None:
        if self.subapp is None:
            self.print_help()
            self.exit(0)
        super().start()


main = LayersApp.launch_instance
