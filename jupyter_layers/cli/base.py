"""What every `jupyter layers` subcommand shares: configuration, --json, and errors as one line (exit 2)."""

from __future__ import annotations

import sys

from jupyter_core.application import JupyterApp
from traitlets import Bool

from .. import __version__
from ..config import JupyterLayers
from ..errors import LayersError


class LayersSubcommand(JupyterApp):
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
