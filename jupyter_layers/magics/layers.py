"""``%layers``: status and settings of the extension in this kernel."""

from __future__ import annotations

import sys

from IPython.core.magic import Magics, line_magic, magics_class

from ..errors import LayersError
from ..models.router import Router
from ..status import format_status, layer_status


@magics_class
class LayersMagics(Magics):
    def __init__(self, shell, router: Router):
        super().__init__(shell)
        self.router = router

    @line_magic
    def layers(self, line: str) -> None:
        """%layers status: which provider and model serve each layer."""
        command = line.split()[0] if line.split() else "status"
        if command != "status":
            print(f"%layers: unknown subcommand {command!r} (try: %layers status)", file=sys.stderr)
            return
        try:
            rows = layer_status(self.router)
        except LayersError as error:
            print(f"%layers: {error}", file=sys.stderr)
            return
        notice = self.router.offline_notice()
        if notice:
            print(notice)
        print(format_status(rows))
