"""Whether forking this process is safe enough to run scratch cells in the child.

The rule is deliberately plain. Linux: fork, unless a GPU runtime is initialised (a CUDA context does not
survive a fork; the child's first GPU call fails or hangs). Elsewhere: no fork. On macOS the system frameworks
(CoreFoundation, Objective-C runtime, Accelerate) are not fork-safe and there is no cheap way to know whether a
kernel has loaded them, so macOS gets live mode unless ``JUPYTER_LAYERS_SANDBOX=fork`` is set by a user who
accepts that. GPU runtimes are detected only through modules already imported: nothing is imported to check.
"""

from __future__ import annotations

import os
import sys

FORCE_FORK = "JUPYTER_LAYERS_SANDBOX"


def _cuda_context() -> str | None:
    """Which already-imported library holds a GPU context, if any (never imports one)."""
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    if cuda is not None and getattr(cuda, "is_initialized", lambda: False)():
        return "torch"
    if "cupy" in sys.modules:
        return "cupy (imported; its CUDA context cannot be checked without touching it)"
    bridge = sys.modules.get("jax._src.xla_bridge")
    backends = getattr(bridge, "_backends", None) or {}
    if any(name in ("cuda", "gpu", "rocm", "tpu") for name in backends):
        return "jax"
    return None


def fork_unsafe_reason() -> str | None:
    """Why scratch cells must run live here, or None when forking is safe."""
    if not hasattr(os, "fork"):
        return "no os.fork on this platform"
    if sys.platform != "linux" and os.environ.get(FORCE_FORK) != "fork":
        return (
            f"forking is only trusted on Linux ({sys.platform}'s system libraries are not fork-safe; "
            f"set {FORCE_FORK}=fork to fork anyway)"
        )
    holder = _cuda_context()
    if holder is not None:
        return f"a CUDA context is initialised in this process ({holder})"
    return None
