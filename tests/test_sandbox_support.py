"""The world scratch code must not change, and the hostile cells that try: shared by the in-process tests and
the ones inside a real kernel (which imports this module). Holds no tests itself."""

from __future__ import annotations

import hashlib
import os
import pickle
import select
import socket
from dataclasses import dataclass

import numpy as np
import pandas as pd

USER_FILES = {"data.csv": "a,b\n1,2\n", "notes/readme.txt": "hello\n", "keep.bin": "\x00\x01"}
MARKER = "SCRATCH-OUTPUT-MARKER"


class Record:
    """A user object with attributes (defined here so it pickles by reference)."""

    def __init__(self, name: str, size: int):
        self.name = name
        self.size = size
        self.tags = ["a", "b"]


def build_namespace(folder: str) -> dict:
    nested = {"rows": [{"x": 1, "y": [1, 2]}, {"x": 2, "y": [3]}], "meta": {"source": "test", "ids": (1, 2)}}
    return {
        "nums": [3, 1, 2],
        "cfg": {"a": 1, "b": {"c": [1, 2]}},
        "nested": nested,
        "alias": nested["rows"],  # a second name for an inner object
        "df": pd.DataFrame({"a": [1, 2, 3], "b": [4.0, 5.0, 6.0], "c": ["x", "y", "z"]}),
        "arr": np.arange(12, dtype=np.float64).reshape(3, 4),
        "obj": Record("widget", 3),
        "labels": {"red", "green"},
        "text": "unchanged",
        "USER_DIR": folder,
    }


def _digest(value) -> str:
    return hashlib.sha256(pickle.dumps(value, protocol=5)).hexdigest()


def _ids(value, seen: set[int]) -> list:
    """Identities of the object and every container reachable from it: in-place changes keep ids, rebinding
    does not; a copy-back or replacement of any inner object would show here."""
    if id(value) in seen:
        return []
    seen.add(id(value))
    found = [id(value), type(value).__qualname__]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += [repr(key), *_ids(inner, seen)]
    elif isinstance(value, (list, tuple, set, frozenset)):
        for inner in value:
            found += _ids(inner, seen)
    elif isinstance(value, pd.DataFrame):
        found += [id(value._mgr), list(value.columns), [id(block.values) for block in value._mgr.blocks]]
    elif isinstance(value, np.ndarray):
        found += [value.ctypes.data, value.shape, str(value.dtype)]
    elif hasattr(value, "__dict__"):
        found += [sorted(vars(type(value))), *_ids(vars(value), seen)]
    return found


def fingerprint(namespace: dict, names=None) -> dict:
    """A deep fingerprint: every name, each value's pickled bytes, and the identities of everything inside."""
    names = sorted(namespace if names is None else names)
    return {
        "names": sorted(namespace),
        "values": {
            name: (_digest(namespace[name]), _ids(namespace[name], set())) if name in namespace else "deleted"
            for name in names
        },
    }


