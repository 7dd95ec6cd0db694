"""How fast the embedded offline model answers on this machine: load time, first-token latency, decode speed.

Runs the bundled SmolLM2-135M-Instruct through ``EmbeddedProvider`` (worker thread, queue handoff and all, as
the layers use it) on one fixed code-completion prompt. Each run is measured twice: "cold" with llama.cpp's
KV cache cleared, so the whole prompt is evaluated, and "cached" right after, when the identical prompt is
already in the KV cache (what repeated autocomplete requests with a shared prefix get).

    python benchmarks/bench_embedded.py [--runs 5] [--threads N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import llama_cpp
from machine import cpu_model  # benchmarks/machine.py (scripts run from their folder)

from jupyter_layers.models import Message, Request, Stop, Text, TextDelta, Usage
from jupyter_layers.models.embedded import EmbeddedProvider, chat_messages

MAX_TOKENS = 64
SYSTEM = "You complete Python code. Reply with the code that comes next, nothing else."
PROMPT = '''import pandas as pd


def moving_average(df: pd.DataFrame, column: str, window: int) -> pd.Series:
    """Return the rolling mean of `column` over `window` rows, ignoring missing values."""
'''


def timed_run(provider: EmbeddedProvider, request: Request) -> dict:
    """One streamed answer: seconds to the first text, decode rate after it, tokens generated."""
    started = time.perf_counter()
    first = last = None
    usage = Usage()
    for event in provider.stream(request):
        now = time.perf_counter()
        if isinstance(event, TextDelta):
            first = first or now
            last = now
        elif isinstance(event, Usage):
            usage = event
        elif not isinstance(event, Stop):
            raise SystemExit(f"the embedded model failed: {event}")
    if first is None:
        raise SystemExit("the embedded model produced no text")
    decoding = last - first
    rate = (usage.output_tokens - 1) / decoding if decoding > 0 else float("nan")
    return {"first_token_s": first - started, "tokens_per_s": rate, "tokens": usage.output_tokens}


def benchmark(runs: int, threads: int | None) -> dict:
    provider = EmbeddedProvider(threads=threads)
    path = provider.resolve("")  # imports llama_cpp, so the load below is the model alone
    started = time.perf_counter()
    model = provider.model(path)
    load_s = time.perf_counter() - started
    request = Request(messages=(Message.user(PROMPT),), system=(Text(SYSTEM),), model=path, max_tokens=MAX_TOKENS)
    cold, cached = [], []
    for _ in range(runs):
        model.llama.reset()  # forget the KV cache: the whole prompt is evaluated again
        cold.append(timed_run(provider, request))
        cached.append(timed_run(provider, request))
    return {
        "model": os.path.basename(path),
        "runs": runs,
        "max_tokens": MAX_TOKENS,
        "prompt_tokens": model.count_prompt(chat_messages(request)),
        "load_ms": load_s * 1000,
        "first_token_ms_cold": statistics.median(r["first_token_s"] for r in cold) * 1000,
        "first_token_ms_cached": statistics.median(r["first_token_s"] for r in cached) * 1000,
        "decode_tokens_per_s": statistics.median(r["tokens_per_s"] for r in cold + cached),
        "tokens_generated": statistics.median(r["tokens"] for r in cold + cached),
        "machine": {
            "cores": os.cpu_count(),
            "cpu": cpu_model(),
            "threads": provider.threads,
            "llama_cpp": llama_cpp.__version__,
            "python": platform.python_version(),
        },
    }


def markdown(result: dict) -> str:
    m = result["machine"]
    rows = [
        ("model", result["model"]),
        ("load time", f"{result['load_ms']:.0f} ms"),
        ("prompt", f"{result['prompt_tokens']} tokens, max_tokens {result['max_tokens']}"),
        (f"first-token latency, cold (median of {result['runs']})", f"{result['first_token_ms_cold']:.0f} ms"),
        (f"first-token latency, cached (median of {result['runs']})", f"{result['first_token_ms_cached']:.0f} ms"),
        ("decode speed (median)", f"{result['decode_tokens_per_s']:.1f} tokens/s"),
        ("tokens generated (median)", f"{result['tokens_generated']:g}"),
        ("machine", f"{m['cores']} cores, {m['cpu']}, {m['threads']} threads"),
        ("llama_cpp / Python", f"{m['llama_cpp']} / {m['python']}"),
    ]
    return "\n".join(["| metric | value |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs (default 5)")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: all cores)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    args = parser.parse_args()
    result = benchmark(args.runs, args.threads)
    print(json.dumps(result, indent=2) if args.json else markdown(result))


if __name__ == "__main__":
    main()
