"""A notebook's kernel for the exploration agent, which runs in a worker thread of the server.

The agent is synchronous; the kernel is reached the server's way, by async clients on the server's event loop.
Each ``evaluate`` hands its request to the loop and waits for the answer in the worker thread, so neither the
loop nor the kernel's other users wait on the agent. Scratch code goes through ``sandbox/remote.py``, the same
silent ``user_expressions`` channel the command line uses.
"""

from __future__ import annotations

import asyncio

from ..errors import LayersError
from ..kernel import rpc
from .kernel_context import evaluate_silently

REQUEST_TIMEOUT = 60.0


class KernelTimeout(LayersError):
    hint = "the kernel may be busy with a long cell: wait or interrupt it, then try again"


class ServerKernel:
    """``evaluate(expression)`` against one of the server's kernels, callable from a worker thread."""

    def __init__(self, kernel, loop: asyncio.AbstractEventLoop):
        self.kernel, self.loop = kernel, loop

    def evaluate(self, expression: str, timeout: float = REQUEST_TIMEOUT) -> str:
        request = evaluate_silently(self.kernel, {"value": expression}, timeout)
        reply = asyncio.run_coroutine_threadsafe(request, self.loop).result()
        if reply is None:
            raise KernelTimeout(f"the kernel did not answer within {timeout:.0f} s")
        return rpc.value(reply, "value")
