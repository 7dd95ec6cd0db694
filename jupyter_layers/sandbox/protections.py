"""Which protections hold: applied in the forked child before its first scratch line, and probed for status.

``protect`` is the child's sequence. Its order matters: descriptors are sealed and shared mappings made private
while the child can still open anything; the network namespace is entered while ``/proc/self/uid_map`` is
still writable; Landlock next, because after it the child can write only in its folder; the seccomp filter
last. What could not
be had is said in ``missing`` and never claimed in ``summary``.

``here`` answers "what would hold here" without an exploration: it forks a throwaway child that applies the
same sequence and reports it (once per process; a fork of a large kernel takes some milliseconds).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import platform
import tempfile
import warnings
from dataclasses import dataclass

from . import landlock, mappings, network, seal, seccomp
from .pipe import read_message, write_message
from .safety import fork_unsafe_reason
from .workdir import remove_tree


@dataclass(frozen=True)
class Protections:
    """What stands between scratch code and the user's world, in one sandbox process."""

    mode: str = "fork"  # "fork" | "live"
    landlock: int = 0  # the Landlock ABI version enforced; 0 when none is
    network: bool = False  # the child is in a network namespace of its own
    connect_refused: bool = False  # a seccomp filter refuses connect() and addressed sends (UNIX sockets by path)
    descriptors: bool = False  # inherited descriptors are sealed
    shared_memory: bool = False  # shared mappings are private
    audit: bool = False  # the audit hook names what Python-level calls were refused
    missing: tuple[str, ...] = ()  # what could not be had here, and why

    def summary(self) -> str:
        """For example ``fork · landlock v7 · no network · connect refused · descriptors sealed · shared memory
        private``."""
        if self.mode == "live":
            return "live (scratch cells run in your kernel: nothing is isolated)"
        parts = [self.mode]
        if self.landlock:
            parts.append(f"landlock v{self.landlock}")
        if self.network:
            parts.append("no network")
        if self.connect_refused:
            parts.append("connect refused")
        if self.descriptors:
            parts.append("descriptors sealed")
        if self.shared_memory:
            parts.append("shared memory private")
        if len(parts) == 1:
            parts.append("audit hook only")
        return " · ".join(parts)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Protections:
        return cls(**{**data, "missing": tuple(data.get("missing", ()))})


LIVE = Protections(mode="live")


def protect(folder: str, keep: set[int]) -> tuple[Protections, list[seal.Sealed]]:
    """Applies every protection this machine allows to this (forked, single-threaded) process, for good."""
    if not os.path.isdir("/proc/self/fd"):
        reason = "sealing descriptors and shared memory, Landlock and network isolation need Linux"
        return Protections(audit=True, missing=(reason,)), []
    missing = []
    sealed = seal.seal(keep, folder)
    privatized = mappings.privatize(mappings.open_files())  # after sealing: only read-only descriptors are left
    if privatized.left_shared:
        missing.append(f"device memory stays shared: {', '.join(sorted(set(privatized.left_shared)))}")
    network_failure = network.isolate()
    if network_failure:
        missing.append(f"no network namespace: {network_failure}; the audit hook refuses Python-level connections")
    abi = landlock.abi_version()
    if abi:
        try:
            landlock.restrict(folder, abi)
        except OSError as error:
            missing.append(f"Landlock refused: {error}")
            abi = 0
    else:
        missing.append("no Landlock in this kernel (Linux 5.13+): writes from C code are not refused")
    connect_refused = _filter_connections(missing)
    protections = Protections(
        landlock=abi,
        network=network_failure is None,
        connect_refused=connect_refused,
        descriptors=True,
        shared_memory=not privatized.left_shared,
        audit=True,
        missing=tuple(missing),
    )
    return protections, sealed


def _filter_connections(missing: list[str]) -> bool:
    if not seccomp.supported():
        missing.append(f"no seccomp filter for {platform.machine()}: C code can connect to UNIX sockets by path")
        return False
    try:
        seccomp.refuse_connections()
    except OSError as error:
        missing.append(f"seccomp refused ({error}): C code can connect to UNIX sockets by path")
        return False
    return True


@functools.cache
def _probe_fork() -> Protections:
    """Forks a throwaway child that applies every protection and reports what held."""
    folder = tempfile.mkdtemp(prefix="jupyter-layers-probe-")
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*fork.*")
        pid = os.fork()
    if pid == 0:  # the child reports through the pipe and leaves; it never returns
        try:
            found, _sealed = protect(folder, {write_end, 1, 2})
            write_message(write_end, found.to_dict())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        report = read_message(read_end)
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
        remove_tree(folder)
    if report is None:
        return Protections(audit=True, missing=("the protection probe failed: only the audit hook is certain",))
    return Protections.from_dict(report)


def here() -> Protections:
    """What scratch cells would get in this process now: live where forking is unsafe, else the probe's."""
    return LIVE if fork_unsafe_reason() is not None else _probe_fork()
