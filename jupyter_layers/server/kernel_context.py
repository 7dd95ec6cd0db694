"""Kernel contexts for the server, through the Jupyter messaging protocol, so any kernel with the package works.

A second client of the server's kernel manager sends one silent ``user_expressions`` request (the snapshot as a
JSON string: the display formatter never touches user objects). While the kernel is busy running a cell, the
last context fetched is used, so a completion never waits on a running cell.
"""

from __future__ import annotations

import ast
import asyncio
import json
import time

from ..kernel import remote

FETCH_TIMEOUT = 1.0  # seconds: a context that comes later than this is worse than the cached one
FIRST_FETCH_TIMEOUT = 10.0  # nothing cached yet: the kernel imports jupyter_layers.kernel once, and late beats none


class KernelContexts:
    def __init__(self, kernel_manager, log):
        self.kernel_manager = kernel_manager
        self.log = log
        self.cached: dict[str, dict] = {}
        self.clients: dict[str, object] = {}

    def client(self, kernel_id: str):
        """One shell-only client per kernel: no IOPub subscription, so nothing queues up unread."""
        if kernel_id not in self.clients:
            client = self.kernel_manager.get_kernel(kernel_id).client()
            client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
            self.clients[kernel_id] = client
        return self.clients[kernel_id]

    async def get(self, kernel_id: str | None, focus: tuple[str, ...] = ()) -> dict | None:
        """The kernel's context, fresh if the kernel is idle, else the last one (None if there is none yet)."""
        if not kernel_id or kernel_id not in self.kernel_manager:
            return None
        if getattr(self.kernel_manager.get_kernel(kernel_id), "execution_state", "idle") == "busy":
            return self.cached.get(kernel_id)
        client = self.client(kernel_id)
        msg_id = client.execute(
            "",
            silent=True,
            store_history=False,
            allow_stdin=False,
            user_expressions={"ctx": remote.expression(focus)},
        )
        deadline = time.monotonic() + (FETCH_TIMEOUT if kernel_id in self.cached else FIRST_FETCH_TIMEOUT)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self.cached.get(kernel_id)
            try:
                reply = await asyncio.wait_for(client.get_shell_msg(), remaining)
            except asyncio.TimeoutError:
                return self.cached.get(kernel_id)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        result = reply["content"].get("user_expressions", {}).get("ctx", {})
        if result.get("status") != "ok":
            self.log.warning("jupyter_layers: kernel %s gave no context: %s", kernel_id, result.get("evalue"))
            return self.cached.get(kernel_id)
        self.cached[kernel_id] = json.loads(ast.literal_eval(result["data"]["text/plain"]))
        return self.cached[kernel_id]

    def close(self) -> None:
        for client in self.clients.values():
            client.stop_channels()
        self.clients.clear()
