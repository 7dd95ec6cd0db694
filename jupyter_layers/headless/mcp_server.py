"""The live kernel for outside agents (Claude Code and other MCP clients): an MCP server over a running kernel.

It reaches the kernel the way the server and ``jupyter layers explore`` do, through silent ``user_expressions``
requests (``kernel/rpc.py``), so the user's kernel sees no cell, no output and no history entry. Scratch code runs
in the kernel's fork sandbox (``sandbox/remote.py``), one sandbox per MCP session, so a session's later calls see its
earlier definitions and the user's namespace never changes. Every text an agent gets passes through the same
redaction as the prompts (``context/sections.Redactions``).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import queue
import uuid
from concurrent.futures import ThreadPoolExecutor

import nbformat
from jupyter_client import BlockingKernelClient, find_connection_file
from mcp.server.fastmcp import Context, FastMCP

from ..building.agent import Build, proposal_from, taste_findings
from ..building.verify import Verification
from ..context.notebook import cell_views, code_sources
from ..context.sections import Redactions
from ..errors import LayersError
from ..kernel import remote, rpc
from ..sandbox import StepResult

SANDBOX = "jupyter_layers.sandbox.remote"
VERIFY = "jupyter_layers.building.verify"
HANDOFF = "jupyter_layers.building.handoff"
ANSWER_WAIT = 5.0  # seconds for JupyterLab to answer a proposal (it inserts the cells at once, if it has the notebook)
REQUEST_TIMEOUT = 60.0  # seconds for a variables or error request (a kernel busy with a cell answers after it)
STEP_TIMEOUT = 30.0  # seconds each proposed cell may run in verification
STEP_MARGIN = 30.0  # beyond a scratch step's timeout: the sandbox kills a step itself, this guards a stuck kernel
READY_TIMEOUT = 10.0
INSTRUCTIONS = (
    "Tools over the user's live Jupyter kernel. Read its variables and last error; try code with run_scratch, "
    "which runs in a fork of the kernel (the user's variables never change). When code is ready for the "
    "notebook, propose_cells verifies it in a fresh fork and puts it in JupyterLab for the user to accept or "
    "reject. Secrets are redacted."
)


class KernelNotFound(LayersError):
    hint = "start a kernel (open the notebook), or give its connection file: jupyter layers mcp --existing FILE"


def connection_file(existing: str) -> str:
    """The connection file ``--existing`` names: a path, a name in the Jupyter runtime dir, or a glob (the most
    recent match, as ``jupyter console --existing`` does)."""
    try:
        return find_connection_file(existing or "kernel*.json")
    except OSError as error:
        raise KernelNotFound(f"no kernel connection file {existing or 'kernel*.json'!r}: {error}") from None


class LiveKernel:
    """A kernel client owned by one thread (zmq sockets must stay on theirs); the server awaits it there."""

    def __init__(self, path: str):
        self.path = path
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jupyter-layers-mcp")
        self.client = self.executor.submit(self._connect).result()

    def _connect(self) -> BlockingKernelClient:
        client = BlockingKernelClient(connection_file=self.path)
        try:
            client.load_connection_file()
        except (OSError, ValueError, KeyError) as error:
            raise KernelNotFound(f"{self.path} is not a kernel connection file: {error}") from None
        client.start_channels(iopub=False, stdin=False, hb=False, control=False)
        try:
            client.wait_for_ready(timeout=READY_TIMEOUT)
        except RuntimeError:
            client.stop_channels()
            raise KernelNotFound(f"no kernel answers at {self.path} within {READY_TIMEOUT:.0f} s") from None
        return client

    def _evaluate(self, expression: str, timeout: float) -> str:
        msg_id = self.client.execute(**rpc.silent_request({"value": expression}))
        while True:
            try:
                reply = self.client.get_shell_msg(timeout=timeout)
            except queue.Empty:
                raise LayersError(
                    f"the kernel did not answer within {timeout:.0f} s", "is it busy running a long cell?"
                ) from None
            if reply["parent_header"].get("msg_id") == msg_id:
                return rpc.value(reply, "value")

    async def evaluate(self, expression: str, timeout: float = REQUEST_TIMEOUT) -> str:
        """The str an expression returns in the kernel, asked on the client's own thread."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, self._evaluate, expression, timeout)

    def close(self, sandboxes: list[str]) -> None:
        """Close the scratch sandboxes (their forks live in the user's kernel), then the channels."""
        for sandbox in sandboxes:
            self.executor.submit(self._evaluate, rpc.call(SANDBOX, "close_json", sandbox), READY_TIMEOUT).result()
        self.executor.submit(self.client.stop_channels).result()
        self.executor.shutdown()


