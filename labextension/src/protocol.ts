/**
 * The WebSocket protocol between the browser and the server, field by field: the mirror of
 * `jupyter_layers/server/protocol.py` (same `type` tags, same fields; tests/test_server_layers.py checks that
 * the two agree). Every message is one JSON object whose `type` names its shape.
 *
 * Requests carry `id` (unique in this tab; every reply repeats it) and `stream` (what the request belongs to:
 * one editor, one cell, one sidebar panel of one notebook). A new request on a stream supersedes the one running
 * there, and `cancel` stops it: either way the old request ends with `cancelled`. The server validates each
 * request and answers one that does not fit with one `error` line naming what is wrong.
 *
 * A request carries its document whole (`cells`) or, as completions do, as `sync`: the server keeps the document
 * for this socket, the first request sends it whole and each keystroke after it only the cells that changed, by
 * id and version (documentSync.ts). A `sync` the server cannot apply is answered with `resync`: send the request
 * again with the whole document.
 *
 * Replies: any number of progress messages, then exactly one last message (see `isLast`), after which nothing
 * more comes for that id: `done: true` (`stream` when complete, `rewrite`, `done`, `resync`), `error` or
 * `cancelled`.
 *
 * | request  | progress                                          | last                |
 * |----------|---------------------------------------------------|---------------------|
 * | complete | stream (done: false)…                             | stream (done: true) |
 * | rewrite  | text…                                             | rewrite             |
 * | explore  | sandbox, notice, text, step, tool… findings        | done                |
 * | escalate | thinking, text… fixes                             | done                |
 * | remember |                                                   | rule                |
 * | remember_accept | notice                                     | done                |
 * | (any)    |                                                   | error, or cancelled |
 * | (sync)   |                                                   | resync              |
 */
import type * as nbformat from '@jupyterlab/nbformat';

// ── requests: browser → server ──────────────────────────────────────────────────────────────────────────────

/** One cell of the document as nbformat has it, trimmed (text outputs only, each capped). */
export interface ICell {
  cell_type: 'code' | 'markdown' | 'raw';
  source: string;
  /** The nbformat cell id: a fix's cell is found by it. */
  id?: string | null;
  /** Code cells: stream, error and text/plain outputs. */
  outputs?: nbformat.IOutput[] | null;
  /** Code cells: null if never run. */
  execution_count?: number | null;
  /** Only `tags`: scratch cells are left out of prompts by theirs. */
  metadata?: Record<string, any> | null;
}

/** A cell of a document the server keeps: the browser's id for it and its version. */
export interface ISyncedCell extends ICell {
  /** Unique in the document. */
  id: string;
  /** Bumped at every change of the cell; never lower than the one sent before. */
  version: number;
}

/**
 * The document the server keeps for this socket under `key`: whole the first time (and after `resync`), then
 * only the new and changed cells (the active one always) and the order when it changed (a cell missing from it
 * is deleted).
 */
export interface IDocumentSync {
  /** Which document: the widget's id. */
  key: string;
  /** True: `cells` is the whole document. */
  full?: boolean;
  /** Full: every cell; else the new and changed ones. */
  cells?: ISyncedCell[];
  /** Every cell id in document order: always when full, else when it changed. */
  order?: string[] | null;
}

/** What every layer's request carries: the document the user is in (notebook, console or file). */
export interface IDocument {
  id: string;
  /** e.g. `complete:<editor id>`, `edit:<cell id>`, `explore:<notebook panel id>`. */
  stream: string;
  /** The whole document (a console: its history, then the prompt; a file: one code cell); or `sync`. */
  cells?: ICell[] | null;
  /** Or the document kept by the server, brought up to date (completions). */
  sync?: IDocumentSync | null;
  /** The index in the document of the active cell. */
  cell: number;
  /** The document's kernel, whose live state goes into the prompt. */
  kernel_id?: string | null;
  /** Usage and the last exploration are kept per path. */
  path?: string;
  /** A model for this request (`openai:qwen2.5-coder`); empty: the server's configuration. */
  model?: string;
}

/** Layer 1: continue the code at the cursor (ghost text). */
export interface ICompleteRequest extends IDocument {
  type: 'complete';
  /** The cursor, in characters of the active cell's source; absent: its end. */
  offset?: number | null;
}

