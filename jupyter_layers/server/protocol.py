"""The WebSocket protocol between the browser and the server: what each message may hold, field by field.

``labextension/src/protocol.ts`` mirrors this module as a TypeScript discriminated union (same ``type`` tags,
same fields; tests/test_server_layers.py checks that the two agree). Every message is one JSON object whose
``type`` names its shape. The server validates each request here before anything runs, so a message that
does not fit gets one error line naming what is wrong, and an error raised later is a fault of ours.

Requests (browser → server) carry ``id`` (chosen by the browser, unique in its tab; every reply repeats it) and
``stream`` (what the request belongs to: one editor, one cell, one sidebar panel of one notebook). A new request
on a stream supersedes the one running there; ``cancel`` stops it. Either way the server closes its model
stream and the old request ends with ``cancelled``.

A request carries its document whole (``cells``) or, as completions do, as ``sync``: the server keeps the
document for its socket (server/documents.py), the first request sends it whole and each keystroke after it
only the cells that changed, by id and version. A ``sync`` the socket cannot apply (it does not hold that
document) is answered with ``resync``, and the browser sends the request again with the whole document.

Replies (server → browser): a request gets any number of progress messages and then exactly one last message,
after which nothing more comes for its id: a reply with ``done: true`` (``stream`` when complete, ``rewrite``,
``done``, ``resync``), ``error`` (one line with a hint) or ``cancelled``.

| request | progress | last |
|---|---|---|
| complete | stream (done: false)… | stream (done: true) |
| rewrite | text… | rewrite |
| explore | sandbox, notice, text, step, tool… findings | done |
| build | sandbox, notice, text, step, tool, verify… proposal | done |
| escalate | thinking, text… fixes | done |
| remember | | rule |
| remember_accept | notice | done |
| (any) | | error, or cancelled; resync (a ``sync`` the server cannot apply) |
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError, model_validator

MALFORMED_HINT = "the browser and the server extension disagree: reload the page after upgrading jupyter_layers"


class Strict(BaseModel):
    """An unknown field is an error: a browser and a server of different versions should say so, not guess."""

    model_config = ConfigDict(extra="forbid")


# ── requests: browser → server ──────────────────────────────────────────────────────────────────────────────


class Cell(Strict):
    """One cell of the document, as nbformat has it, trimmed by the browser (text outputs only, each capped)."""

    cell_type: Literal["code", "markdown", "raw"]
    source: str
    id: str | None = None  # the nbformat cell id; the browser finds a fix's cell by it
    outputs: list[dict[str, Any]] | None = None  # code cells: nbformat outputs (stream, error, text/plain)
    execution_count: int | None = None  # code cells: None if never run
    metadata: dict[str, Any] | None = None  # only "tags" is sent: scratch cells are left out of prompts by theirs


class SyncedCell(Cell):
    """A cell of a document the server keeps (``DocumentSync``): the browser's id for it and its version."""

    id: Annotated[str, StringConstraints(min_length=1)]  # unique in the document
    version: int = Field(ge=0)  # bumped by the browser at every change of the cell; never lower than the one sent


class DocumentSync(Strict):
    """The document the server keeps for this socket under ``key``, whole or what changed since the last request.

    The first request on a document (and the next after a ``resync`` reply) carries it whole; each later one
    only the cells that are new or changed (the active cell always: the editor's text is the truth) and the
    order of the cell ids when it changed (a cell missing from it is deleted).
    """

    key: Annotated[str, StringConstraints(min_length=1)]  # which document: the browser's widget id
    full: bool = False  # true: ``cells`` is the whole document; false: only what changed
    cells: list[SyncedCell] = []  # full: every cell; else the new and changed ones
    order: list[str] | None = None  # every cell id in document order: always when full, else when it changed

    @model_validator(mode="after")
    def _ids_fit(self):
        ids = [cell.id for cell in self.cells]
        if len(set(ids)) != len(ids):
            raise ValueError("each cell id may be sent once")
        if self.order is not None and len(set(self.order)) != len(self.order):
            raise ValueError("each cell id may be in order once")
        if self.full and (self.order is None or set(self.order) != set(ids)):
            raise ValueError("a full document has an order naming exactly its cells")
        return self


