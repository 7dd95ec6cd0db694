"""``%%complete``: layer 1 in a cell. The body is code with the cursor at its end; the model continues it."""

from __future__ import annotations

import dataclasses

from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from ..engine import junk, recipes
from ..engine.complete import clean_answer, syntax_problem
from .kernel_situation import layer_situation
from .live import LiveOutput, code_block
from .session import KernelSession, report_errors

ALTERNATIVE_TEMPERATURE = 0.8  # several alternatives only differ if the model samples


@magics_class
class CompleteMagics(Magics):
    def __init__(self, shell, session: KernelSession):
        super().__init__(shell)
        self.session = session

    @magic_arguments()
    @argument("--model", "-m", default="", help="Model for this call, e.g. claude-sonnet-5-5 or openai:llama3.")
    @argument("--max-tokens", type=int, default=None, help="Longest continuation, in tokens.")
    @argument("-n", type=int, default=1, help="How many alternatives to generate.")
    @cell_magic
    @report_errors("%%complete")
    def complete(self, line: str, cell: str) -> None:
        """Continue the code in the cell body with the live kernel state as context.

        The completed cell is shown as code and offered as the next cell (JupyterLab inserts it below);
        nothing runs until you run it.
        """
        args = parse_argstring(self.complete, line)
        before = cell.removesuffix("\n")  # IPython appends a newline to a cell magic's body
        route = self.session.route("complete", args.model)
        situation = layer_situation(self.shell, "complete", before)
        request = recipes.complete(route, situation, self.session.settings, extent="statement").request
        if args.max_tokens:
            request = dataclasses.replace(request, max_tokens=args.max_tokens)
        if args.n > 1:
            request = dataclasses.replace(request, temperature=ALTERNATIVE_TEMPERATURE)

        def cleaned(text: str) -> str:
            return clean_answer(before, text, route.prompt_format, "statement")

        completed = []
        for number in range(1, args.n + 1):
            label = f"alternative {number} of {args.n}, " if args.n > 1 else ""
            live = LiveOutput(self.shell, f"{label}{route.label} is completing")
            stop = self.session.run("%%complete", route, request, live, lambda text: code_block(before + cleaned(text)))
            if stop is None:
                return
            answer = cleaned(stop.message.text)
            problem = syntax_problem(before, answer, "statement")
            if problem:  # withheld: the streamed code comes off the display too
                live.show({"text/plain": ""}, force=True)
                raise junk.unusable(route, f"its continuation does not parse ({problem})")
            whole = before + answer
            live.finish(code_block(whole), {"jupyter_layers": {"layer": "complete", "model": route.label}})
            completed.append(whole)
        self.shell.set_next_input(completed[0], replace=False)