class KernelTools:
    """What the MCP tools do, each returning text an agent reads (JSON where it has structure), redacted."""

    def __init__(self, kernel: LiveKernel, notebook: str | None = None):
        self.kernel, self.notebook = kernel, notebook
        self.sandboxes: dict[object, str] = {}  # MCP session -> its sandbox's id in the kernel
        self.opening = asyncio.Lock()

    async def _context(self, focus: list[str], budget_ms: float | None = None) -> dict:
        return json.loads(await self.kernel.evaluate(remote.expression(tuple(focus), budget_ms)))

    async def variables(self) -> str:
        clean = Redactions()
        state = (await self._context([]))["snapshot"]
        listed = [entry(v, clean) for v in state["variables"]]
        return json.dumps({"variables": listed, "not_shown": state["skipped"]}, ensure_ascii=False, indent=1)

    async def variable(self, name: str) -> str:
        state = (await self._context([name], budget_ms=0))["snapshot"]
        found = [v for v in state["variables"] if v["name"] == name]
        if not found:
            raise LayersError(f"there is no variable named {name!r} in the kernel", "the variables tool lists them")
        return json.dumps(entry(found[0], Redactions()), ensure_ascii=False, indent=1)

    async def last_error(self) -> str:
        error = (await self._context([], budget_ms=0))["last_error"]
        if not error:
            return "no error has been recorded in this kernel"
        where = f" (cell In [{error['execution_count']}])" if error.get("execution_count") else ""
        text = f"{error['ename']}: {error['evalue']}{where}\nCell:\n{error['cell']}\nTraceback:\n{error['traceback']}"
        return Redactions()(text)

    def notebook_cells(self) -> str:
        """The notebook as saved on disk now (sources and text outputs), as the prompts show other cells."""
        clean = Redactions()
        nb = nbformat.read(self.notebook, as_version=4)
        return "\n\n".join(clean(view.render()) for view in cell_views(nb)) or "the notebook has no cells"

    async def run_scratch(self, session: object, code: str, timeout: float) -> str:
        notes = []
        async with self.opening:  # two first calls of one session at once open one sandbox, not two
            sandbox = self.sandboxes.get(session)
            if sandbox is None:  # the session's first step: its sandbox, kept for the session's later steps
                sandbox = f"mcp-{uuid.uuid4().hex[:12]}"
                opened = json.loads(await self.kernel.evaluate(rpc.call(SANDBOX, "open_json", sandbox)))
                self.sandboxes[session] = sandbox
                notes = [f"scratch code runs in a {opened['mode']} sandbox: {opened['protections']}", opened["warning"]]
        reply = await self.kernel.evaluate(rpc.call(SANDBOX, "run_json", sandbox, code, timeout), timeout + STEP_MARGIN)
        text = StepResult.from_dict(json.loads(reply)).as_text()
        return Redactions()("\n".join(filter(None, [*notes, text])))

    async def propose_cells(self, cells: list[str], summary: str, check: str, model: str) -> str:
        """Verify the cells in a fresh fork (then ``check``), and hand them to JupyterLab as proposals."""
        cells = [cell for cell in cells if cell.strip()]
        if not cells:
            raise LayersError("propose_cells needs at least one cell of code", "cells: ['df[\"x\"] = 1']")
        timeout = STEP_TIMEOUT * (len(cells) + 1) + STEP_MARGIN
        verified = await self.kernel.evaluate(rpc.call(VERIFY, "verify_json", cells, check, STEP_TIMEOUT), timeout)
        verification = Verification.from_dict(json.loads(verified))
        if verification.failure:
            raise LayersError(Redactions()(f"not proposed: {verification.failure}"), "fix the cells and propose again")
        record = Build(summary.strip() or "cells proposed by an outside agent", check)
        existing = code_sources(cell_views(nbformat.read(self.notebook, as_version=4))) if self.notebook else []
        proposal = proposal_from(record, cells, summary, verification, taste_findings(cells, existing, summary), model)
        offered = json.loads(
            await self.kernel.evaluate(rpc.call(HANDOFF, "offer_json", {**proposal.payload(), "below": ""}))
        )
        answer = await self.answer(offered["comm"])
        outputs = "\n\n".join(
            f"cell {number}: {cell.result.as_text(1500)}" + "".join(f"\ntaste: {line}" for line in cell.taste)
            for number, cell in enumerate(proposal.cells, 1)
        )
        if answer is not None and "error" in answer:
            raise LayersError(f"JupyterLab refused the proposal: {answer['error']}", "nothing was proposed")
        ran = "They were not run" if proposal.unverified else "The cells ran clean in a fork"
        if answer is None:
            said = (
                f"{ran}, but no JupyterLab with jupyter_layers has this kernel's notebook open: nothing was proposed."
            )
        else:
            said = (
                f"Proposed {answer['inserted']} cells in JupyterLab below the active cell; the user accepts or "
                f"rejects them (nothing ran in their kernel; {proposal.provenance(0)['verified']})."
            )
        return Redactions()(f"{said}\n\n{outputs}")

    async def answer(self, comm_id: str | None) -> dict | None:
        """JupyterLab's answer to an offer, once the kernel is idle again; None if no frontend answered in time."""
        waited = 0.0
        while comm_id and waited < ANSWER_WAIT:
            answer = json.loads(await self.kernel.evaluate(rpc.call(HANDOFF, "answer_json", comm_id)))
            if answer is not None:
                return answer
            await asyncio.sleep(0.2)
            waited += 0.2
        return None

    def close(self) -> None:
        self.kernel.close(list(self.sandboxes.values()))