class Document(Strict):
    """What every layer's request carries: the document the user is in (notebook, console or file), either whole
    (``cells``) or as changes to the copy the server keeps for this socket (``sync``)."""

    id: str  # the request's id
    stream: str  # e.g. "complete:<editor id>", "edit:<cell id>", "explore:<notebook panel id>"
    cells: list[Cell] | None = None  # the whole document (a console: its history, then the prompt; a file: one cell)
    sync: DocumentSync | None = None  # or the document kept by the server, brought up to date (completions)
    cell: int = Field(ge=0)  # the index in the document of the active cell (where the cursor is)
    kernel_id: str | None = None  # the document's kernel, whose live state goes into the prompt
    path: str = ""  # the document's path: usage and the last exploration are kept per path
    model: str = ""  # a model for this request ("openai:qwen2.5-coder"); empty: the server's configuration

    @model_validator(mode="after")
    def _active_cell_is_sent(self):
        if (self.cells is None) == (self.sync is None):
            raise ValueError("a request carries either cells (the whole document) or sync (changes to it)")
        if self.cells is not None and self.cell >= len(self.cells):
            raise ValueError(f"cell {self.cell} is not among the {len(self.cells)} cells sent")
        return self  # a synced document's active cell is checked once its changes are applied (documents.py)


class CompleteRequest(Document):
    """Layer 1: continue the code at the cursor (ghost text)."""

    type: Literal["complete"]
    offset: int | None = Field(None, ge=0)  # the cursor, in characters of the active cell's source; None: its end


class RewriteRequest(Document):
    """Layer 2: rewrite the selection (or the whole active cell) by an instruction."""

    type: Literal["rewrite"]
    instruction: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    selection: tuple[int, int] | None = None  # [start, end) in characters of the active cell; None: the whole cell

    @model_validator(mode="after")
    def _selection_is_ordered(self):
        if self.selection is not None and not 0 <= self.selection[0] <= self.selection[1]:
            raise ValueError(f"selection {list(self.selection)} is not [start, end] with 0 <= start <= end")
        return self


class ExploreRequest(Document):
    """Layer 3: the exploration agent, its scratch cells in a fork of the kernel."""

    type: Literal["explore"]
    question: str = ""  # empty: explore the last error
    live: bool = False  # run scratch cells in the live namespace instead of a fork (as ``%explore --live``)


class BuildRequest(Document):
    """Layer 3 for a feature: the build agent; its tries and the verification of its cells in forks of the kernel.
    The proposed cells go below the active cell (``cell``)."""

    type: Literal["build"]
    task: str  # what to build (empty: the one line that says so)
    check: str = ""  # code that must run clean after the cells (as ``%build --check``)
    live: bool = False  # the tries in the live namespace instead of a fork (verification: always a fork)


class EscalateRequest(Document):
    """Layer 4: the whole picture to the reasoning model."""

    type: Literal["escalate"]
    question: str = ""  # empty: why does the last error happen, and how is it fixed


class CancelRequest(Strict):
    """Stop whatever runs on ``stream``; it ends with ``cancelled``. Nothing answers a cancel itself."""

    type: Literal["cancel"]
    stream: str
    id: str | None = None  # unused: a cancel gets no reply of its own


LayerRequest = Annotated[
    CompleteRequest | RewriteRequest | ExploreRequest | BuildRequest | EscalateRequest, Field(discriminator="type")
]


class PromptRequest(Strict):
    """The dry-run: what the layer request ``of`` would send now, built by the same code, sent nowhere."""

    type: Literal["prompt"]
    id: str
    stream: str
    of: LayerRequest


class RememberRequest(Strict):
    """After an exploration with findings: propose one project rule from them for the nearest AGENTS.md."""

    type: Literal["remember"]
    id: str
    stream: str
    path: str  # the notebook whose last exploration (kept per path) the rule is proposed from
    model: str = ""  # a model for this request; empty: the explore layer's


class RememberAcceptRequest(Strict):
    """Write a rule (the proposed one, or the user's edit of it) to the AGENTS.md nearest the notebook."""

    type: Literal["remember_accept"]
    id: str
    stream: str
    path: str  # the notebook: its folder decides which AGENTS.md (within the server's root)
    rule: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]

    @model_validator(mode="after")
    def _one_line(self):
        if "\n" in self.rule or "\r" in self.rule:
            raise ValueError("a rule is a single line")
        return self


Request = Annotated[
    CompleteRequest
    | RewriteRequest
    | ExploreRequest
    | BuildRequest
    | EscalateRequest
    | PromptRequest
    | CancelRequest
    | RememberRequest
    | RememberAcceptRequest,
    Field(discriminator="type"),
]
REQUESTS: TypeAdapter[Request] = TypeAdapter(Request)


def parse_request(data: object) -> Request:
    """The request ``data`` (decoded JSON) is, or ValidationError."""
    return REQUESTS.validate_python(data)


