"""What every `jupyter layers` subcommand shares: configuration, --json, and errors as one line (exit 2)."""

from __future__ import annotations

import itertools
import sys

from jupyter_core.application import JupyterApp
from traitlets import Bool

from .. import __version__
from ..config import JupyterLayers
from ..errors import LayersError
from ..headless.terminal_run import error_line

KEY_VARIABLES = {
    "anthropic_api_key": "ANTHROPIC_API_KEY",
    "anthropic_auth_token": "ANTHROPIC_AUTH_TOKEN",
    "openai_api_key": "OPENAI_API_KEY",
}


class LayersSubcommand(JupyterApp):
    version = __version__
    json_output = Bool(False, help="Print one machine-readable JSON result.").tag(config=True)
    flags = {**JupyterApp.flags, "json": ({"LayersSubcommand": {"json_output": True}}, "Print JSON.")}
    classes = [JupyterLayers]

    def layers_config(self) -> JupyterLayers:
        return JupyterLayers(parent=self)

    def kernel_options(self) -> tuple[list[str], dict[str, str]]:
        """The JupyterLayers options given to this command (its command line and config files), for a kernel
        whose magics should use them: options as the kernel's arguments, keys in its environment (a command
        line is visible to every user of the machine)."""
        arguments, environment = [], {}
        for name, value in self.config.get("JupyterLayers", {}).items():
            if name in KEY_VARIABLES:
                environment[KEY_VARIABLES[name]] = str(value)
            elif isinstance(value, (str, int, float, bool)):
                arguments.append(f"--JupyterLayers.{name}={value}")
        return arguments, environment

    def start(self) -> None:
        try:
            self.run()
        except LayersError as error:
            print(f"jupyter layers: {error}", file=sys.stderr)
            self.exit(2)

    def run(self) -> None:
        raise NotImplementedError


def in_place_flag(app: str) -> dict:
    """The --in-place flag every writing subcommand shares (with ``-o/--output``)."""
    return {"in-place": ({app: {"in_place": True}}, "Write the result into the input notebook itself.")}


def positionals_first(argv: list[str], takes_value: set[str]) -> list[str]:
    """``argv`` with the positional words (notebook, question, instruction) moved before the options.

    argparse, under traitlets, collects positionals only up to the first option, so ``NB --cell 2 "use sum"``
    would fail; ``takes_value`` names the options whose next word is their value, not a positional.
    """
    positionals, options = [], []
    words = iter(argv)
    for word in words:
        if word == "--":
            positionals += list(words)
        elif word.startswith("-") and len(word) > 1:
            options.append(word)
            name = word.lstrip("-")
            if "=" not in name and (name in takes_value or "." in name):
                options += list(itertools.islice(words, 1))
        else:
            positionals.append(word)
    return positionals + options


class CancellableSubcommand(LayersSubcommand):
    """What the headless layer commands share: positionals anywhere on the line, and Ctrl-C as one line and
    exit 130 (the kernel was shut down on the way out, no file was written)."""

    def parse_command_line(self, argv=None) -> None:
        argv = sys.argv[1:] if argv is None else argv
        names = {name for key in self.aliases for name in ((key,) if isinstance(key, str) else key)}
        super().parse_command_line(positionals_first(list(argv), names))

    def start(self) -> None:
        try:
            super().start()
        except KeyboardInterrupt:
            error_line(self.name.removeprefix("jupyter-layers-"), "cancelled; nothing was written")
            self.exit(130)