/** Layer 2: rewrite the selection (or the whole active cell) by an instruction. */
export interface IRewriteRequest extends IDocument {
  type: 'rewrite';
  /** Not blank. */
  instruction: string;
  /** [start, end) in characters of the active cell; null: the whole cell. */
  selection?: [number, number] | null;
}

/** Layer 3: the exploration agent, its scratch cells in a fork of the kernel. */
export interface IExploreRequest extends IDocument {
  type: 'explore';
  /** Empty: explore the last error. */
  question?: string;
  /** Scratch cells in the live namespace instead of a fork (as `%explore --live`). */
  live?: boolean;
}

/** Layer 3 for a feature: the build agent; its tries and the verification of its cells in forks of the kernel. */
export interface IBuildRequest extends IDocument {
  type: 'build';
  /** What to build (empty: the one line that says so). */
  task: string;
  /** Code that must run clean after the cells (as `%build --check`). */
  check?: string;
  /** The tries in the live namespace instead of a fork (verification: always a fork). */
  live?: boolean;
}

/** Layer 4: the whole picture to the reasoning model. */
export interface IEscalateRequest extends IDocument {
  type: 'escalate';
  /** Empty: why does the last error happen, and how is it fixed. */
  question?: string;
}

/** Stop whatever runs on `stream`; it ends with `cancelled`. A cancel gets no reply of its own. */
export interface ICancelRequest {
  type: 'cancel';
  stream: string;
  id?: string | null;
}

export type LayerRequest = ICompleteRequest | IRewriteRequest | IExploreRequest | IBuildRequest | IEscalateRequest;

/** The dry-run: what the layer request `of` would send now, built by the same code, sent nowhere. */
export interface IPromptRequest {
  type: 'prompt';
  id: string;
  stream: string;
  of: LayerRequest;
}

/** After an exploration with findings: propose one project rule from them for the nearest AGENTS.md. */
export interface IRememberRequest {
  type: 'remember';
  id: string;
  stream: string;
  /** The notebook whose last exploration (kept per path) the rule is proposed from. */
  path: string;
  /** A model for this request; empty: the explore layer's. */
  model?: string;
}

/** Write a rule (the proposed one, or the user's edit of it) to the AGENTS.md nearest the notebook. */
export interface IRememberAcceptRequest {
  type: 'remember_accept';
  id: string;
  stream: string;
  /** The notebook: its folder decides which AGENTS.md (within the server's root). */
  path: string;
  /** A single line, not blank. */
  rule: string;
}

export type Request = LayerRequest | IPromptRequest | ICancelRequest | IRememberRequest | IRememberAcceptRequest;

type OmitEach<T, K extends keyof any> = T extends unknown ? Omit<T, K> : never;
/** A request before the connection gives it its id. */
export type RequestPayload = OmitEach<LayerRequest | IRememberRequest | IRememberAcceptRequest, 'id'>;

// ── replies: server → browser ───────────────────────────────────────────────────────────────────────────────

interface IReply {
  /** The request's id; null only for an error about a message that had none. */
  id: string | null;
}

/** Completion: the whole ghost text so far, cleaned (cumulative, not a delta); sent only while it grows. */
export interface IStreamReply extends IReply {
  type: 'stream';
  text: string;
  /** True on the last one, which carries the final text whatever it is. */
  done: boolean;
}

/** A piece of the model's answer (edit: the new region; explore: the agent's narration; escalate: the answer). */
export interface ITextReply extends IReply {
  type: 'text';
  /** A delta: append it. */
  text: string;
}

/** A piece of the reasoning model's thinking (escalate), shown collapsed. */
export interface IThinkingReply extends IReply {
  type: 'thinking';
  /** A delta: append it. */
  text: string;
}

/** What a kept edit records in the cell's metadata (`jupyter_layers.provenance`). */
export interface IEditProvenance {
  layer: 'edit';
  instruction: string;
  /** `provider:model`. */
  model: string;
  /** ISO 8601, UTC, to the second. */
  time: string;
}

/** The edit's result (last message of a rewrite), reviewed as a diff in the cell. */
export interface IRewriteReply extends IReply {
  type: 'rewrite';
  /** The whole cell after the edit. */
  source: string;
  /** The new text of the selected region alone. */
  replacement: string;
  /** The parser's complaint if even the retry does not parse; empty when it parses. */
  syntax_error: string;
  /** What the taste check still finds (needless try/except, deep nesting, copies), a line each. */
  taste: string[];
  model: string;
  provenance: IEditProvenance;
  done: true;
}

