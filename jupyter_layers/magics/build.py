"""``%build TASK``: layer 3 for a feature. The agent writes the cells, verifies them in a fork of the live state,
and proposes them; nothing runs in this kernel until the user runs a proposed cell.

The agent's tries appear as collapsible scratch blocks (``%explore --clean`` style: ``%build --clean``), each
proposed cell with the output its verification run printed and what the taste check finds in it. The first cell
is offered as the next input; ``%build --next`` offers the one after it. Running an offered cell is accepting it.
In JupyterLab with the extension, the cells go below the ``%build`` cell as tagged proposals instead
(``building/handoff.py``), accepted or rejected there, as the Build tab's.
"""

from __future__ import annotations

import html

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from ..building import handoff
from ..building.agent import Build, Builder, Proposal, verification_line
from ..context.notebook import PROPOSED_TAG
from ..engine import recipes
from ..errors import ConfigError
from ..explore.kernel_workspace import KernelWorkspace
from ..sandbox import open_sandbox
from .explore import ScratchBlocks, empty_blocks
from .kernel_situation import layer_situation
from .live import LiveOutput, error_line
from .session import KernelSession, report_errors


def proposal_bundle(proposal: Proposal, number: int) -> dict:
    """One proposed cell: its code, the output of its verification run, the taste check's notes."""
    cell = proposal.cells[number]
    title = f"proposed cell {number + 1} of {len(proposal.cells)} · build {proposal.build}"
    output = cell.result.as_text(3000)
    notes = "".join(f'<div style="color:#9a6700">taste: {html.escape(line)}</div>' for line in cell.taste)
    return {
        "text/html": (
            f'<div class="{PROPOSED_TAG}" style="border-left:3px solid #1a7f37;padding-left:8px">'
            f"<div><b>{html.escape(title)}</b></div><pre>{html.escape(cell.source)}</pre>"
            f'<div style="opacity:.7">output in the fork:</div><pre style="opacity:.8">{html.escape(output)}</pre>'
            f"{notes}</div>"
        ),
        "text/plain": "\n".join(
            [f"── {title} ──", cell.source, "── output in the fork ──", output, *(f"taste: {t}" for t in cell.taste)]
        ),
    }


def unquoted(text: str) -> str:
    """An option's value without the quotes IPython's argument splitting keeps (``--check "assert x"``)."""
    text = text.strip()
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"" else text


@magics_class
class BuildMagics(Magics):
    def __init__(self, shell, session: KernelSession):
        super().__init__(shell)
        self.session = session
        self.displays: list[str] = []  # display ids of the last build's scratch blocks
        self.proposal: Proposal | None = None
        self.offered = 0  # how many of its cells were offered as the next input

    @magic_arguments()
    @argument("--check", default="", help='Code that must run clean after the cells, e.g. "assert df.x.notna().all()".')
    @argument("--steps", type=int, default=None, help="Most model turns (default: build_max_steps, 16).")
    @argument("--timeout", type=float, default=None, help="Seconds per scratch cell (default 30).")
    @argument("--live", action="store_true", help="Run the tries in the live namespace (verification: a fork).")
    @argument("--model", "-m", default="", help="Model for this build.")
    @argument("--next", action="store_true", help="Offer the last build's next proposed cell as the next input.")
    @argument("--clean", action="store_true", help="Remove the last build's scratch blocks.")
    @argument("task", nargs="*", help="What to build.")
    @line_magic
    @report_errors("%build")
    def build(self, line: str) -> None:
        """Build what TASK asks for: the agent writes cells, runs them in a fork of the live state until they run
        clean (and pass --check), then proposes them with their outputs. The first is offered as the next
        input; %build --next offers the next. Nothing runs in this kernel until you run an offered cell."""
        args = parse_argstring(self.build, line)
        if args.clean:
            self.clean()
            return
        if args.next:
            self.offer_next()
            return
        task = " ".join(args.task).strip().strip("'\"")
        route = self.session.route("explore", args.model)
        situation = layer_situation(self.shell, "build", instruction=task)
        prepared = recipes.build(
            route,
            situation,
            self.session.settings,
            check=unquoted(args.check),
            max_steps=args.steps,
            step_timeout=args.timeout,
        )
        record = Build(prepared.question, prepared.check)
        self.displays, self.proposal, self.offered = [], None, 0
        sandbox, warning = open_sandbox(self.shell.user_ns, live=args.live)
        print(f"scratch cells: {sandbox.protections.summary()}")
        if warning:
            print(warning)
        try:
            built = self.run_builder(route, prepared, record, KernelWorkspace(self.shell, sandbox))
        except KeyboardInterrupt:
            error_line("%build", "cancelled: the sandbox was stopped and nothing was proposed")
            return
        finally:
            sandbox.close()
        if built is not None:
            self.propose(built.proposal)

    def run_builder(self, route, prepared, record: Build, workspace) -> Build | None:
        blocks = ScratchBlocks(record.tries, "build", self.displays)

        def on_event(event) -> None:
            line = verification_line(event)
            if line:
                print(line)
            else:
                blocks(event)

        def run(turn_request):
            live = LiveOutput(self.shell, f"{route.label} is building")
            if live.display_id:
                self.displays.append(live.display_id)
            return self.session.run(
                "%build",
                route,
                turn_request,
                live,
                lambda text: {"text/markdown": text, "text/plain": text},
                on_usage=lambda usage: builder.count(usage.input_tokens + usage.output_tokens),
            )

        builder = Builder(prepared, workspace, run, on_event)
        return builder.build(record)

    def propose(self, proposal: Proposal) -> None:
        """Each cell with its fork output, then the first offered as the next input."""
        if proposal.summary:
            print(proposal.summary)
        for number in range(len(proposal.cells)):
            display(
                proposal_bundle(proposal, number),
                raw=True,
                metadata={"jupyter_layers": {"tags": [PROPOSED_TAG], **proposal.review_notes(number)}},
            )
        if proposal.unverified:
            error_line("%build", f"{proposal.provenance(0)['verified']}; read the cells before you run them")
        elif proposal.check:
            print(f"check passed in the fork: {proposal.check}")
        self.proposal = proposal
        if handoff.frontend_takes_proposals():  # JupyterLab with the extension: tagged cells below this one
            handoff.offer({**proposal.payload(), "below": self.running_cell_id()})
            print(
                f"{len(proposal.cells)} proposed cells go below this cell in JupyterLab: accept or reject them there "
                "(the Build tab). If they do not appear, `%build --next` offers them here one by one."
            )
            return
        self.offer_next()

    def running_cell_id(self) -> str:
        """The id of the cell running %build, as JupyterLab names it in the request ("" if it does not)."""
        parent = self.shell.kernel.get_parent("shell")
        return str(parent.get("metadata", {}).get("cellId") or "")

    def offer_next(self) -> None:
        if self.proposal is None:
            raise ConfigError("no build has proposed cells in this kernel", "%build add a column with the total")
        cells = self.proposal.cells
        if self.offered >= len(cells):
            print(f"all {len(cells)} proposed cells were offered")
            return
        self.shell.set_next_input(cells[self.offered].source, replace=False)
        self.offered += 1
        left = len(cells) - self.offered
        more = f"; `%build --next` offers the next ({left} left)" if left else ""
        print(f"Proposed cell {self.offered} of {len(cells)} is offered as the next input: run it to keep it{more}.")

    def clean(self) -> None:
        empty_blocks(self.displays, "build", "the proposed cells stay")
