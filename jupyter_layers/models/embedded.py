"""An in-process GGUF model through ``llama-cpp-python``: the offline provider, needing no key and no server.

The models ship inside packages (``shipped_models``), so nothing is ever downloaded. llama.cpp calls block and
a llama.cpp context is not thread-safe, so every load and every generation runs on a worker thread, one
generation per model at a time, and text crosses to the event loop through a queue. A tiny model has no
native tool calling: tool requests are answered as one JSON object whose shape a grammar built from the tools'
schemas enforces token by token. Layer 1's ``fim`` and ``continue`` formats (a Request with ``infill``) are
raw completions of token lists built here, so special-looking text in a user's code stays plain text; the
previous request's tokens stay evaluated in llama.cpp's cache, so the next keystroke only evaluates what
changed after the stable part of the prompt.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import io
import itertools
import json
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .. import errors
from . import shipped_models
from .base import Provider
from .events import Event, Stop, TextDelta, ToolCall, Usage
from .messages import Infill, Message, Request, Text, Tool, ToolResult, ToolUse

log = logging.getLogger(__name__)

DEFAULT_TEMPERATURE = 0.2  # small models ramble at the usual 0.8
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "stop_sequence": "stop_sequence", "cancelled": "cancelled"}
# Used only for a GGUF file that carries no chat template of its own; most small instruct models speak ChatML.
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
ANSWER_CHOICE = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
ANY_OBJECT = {"type": "object"}

_tool_ids = itertools.count(1)


def _llama_cpp():
    """The llama_cpp module, imported only when the embedded provider is used (it loads a native library)."""
    try:
        import llama_cpp
    except ImportError:
        raise errors.EmbeddedModelUnavailable("llama-cpp-python (runs the offline model) is not installed") from None
    return llama_cpp


@contextlib.contextmanager
def quiet_load():
    """While a model loads, nothing reaches ``sys.stderr``: llama-cpp-python prints some of llama.cpp's load notes
    there whatever ``verbose`` says, which in a kernel is the cell's output. (A custom llama.cpp log callback would
    do it without touching ``sys.stderr``, but its ctypes thunk can be freed at interpreter exit before llama.cpp's
    last log line: a crash.)"""
    with contextlib.redirect_stderr(io.StringIO()):
        yield


def check_gguf(path: str) -> None:
    """Fail with one clear line before llama.cpp does so with a C-level message."""
    if not os.path.isfile(path):
        raise errors.ConfigError(
            f"the GGUF model file {path} does not exist",
            "set c.JupyterLayers.gguf_path to an existing .gguf file, or to the name of a shipped model "
            f"({', '.join(shipped_models.SHIPPED)})",
        )
    with open(path, "rb") as file:
        if file.read(4) != b"GGUF":
            raise errors.ConfigError(f"{path} is not a GGUF model file", "set c.JupyterLayers.gguf_path to a GGUF file")


@dataclass(frozen=True)
class InfillTokens:
    """A model's fill-in-the-middle tokens (prefix, suffix, middle): ids, and their text for the dry-run."""

    ids: tuple[int, int, int]
    texts: tuple[str, str, str]


@functools.lru_cache(maxsize=16)
def infill_tokens(path: str) -> InfillTokens | None:
    """The FIM tokens llama.cpp finds in the GGUF file (its metadata, or the vocabulary of a known code model
    family), or None when it has none; read from the vocabulary alone, without loading weights or a context."""
    llama_cpp = _llama_cpp()
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    with quiet_load():
        model = llama_cpp.llama_model_load_from_file(path.encode(), params)
    if model is None:
        raise errors.ConfigError(f"llama.cpp cannot read the vocabulary of {os.path.basename(path)}")
    try:
        vocab = llama_cpp.llama_model_get_vocab(model)
        fim = (llama_cpp.llama_vocab_fim_pre, llama_cpp.llama_vocab_fim_suf, llama_cpp.llama_vocab_fim_mid)
        ids = tuple(read(vocab) for read in fim)
        if min(ids) < 0:
            return None
        return InfillTokens(ids, tuple(_piece(llama_cpp, vocab, i) for i in ids))  # type: ignore[arg-type]
    finally:
        llama_cpp.llama_model_free(model)


def _piece(llama_cpp, vocab, token: int) -> str:
    buffer = ctypes.create_string_buffer(64)
    size = llama_cpp.llama_token_to_piece(vocab, token, buffer, len(buffer), 0, True)
    return buffer.raw[: max(size, 0)].decode("utf-8", "replace")


