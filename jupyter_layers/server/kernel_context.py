"""Kernel contexts for the server, through the Jupyter messaging protocol, so any kernel with the package works.

A context (kernel/remote.py: the variables as safe text, the last error) is fetched by one silent
``user_expressions`` request through a short-lived shell-only client. A kernel's state changes only when it
runs code, so completions are served from the copy held per kernel, not by a kernel round trip per keystroke:
kernel_watch.py sees each cell start and end on the kernel's IOPub channel, and when one ends the context is
fetched again in the background. A completion waits only when nothing is held yet or a cell ran since the
copy was fetched (the refresh started when the cell ended is joined), and never while the kernel is busy.

The copy details the ``focus`` names it was fetched for (the identifiers before the cursor). A completion whose
focus it covers (names it detailed, or names the snapshot shows do not exist) is served at once; other focus
names are fetched in the background for the next keystroke. A copy older than ``MAX_AGE`` is served once more
while it is refreshed (code can change state without a cell: a thread, a widget's callback).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

from ..kernel import remote, rpc
from .kernel_watch import KernelWatch

FETCH_TIMEOUT = 1.0  # seconds: a context that comes later than this is worse than the held one
FIRST_FETCH_TIMEOUT = 10.0  # nothing held yet: the kernel imports jupyter_layers.kernel once, and late beats none
MAX_AGE = 10.0  # seconds: a held context older than this is refreshed in the background
FOCUS_KEPT = 48  # focus names asked for in each fetch: the latest request's first, then earlier ones
KERNEL_ACTIONS = "https://events.jupyter.org/jupyter_server/kernel_actions/v1"  # jupyter_server's kernel events


@dataclass
class Held:
    """One kernel's context as last fetched, and what it was fetched for."""

    context: dict | None = None
    runs: int = -1  # the watch's run count when it was asked for; another count means a cell ran since
    fetched_at: float = float("-inf")  # time.monotonic()
    focus: frozenset[str] = frozenset()  # the names it was asked to detail
    listed: frozenset[str] = frozenset()  # the variables it lists
    whole: bool = False  # it lists every variable (the snapshot was not cut short by its time budget)
    wanted: tuple[str, ...] = ()  # the focus names to ask for next, newest first
    refreshing: asyncio.Task | None = field(default=None, repr=False)

    def covers(self, focus: tuple[str, ...]) -> bool:
        return all(name in self.focus or self.absent(name) for name in focus)

    def absent(self, name: str) -> bool:
        """Known not to be a variable (``_private`` names are never listed, so they are never known absent)."""
        return self.whole and not name.startswith("_") and name not in self.listed

    def want(self, focus: tuple[str, ...]) -> None:
        new = [name for name in focus if not self.absent(name)]
        self.wanted = tuple(dict.fromkeys([*new, *self.wanted]))[:FOCUS_KEPT]

    def store(self, context: dict, runs: int, focus: tuple[str, ...]) -> None:
        snapshot = context["snapshot"]
        self.context, self.runs, self.fetched_at, self.focus = context, runs, time.monotonic(), frozenset(focus)
        self.listed = frozenset(variable["name"] for variable in snapshot["variables"])
        self.whole = not snapshot["truncated"]

    @property
    def fetching(self) -> bool:
        """A background refresh is under way (the kernel manager then reports the kernel busy with it)."""
        return self.refreshing is not None and not self.refreshing.done()

    def out_of_date(self, runs: int) -> bool:
        return self.runs != runs or not self.covers(self.wanted) or time.monotonic() - self.fetched_at > MAX_AGE


