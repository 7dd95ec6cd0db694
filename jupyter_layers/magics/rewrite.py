"""``%%rewrite`` / ``%rewrite -c N``: layer 2. Rewrite code by an instruction, show the diff, apply nothing."""

from __future__ import annotations

import sys

from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from ..context.selection import line_selection
from ..engine import recipes
from ..engine.rewrite import html_diff, rewrite, unified_diff
from ..errors import ConfigError, UnusableAnswer
from .kernel_situation import layer_situation
from .live import LiveOutput, code_block, error_line
from .session import KernelSession, report_errors


@magics_class
class RewriteMagics(Magics):
    def __init__(self, shell, session: KernelSession):
        super().__init__(shell)
        self.session = session

    @magic_arguments()
    @argument("-c", "--cell", type=int, default=None, help="Rewrite the input of cell In[N] instead of the body.")
    @argument("--lines", default="", help="Only lines A-B of that cell (1-based, inclusive).")
    @argument("--model", "-m", default="", help="Model for this call.")
    @argument("instruction", nargs="*", help="What to change.")
    @line_cell_magic
    @report_errors("%rewrite")
    def rewrite(self, line: str, cell: str | None = None) -> None:
        """Rewrite code by an instruction: %%rewrite INSTRUCTION with the code as the body, or
        %rewrite -c N [--lines A-B] INSTRUCTION for the input of cell In[N].

        Shows the diff and offers the edited cell as the next cell; nothing is applied until you run it.
        """
        args = parse_argstring(self.rewrite, line)
        instruction = " ".join(args.instruction).strip().strip("'\"")
        if not instruction:
            raise ConfigError("say what to change", "%%rewrite make it vectorised")
        if cell is not None:
            source, name = cell.removesuffix("\n"), "cell"
        elif args.cell is not None:
            history = self.shell.history_manager.input_hist_raw
            if not 0 < args.cell < len(history) - 1:
                raise ConfigError(f"there is no earlier cell In[{args.cell}]")
            source, name = history[args.cell].removesuffix("\n"), f"In[{args.cell}]"
        else:
            raise ConfigError("give the code as the cell body (%%rewrite), or a cell with -c N")
        selection = line_selection(source, args.lines) if args.lines else (0, len(source))
        situation = layer_situation(self.shell, "edit", source, instruction, selection=selection)
        route = self.session.route("edit", args.model)
        live = LiveOutput(self.shell, f"{route.label} is rewriting")

        def run(request):
            return self.session.run("%rewrite", route, request, live, lambda text: code_block(text))

        try:
            result = rewrite(recipes.edit(route, situation, self.session.settings), run)
        except UnusableAnswer:  # withheld (it does not parse): the streamed code comes off the display too
            live.show({"text/plain": ""}, force=True)
            raise
        if result is None:
            return
        metadata = {"jupyter_layers": {**result.provenance(), "syntax_error": result.syntax_error or None}}
        if not result.changed:
            live.finish({"text/plain": "no change"}, metadata)
            return
        live.finish(
            {
                "text/html": html_diff(result.original, result.source),
                "text/plain": unified_diff(result.original, result.source, name),
            },
            metadata,
        )
        for line in result.taste:  # what the revision turn left: for the reviewer to weigh
            print(f"taste: {line}")
        if result.syntax_error:
            problem = result.syntax_error
            error_line("%rewrite", f"the rewritten code does not parse ({problem}), nor did the cell; check it first")
        self.session.offered_edits[result.source.strip()] = result  # watched: if it runs and fails, escalation
        self.shell.set_next_input(result.source, replace=False)
        print(f"The rewritten {name} is offered as the next cell; run it to keep it.", file=sys.stdout)
