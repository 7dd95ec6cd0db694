"""`jupyter layers run`: execute a notebook headless (magics work), with per-cell progress and a clear exit status."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from rich.console import Console
from traitlets import Bool, Float, Unicode

from ..errors import ConfigError
from ..headless.execute import RunResult, execute_notebook
from ..headless.notebook_file import output_path, read_notebook, write_notebook
from ..headless.progress import PlainProgress, RichProgress
from .base import LayersSubcommand


class RunApp(LayersSubcommand):
    name = "jupyter-layers-run"
    description = (
        "Execute a notebook in a fresh kernel started in its folder; magics work as in Jupyter (load them with "
        "%load_ext jupyter_layers in the notebook). Usage: jupyter layers run NOTEBOOK [-o OUT | --in-place] "
        "[--allow-errors] [--timeout S] [--json]. Without -o or --in-place the notebook is executed and reported "
        "but nothing is written; the input is only rewritten with --in-place. Stops at the first failing cell and "
        "exits 1 (unless --allow-errors); Ctrl-C shuts the kernel down, writes nothing and exits 130. "
        "Cells tagged jupyter-layers-scratch are not re-run."
    )

    output = Unicode("", help="Write the executed notebook here (atomically).").tag(config=True)
    in_place = Bool(False, help="Write the executed notebook over the input.").tag(config=True)
    allow_errors = Bool(False, help="Run every cell even after errors; exit 0.").tag(config=True)
    timeout = Float(600, help="Seconds per cell before it is interrupted (0: no limit).").tag(config=True)

    aliases = {"o": "RunApp.output", "output": "RunApp.output", "timeout": "RunApp.timeout"}
    flags = {
        **LayersSubcommand.flags,
        "in-place": ({"RunApp": {"in_place": True}}, "Write the executed notebook over the input."),
        "allow-errors": ({"RunApp": {"allow_errors": True}}, "Run all cells even if some fail; exit 0."),
    }

    def run(self) -> None:
        if len(self.extra_args) != 1:
            raise ConfigError("give exactly one notebook", "jupyter layers run NOTEBOOK [-o OUT | --in-place]")
        path = self.extra_args[0]
        target = output_path(path, self.output or None, self.in_place)
        nb = read_notebook(path)
        folder = os.path.dirname(os.path.abspath(path))
        try:
            result = self.execute(nb, folder)
        except KeyboardInterrupt:
            # Nothing has been written yet and the kernel is shut down; 130 is the shell's code for SIGINT.
            print("jupyter layers run: interrupted; the kernel is shut down and nothing was written", file=sys.stderr)
            self.exit(130)
        if target:
            write_notebook(nb, target)
        self.report(path, target, result)
        if result.errors and not self.allow_errors:
            self.exit(1)

    def execute(self, nb, folder: str) -> RunResult:
        console = Console(stderr=True)
        arguments, environment = self.kernel_options()
        options = {
            "timeout": self.timeout or None,
            "allow_errors": self.allow_errors,
            "kernel_arguments": arguments,
            "kernel_environment": environment,
        }
        if console.is_terminal and not self.json_output:
            with RichProgress(console) as progress:
                return asyncio.run(execute_notebook(nb, folder, progress, **options))
        return asyncio.run(execute_notebook(nb, folder, PlainProgress(), **options))

    def report(self, path: str, target: str | None, result: RunResult) -> None:
        if result.errors and not self.allow_errors:
            print(result.errors[0].line(), file=sys.stderr)
        if self.json_output:
            print(
                json.dumps(
                    {
                        "notebook": path,
                        "output": target,
                        "cells": result.cells,
                        "executed": result.executed,
                        "errors": [{"cell": e.cell, "ename": e.ename, "evalue": e.evalue} for e in result.errors],
                        "seconds": round(result.seconds, 3),
                    }
                )
            )
            return
        errors = f", {len(result.errors)} with errors" if result.errors else ""
        where = f"wrote {target}" if target else "nothing written (give -o OUT or --in-place)"
        print(f"executed {result.executed}/{result.cells} cells{errors} in {result.seconds:.1f}s; {where}")