class KernelContexts:
    def __init__(self, kernel_manager, log):
        self.kernel_manager = kernel_manager
        self.log = log
        self.held: dict[str, Held] = {}
        self.watches: dict[str, KernelWatch] = {}

    async def get(self, kernel_id: str | None, focus: tuple[str, ...] = ()) -> dict | None:
        """The kernel's context for a completion: the held copy unless a cell ran since it was fetched (None if
        there is none yet); the kernel is asked only in the background, or when it is idle and nothing current
        is held."""
        if not kernel_id or kernel_id not in self.kernel_manager:
            return None
        held, watch = self.held_for(kernel_id)
        held.want(focus)
        if not held.out_of_date(watch.runs):
            return held.context
        if watch.running or (busy(self.kernel_manager.get_kernel(kernel_id)) and not held.fetching):
            return held.context  # running a cell (one started before the watch, too): never wait for it
        refresh = self.refresh(kernel_id)
        if held.context is not None and held.runs == watch.runs:
            return held.context  # current, only not detailed enough or old: the next keystroke gets the refresh
        await asyncio.wait({refresh})  # a cancelled request leaves the refresh running
        return held.context

    async def fresh(
        self, kernel_id: str | None, focus: tuple[str, ...] = (), budget_ms: float | None = None
    ) -> dict | None:
        """The kernel's context asked for now, for exactly this focus (and time budget), if the kernel is idle;
        else the held one. For the layers a user starts one at a time (edit, explore, escalate)."""
        if not kernel_id or kernel_id not in self.kernel_manager:
            return None
        held, watch = self.held_for(kernel_id)
        kernel = self.kernel_manager.get_kernel(kernel_id)
        if watch.running or (busy(kernel) and not held.fetching):
            return held.context
        runs = watch.runs
        timeout = FETCH_TIMEOUT if held.context is not None else FIRST_FETCH_TIMEOUT
        context = await fetch(kernel, focus, budget_ms, timeout, self.log)
        if context is None:
            return held.context
        if budget_ms is None:  # as a completion's would be: keep it for them
            held.store(context, runs, focus)
        return context

    def held_for(self, kernel_id: str) -> tuple[Held, KernelWatch]:
        """The kernel's held context and its watch, begun on first use (again when a restart moved its ports)."""
        self.forget_gone_kernels()
        kernel = self.kernel_manager.get_kernel(kernel_id)
        watch = self.watches.get(kernel_id)
        if watch is None or watch.port != kernel.iopub_port:
            if watch is not None:
                watch.close()
            watch = self.watches[kernel_id] = KernelWatch(kernel, lambda: self.refresh(kernel_id))
            self.held.setdefault(kernel_id, Held()).runs = -1  # whatever it holds predates the watch
        return self.held.setdefault(kernel_id, Held()), watch

    def refresh(self, kernel_id: str) -> asyncio.Task:
        """Fetch the kernel's context in the background until it is current (one fetch at a time per kernel)."""
        held = self.held[kernel_id]
        if held.refreshing is None or held.refreshing.done():
            held.refreshing = asyncio.ensure_future(self._refresh(kernel_id, held))
        return held.refreshing

    async def _refresh(self, kernel_id: str, held: Held) -> None:
        while kernel_id in self.kernel_manager and kernel_id in self.watches:
            kernel, watch = self.kernel_manager.get_kernel(kernel_id), self.watches[kernel_id]
            runs = watch.runs
            if watch.running or not held.out_of_date(runs):
                return  # a kernel running a cell is asked again when the cell ends
            timeout = FETCH_TIMEOUT if held.context is not None else FIRST_FETCH_TIMEOUT
            focus = held.wanted
            context = await fetch(kernel, focus, None, timeout, self.log)
            if context is None:
                return  # no answer in time: the next cell's end, or the next completion, asks again
            held.store(context, runs, focus)

    def forget_gone_kernels(self) -> None:
        for kernel_id in [k for k in self.watches if k not in self.kernel_manager]:
            self.forget(kernel_id)

    def forget(self, kernel_id: str) -> None:
        watch = self.watches.pop(kernel_id, None)
        if watch is not None:
            watch.close()
        held = self.held.pop(kernel_id, None)
        if held is not None and held.fetching:
            held.refreshing.cancel()  # its kernel is gone: no reply will come

    async def kernel_action(self, logger, schema_id: str, data: dict) -> None:
        """jupyter_server's kernel events: a shut-down kernel's watch closes, a restarted kernel's copy is old."""
        kernel_id = data.get("kernel_id")
        if data.get("status") != "success" or kernel_id not in self.watches:
            return
        if data["action"] == "shutdown":
            self.forget(kernel_id)
        elif data["action"] == "restart":
            self.held[kernel_id].runs = -1
            self.watches[kernel_id].running.clear()  # the cells it was running will never end


def busy(kernel) -> bool:
    return getattr(kernel, "execution_state", "idle") == "busy"


async def fetch(kernel, focus: tuple[str, ...], budget_ms: float | None, timeout: float, log) -> dict | None:
    """The kernel's context, or None when it does not come in time or the kernel could not make it (logged)."""
    reply = await evaluate_silently(kernel, {"ctx": remote.expression(focus, budget_ms)}, timeout)
    if reply is None:
        return None
    try:
        return rpc.json_value(reply, "ctx")
    except rpc.KernelRequestError as error:  # logged; a completion goes on with the held context, or none
        log.warning("jupyter_layers: kernel %s gave no context: %s", kernel.kernel_id, error)
        return None


async def evaluate_silently(kernel, expressions: dict[str, str], timeout: float) -> dict | None:
    """The execute_reply to one silent ``user_expressions`` request, or None when it does not come in time.

    A short-lived, shell-only client: no IOPub backlog, and no socket left open when the server stops (a
    module-style server extension gets no shutdown hook to close long-lived ones). It has a session id of its
    own: the kernel manager's clients all share one, and with it their socket identity and their message ids,
    so two at once (a refresh, an exploration step) could each be handed the other's reply.
    """
    session = kernel.session.clone()
    session.session = uuid.uuid4().hex
    client = kernel.client(session=session)
    client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
    try:
        msg_id = client.execute(**rpc.silent_request(expressions))
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                reply = await asyncio.wait_for(client.get_shell_msg(), remaining)
            except asyncio.TimeoutError:
                return None
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply
        return None
    finally:
        client.stop_channels()
