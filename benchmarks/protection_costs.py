"""What the sandbox child's protections cost: ``protect()`` phase by phase, sealing per open descriptor, and
making shared memory private per GiB mapped.

Each measurement runs in a throwaway forked child that reports over a pipe and leaves with ``os._exit``: a
process that applied the protections is restricted for good (its descriptors sealed, no network, writes only
in its folder). The children call the package's own functions in ``protect()``'s order; the package is not
changed. Used by ``bench_fork.py`` (the phases, per run) and ``bench_fork.py --costs`` (the rest).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import socket
import statistics
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from multiprocessing import shared_memory

import numpy as np

from jupyter_layers.sandbox import landlock, mappings, network, protections, seal, seccomp
from jupyter_layers.sandbox.workdir import remove_tree

KEEP = (1, 2)  # the sandbox child keeps its stdout and stderr (files of its own) unsealed too
SAMPLES = 1021  # strided 8-byte words compared in each shared mapping
DESCRIPTOR_COUNTS = (0, 100, 1000)
DESCRIPTOR_KINDS = {"file": "regular files open for writing", "tcp": "loopback TCP sockets (both ends)"}
SIZES_GIB = (0.25, 1.0, 2.0)  # the default of bench_fork.py --costs --sizes
MAPPING_KINDS = {
    "file": "`numpy.memmap` r+ of a file (mapped private: zero-copy)",
    "anonymous": "`mmap.mmap(-1, size)`, anonymous shared (copied)",
    "shm": "`multiprocessing.shared_memory` (/dev/shm file)",
}


@contextlib.contextmanager
def scratch_folder() -> Iterator[str]:
    """A sandbox-like folder for one child: seal() leaves a read-only file in it, so none is reused."""
    folder = os.path.realpath(tempfile.mkdtemp(prefix="bench-protections-"))
    try:
        yield folder
    finally:
        remove_tree(folder)


def in_child(work: Callable[[int], dict]) -> dict:
    """``work(report_fd)`` in a throwaway forked child: what it returned, with ``fork_to_child_ms`` (from just
    before ``os.fork`` in the parent to the child's first line). Raises the child's failure here."""
    read_end, write_end = os.pipe()
    forked_at = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*fork.*")
        pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _report_and_exit(work, write_end, forked_at)
    os.close(write_end)
    with open(read_end, "rb") as pipe:
        text = pipe.read()
    _, status = os.waitpid(pid, 0)
    if not text:
        raise RuntimeError(f"the measuring child ended without a report (wait status {status})")
    reply = json.loads(text)
    if "error" in reply:
        raise RuntimeError(f"the measuring child failed:\n{reply['error']}")
    return reply["result"]


def _report_and_exit(work: Callable[[int], dict], report: int, forked_at: float) -> None:
    """The child's whole life; never returns. A failure is sent to the parent, which raises it."""
    started = time.perf_counter()  # CLOCK_MONOTONIC: the same clock as the parent's
    try:
        try:
            message = {"result": {"fork_to_child_ms": (started - forked_at) * 1000, **work(report)}}
        except BaseException:  # noqa: B036 - not hidden: the parent raises it
            message = {"error": traceback.format_exc()}
        with open(report, "wb") as pipe:
            pipe.write(json.dumps(message).encode())
    finally:
        os._exit(0)


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


# protect(), phase by phase


def phases(folder: str) -> dict:
    """protect()'s steps, each timed (ms), in a child of this process, with what each found."""
    return in_child(lambda report: _timed_phases(folder, {report, *KEEP}))


def _timed_phases(folder: str, keep: set[int]) -> dict:
    """The same calls in the same order as ``protections.protect``."""
    open_before = len(seal.inherited())
    marks = [time.perf_counter()]
    sealed = seal.seal(keep, folder)
    marks.append(time.perf_counter())
    privatized = mappings.privatize(mappings.open_files())
    marks.append(time.perf_counter())
    network_failure = network.isolate()
    marks.append(time.perf_counter())
    abi = landlock.abi_version()
    if abi:
        landlock.restrict(folder, abi)
    marks.append(time.perf_counter())
    filtered = seccomp.supported()
    if filtered:
        seccomp.refuse_connections()
    marks.append(time.perf_counter())
    names = ("seal_ms", "privatize_ms", "isolate_ms", "landlock_ms", "seccomp_ms")
    return {
        **{name: (end - start) * 1000 for name, start, end in zip(names, marks, marks[1:])},
        "phases_ms": (marks[-1] - marks[0]) * 1000,
        "descriptors": open_before,
        "sealed": len(sealed),
        "remapped": privatized.remapped,
        "copied_mib": privatized.copied_bytes / 2**20,
        "left_shared": list(privatized.left_shared),
        "network": network_failure or "own namespace",
        "landlock": abi,
        "seccomp": filtered,
    }


def protect_whole(folder: str) -> dict:
    """``protections.protect`` itself, timed in a child: what the sum of the phases should come to."""
    reply = in_child(lambda report: _timed_protect(folder, {report, *KEEP}))
    return {"protect_ms": reply["protect_ms"], "protections": reply["protections"]}


def _timed_protect(folder: str, keep: set[int]) -> dict:
    started = time.perf_counter()
    applied, _sealed = protections.protect(folder, keep)
    return {"protect_ms": _since(started), "protections": applied.summary()}


# sealing, per descriptor


@contextlib.contextmanager
def open_descriptors(kind: str, count: int, folder: str) -> Iterator[list[int]]:
    """``count`` more descriptors open in this process: files open for writing, or both ends of loopback TCP
    connections (a kernel's ZMQ sockets are these)."""
    with contextlib.ExitStack() as stack:
        if kind == "file":
            files = [stack.enter_context(open(os.path.join(folder, f"open-{i}"), "wb")) for i in range(count)]
            yield [file.fileno() for file in files]
            return
        listener = stack.enter_context(socket.create_server(("127.0.0.1", 0), backlog=16))
        ends = []
        for _ in range(count // 2):
            ends.append(stack.enter_context(socket.create_connection(listener.getsockname())))
            ends.append(stack.enter_context(listener.accept()[0]))
        yield [end.fileno() for end in ends]


def seal_once(probe: int | None) -> dict:
    """seal.seal timed in a child; ``probe``, one of the extra descriptors, must refuse writes afterwards."""
    with scratch_folder() as folder:
        return in_child(lambda report: _timed_seal(folder, {report, *KEEP}, probe))


def _timed_seal(folder: str, keep: set[int], probe: int | None) -> dict:
    open_before = len(seal.inherited())
    started = time.perf_counter()
    sealed = seal.seal(keep, folder)
    elapsed = _since(started)
    if probe is not None:
        _assert_refuses_writes(probe)
    return {"seal_ms": elapsed, "descriptors": open_before, "sealed": len(sealed)}


def _assert_refuses_writes(fd: int) -> None:
    try:
        os.write(fd, b"x")
    except OSError:
        return
    raise AssertionError(f"descriptor {fd} still takes writes after seal.seal")


def seal_costs(runs: int) -> dict:
    """seal.seal's median time at each count of extra descriptors, per kind, and the slope per descriptor."""
    result = {"counts": list(DESCRIPTOR_COUNTS)}
    for kind in DESCRIPTOR_KINDS:
        points = [_seal_runs(kind, count, runs) for count in DESCRIPTOR_COUNTS]
        medians = [statistics.median(r["seal_ms"] for r in point) for point in points]
        slope, intercept = statistics.linear_regression(DESCRIPTOR_COUNTS, medians)
        result[kind] = {"runs": points, "us_per_descriptor": slope * 1000, "intercept_ms": intercept}
    return result


def _seal_runs(kind: str, count: int, runs: int) -> list[dict]:
    with scratch_folder() as folder, open_descriptors(kind, count, folder) as extra:
        return [seal_once(extra[0] if extra else None) for _ in range(runs)]


# remapping shared memory, per GiB


class SharedArray:
    """``size`` bytes of MAP_SHARED memory of one kind, every page written (so resident), seen as uint64 words;
    ``close`` unmaps it (callers keep no reference to ``array``)."""

    def __init__(self, kind: str, size: int, folder: str):
        self._owner = None
        if kind == "file":
            path = os.path.join(folder, "memmap.bin")
            with open(path, "wb") as file:
                file.truncate(size)
            self.array = np.memmap(path, dtype=np.uint64, mode="r+")
        elif kind == "anonymous":
            self._owner = mmap.mmap(-1, size)  # MAP_SHARED | MAP_ANONYMOUS
            self.array = np.frombuffer(self._owner, dtype=np.uint64)
        else:
            self._owner = shared_memory.SharedMemory(create=True, size=size)
            self.array = np.ndarray(size // 8, dtype=np.uint64, buffer=self._owner.buf)
        _fill(self.array)

    def close(self) -> None:
        self.array = None  # the last reference: a memmap unmaps with it, and the others can close now
        if isinstance(self._owner, shared_memory.SharedMemory):
            self._owner.close()
            self._owner.unlink()
        elif self._owner is not None:
            self._owner.close()


def _fill(array: np.ndarray) -> None:
    """Each word holds its index + 1: a page that reads back as zeros or from a wrong offset shows."""
    step = 1 << 22
    for start in range(0, array.size, step):
        stop = min(start + step, array.size)
        array[start:stop] = np.arange(start + 1, stop + 1, dtype=np.uint64)


def _digest(array: np.ndarray, indices: np.ndarray) -> str:
    return hashlib.sha256(array[indices].tobytes()).hexdigest()


def privatize_once(check: Callable[[], None] | None = None) -> dict:
    """mappings.privatize timed in a child after seal.seal (protect()'s order); ``check`` runs after it there."""
    with scratch_folder() as folder:
        return in_child(lambda report: _timed_privatize(folder, {report, *KEEP}, check))


def _timed_privatize(folder: str, keep: set[int], check: Callable[[], None] | None) -> dict:
    seal.seal(keep, folder)  # as in protect(): only read-only descriptors are left
    dirty_before = _private_dirty_mib()
    started = time.perf_counter()
    privatized = mappings.privatize(mappings.open_files())
    elapsed = _since(started)
    dirty = _private_dirty_mib() - dirty_before
    if check is not None:
        check()
    return {
        "privatize_ms": elapsed,
        "remapped": privatized.remapped,
        "copied_mib": privatized.copied_bytes / 2**20,
        "private_dirty_mib": dirty,
    }


def remap_once(array: np.ndarray, kind: str) -> dict:
    """privatize timed in a child, then checked: the child reads the same words through a private mapping, its
    writes land there, and none reaches this process's mapping."""
    indices = np.linspace(0, array.size - 1, SAMPLES).astype(np.int64)
    expected = _digest(array, indices)
    reply = privatize_once(lambda: _assert_private(array, indices, expected))
    if _digest(array, indices) != expected:
        raise AssertionError(f"a write in the child reached the parent's {kind} shared mapping")
    return reply


def _assert_private(array: np.ndarray, indices: np.ndarray, expected: str) -> None:
    address = array.ctypes.data
    if any(m.start <= address < m.end for m in mappings.shared_mappings()):
        raise AssertionError("the mapping is still shared after privatize")
    if _digest(array, indices) != expected:
        raise AssertionError("the child reads other data after privatize")
    array[indices] = ~array[indices]
    if _digest(array, indices) == expected:
        raise AssertionError("the child's writes to its private mapping did not land")


def _private_dirty_mib() -> float:
    with open("/proc/self/smaps_rollup") as rollup:
        line = next(line for line in rollup if line.startswith("Private_Dirty:"))
    return int(line.split()[1]) / 1024


def remap_runs(kind: str, gib: float, runs: int) -> list[dict]:
    with scratch_folder() as folder:
        shared = SharedArray(kind, int(gib * 2**30) // mmap.PAGESIZE * mmap.PAGESIZE, folder)
        results = [remap_once(shared.array, kind) for _ in range(runs)]
        shared.close()  # not on failure: the traceback still holds the array (multiprocessing unlinks at exit)
    return results


def remap_costs(runs: int, sizes: tuple[float, ...] = SIZES_GIB) -> dict:
    """privatize's median time at each size (GiB), per kind of shared memory, and the slope per GiB."""
    result = {"sizes_gib": list(sizes), "none": {"runs": [privatize_once() for _ in range(runs)]}}
    for kind in MAPPING_KINDS:
        points = [remap_runs(kind, gib, runs) for gib in sizes]
        medians = [statistics.median(r["privatize_ms"] for r in point) for point in points]
        slope, intercept = statistics.linear_regression(sizes, medians)
        result[kind] = {"runs": points, "ms_per_gib": slope, "intercept_ms": intercept}
    return result


# the report


def _cell(values: list[float], unit: str) -> str:
    return f"{statistics.median(values):,.2f} {unit} ({min(values):,.2f}-{max(values):,.2f})"


def seal_table(result: dict, runs: int) -> str:
    lines = [
        "| extra descriptors | "
        + " | ".join(f"{label}: seal() (median; min-max of {runs})" for label in DESCRIPTOR_KINDS.values())
        + " |",
        "|---|" + "---|" * len(DESCRIPTOR_KINDS),
    ]
    for index, count in enumerate(result["counts"]):
        cells = []
        for kind in DESCRIPTOR_KINDS:
            runs_here = result[kind]["runs"][index]
            cells.append(_cell([r["seal_ms"] for r in runs_here], "ms") + f", {runs_here[0]['descriptors']} open")
        lines.append(f"| {count:,} | " + " | ".join(cells) + " |")
    slopes = [f"**{result[kind]['us_per_descriptor']:.1f} µs**" for kind in DESCRIPTOR_KINDS]
    lines.append("| per descriptor (least-squares slope) | " + " | ".join(slopes) + " |")
    return "\n".join(lines)


def remap_table(result: dict, runs: int) -> str:
    sizes = result["sizes_gib"]
    lines = [
        "| shared mapping | "
        + " | ".join(f"{gib:g} GiB" for gib in sizes)
        + " | per GiB (slope) | child's new private memory at the largest |",
        "|---|" + "---|" * (len(sizes) + 2),
    ]
    for kind, label in MAPPING_KINDS.items():
        points = result[kind]["runs"]
        cells = [_cell([r["privatize_ms"] for r in point], "ms") for point in points]
        dirty = statistics.median(r["private_dirty_mib"] for r in points[-1])
        cells += [f"**{result[kind]['ms_per_gib']:,.1f} ms**", f"{dirty:,.0f} MiB"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    none = [r["privatize_ms"] for r in result["none"]["runs"]]
    lines.append(f"\nWith no shared mapping: {_cell(none, 'ms')}. Medians; min-max of {runs} runs each.")
    return "\n".join(lines)
