"""Ghost-text completions in a real terminal ``ipython``, driven through a pseudo-terminal.

Each test starts ``python -m IPython --ext jupyter_layers`` with the prompt_toolkit prompt (not the simple one)
in a pty, types into it, and reads what it draws. prompt_toolkit only redraws the cells that changed, so each
wait looks for text drawn after the previous one.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import time

import pexpect
import pytest

from jupyter_layers.engine.complete import clean_completion
from jupyter_layers.magics.terminal import suggestion_line
from tests.conftest import API_KEY
from tests.fakes.model_server import Fault, Text, Turn

ESCAPES = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78])")
END = "\x1b[F"  # what xterm sends for the End key
WAIT = 20.0  # seconds; generous for a loaded machine, a passing test takes a fraction of it


class Terminal:
    """An ``ipython`` in a pseudo-terminal, and the text it drew, without escape sequences."""

    def __init__(self, base_url: str, *args: str):
        env = {**os.environ, "ANTHROPIC_API_KEY": API_KEY, "ANTHROPIC_BASE_URL": base_url, "TERM": "xterm"}
        env["PROMPT_TOOLKIT_NO_CPR"] = "1"  # nobody answers a cursor position request in this pty
        command = ["-m", "IPython", "--no-banner", "--colors=NoColor", "--TerminalInteractiveShell.simple_prompt=False"]
        command += ["--ext", "jupyter_layers", *args]
        self.child = pexpect.spawn(sys.executable, command, env=env, encoding="utf-8", dimensions=(40, 160))
        self.raw = ""
        self.seen = 0  # the screen text before this was matched already

    @property
    def screen(self) -> str:
        # An escape sequence cut off at the end of what was read so far waits for the rest.
        cut = self.raw.rfind("\x1b")
        settled = self.raw if cut < 0 or ESCAPES.match(self.raw, cut) else self.raw[:cut]
        return ESCAPES.sub("", settled)

    def read(self, seconds: float) -> None:
        try:
            self.raw += self.child.read_nonblocking(65536, timeout=seconds)
        except pexpect.TIMEOUT:
            pass

    def wait_for(self, pattern: str, timeout: float = WAIT) -> str:
        """Wait until ``pattern`` is drawn after the last match; return what was drawn in between."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen
            match = re.search(pattern, screen[self.seen :])
            if match:
                drawn = screen[self.seen : self.seen + match.end()]
                self.seen += match.end()
                return drawn
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} was not drawn within {timeout}s; the terminal shows:\n{screen}")
            self.read(0.1)

    def quiet_for(self, seconds: float) -> str:
        """Everything drawn during ``seconds`` (for checking that nothing unexpected appears)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.read(0.1)
        drawn = self.screen[self.seen :]
        self.seen += len(drawn)
        return drawn

    def run(self, line: str, number: int) -> None:
        """Type ``line``, press Enter and wait for the next prompt, ``In [number]``."""
        self.child.send(line + "\r")
        self.wait_for(rf"In \[{number}\]:")


@pytest.fixture
def terminals():
    started: list[Terminal] = []

    def start(base_url: str, *args: str) -> Terminal:
        terminal = Terminal(base_url, *args)
        started.append(terminal)
        terminal.wait_for(r"In \[1\]:")
        return terminal

    yield start
    for terminal in started:
        terminal.child.close(force=True)


def task_text(request) -> str:
    """The last text block of a recorded Messages API request: the cell being completed, with <CURSOR>."""
    return request.body["messages"][-1]["content"][-1]["text"]


def kernel_state(request) -> str:
    blocks = request.body["messages"][-1]["content"]
    return next(block["text"] for block in blocks if block["text"].startswith("<kernel_state>"))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_model_suggestion_sees_the_namespace_and_is_accepted_with_end(fake, terminals):
    fake.respond_with(lambda request: Turn([Text(" + offset")]))
    terminal = terminals(fake.url)
    terminal.run("base_value, offset = 41, 1", 2)

    terminal.child.send("total = base_value")
    terminal.wait_for(r"total = base_value")
    terminal.wait_for(r" \+ offset")  # the ghost text, drawn after the pause

    request = fake.requests[0]
    assert "base_value: 41" in kernel_state(request)  # the live namespace reached the prompt's model call
    assert "base_value, offset = 41, 1" in request.body["messages"][-1]["content"][0]["text"]  # the last input
    assert task_text(request).endswith("total = base_value<CURSOR>\n</cell>")

    terminal.child.send(END)
    terminal.run("", 3)  # Enter runs the line as completed
    terminal.run("print(total)", 4)
    assert re.search(r"\n42\r?\n", terminal.screen)


def test_a_newer_keystroke_cancels_the_pending_model_call(fake, terminals):
    replies = [Turn([Text(" * 1000")], first_byte_delay=30), Turn([Text(" offset")])]
    fake.respond_with(lambda request: replies.pop(0) if replies else Turn([Text(" offset")]))
    terminal = terminals(fake.url)
    terminal.run("base_value, offset = 41, 1", 2)

    terminal.child.send("total = base_value")
    fake.wait_for_requests(1, timeout=WAIT)  # the model is asked, and is slow
    terminal.child.send(" +")
    terminal.wait_for(r" offset")
    second = fake.wait_for_requests(2, timeout=WAIT)[1]
    assert task_text(second).endswith("total = base_value +<CURSOR>\n</cell>")
    deadline = time.monotonic() + WAIT
    while not fake.requests[0].client_disconnected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.requests[0].client_disconnected  # cancelling the task closed the first model stream

    terminal.child.send(END)
    terminal.run("", 3)
    terminal.run("print(total)", 4)
    assert re.search(r"\n42\r?\n", terminal.screen)
    assert "1000" not in terminal.screen


@pytest.mark.parametrize("reachable", [False, True], ids=["closed port", "overloaded"])
def test_history_suggestions_go_on_when_the_model_fails(fake, terminals, reachable):
    fake.respond_with(lambda request: Fault(529))
    base_url = fake.url if reachable else f"http://127.0.0.1:{closed_port()}"
    terminal = terminals(base_url, "--JupyterLayers.max_retries=0")
    terminal.run("history_marker = 12345", 2)

    for number in (3, 4):  # the second time, after the model has failed once
        terminal.child.send("history_m")
        terminal.wait_for(r"arker = 12345")  # IPython's history suggestion, at once
        if reachable:
            fake.wait_for_requests(number - 2, timeout=WAIT)
        assert not re.search(r"Traceback|[Ee]rror|[Ee]xception", terminal.quiet_for(1.0))  # failures stay silent
        terminal.child.send(END)
        terminal.run("", number)
    terminal.run("print(history_marker * 2)", 5)
    assert re.search(r"\n24690\r?\n", terminal.screen)


def test_survives_ipython_replacing_its_suggester_and_a_reloaded_extension(fake, terminals):
    fake.respond_with(lambda request: Turn([Text(" + offset")]))
    terminal = terminals(fake.url)
    terminal.run("base_value, offset = 41, 1", 2)
    terminal.run("%config TerminalInteractiveShell.autosuggestions_provider = 'AutoSuggestFromHistory'", 3)
    terminal.run("%reload_ext jupyter_layers", 4)

    terminal.child.send("total = base_value")
    terminal.wait_for(r" \+ offset")
    terminal.quiet_for(1.0)
    assert len(fake.requests) == 1  # one suggester asks, not one per load of the extension
    terminal.child.send(END)
    terminal.run("", 5)
    terminal.run("print(total)", 6)
    assert re.search(r"\n42\r?\n", terminal.screen)


def test_a_multi_line_answer_suggests_the_rest_of_the_current_line_only():
    assert suggestion_line(clean_completion("total = base", "_value + offset  \nprint(total)\n")) == "_value + offset"
    assert suggestion_line(clean_completion("def f(x):", "\n    return x")) == ""  # nothing to add to this line
