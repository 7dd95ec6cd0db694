"""The scratch sandbox: forked children that cannot touch the user's namespace or files, in this process and
inside a real ipykernel; timeouts, Ctrl-C, crashes and clean-up; live mode; the kernel-side remote API."""

from __future__ import annotations

import gc
import json
import os
import random
import signal
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from jupyter_layers.kernel import rpc
from jupyter_layers.sandbox import (
    LIVE_WARNING,
    ForkSandbox,
    LiveSandbox,
    StepResult,
    fork_unsafe_reason,
    open_sandbox,
)
from jupyter_layers.sandbox import safety as sandbox_safety
from jupyter_layers.sandbox.protections import here
from jupyter_layers.sandbox.result import RESTARTED_NOTE
from tests.kernels import isolated_kernel
from tests.test_sandbox_support import ALLOWED, HOSTILE, MARKER, REFUSED, Record, hostile_cells, make_world

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(fork_unsafe_reason() is not None, reason="the fork sandbox needs Linux")


@pytest.fixture
def world(tmp_path):
    made = make_world(str(tmp_path / "user folder"))
    yield made
    made.listener.close()


@pytest.fixture
def sandbox(world):
    with ForkSandbox(world.namespace) as made:
        yield made


def gone(pid: int) -> bool:
    """Neither running nor a zombie: reaped."""
    return not os.path.exists(f"/proc/{pid}")


# --- isolation: one hostile cell at a time, then random sequences of them -------------------------------------


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_cell_leaves_the_namespace_folder_and_process_as_they_were(world, name):
    before = world.state()
    code = hostile_cells(world.folder, world.listener.port)[name]
    with ForkSandbox(world.namespace) as sandbox:
        result = sandbox.run(code, timeout=10)
        assert sandbox.run("21 * 2").result == "42"  # the child is still serving
    assert world.state() == before
    if name in REFUSED:
        assert result.refused, result
        text = result.as_text()
        assert "refused by the sandbox:" in text and result.refused[0] in text
        if name != "swallowed_refusal":
            assert result.error.startswith("PermissionError: jupyter_layers sandbox: "), result.error
    else:
        assert not result.refused, result


def test_each_refusal_names_what_and_where(world, sandbox):
    cells = hostile_cells(world.folder, world.listener.port)
    expected = {
        "write_file": f"file write outside the sandbox: {world.folder}/data.csv",
        "remove_file": f"file deletion outside the sandbox: {world.folder}/data.csv",
        "rename_file": f"rename outside the sandbox: {world.folder}/data.csv -> {world.folder}/moved.csv",
        "remove_tree": f"directory tree deletion outside the sandbox: {world.folder}",
        "subprocess_true": "starting a process: ['true']",
        "socket_raw_connect": f"network connection to 127.0.0.1:{world.listener.port}",
        "socket_connect": "name lookup for '127.0.0.1'",
        "kill_parent": f"signal 15 to another process (pid {os.getpid()})",
        "swallowed_refusal": f"file write outside the sandbox: {world.folder}/data.csv",
        "multiprocessing": "starting a process (_posixsubprocess.fork_exec, e.g. multiprocessing)",
        "os_exec": "replacing the process (os.exec*): '/bin/touch'",
        "hard_link": f"hard link outside the sandbox: {world.folder}/data.csv",
    }
    for name, refusal in expected.items():
        assert sandbox.run(cells[name]).refused[0] == refusal
    assert sandbox.run(cells["swallowed_refusal"]).error is None  # swallowed, and still reported


@pytest.mark.parametrize("seed", range(40))
def test_random_sequences_of_hostile_cells_change_nothing(world, seed):
    """Property: any sequence of hostile steps (several per cell, each guarded so all of them run) leaves the
    user's world as it was, and each refusable action that ran shows up in ``refused``."""
    chooser = random.Random(seed)
    cells = hostile_cells(world.folder, world.listener.port)
    before = world.state()
    expected_refusals = refused = 0
    with ForkSandbox(world.namespace) as sandbox:
        for _ in range(chooser.randint(2, 5)):
            names = chooser.sample(sorted(cells), chooser.randint(1, 4))
            guarded = "\n".join(
                f"try:\n{textwrap.indent(cells[n], '    ')}\nexcept Exception as error:\n    print(repr(error))"
                for n in names
            )
            result = sandbox.run(guarded, timeout=10)
            assert result.error is None and not result.timed_out, result
            expected_refusals += sum(n in REFUSED for n in names)
            refused += len(result.refused)
            assert world.state() == before, names
    assert refused >= expected_refusals


