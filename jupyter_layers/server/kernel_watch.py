"""Which cells a kernel has run, seen on its IOPub channel: a held kernel context knows when it is out of date.

One IOPub subscription per kernel the layers use, on the server's loop, as jupyter_server's own activity watch.
``execute_input`` (published for every execute request that is not silent, whoever sent it: a notebook, a
console, another client) means a cell started: the kernel's state is about to change; the ``idle`` status whose
parent is that request means it ended, and ``on_ran`` is called. A ``starting`` status (the kernel restarted)
counts as a run too: the state is gone. Silent requests, the context fetches among them, publish no
execute_input and do not count.
"""

from __future__ import annotations

from collections.abc import Callable


class KernelWatch:
    def __init__(self, kernel, on_ran: Callable[[], None]):
        self.session, self.on_ran = kernel.session, on_ran
        self.runs = 0  # cells started (and restarts) since the watch began
        self.running: set[str] = set()  # the execute requests whose cells have started and not ended
        self.port = kernel.iopub_port  # a restart may move the kernel to new ports: then a new watch is needed
        self.stream = kernel.connect_iopub()  # a ZMQStream on the kernel manager's (the server's) loop
        self.stream.on_recv(self._received)

    def _received(self, parts: list[bytes]) -> None:
        _, signed = self.session.feed_identities(parts)
        message = self.session.deserialize(signed, content=False)  # outputs are not decoded: only status is read
        kind, parent = message["header"]["msg_type"], message["parent_header"].get("msg_id")
        if kind == "execute_input":
            self.runs += 1
            self.running.add(parent)
        elif kind == "status":
            state = self.session.unpack(message["content"])["execution_state"]
            if state == "starting":
                self.runs += 1
                self.running.clear()  # a new process: the cells the old one ran will never end
            elif state == "idle" and parent in self.running:
                self.running.discard(parent)
                self.on_ran()

    def close(self) -> None:
        if not self.stream.closed():
            self.stream.close()