/** Explore, once the sandbox is open: what protects the scratch cells (the kernel's one-line summary). */
export interface ISandboxReply extends IReply {
  type: 'sandbox';
  protections: string;
}

/** Explore: something to know that is not an error (e.g. no fork here: the live namespace). */
export interface INoticeReply extends IReply {
  type: 'notice';
  text: string;
}

/** Explore: a scratch step starts; its code becomes a tagged scratch cell. */
export interface IStepStarted extends IReply {
  type: 'step';
  phase: 'started';
  /** The exploration's id (kept in the scratch cell's metadata). */
  exploration: string;
  /** 1, 2, ... within the exploration. */
  number: number;
  code: string;
  /** What the agent said it is about to check (empty if nothing). */
  note: string;
}

/** Explore: a scratch step ended; its output goes into its scratch cell. */
export interface IStepFinished extends IReply {
  type: 'step';
  phase: 'finished';
  exploration: string;
  number: number;
  /** Exactly what the agent read. */
  outputs: nbformat.IOutput[];
  /** `ExcName: message` and a short traceback, when the step raised. */
  error: string | null;
  timed_out: boolean;
}

/** Explore: the agent used a tool other than running a cell (listing variables, reading cells...). */
export interface IToolReply extends IReply {
  type: 'tool';
  name: string;
  /** The first line of what the tool returned. */
  summary: string;
}

/** Explore: what the agent concluded, just before `done`. */
export interface IFindingsReply extends IReply {
  type: 'findings';
  exploration: string;
  answer: string;
  /** Each citing the step it comes from. */
  evidence: string[];
  /** Code the agent suggests, empty if none. */
  fix: string;
  /** False: the step limit or token budget ended it before the agent concluded. */
  complete: boolean;
  /** All of it as a markdown cell's source. */
  markdown: string;
}

/** One cell's fix from an escalation, parsed by the server from the answer's `<fix cell="N">` block. */
export interface IFix {
  /** The cell's index in the `cells` the request sent. */
  cell: number;
  /** The cell's source as sent. */
  before: string;
  /** The whole new source. */
  after: string;
  /** Unified diff of before and after. */
  diff: string;
  /** Empty when `after` parses. */
  syntax_error: string;
  /** What the taste check finds in the fix (needless try/except, deep nesting, copies), a line each. */
  taste: string[];
}

/** What an applied fix records in its cell's metadata (the browser adds `cell`). */
export interface IEscalateProvenance {
  layer: 'escalate';
  question: string;
  model: string;
  time: string;
}

/** Escalate, after the answer streamed: its fixes, each applied only on the user's click. */
export interface IFixesReply extends IReply {
  type: 'fixes';
  /** One per changed cell that exists, by cell index. */
  fixes: IFix[];
  /** The whole answer with each fix block replaced by a pointer to the fix shown below it. */
  answer: string;
  provenance: IEscalateProvenance;
}

/** The answer to `prompt`: the request's wire payload and what to judge it by (size, cache breakpoints, redactions). */
export interface IPromptReply extends IReply {
  type: 'prompt';
  done: true;
  payload: Record<string, unknown>;
}

/** Build: a proposal is verified (its cells in a fresh fork, then the check); `finished` says how it went. */
export interface IVerifyReply extends IReply {
  type: 'verify';
  phase: 'started' | 'finished';
  /** 1, 2, ... within the build. */
  attempt: number;
  /** Started: how many cells; finished: how many ran (up to the first that failed). */
  cells: number;
  /** What the agent reads of the failure; empty when the cells ran clean. */
  failure: string;
  /** Finished: why nothing could run (no safe fork in this kernel); empty when the cells ran. */
  unverified: string;
}

/** What a proposed cell records in its metadata (`jupyter_layers.provenance`). */
export interface IBuildProvenance {
  layer: 'build';
  /** The build's id. */
  build: string;
  /** Its place among the proposed cells, from 0. */
  cell: number;
  task: string;
  model: string;
  /** How, e.g. "ran clean in a fork of the live state; check passed: assert ...". */
  verified: string;
  time: string;
}

