"""The sync/async bridge: Ctrl-C in a sync consumer, events from any thread, forked children."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from jupyter_layers.models import Message, Request, Stop, TextDelta
from jupyter_layers.models.anthropic import AnthropicProvider
from tests.conftest import API_KEY
from tests.fakes.model_server import Text, Turn

SLOW = Turn([Text("word " * 400)], chunk_chars=5, token_delay=0.02)  # ~8 s of streaming


def provider(fake) -> AnthropicProvider:
    return AnthropicProvider(API_KEY, fake.url, timeout=10, max_retries=0)


def request() -> Request:
    return Request(messages=(Message.user("Go on."),), model="claude-haiku-5-5")


def test_ctrl_c_in_a_sync_consumer_closes_the_model_stream(fake):
    """What happens when a user interrupts the kernel while a magic streams."""
    fake.script(SLOW)
    stream = provider(fake).stream(request())

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    seen = []
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.4)
        with pytest.raises(KeyboardInterrupt):
            for event in stream:
                seen.append(event)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert any(isinstance(e, TextDelta) for e in seen)
    deadline = time.monotonic() + 2
    while stream.active and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not stream.active


def test_cancel_from_another_thread(fake):
    fake.script(SLOW)
    stream = provider(fake).stream(request())
    threading.Timer(0.3, stream.cancel).start()
    started = time.monotonic()
    events = list(stream)
    assert isinstance(events[-1], Stop) and events[-1].reason == "cancelled"
    assert time.monotonic() - started < 2


def test_cancel_before_iteration_makes_no_call(fake):
    stream = provider(fake).stream(request())
    stream.cancel()
    events = list(stream)
    assert [type(e) for e in events] == [Stop] and events[0].reason == "cancelled"
    assert fake.requests == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_a_forked_child_can_stream_although_the_loop_thread_stayed_in_the_parent(fake):
    fake.script(Turn([Text("parent")]), Turn([Text("child")]))
    model = provider(fake)
    assert model.stream(request()).final().text == "parent"  # starts the background loop thread here
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        text = model.stream(request()).final().text  # the same provider object, as in a forked kernel
        os.write(write_end, text.encode())
        os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    assert os.read(read_end, 100) == b"child"
    assert os.waitstatus_to_exitcode(status) == 0
