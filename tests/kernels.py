"""A real kernel for tests, with every message of an execution kept (display updates, payloads, errors)."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.manager import start_new_kernel

from jupyter_layers.sandbox.protections import Protections

CHECKOUT = Path(__file__).resolve().parents[1]
HERE = "__import__('jupyter_layers.sandbox.protections', fromlist=['x']).here()"  # in a kernel: its protections


def protections_here() -> Protections:
    """What scratch cells get in a fresh Python process on this machine (a kernel, a command a test starts),
    asked of such a process: probing would fork pytest itself, with its servers' threads."""
    code = f"import json; print(json.dumps({HERE}.to_dict()))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return Protections.from_dict(json.loads(done.stdout))


@dataclass
class Execution:
    reply: dict
    messages: list[dict] = field(default_factory=list)

    def of_type(self, kind: str) -> list[dict]:
        return [m for m in self.messages if m["msg_type"] == kind]

    @property
    def stdout(self) -> str:
        return "".join(m["content"]["text"] for m in self.of_type("stream") if m["content"]["name"] == "stdout")

    @property
    def stderr(self) -> str:
        return "".join(m["content"]["text"] for m in self.of_type("stream") if m["content"]["name"] == "stderr")

    @property
    def next_input(self) -> str | None:
        payloads = [p for p in self.reply["content"].get("payload", []) if p["source"] == "set_next_input"]
        return payloads[0]["text"] if payloads else None

    def last_display(self) -> dict:
        """The final state of the (one) display the execution created: its last update, or the display itself."""
        shown = self.of_type("display_data") + self.of_type("update_display_data")
        return shown[-1]["content"]


class Kernel:
    """An ipykernel with jupyter_layers loaded; ``run`` returns everything one execution produced."""

    def __init__(self):
        self.manager, self.client = start_new_kernel(kernel_name="python3")
        assert "error" not in self.run("%load_ext jupyter_layers").reply["content"]["status"]

    def run(
        self,
        code: str,
        timeout: float = 60,
        interrupt_after: float | None = None,
        interrupt_when: Callable[[], bool] | None = None,
    ) -> Execution:
        """Runs ``code``; Ctrl-C (a kernel interrupt) after ``interrupt_after`` seconds, or once ``interrupt_when()``
        is true (checked every 0.1 s), if given."""
        msg_id = self.client.execute(code)
        execution = Execution(reply={})
        started = time.monotonic()
        if interrupt_after is not None:
            interrupt_when = lambda: time.monotonic() - started > interrupt_after  # noqa: E731
        interrupted = interrupt_when is None
        while True:
            if not interrupted and interrupt_when():
                self.manager.interrupt_kernel()
                interrupted = True
            remaining = timeout - (time.monotonic() - started)
            assert remaining > 0, f"no idle after {timeout} s: {[m['msg_type'] for m in execution.messages]}"
            try:
                message = self.client.get_iopub_msg(timeout=min(0.1, remaining))
            except queue.Empty:
                continue
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                break
            execution.messages.append(message)
        execution.reply = self.client.get_shell_msg(timeout=10)
        return execution

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def isolated_kernel(folders) -> Kernel:
    """A kernel that reads no developer profile or configuration, with this checkout importable (``tests.*``
    modules run inside it). ``folders`` is pytest's ``tmp_path_factory``."""
    import pytest

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IPYTHONDIR", str(folders.mktemp("ipython")))
        patch.setenv("JUPYTER_CONFIG_DIR", str(folders.mktemp("jupyter-config")))
        kernel = Kernel()
    kernel.run(f"import sys; sys.path.insert(0, {str(CHECKOUT)!r})")
    return kernel