export interface IProposedCell {
  source: string;
  /** nbformat outputs of its verification run (text forms). */
  outputs: nbformat.IOutput[];
  /** What the taste check still finds, a line each. */
  taste: string[];
  provenance: IBuildProvenance;
}

/** Build: the verified cells, inserted below the active cell as proposals for the user to accept or reject. */
export interface IProposalReply extends IReply {
  type: 'proposal';
  build: string;
  /** The agent's one sentence (empty if none). */
  summary: string;
  /** The user's check the cells passed (empty if none). */
  check: string;
  cells: IProposedCell[];
}

/** Not a WebSocket message: what the kernel sends over its comm (building/handoff.py, handoff.ts), a proposal as
 * the server's `proposal` message has it, and where it goes. */
export interface IProposalHandoff extends Omit<IProposalReply, 'type' | 'id'> {
  /** The id of the cell to insert below (the `%build` cell); empty: the active cell. */
  below: string;
}

/** The shape the kernel sends, checked before anything is inserted (a kernel may run another version). */
export function isProposal(data: unknown): data is IProposalHandoff {
  const proposal = data as IProposalHandoff | null;
  return (
    typeof proposal === 'object' &&
    proposal !== null &&
    Array.isArray(proposal.cells) &&
    proposal.cells.every(
      cell => typeof cell?.source === 'string' && Array.isArray(cell.outputs) && typeof cell.provenance === 'object'
    )
  );
}

/** The answer to `remember`: the proposed rule, and the rules file it would be added to. */
export interface IRuleReply extends IReply {
  type: 'rule';
  done: true;
  /** One line. */
  text: string;
  /** Relative to the server's root, e.g. `AGENTS.md` (created when it does not exist yet). */
  file: string;
}

/** The last message of an exploration, an escalation or a `remember_accept` that ran to its end. */
export interface IDoneReply extends IReply {
  type: 'done';
  done: true;
  /** Escalate: the estimated cost of its calls (`$0.0123`); empty when free or unknown. */
  cost: string;
  /** Explore, build: how many scratch steps ran. */
  steps: number | null;
}

/** The last message of a request whose `sync` the server cannot apply: send it again with the whole document. */
export interface IResyncReply extends IReply {
  type: 'resync';
  done: true;
  /** The document's key. */
  key: string;
}

/** The last message of a request that failed: one line with a hint. */
export interface IErrorReply extends IReply {
  type: 'error';
  message: string;
}

/** The last message of a request that was superseded or stopped: its handler can go. */
export interface ICancelledReply extends IReply {
  type: 'cancelled';
}

export type ServerMessage =
  | IStreamReply
  | ITextReply
  | IThinkingReply
  | IRewriteReply
  | ISandboxReply
  | INoticeReply
  | IStepStarted
  | IStepFinished
  | IToolReply
  | IFindingsReply
  | IFixesReply
  | IVerifyReply
  | IProposalReply
  | IPromptReply
  | IRuleReply
  | IDoneReply
  | IResyncReply
  | IErrorReply
  | ICancelledReply;

/** Every `type` a server message may have (the compiler checks that the list is complete). */
export const SERVER_MESSAGE_TYPES = Object.keys({
  stream: true,
  text: true,
  thinking: true,
  rewrite: true,
  sandbox: true,
  notice: true,
  step: true,
  tool: true,
  findings: true,
  fixes: true,
  verify: true,
  proposal: true,
  prompt: true,
  rule: true,
  done: true,
  resync: true,
  error: true,
  cancelled: true
} satisfies Record<ServerMessage['type'], true>) as ServerMessage['type'][];

/** Whether nothing more comes for the message's request after it (its handler can go). */
export function isLast(message: ServerMessage): boolean {
  return message.type === 'error' || message.type === 'cancelled' || ('done' in message && message.done === true);
}

/** A message from the socket, or null when it is not one of ours (an object with a known `type` and an `id`). */
export function parseServerMessage(data: string): ServerMessage | null {
  const message: unknown = JSON.parse(data);
  if (typeof message !== 'object' || message === null) {
    return null;
  }
  const { type, id } = message as { type?: unknown; id?: unknown };
  const known = (SERVER_MESSAGE_TYPES as unknown[]).includes(type);
  return known && (typeof id === 'string' || id === null) ? (message as ServerMessage) : null;
}