def describe(error: ValidationError) -> str:
    """A validation error as one line: each problem with where it is ("rewrite.cells.0.source: Field required")."""
    problems = []
    for problem in error.errors(include_url=False):
        where = ".".join(str(part) for part in problem["loc"])
        problems.append(f"{where}: {problem['msg']}" if where else problem["msg"])
    return malformed("; ".join(problems))


def malformed(problem: str) -> str:
    """The one error line for a request that does not fit the protocol."""
    return f"malformed request ({problem}); {MALFORMED_HINT}".replace("\n", " ")


# ── replies: server → browser ───────────────────────────────────────────────────────────────────────────────


class ServerReply(Strict):
    id: str | None = None  # the request's id (the socket fills it in); None: an error about a message without one


class StreamReply(ServerReply):
    """Completion: the whole ghost text so far, cleaned (cumulative, not a delta); sent only while it grows."""

    type: Literal["stream"] = "stream"
    text: str
    done: bool  # true on the last one, which carries the final text whatever it is


class TextReply(ServerReply):
    """A piece of the model's answer (edit: the new region; explore: the agent's narration; escalate: the answer)."""

    type: Literal["text"] = "text"
    text: str  # a delta: append it


class ThinkingReply(ServerReply):
    """A piece of the reasoning model's thinking (escalate), shown collapsed."""

    type: Literal["thinking"] = "thinking"
    text: str  # a delta: append it


class EditProvenance(Strict):
    """What a kept edit records in the cell's metadata (``jupyter_layers.provenance``)."""

    layer: Literal["edit"] = "edit"
    instruction: str
    model: str  # "provider:model"
    time: str  # ISO 8601, UTC, to the second


class RewriteReply(ServerReply):
    """The edit's result (last message of a rewrite): the browser reviews ``source`` as a diff in the cell."""

    type: Literal["rewrite"] = "rewrite"
    source: str  # the whole cell after the edit
    replacement: str  # the new text of the selected region alone
    syntax_error: str  # the parser's complaint if even the retry does not parse; "" when it parses
    taste: list[str] = []  # what the taste check still finds (needless try/except, deep nesting, copies), a line each
    model: str  # "provider:model"
    provenance: EditProvenance
    done: Literal[True] = True


class SandboxReply(ServerReply):
    """ExploreRequest, once the sandbox is open: what protects the scratch cells (the kernel's one-line summary)."""

    type: Literal["sandbox"] = "sandbox"
    protections: str


class NoticeReply(ServerReply):
    """ExploreRequest: something the user should know that is not an error (e.g. no fork here: the live namespace)."""

    type: Literal["notice"] = "notice"
    text: str


class StepStartedReply(ServerReply):
    """ExploreRequest: a scratch step starts; the browser inserts its code as a tagged scratch cell."""

    type: Literal["step"] = "step"
    phase: Literal["started"] = "started"
    exploration: str  # the exploration's id (kept in the scratch cell's metadata)
    number: int  # 1, 2, ... within the exploration
    code: str
    note: str  # what the agent said it is about to check ("" if nothing)


class StepFinishedReply(ServerReply):
    """ExploreRequest: a scratch step ended; its output goes into its scratch cell."""

    type: Literal["step"] = "step"
    phase: Literal["finished"] = "finished"
    exploration: str
    number: int
    outputs: list[dict[str, Any]]  # nbformat outputs: exactly what the agent read
    error: str | None  # "ExcName: message" and a short traceback, when the step raised
    timed_out: bool


StepReply = Annotated[StepStartedReply | StepFinishedReply, Field(discriminator="phase")]


class ToolReply(ServerReply):
    """ExploreRequest: the agent used a tool other than running a cell (listing variables, reading cells...)."""

    type: Literal["tool"] = "tool"
    name: str
    summary: str  # the first line of what the tool returned


class FindingsReply(ServerReply):
    """ExploreRequest: what the agent concluded, just before ``done``."""

    type: Literal["findings"] = "findings"
    exploration: str
    answer: str
    evidence: list[str]  # each citing the step it comes from
    fix: str  # code the agent suggests, "" if none
    complete: bool  # false: the step limit or token budget ended it before the agent concluded
    markdown: str  # all of it as a markdown cell's source


class Fix(Strict):
    """One cell's fix from an escalation, parsed from the answer's ``<fix cell="N">`` block by the server."""

    cell: int  # the cell's index in the ``cells`` the request sent
    before: str  # the cell's source as sent
    after: str  # the whole new source
    diff: str  # unified diff of before and after
    syntax_error: str  # "" when ``after`` parses
    taste: list[str] = []  # what the taste check finds in the fix (needless try/except, deep nesting, copies)


