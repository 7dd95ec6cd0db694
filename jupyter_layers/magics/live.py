"""Output that fills in while a model streams, and errors as one line: the magics' shared display.

In a kernel with a frontend (JupyterLab, Notebook, nbclient) one display handle is updated in place
(``update_display_data``), so text appears as it is generated and headless runs keep the final state. In the
terminal, text is printed as it arrives.
"""

from __future__ import annotations

import sys
import time

from IPython.display import display, update_display

UPDATE_EVERY = 0.08  # seconds between updates of the display: smooth, without flooding the frontend


def has_frontend(shell) -> bool:
    return getattr(shell, "kernel", None) is not None


def code_block(code: str, language: str = "python") -> dict:
    return {"text/markdown": f"```{language}\n{code}\n```", "text/plain": code}


class LiveOutput:
    """One output area for one model call."""

    def __init__(self, shell, working: str):
        self.frontend = has_frontend(shell)
        self.shown_at = 0.0
        self.display_id = None
        if self.frontend:
            handle = display({"text/markdown": f"*{working}…*", "text/plain": f"{working}…"}, raw=True, display_id=True)
            self.display_id = handle.display_id
        else:
            print(f"{working}…", file=sys.stderr)
        self.printed = ""

    def show(self, data: dict, metadata: dict | None = None, force: bool = False) -> None:
        """Replace the output with ``data`` (a mimebundle); throttled unless ``force``."""
        now = time.monotonic()
        if not force and now - self.shown_at < UPDATE_EVERY:
            return
        self.shown_at = now
        if self.frontend:
            update_display(data, raw=True, display_id=self.display_id, metadata=metadata or {})
            return
        text = data["text/plain"]
        if text.startswith(self.printed):  # terminal: print only what is new
            sys.stdout.write(text[len(self.printed) :])
        else:
            sys.stdout.write("\n" + text)
        sys.stdout.flush()
        self.printed = text

    def finish(self, data: dict, metadata: dict | None = None) -> None:
        self.show(data, metadata, force=True)
        if not self.frontend:
            print()


def error_line(magic: str, message: object) -> None:
    """The one line a user sees when a call fails: no traceback, the kernel stays alive."""
    print(f"{magic}: {message}", file=sys.stderr)
