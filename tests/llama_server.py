"""llama.cpp's OpenAI-compatible server (``python -m llama_cpp.server``, from llama-cpp-python[server]) as a real
process on 127.0.0.1, serving a shipped GGUF model: for tests and the completion-quality benchmark."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager

STARTUP_SECONDS = 120  # loading a model on a busy two-core machine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def llama_server(model_path: str, alias: str, threads: int = 2, context: int = 4096):
    """Yields the server's base URL (``http://127.0.0.1:PORT/v1``); the model is served as ``alias``."""
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", model_path, "--model_alias", alias,
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", str(context), "--n_threads", str(threads), "--verbose", "False",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_serving(process, base_url)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_serving(process: subprocess.Popen, base_url: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited: {process.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=2) as reply:
                if json.load(reply)["data"]:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    raise RuntimeError(f"llama_cpp.server did not answer within {STARTUP_SECONDS} s")