def required_infill_tokens(path: str) -> InfillTokens:
    markers = infill_tokens(path)
    if markers is None:
        raise errors.ConfigError(
            f"the embedded model {os.path.basename(path)} has no fill-in-the-middle tokens",
            "set c.JupyterLayers.complete_format = 'continue' (or 'auto')",
        )
    return markers


# --- loaded models -------------------------------------------------------------------------------------------


@dataclass
class LoadedModel:
    """A llama.cpp model with the chat formatter its prompts are built with, and the lock that serialises it."""

    llama: Any
    formatter: Any
    settings: tuple[int, int]
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count_prompt(self, messages: list[dict]) -> int:
        """Prompt tokens exactly as llama-cpp-python's chat handler tokenizes them."""
        try:
            rendered = self.formatter(messages=messages)
        except ValueError as exc:  # the template's raise_exception(), e.g. "system role not supported"
            raise errors.BadRequest(f"the embedded model's chat template rejected the conversation: {exc}") from None
        tokens = self.llama.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True)
        return len(tokens)

    def tokens(self, text: str) -> list[int]:
        """User text as tokens, never as special tokens (code may contain ``<|endoftext|>``)."""
        return self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False) if text else []

    def infill_prompt(self, infill: Infill, markers: InfillTokens | None) -> list[int]:  # markers: with a suffix
        """The token list of a raw completion: BOS if the model wants one, then the text (with FIM tokens
        around prefix and suffix when the infill has a suffix)."""
        bos = [self.llama.token_bos()] if self.llama.metadata.get("tokenizer.ggml.add_bos_token") == "true" else []
        if infill.suffix is None:
            return bos + self.tokens(infill.prefix)
        prefix, suffix, middle = markers.ids
        return bos + [prefix, *self.tokens(infill.prefix), suffix, *self.tokens(infill.suffix), middle]

    def pieces(self, call: dict) -> Iterator[tuple[str | None, str | None]]:
        """(text, finish_reason) for each streamed chunk of a chat or a raw completion."""
        if "messages" in call:
            for chunk in self.llama.create_chat_completion(**call, stream=True):
                choice = chunk["choices"][0]
                yield choice["delta"].get("content"), choice["finish_reason"]
            return
        raw = {key: value for key, value in call.items() if key not in ("prompt", "tokens", "stop")}
        for chunk in self.llama.create_completion(call["tokens"], **raw, stream=True):
            choice = chunk["choices"][0]
            yield choice["text"], choice["finish_reason"]


_models: dict[str, LoadedModel] = {}
_models_lock = threading.Lock()


def load_model(path: str, context: int, threads: int) -> LoadedModel:
    """Each GGUF file is loaded once per process and kept; it is reloaded only when its settings change."""
    with _models_lock:
        model = _models.get(path)
        if model is None or model.settings != (context, threads):
            model = _models[path] = _open(path, context, threads)
        return model


def _open(path: str, context: int, threads: int) -> LoadedModel:
    llama_cpp = _llama_cpp()
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    try:
        with quiet_load():
            llama = llama_cpp.Llama(model_path=path, n_ctx=context, n_threads=threads, verbose=False)
    except ValueError as exc:  # "Failed to load model from file": an architecture this llama.cpp does not know
        raise errors.ConfigError(f"llama.cpp cannot load {os.path.basename(path)}: {exc}") from None
    eos, bos = llama.token_eos(), llama.token_bos()
    formatter = Jinja2ChatFormatter(
        template=llama.metadata.get("tokenizer.chat_template") or CHATML,
        eos_token=llama.detokenize([eos], special=True).decode("utf-8") if eos != -1 else "",
        bos_token=llama.detokenize([bos], special=True).decode("utf-8") if bos != -1 else "",
        stop_token_ids=[eos],
    )
    # Generate with the very formatter prompt tokens are counted with (llama-cpp-python may otherwise pick
    # a built-in format that renders differently).
    llama.chat_handler = formatter.to_chat_handler()
    return LoadedModel(llama, formatter, (context, threads))


# --- the prompt ----------------------------------------------------------------------------------------------


def tools_prompt(tools: tuple[Tool, ...], must_call: bool) -> str:
    """Tells the model which JSON objects it may answer with (the grammar enforces the same shapes)."""
    lines = ["You can use these tools:"]
    lines += [f"- {t.name}: {t.description} Input schema: {json.dumps(t.input_schema)}" for t in tools]
    lines.append("")
    lines.append('Reply with one JSON object only. To call a tool: {"tool": "<tool name>", "input": {<tool input>}}.')
    if not must_call:
        lines.append('To reply to the user instead: {"answer": "<your reply>"}.')
    return "\n".join(lines)