def entry(variable: dict, clean: Redactions) -> dict:
    """One snapshot entry for an agent: its summary redacted as the prompts' kernel section redacts it."""
    item = {"name": variable["name"], "type": variable["type"], "summary": clean(variable["text"])}
    if variable.get("columns") is not None:
        item["columns"] = {clean(label): dtype for label, dtype in variable["columns"]}
    return item


def build_server(tools: KernelTools, host: str = "127.0.0.1", port: int = 8000) -> FastMCP:
    """The MCP server and its tools (``notebook_cells`` only when a notebook was given)."""
    server = FastMCP("jupyter-kernel", instructions=INSTRUCTIONS, host=host, port=port, log_level="WARNING")

    @server.tool()
    async def variables() -> str:
        """The kernel's variables, most recently defined first: name, type, a short summary, table columns."""
        return await tools.variables()

    @server.tool()
    async def variable(name: str) -> str:
        """One variable in detail: type, shape, columns and dtypes, first rows or items."""
        return await tools.variable(name)

    @server.tool()
    async def last_error() -> str:
        """The last error raised in the kernel: the failing cell and its traceback."""
        return await tools.last_error()

    @server.tool()
    async def run_scratch(code: str, ctx: Context, timeout: float = 30.0) -> str:
        """Run Python in a fork of the kernel: it sees every variable, changes none of the user's; definitions
        persist across this session's calls. Returns stdout, stderr, the last expression's value or the error."""
        return await tools.run_scratch(ctx.session, code, timeout)

    @server.tool()
    async def propose_cells(cells: list[str], summary: str, ctx: Context, check: str = "") -> str:
        """Propose new notebook cells to the user. They are first run in order in a fresh fork of the kernel (then
        `check`, e.g. "assert df.x.notna().all()", if given); if one fails you get the error and nothing is
        proposed. Verified cells appear in JupyterLab below the user's active cell, with their outputs, for the user
        to accept or reject. `summary`: one sentence, what the cells do."""
        client = ctx.session.client_params.clientInfo.name if ctx.session.client_params else "client"
        return await tools.propose_cells(cells, summary, check, f"mcp:{client}")

    if tools.notebook:

        @server.tool()
        def notebook_cells() -> str:
            """The notebook's cells as saved: sources and text outputs, with their indices and execution counts."""
            return tools.notebook_cells()

    return server


class BearerGuard:
    """ASGI middleware: every HTTP request must carry ``Authorization: Bearer TOKEN``; others get a 401."""

    def __init__(self, app, token: str):
        self.app, self.expected = app, f"Bearer {token}".encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                body = b'{"error": "missing or wrong bearer token (hint: use the token jupyter layers mcp printed)"}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def serve_http(server: FastMCP, token: str) -> None:
    """Streamable HTTP on the server's host and port, behind the bearer token."""
    import uvicorn

    app = BearerGuard(server.streamable_http_app(), token)
    uvicorn.run(app, host=server.settings.host, port=server.settings.port, log_level="warning")