def test_the_sandbox_runs_beside_busy_threads_of_the_parent(world):
    """A parent thread holding a lock and writing output at the moment of the fork does not stall the child."""
    held = threading.Lock()
    stop = threading.Event()

    def busy():
        with held:
            while not stop.is_set():
                print("parent thread output")
                time.sleep(0.001)

    thread = threading.Thread(target=busy, daemon=True)
    thread.start()
    try:
        for _ in range(5):
            with ForkSandbox(world.namespace) as sandbox:
                assert sandbox.run("print('child'); len(nums)").stdout == "child\n"
    finally:
        stop.set()
        thread.join()


# --- notebook-like behaviour ------------------------------------------------------------------------------------


def test_state_carries_across_cells_and_the_last_expression_is_the_result(sandbox, world):
    first = sandbox.run("total = sum(nums)\nnums.append(10)\nprint('summed')\ntotal * 2")
    assert (first.stdout, first.result, first.error) == ("summed\n", "12", None)
    second = sandbox.run("total, nums")
    assert second.result == "(6, [3, 1, 2, 10])" and not second.restarted
    assert world.namespace["nums"] == [3, 1, 2] and "total" not in world.namespace
    assert sandbox.run("x = 1").result is None and sandbox.run("None").result is None


def test_chdir_stays_in_the_child(sandbox, tmp_path):
    cwd = os.getcwd()
    sandbox.run(f"import os; os.chdir({str(tmp_path)!r})")
    assert sandbox.run("os.getcwd()").result == repr(str(tmp_path))
    assert os.getcwd() == cwd