def _render(block, tool_names: dict[str, str]) -> str:
    """A content block as plain text: the small model only reads text, so tool traffic is written out."""
    if isinstance(block, Text):
        return block.text
    if isinstance(block, ToolUse):
        return json.dumps({"tool": block.name, "input": block.input})
    if isinstance(block, ToolResult):
        name = tool_names.get(block.tool_use_id, "the tool")
        label = "Error from" if block.is_error else "Result of"
        return f"{label} {name} (call {block.tool_use_id}):\n{block.content}"
    return ""  # thinking: the embedded model has none and cannot use another model's


def chat_messages(request: Request) -> list[dict]:
    """The request as chat messages: one system message (tools described in it), then the turns as text."""
    system = "\n\n".join(b.text for b in request.system)
    if request.tools:
        system = "\n\n".join(filter(None, [system, tools_prompt(request.tools, request.tool_choice == "any")]))
    out = [{"role": "system", "content": system}] if system else []
    names = {use.id: use.name for message in request.messages for use in message.tool_uses}
    for message in request.messages:
        content = "\n\n".join(filter(None, (_render(b, names) for b in message.content)))
        if content:
            out.append({"role": message.role, "content": content})
    return out


# --- the tool grammar ----------------------------------------------------------------------------------------


def _pointer(root: dict, ref: str) -> Any:
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def inline_refs(node: Any, root: dict, seen: tuple[str, ...] = ()) -> Any:
    """Replace local ``$ref``s with what they point to.

    A tool's schema is nested inside the combined schema, where its ``#/...`` references would point at the
    wrong root; llama-cpp-python also names referenced rules by their last path segment only, so two tools'
    ``#/$defs/Item`` would collide. A recursive reference becomes "any JSON value" one level down.
    """
    if isinstance(node, list):
        return [inline_refs(item, root, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        return {} if ref in seen else inline_refs(_pointer(root, ref), root, (*seen, ref))
    return {key: inline_refs(value, root, seen) for key, value in node.items() if key not in ("$defs", "definitions")}


def grammar_input_schema(tool: Tool) -> dict:
    """The tool's input schema if llama-cpp-python can turn it into a grammar, else any JSON object.

    Its converter rejects some valid schemas (an unanchored ``pattern``, a property schema with no type);
    for those the model is still held to a JSON object, just not to that tool's exact shape.
    """
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        schema = inline_refs(tool.input_schema, tool.input_schema)
        json_schema_to_gbnf(json.dumps(schema))
    except (AssertionError, KeyError, TypeError, ValueError) as exc:
        log.warning("no grammar for the input schema of %r (%s): any JSON object is accepted", tool.name, exc)
        return ANY_OBJECT
    return schema


def tool_schema(tools: tuple[Tool, ...], must_call: bool) -> dict:
    """Exactly one of ``{"tool": <name>, "input": <its input schema>}`` per tool, or ``{"answer": <text>}``.

    Uses only what llama-cpp-python's json_schema_to_gbnf supports: ``anyOf``, ``const``, objects with
    ``properties``/``required`` (no ``additionalProperties`` key means no extra keys) and string.
    """
    choices = [
        {
            "type": "object",
            "properties": {"tool": {"const": tool.name}, "input": grammar_input_schema(tool)},
            "required": ["tool", "input"],
        }
        for tool in tools
    ]
    if not must_call:
        choices.append(ANSWER_CHOICE)
    return {"anyOf": choices}


# --- generation on a worker thread ---------------------------------------------------------------------------


class StopScanner:
    """Finds the request's stop strings in streamed text, holding back any text that may begin one.

    llama-cpp-python reports a stop string and the end-of-turn token alike as finish_reason "stop"; scanning
    here tells them apart (``stop_sequence`` vs ``end_turn``) and never shows part of a stop string.
    """

    def __init__(self, stops: tuple[str, ...]):
        self.stops = [s for s in stops if s]
        self.pending = ""
        self.hit = False

    def feed(self, text: str) -> str:
        """The part of the text seen so far that can be shown now."""
        self.pending += text
        found = [i for i in (self.pending.find(s) for s in self.stops) if i >= 0]
        if found:
            self.hit = True
            shown, self.pending = self.pending[: min(found)], ""
            return shown
        keep = max((k for s in self.stops for k in range(1, len(s)) if self.pending.endswith(s[:k])), default=0)
        shown, self.pending = self.pending[: len(self.pending) - keep], self.pending[len(self.pending) - keep :]
        return shown

    def flush(self) -> str:
        shown, self.pending = self.pending, ""
        return shown


@dataclass(frozen=True)
class Outcome:
    finish: str  # "stop", "length", "stop_sequence" or "cancelled"
    text: str
    prompt_tokens: int
    completion_tokens: int


def translate_error(exc: Exception, prompt_tokens: int, context: int) -> errors.LayersError | None:
    """llama-cpp-python's failures for a request that cannot run, as one-line errors; None for anything else."""
    if isinstance(exc, ValueError) and "exceed context window" in str(exc):
        return errors.BadRequest(
            f"the conversation ({prompt_tokens} tokens) does not fit the embedded model's context window "
            f"of {context} tokens",
            "lower the context budget, or raise c.JupyterLayers.embedded_context",
        )
    if isinstance(exc, RuntimeError) and str(exc).startswith("llama_decode returned"):
        return errors.ProviderError(f"llama.cpp failed while generating: {exc}")
    return None


def generate(
    model: LoadedModel, call: dict, stops: tuple[str, ...], cancelled: threading.Event, emit: Callable[[str], None]
) -> Outcome:
    """One chat or raw completion, blocking; checks ``cancelled`` at every token and hands shown text to ``emit``."""
    with model.lock:
        if cancelled.is_set():  # given up while waiting for the model
            return Outcome("cancelled", "", 0, 0)
        prompt_tokens = model.count_prompt(call["messages"]) if "messages" in call else len(call["tokens"])
        scanner = StopScanner(stops)
        finish, shown, tokens = "stop", [], 0
        chunks = None
        try:
            chunks = model.pieces(call)
            for piece, finish_reason in chunks:
                if cancelled.is_set():
                    finish = "cancelled"
                    break
                if piece:
                    tokens += 1
                    shown.append(scanner.feed(piece))
                    if shown[-1]:
                        emit(shown[-1])
                    if scanner.hit:
                        finish = "stop_sequence"
                        break
                finish = finish_reason or finish
        except (ValueError, RuntimeError) as exc:
            translated = translate_error(exc, prompt_tokens, model.llama.n_ctx())
            if translated is None:
                raise
            raise translated from None
        finally:
            if chunks is not None:
                chunks.close()  # stops llama's token loop where it is
        shown.append(scanner.flush())
        if shown[-1] and finish != "cancelled":
            emit(shown[-1])
        return Outcome(finish, "".join(shown), prompt_tokens, tokens)


class Generation:
    """A generation running on its own thread; its text and its outcome reach the event loop through a queue."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = loop
        self._queue: asyncio.Queue = asyncio.Queue()
        self._cancelled = threading.Event()
        self._ended = False

    def start(self, model: LoadedModel, call: dict, stops: tuple[str, ...]) -> None:
        worker = threading.Thread(target=self._work, args=(model, call, stops), name="jupyter-layers-embedded")
        worker.daemon = True  # an interpreter exiting mid-answer must not wait for the rest of it
        worker.start()

    def _post(self, kind: str, value: object) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (kind, value))
        except RuntimeError:  # the event loop was closed: nobody is listening any more, so stop generating
            self._cancelled.set()

    def _work(self, model: LoadedModel, call: dict, stops: tuple[str, ...]) -> None:
        result: object = RuntimeError("the embedded model's worker thread ended without a result")
        try:
            result = generate(model, call, stops, self._cancelled, lambda text: self._post("text", text))
        except Exception as exc:  # re-raised on the event loop, in the consumer's task
            result = exc
        finally:
            self._post("end", result)

    async def next(self) -> tuple[str, object]:
        """The next ("text", str) or, last, ("end", Outcome); a failure of the worker is raised here."""
        kind, value = await self._queue.get()
        if kind == "end":
            self._ended = True
            if isinstance(value, Exception):
                raise value
        return kind, value

    async def close(self) -> None:
        """Stop the worker within one token and wait for it, so the model is free when this returns."""
        self._cancelled.set()
        while not self._ended:
            kind, _ = await self._queue.get()
            self._ended = kind == "end"


# --- the provider --------------------------------------------------------------------------------------------


class EmbeddedProvider(Provider):
    """A GGUF model run in this process: a shipped model by name (``shipped_models``), or a GGUF file's path."""

    name = "embedded"

    def __init__(self, threads: int | None = None, context: int = 8192):
        self.threads = threads or os.cpu_count() or 1
        self.context = context

    def resolve(self, spec: str) -> str:
        """The model file for a model spec: a shipped model's name (empty: SmolLM2, which chats; the router
        names each layer's), or a path to a GGUF file."""
        _llama_cpp()
        shipped = shipped_models.SHIPPED.get(spec or shipped_models.SMOLLM2.name)
        path = shipped.path() if shipped else os.path.abspath(os.path.expanduser(spec))
        check_gguf(path)
        return path

    def describe(self, model: str) -> str:
        return f"{self.name}:{os.path.basename(model)}"

    def model(self, path: str) -> LoadedModel:
        """The loaded model for a resolved path (blocking: loads it on first use)."""
        return load_model(path, self.context, self.threads)

    def completion_format(self, path: str) -> str:
        """Layer 1's prompt format for this model when none is configured: fill-in-the-middle if its vocabulary
        has the tokens for it, else plain continuation (small models are not chat models; docs/benchmarks.md)."""
        return "fim" if infill_tokens(path) else "continue"

    def payload(self, request: Request) -> dict:
        """The arguments of llama-cpp-python's ``create_chat_completion``, or for an infill request those of
        ``create_completion`` with the prompt as text (FIM tokens written out) instead of the token list."""
        call: dict = {
            "max_tokens": request.max_tokens,
            "temperature": DEFAULT_TEMPERATURE if request.temperature is None else request.temperature,
        }
        if request.infill is not None:  # stop strings are applied as the text streams (StopScanner)
            return {"prompt": self.infill_text(request.infill, request.model), **call, "stop": list(request.stop)}
        call["messages"] = chat_messages(request)
        if request.tools:  # the grammar decides where the JSON ends, so stop strings are not applied
            schema = tool_schema(request.tools, must_call=request.tool_choice == "any")
            call["response_format"] = {"type": "json_object", "schema": schema}
        return call

    def infill_text(self, infill: Infill, path: str) -> str:
        """The raw prompt as text: what the token list encodes, the model's FIM tokens written out."""
        if infill.suffix is None:
            return infill.prefix
        prefix, suffix, middle = required_infill_tokens(path).texts
        return f"{prefix}{infill.prefix}{suffix}{infill.suffix}{middle}"

    def _ready(self, spec: str) -> tuple[str, LoadedModel]:
        path = self.resolve(spec)
        return path, self.model(path)

    async def events(self, request: Request) -> AsyncIterator[Event]:
        path, model = await asyncio.to_thread(self._ready, request.model)  # imports and loading block
        call = self.payload(request)
        if request.infill is not None:
            markers = required_infill_tokens(path) if request.infill.suffix is not None else None
            call["tokens"] = model.infill_prompt(request.infill, markers)
        generation = Generation(asyncio.get_running_loop())
        generation.start(model, call, () if request.tools else request.stop)
        label = os.path.basename(path)
        try:
            kind, value = await generation.next()
            while kind == "text":
                if not request.tools:
                    yield TextDelta(value)
                kind, value = await generation.next()
        finally:
            await generation.close()
        outcome: Outcome = value
        if request.tools:
            for event in tool_events(outcome, request.tools, label):
                yield event
            return
        yield Usage(outcome.prompt_tokens, outcome.completion_tokens)
        yield Stop(STOP_REASONS[outcome.finish], Message.assistant(outcome.text), label)


def tool_events(outcome: Outcome, tools: tuple[Tool, ...], label: str) -> list[Event]:
    """The events of a finished tool-mode completion: a tool call, an answer, or the cut-off raw JSON."""
    usage = Usage(outcome.prompt_tokens, outcome.completion_tokens)
    if outcome.finish == "length":
        return [*_deltas(outcome.text), usage, Stop("max_tokens", Message.assistant(outcome.text), label)]
    try:
        choice = json.loads(outcome.text, strict=False)  # the grammar lets raw newlines into strings
    except json.JSONDecodeError:
        raise _broken_grammar(outcome.text) from None
    if "tool" in choice and choice["tool"] in {t.name for t in tools}:
        use = ToolUse(f"toolu_emb_{next(_tool_ids)}", choice["tool"], choice["input"])
        return [ToolCall(use), usage, Stop("tool_use", Message.assistant(use), label)]
    if isinstance(choice.get("answer"), str):
        answer = choice["answer"]
        return [*_deltas(answer), usage, Stop("end_turn", Message.assistant(answer), label)]
    raise _broken_grammar(outcome.text)


def _deltas(text: str) -> list[TextDelta]:
    return [TextDelta(text)] if text else []


def _broken_grammar(text: str) -> errors.ProviderError:
    """Cannot happen while llama.cpp enforces the grammar; reported rather than guessed around if it does."""
    return errors.ProviderError(f"the embedded model's output broke its JSON grammar: {text[:200]!r}")
