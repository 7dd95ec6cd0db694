"""The sandbox against what a real kernel holds open: connections, file handles, shared memory, C code.

Each hostile cell of ``tests/held_world.py`` runs in a fork of a real ipykernel that holds a SQLite connection,
file handles, memmaps, shared memory and connections to a loopback server; nothing of the user's may change,
the agent must still be able to read, and the user's handles must work afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from jupyter_layers.sandbox import fork_unsafe_reason
from jupyter_layers.sandbox.protections import here
from tests.held_world import HELD_HOSTILE, HELD_READS, make_held_world
from tests.kernels import isolated_kernel

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(fork_unsafe_reason() is not None, reason="the fork sandbox needs Linux")

# What is stopped without a refusal to report: writes to shared memory succeed in the child's private copy,
# and a shell started from C code reports its refusal on its own stderr (which the step shows).
QUIETLY_CONTAINED = {
    "memmap_write",
    "memmap_rplus_write",
    "shared_memory_write",
    "anonymous_mmap_write",
    "ctypes_system",
}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    kernel = isolated_kernel(tmp_path_factory)
    folder = tmp_path_factory.mktemp("held") / "user folder"
    try:
        execution = kernel.run(
            "import json\n"
            "from tests.held_world import make_held_world, check_every_held_cell, user_handles_work\n"
            f"held = make_held_world({str(folder)!r}, get_ipython().user_ns)\n"
            "held_report = check_every_held_cell(held)\n"
            "held_report['handles'] = user_handles_work(held)\n"
            "held.close()\n"
            "print(json.dumps(held_report))",
            timeout=300,
        )
        assert execution.reply["content"]["status"] == "ok", execution.reply["content"]
        yield json.loads(execution.stdout)
    finally:
        kernel.close()


def test_the_corpus_is_broad():
    assert len(HELD_HOSTILE) >= 30


@pytest.mark.parametrize("name", sorted(HELD_HOSTILE))
def test_a_cell_reaching_through_what_the_kernel_holds_changes_nothing(report, name):
    entry = report["hostile"][name]
    assert entry["changed"] == [], entry
    assert entry["alive"], entry
    if name not in QUIETLY_CONTAINED:
        assert entry["refused"], entry  # the agent is told, whether the hook or the operating system said no


def test_os_refusals_come_with_a_hint_the_agent_can_act_on(report):
    by_os = [
        name for name, entry in report["hostile"].items() if any("operating system" in r for r in entry["refused"])
    ]
    assert {"sqlite_delete", "text_write", "ctypes_open_create", "pandas_to_parquet", "socket_sendall"} <= set(by_os)
    assert all(report["hostile"][name]["hint"] for name in by_os)


@pytest.mark.parametrize("name", sorted(HELD_READS))
def test_the_agent_can_still_read_everything(report, name):
    read = report["reads"][name]
    assert read["error"] is None and read["result"] == read["expected"], read


def test_reads_change_nothing_either(report):
    assert report["unchanged_after_reads"]


def test_the_users_handles_work_after_the_explorations(report):
    handles = report["handles"]
    assert handles["sqlite"] == 10 and handles["wal"] == 3
    assert handles["files"] == ["user line\nuser again\n", "first\nsecond\n", "user message\nuser again\n"]
    assert handles["memmap"] == [2.0, 2.0, 1.0] and handles["shared_memory"] == "USER"
    assert handles["socket_reply"] and handles["http"] == "ok"
    received = "".join(handles["received"])
    assert "SCRATCH" not in received and "user again" in received and "GET /again" in received


# Done for real, without a sandbox, each of these changes something the world's state compares.
SEEN_WHEN_DONE = [
    "sqlite_delete",
    "sqlite_to_sql_replace",
    "sqlite_wal_delete",
    "text_write",
    "binary_seek_write",
    "append_write",
    "os_write_user_fd",
    "logging_handler",
    "memmap_write",
    "memmap_rplus_write",
    "shared_memory_write",
    "anonymous_mmap_write",
    "ctypes_open_create",
    "pandas_to_parquet",
    "socket_sendall",
    "http_keepalive_request",
    "ctypes_connect_unix_path",
    "ctypes_connect_abstract",
    "ctypes_sendto_unix_datagram",
    "rmtree_quietly",
]


@pytest.mark.parametrize("name", SEEN_WHEN_DONE)
def test_the_world_state_sees_what_the_cell_would_do_unsandboxed(tmp_path, name):
    """The checker itself: a check that could not see the change would pass for the wrong reason."""
    world = make_held_world(str(tmp_path / "user folder"), {})
    try:
        before = world.state()
        exec(HELD_HOSTILE[name], world.namespace)
        deadline = time.monotonic() + 5  # the loopback server records on its own thread
        while world.state() == before and time.monotonic() < deadline:
            time.sleep(0.02)
        assert world.state() != before
    finally:
        world.close()


# --- where a protection is missing: say so, claim nothing more --------------------------------------------------

SECCOMP = """
import ctypes, errno, os, platform, struct
ARCH, UNSHARE = {"x86_64": (0xC000003E, 272), "aarch64": (0xC00000B7, 97)}[platform.machine()]
LANDLOCK_CREATE_RULESET = 444
def statement(code, k, jt=0, jf=0):
    return struct.pack("HBBI", code, jt, jf, k)
