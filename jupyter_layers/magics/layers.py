"""``%layers``: status, usage, prompt dry-run and settings of the extension in this kernel."""

from __future__ import annotations

import ast
import json

from IPython.core.magic import Magics, line_cell_magic, magics_class
from traitlets import TraitError

from ..config import SECRET_SETTINGS
from ..dry_run import as_text, describe, plan
from ..engine import recipes
from ..errors import ConfigError
from ..kernel import snapshot
from ..sandbox.protections import here
from ..status import (
    format_notebook_usage,
    format_sandbox,
    format_spending,
    format_status,
    layer_status,
    spending_status,
)
from .escalate import escalation_history
from .kernel_situation import layer_situation
from .live import error_line
from .session import KernelSession, report_errors

USAGE = (
    "%layers status | usage | prompt LAYER [--json] [INSTRUCTION] | config [KEY VALUE]"
    "  (LAYER: complete, edit, explore, build, escalate)"
)


@magics_class
class LayersMagics(Magics):
    def __init__(self, shell, session: KernelSession):
        super().__init__(shell)
        self.session = session

    @line_cell_magic
    @report_errors("%layers")
    def layers(self, line: str, cell: str | None = None) -> None:
        """%layers status: provider and model per layer, online or offline, what protects scratch cells here,
        and the kernel state's size.
        %layers usage: tokens and estimated cost per layer in this kernel.
        %layers prompt LAYER [--json] [INSTRUCTION]: exactly what LAYER would send now (nothing is sent); as a
        cell magic, the cell body is the code being written, with the cursor at its end.
        %layers config [KEY VALUE]: show or change a setting (same as %config JupyterLayers.KEY = VALUE)."""
        words = line.split()
        command, rest = (words[0], words[1:]) if words else ("status", [])
        if command == "status":
            self.status()
        elif command == "usage":
            self.usage()
        elif command == "prompt":
            self.prompt(rest, (cell or "").removesuffix("\n"))  # IPython appends a newline to the body
        elif command == "config":
            self.settings(line.split(None, 2)[1:])
        else:
            error_line("%layers", f"unknown subcommand {command!r}; usage: {USAGE}")

    def status(self) -> None:
        rows = layer_status(self.session.router)
        notice = self.session.router.offline_notice()
        if notice:
            print(notice)
        state = snapshot()
        print(format_status(rows, spending_status(self.session.router)))
        print(format_sandbox(here()))  # this kernel's: a fork of it is where scratch cells run
        print(f"kernel state: {state['total']} variables (summarised in {state['elapsed_ms']:.1f} ms)")

    def usage(self) -> None:
        """This kernel's calls, then what the user spent and what this notebook used over time (on disk)."""
        router = self.session.router
        print(self.session.ledger.table())
        print(format_spending(spending_status(router)))
        print(format_notebook_usage(router.notebook_usage(), router.notebook))

    def prompt(self, words: list[str], source: str) -> None:
        as_json = "--json" in words
        words = [w for w in words if w != "--json"]
        if not words or words[0] not in recipes.RECIPES:
            raise ConfigError(f"name a layer; usage: {USAGE}")
        layer = words[0]
        situation = layer_situation(self.shell, layer, source, instruction=" ".join(words[1:]))
        history = escalation_history(self.session) if layer == "escalate" else {}
        if layer == "complete":
            history = {"extent": "statement"}  # as %%complete asks
        described = describe(plan(layer, situation, self.session.settings, self.session.router, **history))
        print(json.dumps(described, indent=1, ensure_ascii=False) if as_json else as_text(described))

    def settings(self, words: list[str]) -> None:  # not `config`: a trait of every Configurable
        settings = self.session.settings
        if not words:
            for name in sorted(settings.class_own_traits(config=True)):
                if name not in SECRET_SETTINGS:
                    print(f"{name} = {getattr(settings, name)!r}")
            return
        if len(words) < 2:
            raise ConfigError("give a setting and a value", "%layers config complete_model claude-haiku-4-5")
        name, raw = words
        if name not in settings.class_own_traits(config=True):
            raise ConfigError(f"unknown setting {name!r}", "%layers config lists them")
        if name in SECRET_SETTINGS:
            raise ConfigError(
                "keys typed into a cell are saved with the notebook", "set ANTHROPIC_API_KEY in the environment"
            )
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        try:
            setattr(settings, name, value)
        except TraitError as error:
            raise ConfigError(f"{name}: {str(error).splitlines()[0]}") from None
        print(f"{name} = {getattr(settings, name)!r}")