class EscalateProvenance(Strict):
    """What an applied fix records in its cell's metadata (the browser adds ``cell``)."""

    layer: Literal["escalate"] = "escalate"
    question: str
    model: str
    time: str


class FixesReply(ServerReply):
    """EscalateRequest, after the answer streamed: its fixes, each to be applied only on the user's click."""

    type: Literal["fixes"] = "fixes"
    fixes: list[Fix]  # one per changed cell that exists, by cell index
    answer: str  # the whole answer with each fix block replaced by a pointer to the fix shown below it
    provenance: EscalateProvenance


class PromptReply(ServerReply):
    """The answer to ``prompt``: the request's wire payload and what to judge it by (``dry_run.describe``)."""

    type: Literal["prompt"] = "prompt"
    done: Literal[True] = True
    payload: dict[str, Any]


class VerifyReply(ServerReply):
    """BuildRequest: a proposal is verified (its cells run in a fresh fork, then the check); ``finished`` says how
    it went (``failure``: what the agent reads; "" when it ran clean)."""

    type: Literal["verify"] = "verify"
    phase: Literal["started", "finished"]
    attempt: int  # 1, 2, ... within the build
    cells: int  # started: how many cells; finished: how many ran (up to the first that failed)
    failure: str = ""
    unverified: str = ""  # finished: why nothing could run (no safe fork in this kernel); "" when the cells ran


class BuildProvenance(Strict):
    """What a proposed cell records in its metadata (``jupyter_layers.provenance``)."""

    layer: Literal["build"] = "build"
    build: str  # the build's id
    cell: int  # its place among the proposed cells, from 0
    task: str
    model: str  # "provider:model"
    verified: str  # how, e.g. "ran clean in a fork of the live state; check passed: assert ..."
    time: str  # ISO 8601, UTC, to the second


class ProposedCell(Strict):
    source: str
    outputs: list[dict[str, Any]]  # nbformat outputs of its verification run (text forms)
    taste: list[str] = []  # what the taste check still finds, a line each
    provenance: BuildProvenance


class ProposalReply(ServerReply):
    """BuildRequest: the verified cells, for the browser to insert below the active cell as proposals."""

    type: Literal["proposal"] = "proposal"
    build: str
    summary: str  # the agent's one sentence ("" if it gave none)
    check: str  # the user's check the cells passed ("" if none)
    cells: list[ProposedCell]


class RuleReply(ServerReply):
    """The answer to ``remember``: the proposed rule, and the rules file it would be added to."""

    type: Literal["rule"] = "rule"
    done: Literal[True] = True
    text: str  # one line
    file: str  # relative to the server's root, e.g. "AGENTS.md" (created when it does not exist yet)


class DoneReply(ServerReply):
    """The last message of an exploration, an escalation or a ``remember_accept`` that ran to its end."""

    type: Literal["done"] = "done"
    done: Literal[True] = True
    cost: str = ""  # escalate: the estimated cost of its calls ("$0.0123"), "" when free or unknown
    steps: int | None = None  # explore, build: how many scratch steps ran


class ResyncReply(ServerReply):
    """The last message of a request whose ``sync`` changes apply to a document this socket does not hold (a new
    socket, a document dropped to make room, changes the server never got): send the request again, whole."""

    type: Literal["resync"] = "resync"
    done: Literal[True] = True
    key: str  # the document's key


class ErrorReply(ServerReply):
    """The last message of a request that failed: one line with a hint."""

    type: Literal["error"] = "error"
    message: str


class CancelledReply(ServerReply):
    """The last message of a request that was superseded or stopped: its handler can go."""

    type: Literal["cancelled"] = "cancelled"


ServerMessage = Annotated[
    StreamReply
    | TextReply
    | ThinkingReply
    | RewriteReply
    | SandboxReply
    | NoticeReply
    | StepReply
    | ToolReply
    | FindingsReply
    | FixesReply
    | VerifyReply
    | ProposalReply
    | PromptReply
    | RuleReply
    | DoneReply
    | ResyncReply
    | ErrorReply
    | CancelledReply,
    Field(discriminator="type"),
]
SERVER_MESSAGES: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)


def is_last(message: ServerReply) -> bool:
    """Whether nothing more comes for the message's request after it."""
    return isinstance(message, (ErrorReply, CancelledReply)) or getattr(message, "done", False) is True