LD, JEQ, RET = 0x20, 0x15, 0x06
ALLOW, ERRNO = 0x7FFF0000, 0x00050000
program = b"".join([
    statement(LD, 4), statement(JEQ, ARCH, 1, 0), statement(RET, ALLOW),
    statement(LD, 0),
    statement(JEQ, UNSHARE, 0, 1), statement(RET, ERRNO | errno.EPERM),
    statement(JEQ, LANDLOCK_CREATE_RULESET, 0, 1), statement(RET, ERRNO | errno.ENOSYS),
    statement(RET, ALLOW),
])
class Filter(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(38, 1, 0, 0, 0) == 0  # no_new_privs, required for an unprivileged filter
assert libc.prctl(22, 2, ctypes.byref(Filter(len(program) // 8, program))) == 0, ctypes.get_errno()
"""

CONTAINER = SECCOMP + textwrap.dedent(
    """
    import json, tempfile
    from jupyter_layers.sandbox import open_sandbox
    folder = tempfile.mkdtemp()
    first, warning = open_sandbox({"FOLDER": folder})
    second, again = open_sandbox({})
    step = first.run("import ctypes; ctypes.CDLL(None).creat(FOLDER.encode() + b'/from-c', 0o644)")
    print(json.dumps({
        "summary": first.protections.summary(), "missing": first.protections.missing, "warning": warning,
        "again": again, "created": os.path.exists(folder + "/from-c"), "error": step.error,
    }))
    first.close(); second.close()
    """
)


@pytest.mark.skipif(os.uname().machine not in ("x86_64", "aarch64"), reason="the filter is written for these")
def test_where_namespaces_and_landlock_are_forbidden_it_says_so_once_and_claims_nothing_more():
    """A container that forbids unshare and Landlock (a seccomp filter, as Docker's default profile does for
    unshare): the sandbox falls back to what works and says what is missing, once per process."""
    done = subprocess.run(
        [sys.executable, "-c", CONTAINER], capture_output=True, text=True, timeout=60, cwd=ROOT, check=True
    )
    seen = json.loads(done.stdout)
    assert seen["summary"] == "fork · connect refused · descriptors sealed · shared memory private"
    assert any("network namespace" in m for m in seen["missing"]) and any("Landlock" in m for m in seen["missing"])
    assert seen["warning"].startswith("scratch cells run in a fork (fork · connect refused") and seen["again"] is None
    assert seen["created"] and seen["error"] is None  # without Landlock, C code can write: and it was not claimed


UNPRIVILEGED = textwrap.dedent(
    """
    import ctypes, json, os, tempfile
    import _posixsubprocess  # imported before the uid changes: this Python lives under /root
    from jupyter_layers.sandbox import ForkSandbox
    folder = tempfile.mkdtemp()
    os.chmod(folder, 0o777)
    os.setgid(12345); os.setgroups([]); os.setuid(12345)
    ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # dumpable again, as a kernel its user started is
    with ForkSandbox({"FOLDER": folder}) as sandbox:
        from_c = sandbox.run("import ctypes; ctypes.CDLL(None).creat(FOLDER.encode() + b'/from-c', 0o644)")
        who = sandbox.run("import os; os.getuid(), os.getgid()").result
        applied = sandbox.protections.summary()
    print(json.dumps({"applied": applied, "who": who, "created": os.path.exists(folder + "/from-c")}))
    """
)


@pytest.mark.skipif(os.getuid() != 0, reason="becoming another user needs root; as a user, the test below is this")
def test_an_unprivileged_user_gets_every_protection_through_a_user_namespace():
    """Root enters a network namespace directly; a user goes through a user namespace of their own, which must
    map their uid and gid to themselves (files keep their owners) and still leave the network."""
    done = subprocess.run(
        [sys.executable, "-c", UNPRIVILEGED], capture_output=True, text=True, timeout=60, cwd=ROOT, check=True
    )
    seen = json.loads(done.stdout)
    assert seen["applied"] == here().summary() and "no network" in seen["applied"]
    assert seen["who"] == "(12345, 12345)" and not seen["created"]


def test_this_machine_has_every_protection():
    """The CI machine (Linux 6.x, Landlock, namespaces) must get them all; a regression here is silent otherwise."""
    found = here()
    assert found.landlock >= 6 and found.network and found.connect_refused, found
    assert found.descriptors and found.shared_memory, found
    assert found.missing == () and found.summary().startswith(f"fork · landlock v{found.landlock} · no network")
