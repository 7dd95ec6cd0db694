"""``%layers``: status, prompt dry-run and settings of the extension in this kernel."""

from __future__ import annotations

import json
import sys

from IPython.core.magic import Magics, line_cell_magic, magics_class

from ..config import LAYERS, JupyterLayers
from ..dry_run import as_text, describe, plan
from ..errors import LayersError
from ..models.router import Router
from ..status import format_status, layer_status
from .situation import kernel_situation

USAGE = "%layers status | %layers prompt LAYER [--json] [INSTRUCTION]  (LAYER: complete, edit, explore, escalate)"


@magics_class
class LayersMagics(Magics):
    def __init__(self, shell, settings: JupyterLayers, router: Router):
        super().__init__(shell)
        self.settings = settings  # not `config`: Magics is a Configurable with a `config` trait
        self.router = router

    @line_cell_magic
    def layers(self, line: str, cell: str | None = None) -> None:
        """%layers status: which provider and model serve each layer.
        %layers prompt LAYER [--json] [INSTRUCTION]: exactly what LAYER would send now (nothing is sent); as a
        cell magic, the cell body is the code being written, with the cursor at its end."""
        words = line.split()
        command = words[0] if words else "status"
        try:
            if command == "status":
                self.status()
            elif command == "prompt":
                self.prompt(words[1:], (cell or "").removesuffix("\n"))  # IPython appends a newline to the body
            else:
                print(f"%layers: unknown subcommand {command!r}; usage: {USAGE}", file=sys.stderr)
        except LayersError as error:
            print(f"%layers: {error}", file=sys.stderr)

    def status(self) -> None:
        rows = layer_status(self.router)
        notice = self.router.offline_notice()
        if notice:
            print(notice)
        print(format_status(rows))

    def prompt(self, words: list[str], source: str) -> None:
        as_json = "--json" in words
        words = [w for w in words if w != "--json"]
        if not words or words[0] not in LAYERS:
            print(f"%layers prompt: name a layer; usage: {USAGE}", file=sys.stderr)
            return
        situation = kernel_situation(self.shell, source, instruction=" ".join(words[1:]))
        described = describe(*plan(words[0], situation, self.settings, self.router))
        print(json.dumps(described, indent=1, ensure_ascii=False) if as_json else as_text(described))
