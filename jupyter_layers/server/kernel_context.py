"""Kernel contexts for the server, through the Jupyter messaging protocol, so any kernel with the package works.

A second client of the server's kernel manager sends one silent ``user_expressions`` request (the snapshot as a
JSON string: the display formatter never touches user objects). While the kernel is busy running a cell, the
last context fetched is used, so a completion never waits on a running cell.
"""

from __future__ import annotations

import asyncio
import time

from ..kernel import remote, rpc

FETCH_TIMEOUT = 1.0  # seconds: a context that comes later than this is worse than the cached one
FIRST_FETCH_TIMEOUT = 10.0  # nothing cached yet: the kernel imports jupyter_layers.kernel once, and late beats none


class KernelContexts:
    def __init__(self, kernel_manager, log):
        self.kernel_manager = kernel_manager
        self.log = log
        self.cached: dict[str, dict] = {}

    async def get(
        self, kernel_id: str | None, focus: tuple[str, ...] = (), budget_ms: float | None = None
    ) -> dict | None:
        """The kernel's context, fresh if the kernel is idle, else the last one (None if there is none yet)."""
        if not kernel_id or kernel_id not in self.kernel_manager:
            return None
        kernel = self.kernel_manager.get_kernel(kernel_id)
        if getattr(kernel, "execution_state", "idle") == "busy":
            return self.cached.get(kernel_id)
        timeout = FETCH_TIMEOUT if kernel_id in self.cached else FIRST_FETCH_TIMEOUT
        reply = await evaluate_silently(kernel, {"ctx": remote.expression(focus, budget_ms)}, timeout)
        if reply is None:
            return self.cached.get(kernel_id)
        try:
            self.cached[kernel_id] = rpc.json_value(reply, "ctx")
        except rpc.KernelRequestError as error:  # logged; a completion goes on with the last context, or none
            self.log.warning("jupyter_layers: kernel %s gave no context: %s", kernel_id, error)
        return self.cached.get(kernel_id)


async def evaluate_silently(kernel, expressions: dict[str, str], timeout: float) -> dict | None:
    """The execute_reply to one silent ``user_expressions`` request, or None when it does not come in time.

    A short-lived, shell-only client: no IOPub backlog, and no socket left open when the server stops (a
    module-style server extension gets no shutdown hook to close long-lived ones).
    """
    client = kernel.client()
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
