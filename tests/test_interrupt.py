"""Ctrl-C in a magic before its first token: one line on stderr, never a KeyboardInterrupt traceback.

A real SIGINT reaches a real kernel, at three moments: right after the magic resolved its route (before any model
stream exists), while the stream waits for its first byte, and at a sweep of delays that a busy machine shifts
across both. The first is made exact by sending the signal from inside the kernel at that point.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.fakes.model_server import Text, Turn
from tests.kernels import Execution

SIGINT_AFTER_ROUTE = """
import os, signal
from jupyter_layers.models.router import Router
_route = Router.route
def _route_then_ctrl_c(self, *args, **kwargs):
    resolved = _route(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGINT)  # delivered at the next bytecode: before the magic opens its stream
    return resolved
Router.route = _route_then_ctrl_c
"""
RESTORE_ROUTE = "Router.route = _route"


def one_cancel_line(done, magic: str) -> None:
    """The execution ended normally with exactly one line about the cancellation."""
    tracebacks = [m["content"]["ename"] for m in done.of_type("error")]
    assert tracebacks == [], done.of_type("error")[0]["content"]["traceback"]
    assert done.reply["content"]["status"] == "ok", done.reply["content"]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{magic}: cancelled"), done.stderr


def test_ctrl_c_before_the_stream_exists_is_one_line(kernel, fake):
    """The window the magics' event loop does not cover: the interrupt lands in the magic, outside the stream's
    try block."""
    fake.respond_with(lambda request: Turn([Text("never asked for")]))
    kernel.run(SIGINT_AFTER_ROUTE)
    try:
        done = kernel.run("%%complete\ntotal = ", timeout=60)
    finally:
        kernel.run(RESTORE_ROUTE)
    one_cancel_line(done, "%%complete")
    assert fake.requests == []


def run_interrupted_once_sent(kernel, fake, code: str) -> Execution:
    """Runs ``code`` and interrupts the kernel once the fake holds its model request (not after a fixed delay,
    which a busy machine may reach before the request is even made)."""
    count = len(fake.requests)
    return kernel.run(code, timeout=120, interrupt_when=lambda: len(fake.requests) > count)


def test_ctrl_c_while_waiting_for_the_first_byte_is_one_line_and_closes_the_request(kernel, fake):
    fake.script(Turn([Text("too late")], first_byte_delay=60))
    done = run_interrupted_once_sent(kernel, fake, "%%complete\ntotal = ")
    one_cancel_line(done, "%%complete")
    assert "too late" not in json.dumps([m["content"] for m in done.messages], default=str)
    deadline = time.monotonic() + 60  # a hang guard only: the close is immediate
    while not fake.requests[-1].client_disconnected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.requests[-1].client_disconnected  # the HTTP request was closed, not left to run


@pytest.mark.parametrize("delay", [0.0, 0.1, 0.3, 0.6, 1.0])
def test_ctrl_c_at_any_moment_before_the_first_token_is_one_line(kernel, fake, delay):
    """Wherever the interrupt lands before the answer (parsing the magic, reading the kernel state, importing the
    SDK, connecting, waiting), the user sees one line. An interrupt that reaches the kernel before the cell starts
    is dropped by the kernel, and the answer then arrives: never a traceback either way."""
    fake.respond_with(lambda request: Turn([Text("arrived")], first_byte_delay=5))
    done = kernel.run("%%complete\ntotal = ", interrupt_after=delay, timeout=60)
    fake.respond_with(lambda request: Turn([Text("sum(values)")]))
    after = kernel.run("%%complete\ntotal = ", timeout=60)  # an interrupted SDK import or stream left no damage
    assert after.of_type("error") == [] and after.stderr == "", after.stderr
    assert after.last_display()["data"]["text/plain"] == "total = sum(values)"
    shown = [
        m["content"]["data"].get("text/plain", "")
        for m in done.of_type("display_data") + done.of_type("update_display_data")
    ]
    if any("arrived" in text for text in shown) and not done.stderr:
        assert done.of_type("error") == [] and done.reply["content"]["status"] == "ok"
        return
    one_cancel_line(done, "%%complete")
