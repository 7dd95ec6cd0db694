"""Ghost-text completions in a terminal ``ipython``: history suggestions at once, the model's after a pause.

IPython 9's own ``llm_provider_class`` hook builds jupyter-ai 2.x request objects, which jupyter-ai 3.x no longer
ships, so this does not use it. It wraps the auto-suggester of the prompt's buffer instead. That one is
prompt_toolkit's ``DynamicAutoSuggest(lambda: pt_app.auto_suggest)``, so IPython's history suggester
(``NavigableAutoSuggestFromHistory``, with its Ctrl-Up/Down navigation and its display on any line) still
answers, and when IPython replaces it (``_set_autosuggestions``, e.g. after ``autosuggestions_provider``
changes), the new one is picked up without reinstalling.

On every keystroke the history suggestion is returned at once. After ``JupyterLayers.terminal_debounce``
seconds with no change, if the cursor ends a non-empty line, the "complete" route is asked with the kernel
context. If the document is still the same when the answer arrives, the answer replaces the history suggestion.
Any edit or cursor move cancels the pending call, and its model stream closes. A model failure (offline, rate
limited, timed out, misconfigured) is only logged at debug level. Nobody asked for this suggestion, so an error
line in the prompt would be noise, and history suggestions go on as before.

Multi-line answers: only the rest of the current line is suggested. prompt_toolkit draws the suggestion after
the cursor on the buffer's last line and shows a newline in it as ``^J``. IPython's processor spreads a
multi-line suggestion only over lines the buffer already has below the cursor (its own LLM shortcut inserts
blank lines first). The accept keys (Right, End, Ctrl-E) insert the whole suggestion text. With one line, what
you see is exactly what gets inserted. After Enter, the next line gets its own suggestion.

Ghost text follows IPython's own switch: with ``autosuggestions_provider = None`` the model is not asked either.

The model call runs on the models' background loop, not on the prompt's. An HTTP client is tied to one loop, and
the prompt's loop is not a stable home for one: with a GUI input hook, prompt_toolkit makes a new loop for every
prompt. The background loop keeps one client and its connections for the whole session. Cancelling the waiting
task, on a keystroke or when the prompt ends, cancels the call there too.
"""

from __future__ import annotations

import asyncio
import logging

from IPython.terminal.shortcuts.auto_suggest import NavigableAutoSuggestFromHistory
from prompt_toolkit.application import get_app
from prompt_toolkit.auto_suggest import AutoSuggest, Suggestion
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.document import Document

from ..context.situation import Situation
from ..engine import recipes
from ..engine.complete import clean_answer, syntax_problem
from ..errors import LayersError
from ..models.stream import Reply, background_loop
from .kernel_situation import kernel_situation
from .session import KernelSession

log = logging.getLogger(__name__)


def install(shell, session: KernelSession) -> KernelSuggest:
    """Add model suggestions to ``shell``'s prompt, on top of whatever suggests from history there."""
    buffer = shell.pt_app.default_buffer
    history = buffer.auto_suggest
    if isinstance(history, KernelSuggest):  # %reload_ext: replace the earlier one rather than stack two
        history.disconnect()
        history = history.history
    buffer.auto_suggest = KernelSuggest(shell, session, buffer, history)
    return buffer.auto_suggest


def prompt_situation(shell, document: Document) -> Situation:
    """The kernel context for the prompt's text, with the cursor where it is (no cell is running)."""
    return kernel_situation(shell, document.text, offset=document.cursor_position, asking=False)


def suggestion_line(text: str) -> str:
    """The part of a suggestion shown and inserted in the terminal (see the module docstring)."""
    return text.partition("\n")[0].rstrip()


class KernelSuggest(AutoSuggest):
    """History suggestions first, then the model's once typing pauses."""

    def __init__(self, shell, session: KernelSession, buffer: Buffer, history: AutoSuggest):
        self.shell = shell
        self.session = session
        self.buffer = buffer
        self.history = history
        self.pending: asyncio.Task | None = None
        buffer.on_text_changed.add_handler(self.cancel)
        buffer.on_cursor_position_changed.add_handler(self.cancel)

    def disconnect(self) -> None:
        self.cancel()
        self.buffer.on_text_changed.remove_handler(self.cancel)
        self.buffer.on_cursor_position_changed.remove_handler(self.cancel)

    def get_suggestion(self, buffer: Buffer, document: Document) -> Suggestion | None:
        # IPython calls this directly after Backspace and Right: that is a text change too.
        self.schedule(buffer, document)
        return self.history.get_suggestion(buffer, document)

    async def get_suggestion_async(self, buffer: Buffer, document: Document) -> Suggestion | None:
        self.schedule(buffer, document)
        return await self.history.get_suggestion_async(buffer, document)

    def cancel(self, _buffer: Buffer | None = None) -> None:
        """A newer keystroke or cursor move makes the pending suggestion pointless: stop it and its model call."""
        if self.pending is not None:
            self.pending.cancel()
            self.pending = None

    def wanted(self, document: Document) -> bool:
        """Ask the model only where a suggestion can be seen: the cursor ends a non-empty line, ghost text is on."""
        return (
            self.session.settings.terminal_suggestions
            and self.shell.auto_suggest is not None  # autosuggestions_provider=None turns ghost text off
            and document.is_cursor_at_the_end_of_line
            and bool(document.current_line.strip())
            # prompt_toolkit draws suggestions at the very end only; IPython's navigable provider on any line
            and (document.is_cursor_at_the_end or isinstance(self.shell.auto_suggest, NavigableAutoSuggestFromHistory))
        )

    def schedule(self, buffer: Buffer, document: Document) -> None:
        self.cancel()
        if self.wanted(document):
            self.pending = get_app().create_background_task(self.suggest_later(buffer, document))

    async def suggest_later(self, buffer: Buffer, document: Document) -> None:
        await asyncio.sleep(self.session.settings.terminal_debounce)
        if buffer.document != document:
            return
        # The snapshot runs here, on the prompt's thread, which is also the thread of user code.
        situation = prompt_situation(self.shell, document)
        try:
            prompt_format, reply = await self.ask(situation)
        except LayersError as error:  # documented: silent in the prompt, history suggestions go on
            log.debug("no model suggestion in the terminal: %s", error)
            return
        self.session.ledger.record("complete", reply.model, reply.usage)
        before = document.text_before_cursor
        answer = clean_answer(before, reply.text, prompt_format, "line")
        text = "" if syntax_problem(before, answer, "line") else suggestion_line(answer)
        if text and buffer.document == document:
            buffer.suggestion = Suggestion(text)
            buffer.on_suggestion_set.fire()  # the buffer's control listens to this event: the prompt redraws

    async def ask(self, situation: Situation) -> tuple[str, Reply]:
        """The route's prompt format and the model's answer, computed on the background loop; cancelling this
        await cancels the call there."""
        call = asyncio.run_coroutine_threadsafe(self.call(situation), background_loop())
        return await asyncio.wrap_future(call)

    async def call(self, situation: Situation) -> tuple[str, Reply]:
        # Resolved here, off the prompt thread: the first route imports the provider's SDK.
        route = self.session.route("complete")
        request = recipes.complete(route, situation, self.session.settings).request
        return route.prompt_format, await route.stream(request).afinal()