def test_reading_a_file_the_user_has_open_does_not_move_the_users_position(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("".join(f"line {i}\n" for i in range(100_000)))
    with open(path) as handle, open(path, "rb", buffering=0) as raw:
        handle.readline()
        raw.read(10)
        with ForkSandbox({"handle": handle, "raw": raw}) as sandbox:
            result = sandbox.run("handle.read(); raw.read(); raw.seek(0, 2); len(handle.readlines())")
            assert result.result == "0" and result.error is None
        assert handle.readline() == "line 1\n" and raw.read(4) == b"e 1\n"
        assert len(handle.readlines()) == 99_998


def test_writes_inside_the_sandbox_folder_are_allowed_and_reading_anything_is(sandbox, world):
    result = sandbox.run(
        "import tempfile, os\n"
        "path = os.path.join(tempfile.gettempdir(), 'out.csv')\n"
        "df.to_csv(path)\n"
        "fd, name = tempfile.mkstemp()\n"
        "os.makedirs(os.path.join(tempfile.mkdtemp(), 'a', 'b'))\n"
        "open('/dev/null', 'w').write('discarded')\n"
        "os.makedirs(os.path.expanduser('~'), exist_ok=True)\n"  # an existing folder: nothing changes
        "import sqlite3; sqlite3.connect(':memory:').execute('create table t (x)')\n"
        f"(tempfile.gettempdir() == {sandbox.workdir!r}, open({world.folder!r} + '/data.csv').read(), "
        "len(open(path).read().splitlines()))"
    )
    assert result.result == "(True, 'a,b\\n1,2\\n', 4)" and not result.refused, result
    assert (Path(sandbox.workdir) / "out.csv").exists()


def test_errors_show_the_scratch_code_only(sandbox):
    result = sandbox.run("def f(frame):\n    return frame['missing']\n\nf(df)")
    assert result.error.startswith("KeyError: 'missing'")
    assert "cell 1, line 4, in <module>: f(df)" in result.error
    assert "cell 1, line 2, in f: return frame['missing']" in result.error
    assert "sandbox/execute" not in result.error and "sandbox/child" not in result.error
    syntax = sandbox.run("if (:\n    pass")
    assert syntax.error.startswith("SyntaxError:") and "if (:" in syntax.error
    assert sandbox.run("import sys; sys.exit(3)").error.startswith("SystemExit: 3")
    assert sandbox.run("len(nums)").result == "3"  # none of that ended the child


def test_rich_values_become_bounded_text(sandbox):
    sandbox.run("import pandas as pd; big = pd.DataFrame({f'c{i}': range(1000) for i in range(50)})")
    frame = sandbox.run("big").result
    assert "[1000 rows x 50 columns]" in frame and "..." in frame and len(frame) < 10_000
    assert sandbox.run("big['c1']").result.endswith("Name: c1, Length: 1000, dtype: int64")
    figure = sandbox.run(
        "Figure = type('Figure', (), {'__module__': 'matplotlib.figure'})\nFigure()"
    )  # a stand-in recognised by its class path, like matplotlib's
    assert figure.result == "[matplotlib figure]"
    shown = sandbox.run("display(df.head(2)); display({'text/plain': 'raw text'}, raw=True); display(Figure())")
    assert shown.outputs[0].startswith("   a    b  c\n0  1  4.0  x") and shown.outputs[1:] == (
        "raw text",
        "[matplotlib figure]",
    )
    many = sandbox.run("for i in range(30): display(i)")
    assert len(many.outputs) == 21 and many.outputs[-1] == "[10 more displays not kept]"
    flood = sandbox.run("import sys\nfor i in range(200000): print(i)\nprint('x' * 10**6, file=sys.stderr)")
    assert len(flood.stdout) < 21_000 and flood.stdout.startswith("0\n1\n") and flood.stdout.endswith("199999\n")
    assert "characters cut" in flood.stdout and len(flood.stderr) < 21_000


def test_c_level_output_and_crashes_are_reported(sandbox):
    native = sandbox.run("import os; os.write(1, b'from C\\n'); os.write(2, b'err from C\\n'); print('py')")
    assert native.stdout == "py\nfrom C\n" and native.stderr == "err from C\n"
    sandbox.run("defined = 1")
    crash = sandbox.run("import ctypes; ctypes.string_at(0)")
    assert crash.error == "SandboxCrash: the sandbox process was killed by SIGSEGV while running this cell"
    assert "Segmentation fault" in crash.stderr and '<scratch-3>", line 1' in crash.stderr
    after = sandbox.run("defined")
    assert after.restarted and after.error.startswith("NameError") and RESTARTED_NOTE in after.as_text()
    assert sandbox.run("import os; os._exit(3)").error.endswith("exited with status 3 while running this cell")


def test_ipython_syntax_is_transformed_only_when_plain_python_fails(sandbox):
    result = sandbox.run("!true")
    assert result.error == (
        "NameError: name 'get_ipython' is not defined\nTraceback (scratch code, most recent call last):\n"
        "  cell 1, line 1, in <module>: get_ipython().system('true')"
    )


# --- timeouts, Ctrl-C, closing ----------------------------------------------------------------------------------


def test_a_timeout_kills_the_child_and_the_next_cell_forks_afresh(sandbox):
    sandbox.run("defined = 1")
    pid = sandbox.pid
    result = sandbox.run("while True:\n    pass", timeout=0.5)
    assert result.timed_out and not result.restarted and 0.5 <= result.elapsed < 3
    assert result.error.startswith("TimeoutError: the scratch cell ran longer than 0.5 s")
    assert gone(pid) and sandbox.pid is None
    blocked = sandbox.run("import time; time.sleep(60)", timeout=0.3)  # stuck in C: killed all the same
    assert blocked.timed_out and blocked.restarted and blocked.elapsed < 3
    after = sandbox.run("defined")
    assert after.restarted and after.error.startswith("NameError") and sandbox.pid not in (None, pid)
    assert sandbox.run("len(nums)").result == "3" and not sandbox.run("1").restarted


def test_ctrl_c_while_waiting_kills_the_child_and_propagates(sandbox):
    sandbox.run("1")
    pid = sandbox.pid
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        sandbox.run("import time; time.sleep(30)", timeout=60)
    assert time.monotonic() - started < 5 and gone(pid) and sandbox.pid is None
    assert sandbox.run("1").restarted


def test_close_kills_and_reaps_the_child_and_removes_the_folder(world):
    sandbox = ForkSandbox(world.namespace)
    sandbox.run("import time")
    pid, workdir = sandbox.pid, sandbox.workdir
    assert os.path.isdir(workdir) and not gone(pid)
    sandbox.run(f"import os; os.makedirs({workdir!r} + '/locked/in'); os.chmod({workdir!r} + '/locked', 0)")
    sandbox.close()
    assert gone(pid) and not os.path.exists(workdir)
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    sandbox.close()  # twice is fine
    with pytest.raises(RuntimeError, match="closed"):
        sandbox.run("1")


def test_a_given_folder_is_used_and_kept(world, tmp_path):
    folder = tmp_path / "scratch"
    with ForkSandbox(world.namespace, workdir=str(folder)) as sandbox:
        assert sandbox.run(f"open({str(folder)!r} + '/x.txt', 'w').write('ok')").refused == ()
    assert (folder / "x.txt").read_text() == "ok"


def test_two_sandboxes_are_independent(world):
    with ForkSandbox(world.namespace) as one, ForkSandbox(world.namespace) as two:
        one.run("nums.append('one')")
        two.run("nums.append('two')")
        one.close()
        assert two.run("nums").result == "[3, 1, 2, 'two']"


def test_a_child_killed_from_outside_between_cells_is_replaced(sandbox):
    sandbox.run("x = 1")
    os.kill(sandbox.pid, signal.SIGKILL)
    time.sleep(0.1)
    result = sandbox.run("'x' in globals()")
    assert result.restarted and result.result == "False"


def test_a_failed_fork_is_a_step_error_and_leaks_nothing(world, monkeypatch):
    gc.collect()  # earlier tests' sockets closed now, not during the step
    descriptors = len(os.listdir("/proc/self/fd"))

    def no_memory():
        raise OSError(12, "Cannot allocate memory")

    with ForkSandbox(world.namespace) as sandbox:
        monkeypatch.setattr(os, "fork", no_memory)
        result = sandbox.run("1")
        assert result.error.startswith("ForkError: the kernel could not be forked for a sandbox ([Errno 12]")
        # No new descriptor; other threads of the test process (model clients' pools) may close some meanwhile.
        assert len(os.listdir("/proc/self/fd")) <= descriptors
        monkeypatch.undo()
        assert sandbox.run("1").result == "1"


ORPHAN = """
from jupyter_layers.sandbox import ForkSandbox
import os, threading, time
sandbox = ForkSandbox({})
sandbox.run("1")
threading.Thread(target=sandbox.run, args=("while True: pass", 100), daemon=True).start()
time.sleep(0.3)  # the child is now busy, not waiting on its pipe
print(sandbox.pid, sandbox.workdir, flush=True)
os._exit(0)  # the kernel dies without closing anything
"""


def ended(pid: int) -> bool:
    """Gone, or a zombie (dead; an init that does not reap orphans leaves those)."""
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(") ", 1)[1].startswith("Z")


def test_the_child_dies_with_the_process_that_forked_it():
    import subprocess

    done = subprocess.run([sys.executable, "-c", ORPHAN], capture_output=True, text=True, timeout=30, cwd=ROOT)
    pid, workdir = done.stdout.split()
    Path(workdir).rmdir()  # what a killed kernel leaves behind: its sandbox's empty folder
    deadline = time.monotonic() + 5
    while not ended(int(pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ended(int(pid))


# --- the result as the agent reads it ----------------------------------------------------------------------------


def test_as_text_labels_every_part_and_cuts_long_ones_head_and_tail():
    result = StepResult(
        stdout="".join(f"line {i}\n" for i in range(5000)),
        stderr="warn\n",
        result="42",
        outputs=("table",),
        error="ValueError: bad",
        refused=("starting a process: ['true']",),
        restarted=True,
    )
    text = result.as_text(1500)
    assert text.startswith(RESTARTED_NOTE)
    for part in ("stdout:\nline 0\n", "line 4999", "stderr:\nwarn", "display 1:\ntable", "Out:\n42"):
        assert part in text
    assert "error:\nValueError: bad" in text and "- starting a process: ['true']" in text
    assert "characters cut" in text and len(text) <= 1500
    assert StepResult().as_text() == "(no output)"
    assert StepResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


# --- live mode and the choice of mode ----------------------------------------------------------------------------


def test_live_mode_removes_created_names_and_restores_the_directory(tmp_path, capsys):
    namespace = {"nums": [1], "keep": "me"}
    cwd = os.getcwd()
    with LiveSandbox(namespace) as live:
        result = live.run(
            f"import os\nnew_name = 5\nnums.append(2)\nos.chdir({str(tmp_path)!r})\nprint('hi')\nnew_name"
        )
        assert (result.stdout, result.result) == ("hi\n", "5")
        assert namespace["new_name"] == 5 and live.run("new_name + 1").result == "6"
        assert live.mode == "live"
    assert "new_name" not in namespace and "os" not in namespace and "__builtins__" not in namespace
    assert namespace == {"nums": [1, 2], "keep": "me"}  # in-place mutation cannot be undone: the stated limit
    assert os.getcwd() == cwd and capsys.readouterr().out == ""


def test_live_mode_times_out_a_busy_loop_and_propagates_ctrl_c():
    namespace = {}
    with LiveSandbox(namespace) as live:
        result = live.run("n = 0\nwhile True:\n    n += 1", timeout=0.3)
        assert result.timed_out and result.error.startswith("TimeoutError") and namespace["n"] > 0
        swallowing = live.run("try:\n    while True: pass\nexcept Exception:\n    print('swallowed')", timeout=0.3)
        assert swallowing.timed_out and swallowing.stdout == ""
        assert live.run("1 + 1").result == "2"
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
        with pytest.raises(KeyboardInterrupt):
            live.run("while True:\n    pass", timeout=30)
    assert "n" not in namespace


def test_open_sandbox_forks_here_and_warns_plainly_when_live():
    sandbox, warning = open_sandbox({})
    assert isinstance(sandbox, ForkSandbox) and sandbox.mode == "fork" and warning is None
    sandbox.close()
    sandbox, warning = open_sandbox({}, live=True)
    assert isinstance(sandbox, LiveSandbox) and warning.startswith(LIVE_WARNING)
    assert "you asked for --live" in warning and "not blocked" in warning
    sandbox.close()


def test_fork_is_refused_where_unsafe(monkeypatch):
    assert fork_unsafe_reason() is None

    class Cuda:
        initialized = True

        @classmethod
        def is_initialized(cls):
            return cls.initialized

    monkeypatch.setitem(sys.modules, "torch", type(sys)("torch"))
    sys.modules["torch"].cuda = Cuda
    assert fork_unsafe_reason() == "a CUDA context is initialised in this process (torch)"
    Cuda.initialized = False
    assert fork_unsafe_reason() is None
    monkeypatch.setattr(sandbox_safety.sys, "platform", "darwin")
    assert "only trusted on Linux" in fork_unsafe_reason()
    monkeypatch.setenv("JUPYTER_LAYERS_SANDBOX", "fork")
    assert fork_unsafe_reason() is None
    monkeypatch.delattr(os, "fork")
    assert fork_unsafe_reason() == "no os.fork on this platform"
    sandbox, warning = open_sandbox({})
    assert isinstance(sandbox, LiveSandbox) and "no os.fork on this platform" in warning
    sandbox.close()


# --- inside a real ipykernel -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    running = isolated_kernel(tmp_path_factory)
    yield running
    running.close()


def leaked(execution, marker: str) -> list[str]:
    """Messages of an execution, other than the echo of its own code, that carry ``marker``."""
    carried = [m for m in execution.messages if marker in json.dumps(m, default=str)]
    return [m["msg_type"] for m in carried if m["msg_type"] != "execute_input"]


def test_in_a_real_kernel_hostile_cells_change_nothing_and_print_nothing(kernel, tmp_path):
    execution = kernel.run(
        "import json, threading\n"
        "from tests.test_sandbox_support import make_world, check_every_hostile_cell\n"
        f"world = make_world({str(tmp_path / 'user')!r}, get_ipython().user_ns)\n"
        "threads = sorted(t.name for t in threading.enumerate())\n"
        "report = check_every_hostile_cell(world)\n"
        "print(json.dumps({'report': report, 'threads': threads}))",
        timeout=60,
    )
    assert execution.reply["content"]["status"] == "ok", execution.stderr
    data = json.loads(execution.stdout)
    report = data["report"]
    assert all(entry["unchanged"] and entry["alive"] for entry in report.values()), report
    assert {name for name, entry in report.items() if entry["refused"]} == REFUSED
    assert all(report[name]["refusal_in_text"] for name in REFUSED)
    assert not any(report[name]["refused"] for name in ALLOWED)
    # The kernel's threads carry on. (IPython stops its history thread before every fork, through
    # os.register_at_fork, and starts it again when the next cell is stored.)
    threads = kernel.run("print(json.dumps(sorted(t.name for t in threading.enumerate())))").stdout
    assert json.loads(threads) == data["threads"] and "IOPub" in threads
    assert leaked(execution, MARKER) == []
    assert kernel.run("print(sum(nums), df.shape, arr.sum())").stdout == "6 (3, 3) 66.0\n"


SCRATCH_OUTPUT = """from IPython.display import display, HTML
print("LEAK-print"); logger.warning("LEAK-log"); sys.__stdout__.write("LEAK-dunder\\n"); sys.__stdout__.flush()
os.write(1, b"LEAK-fd\\n"); display(HTML("LEAK-html")); 6 * 7"""

KERNEL_OUTPUT_CHECK = f"""import logging, sys, os
logger = logging.getLogger("scratch-test"); logger.addHandler(logging.StreamHandler(sys.stderr))
from jupyter_layers.sandbox import ForkSandbox
with ForkSandbox(get_ipython().user_ns) as sandbox:
    step = sandbox.run({SCRATCH_OUTPUT!r})
seen = lambda text: text.replace("LEAK", "seen")
print(step.result, sorted(seen(step.stdout).split()), seen(step.stderr), [seen(o) for o in step.outputs], step.refused)
"""


def test_in_a_real_kernel_output_of_every_kind_stays_in_the_step(kernel):
    """print, a logging handler holding the kernel's stderr, sys.__stdout__, descriptor 1, IPython's display:
    all come back in the step, none reaches the notebook."""
    execution = kernel.run(KERNEL_OUTPUT_CHECK)
    assert execution.reply["content"]["status"] == "ok", execution.stderr
    assert execution.stdout == (
        "42 ['seen-dunder', 'seen-fd', 'seen-print'] seen-log\n ['<IPython.core.display.HTML object>'] ()\n"
    )
    assert leaked(execution, "LEAK-") == []


def remote(kernel, function: str, *args):
    """One call of jupyter_layers.sandbox.remote through a silent execute_request, as the server makes it."""
    client = kernel.client
    msg_id = client.execute(**rpc.silent_request({"r": rpc.call("jupyter_layers.sandbox.remote", function, *args)}))
    while True:
        reply = client.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg_id:
            return rpc.json_value(reply, "r")


def test_remote_calls_through_silent_requests_in_a_real_kernel(kernel):
    kernel.run("remote_probe = [1, 2]")
    count = kernel.run("1").reply["content"]["execution_count"]
    opened = remote(kernel, "open_json", "x1")
    assert opened == {"id": "x1", "mode": "fork", "warning": None, "protections": here().summary()}
    step = remote(kernel, "run_json", "x1", "remote_probe.append(3); made = 1; print('hi'); remote_probe", 10)
    assert (step["stdout"], step["result"], step["error"], step["refused"]) == ("hi\n", "[1, 2, 3]", None, [])
    assert remote(kernel, "run_json", "x1", "made + 1", 10)["result"] == "2"
    slow = remote(kernel, "run_json", "x1", "import time; time.sleep(30)", 0.5)
    assert slow["timed_out"] and remote(kernel, "run_json", "x1", "1", 10)["restarted"]
    assert remote(kernel, "close_json", "x1") == {"id": "x1", "closed": True}
    assert remote(kernel, "close_json", "x1") == {"id": "x1", "closed": False}
    with pytest.raises(rpc.KernelRequestError, match="LookupError: no open exploration sandbox 'x1'"):
        remote(kernel, "run_json", "x1", "1", 10)
    live = remote(kernel, "open_json", "x2", True)
    assert live["mode"] == "live" and live["warning"].startswith(LIVE_WARNING)
    assert remote(kernel, "run_json", "x2", "made_live = 1", 10)["error"] is None
    remote(kernel, "close_json", "x2")
    after = kernel.run("print(remote_probe, 'made' in dir(), 'made_live' in dir())")
    assert after.stdout == "[1, 2] False False\n"
    assert after.reply["content"]["execution_count"] == count + 1  # silent requests did not count


def test_in_a_real_kernel_ctrl_c_stops_the_exploration_and_its_child(kernel):
    kernel.run("from jupyter_layers.sandbox import remote; import json; json.loads(remote.open_json('x3'))")
    pid = int(kernel.run("remote.run_json('x3', 'x = 1', 10); print(remote.OPEN['x3'].pid)").stdout)
    interrupted = kernel.run("remote.run_json('x3', 'import time; time.sleep(30)', 60)", interrupt_after=1.0)
    assert interrupted.reply["content"]["ename"] == "KeyboardInterrupt"
    assert gone(pid)
    assert kernel.run("print('x3' in remote.OPEN)").stdout == "False\n"
    assert kernel.run("print(1 + 1)").stdout == "2\n"  # the kernel carries on


def test_the_world_state_sees_every_kind_of_change_the_hostile_cells_attempt(tmp_path):
    """The checker itself: each change, done for real in this process, shows in the state the tests compare."""
    changes = [
        lambda w: w.namespace["nums"].append(1),
        lambda w: w.namespace["nested"]["rows"][0].update(x=9),
        lambda w: w.namespace["df"].loc.__setitem__((0, "a"), 5),
        lambda w: w.namespace["arr"].fill(0),
        lambda w: setattr(w.namespace["obj"], "name", "y"),
        lambda w: setattr(type(w.namespace["obj"]), "extra", 1),
        lambda w: w.namespace.update(nums=list(w.namespace["nums"])),  # the same value in another object
        lambda w: w.namespace.pop("cfg"),
        lambda w: Path(w.folder, "data.csv").write_text("x"),
        lambda w: os.chmod(Path(w.folder, "keep.bin"), 0o600),
        lambda w: os.utime(Path(w.folder, "keep.bin"), (0, 0)),
        lambda w: os.environ.__setitem__("SANDBOX_TEST_VARIABLE", "1"),
    ]
    for number, change in enumerate(changes):
        world = make_world(str(tmp_path / f"user{number}"))
        before = world.state()
        change(world)
        assert world.state() != before, number
        world.listener.close()
    os.environ.pop("SANDBOX_TEST_VARIABLE")
    del Record.extra


def test_ctrl_c_during_the_fork_is_held_until_the_child_is_known():
    """A KeyboardInterrupt raised inside Python's at-fork handlers is printed and lost (it was: an exploration went
    on after Ctrl-C); the fork holds it, and _Child raises it once it can end the child."""
    from jupyter_layers.sandbox.fork import _InterruptsHeld

    before = signal.getsignal(signal.SIGINT)
    with _InterruptsHeld() as held:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(100):  # Python runs the handler at a following bytecode
            if held.caught:
                break
            time.sleep(0.001)
    assert held.caught and signal.getsignal(signal.SIGINT) is before