def make_user_folder(folder: str) -> None:
    for name, content in USER_FILES.items():
        path = os.path.join(folder, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as file:
            file.write(content)


def folder_state(folder: str) -> list:
    """Every entry under the folder: path, kind, mode, size, modification time and content hash."""
    state = []
    for root, folders, files in os.walk(folder):
        for name in sorted(folders + files):
            path = os.path.join(root, name)
            info = os.lstat(path)
            content = ""
            if os.path.isfile(path):
                with open(path, "rb") as file:
                    content = hashlib.sha256(file.read()).hexdigest()
            state.append((os.path.relpath(path, folder), info.st_mode, info.st_size, info.st_mtime_ns, content))
    return sorted(state)


class Listener:
    """A TCP server on 127.0.0.1 that never accepts: a connection that got through would wait in its queue."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(8)
        self.port = self.socket.getsockname()[1]

    def reached(self) -> bool:
        return bool(select.select([self.socket], [], [], 0)[0])

    def close(self) -> None:
        self.socket.close()


# Each cell does one hostile thing. {folder} is the user's folder, {port} the listener's port.
HOSTILE = {
    "append_pop_setitem": "nums.append(99); nums.pop(0); nums[0] = -1; nums.sort()",
    "dict_mutation": "cfg['new'] = 1; cfg.pop('a'); cfg['b']['c'].append(3); cfg.clear()",
    "nested_mutation": "nested['rows'][0]['x'] = 'changed'; nested['rows'][1]['y'].clear(); nested['meta'].clear()",
    "alias_mutation": "alias.clear(); alias.append(dict(x=0))",
    "df_loc_assignment": "df.loc[0, 'a'] = -999; df.loc[len(df)] = [0, 0.0, 'new']",
    "df_drop_inplace": "df.drop(columns=['b'], inplace=True); df.drop(index=[0], inplace=True)",
    "df_new_column_and_sort": "df['d'] = df['a'] * 2; df.sort_values('a', ascending=False, inplace=True)",
    "df_values_write": "df['b'].values[:] = 0.0; df.iloc[:, 0] = 7",
    "array_fill": "arr.fill(7); arr[0, :] = -1; arr.resize((2, 2), refcheck=False)",
    "object_attributes": "obj.name = 'x'; del obj.size; obj.tags.append('c'); type(obj).extra = 1",
    "set_and_text": "labels.add('blue'); labels.discard('red'); text = text.upper()",
    "rebind_names": "nums = []; cfg = None; df = df.head(1); arr = arr * 0",
    "delete_names": "del nums, cfg, df, arr, obj",
    "globals_clear": "globals().clear()",
    "chdir": "import os; os.chdir('/'); os.chdir({folder!r})",
    "environment": "import os; os.environ['HOME'] = '/nowhere'; os.environ.pop('PATH', None)",
    "print_marker": f"print({MARKER!r}); import sys; print({MARKER!r}, file=sys.stderr)",
    "write_file": "open({folder!r} + '/data.csv', 'w').write('x')",
    "append_file": "open({folder!r} + '/data.csv', 'a').write('x')",
    "create_file": "open({folder!r} + '/new.txt', 'x')",
    "os_open_create": "import os; os.close(os.open({folder!r} + '/raw.txt', os.O_WRONLY | os.O_CREAT))",
    "pathlib_write": "import pathlib; pathlib.Path({folder!r}, 'notes', 'readme.txt').write_text('gone')",
    "pandas_to_csv": "import pandas; pandas.DataFrame(dict(a=[1])).to_csv({folder!r} + '/data.csv')",
    "numpy_save": "import numpy; numpy.save({folder!r} + '/arr.npy', numpy.zeros(3))",
    "remove_file": "import os; os.remove({folder!r} + '/data.csv')",
    "unlink_file": "import pathlib; pathlib.Path({folder!r}, 'keep.bin').unlink()",
    "rename_file": "import os; os.rename({folder!r} + '/data.csv', {folder!r} + '/moved.csv')",
    "replace_file": "import os; os.replace({folder!r} + '/keep.bin', {folder!r} + '/data.csv')",
    "shutil_move": "import shutil; shutil.move({folder!r} + '/data.csv', '/tmp/stolen.csv')",
    "make_directory": "import os; os.makedirs({folder!r} + '/sub/deeper')",
    "remove_tree": "import shutil; shutil.rmtree({folder!r})",
    "remove_tree_quietly": "import shutil; shutil.rmtree({folder!r} + '/notes', ignore_errors=True)",
    "truncate": "import os; os.truncate({folder!r} + '/data.csv', 0)",
    "chmod": "import os; os.chmod({folder!r} + '/data.csv', 0)",
    "touch_time": "import os; os.utime({folder!r} + '/data.csv', (0, 0))",
    "symlink": "import os; os.symlink('/etc/passwd', {folder!r} + '/link')",
    "sqlite": "import sqlite3; sqlite3.connect({folder!r} + '/db.sqlite').execute('create table t (x)')",
    "socket_connect": "import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)",
    "socket_raw_connect": "import socket; s = socket.socket(); s.settimeout(2); s.connect(('127.0.0.1', {port}))",
    "udp_send": "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', {port}))",
    "subprocess_true": "import subprocess; subprocess.run(['true'])",
    "subprocess_touch": "import subprocess; subprocess.run(['touch', {folder!r} + '/process-ran'])",
    "os_system": "import os; os.system('touch ' + {folder!r} + '/shell-ran')",
    "os_fork": "import os; os.fork()",
    "os_exec": "import os; os.execv('/bin/touch', ['touch', {folder!r} + '/exec-ran'])",
    "posix_spawn": "import os; os.posix_spawn('/bin/touch', ['touch', {folder!r} + '/spawned'], dict(os.environ))",
    "multiprocessing": "import multiprocessing as mp; mp.get_context('spawn').Process(target=print).start()",
    "socket_bind": "import socket; socket.socket().bind(('127.0.0.1', 0))",
    "hard_link": "import os, tempfile; os.link({folder!r} + '/data.csv', tempfile.gettempdir() + '/linked')",
    "kill_parent": "import os, signal; os.kill(os.getppid(), signal.SIGTERM)",
    "swallowed_refusal": "try:\n    open({folder!r} + '/data.csv', 'w')\nexcept OSError:\n    pass",
}
ALLOWED = {
    "append_pop_setitem",
    "dict_mutation",
    "nested_mutation",
    "alias_mutation",
    "df_loc_assignment",
    "df_drop_inplace",
    "df_new_column_and_sort",
    "df_values_write",
    "array_fill",
    "object_attributes",
    "set_and_text",
    "rebind_names",
    "delete_names",
    "globals_clear",
    "chdir",
    "environment",
    "print_marker",
}
REFUSED = set(HOSTILE) - ALLOWED


def hostile_cells(folder: str, port: int) -> dict[str, str]:
    return {name: code.format(folder=folder, port=port) for name, code in HOSTILE.items()}


@dataclass
class World:
    """Everything of the user's that scratch code must leave exactly as it was."""

    namespace: dict
    folder: str
    listener: Listener
    names: tuple[str, ...]

    def state(self) -> dict:
        return {
            "fingerprint": fingerprint(self.namespace, self.names),
            "cwd": os.getcwd(),
            "folder": folder_state(self.folder),
            "environment": dict(os.environ),
            "reached": self.listener.reached(),
        }


def make_world(folder: str, namespace: dict | None = None) -> World:
    """The user's folder and variables (added to ``namespace``, e.g. a kernel's user_ns, if given)."""
    os.makedirs(folder, exist_ok=True)
    make_user_folder(folder)
    variables = build_namespace(folder)
    namespace = variables if namespace is None else namespace
    namespace.update(variables)
    return World(namespace, folder, Listener(), tuple(variables))


def check_every_hostile_cell(world: World) -> dict:
    """Runs each hostile cell in its own ForkSandbox; what was refused and whether anything changed.

    Used inside a real kernel, where the report is printed as JSON (without the cells' output, so that any
    output reaching the notebook can only have leaked)."""
    from jupyter_layers.sandbox import ForkSandbox

    report = {}
    before = world.state()
    for name, code in hostile_cells(world.folder, world.listener.port).items():
        with ForkSandbox(world.namespace) as sandbox:
            result = sandbox.run(code, timeout=10)
            alive = sandbox.run("21 * 2").result == "42"
        report[name] = {
            "refused": list(result.refused),
            "error": (result.error or "").split(":")[0],
            "refusal_in_text": bool(result.refused) and all(what in result.as_text() for what in result.refused),
            "unchanged": world.state() == before,
            "alive": alive,
        }
    return report
