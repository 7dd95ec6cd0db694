"""A user's kernel that holds things open, and scratch cells that try to reach through them.

The kernel holds what a data scientist's kernel holds: a SQLite connection (and one in WAL mode), text, binary
and append file handles, a ``logging.FileHandler``, ``numpy.memmap`` arrays opened ``w+`` and ``r+``,
``multiprocessing.shared_memory``, an anonymous shared ``mmap``, a TCP connection and an ``http.client``
keep-alive connection to a loopback server this module runs (which records every byte it receives). Each hostile
cell runs in its own fork sandbox; after each, the user's world must be exactly as it was: the namespace's deep
fingerprint, the bytes (sha256) and metadata of every file in the user's folder, the bytes of every shared
buffer, and what the loopback server received. At the end, the user's own handles must still work.

Imported inside a real kernel by tests/test_sandbox_held.py; holds no tests itself.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import mmap
import os
import select
import socket
import sqlite3
import threading
from dataclasses import dataclass, field
from multiprocessing import shared_memory

import numpy as np
import pandas as pd

from tests.test_sandbox_support import fingerprint, folder_state

REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"


class Recorder:
    """A loopback TCP server that keeps every byte each connection sends, and answers each HTTP request."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received: list[bytearray] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True, name="recorder").start()

    def _accept(self) -> None:
        while True:
            connection, _ = self.server.accept()
            with self._lock:
                self.received.append(bytearray())
                buffer = self.received[-1]
            threading.Thread(target=self._serve, args=(connection, buffer), daemon=True).start()

    def _serve(self, connection: socket.socket, buffer: bytearray) -> None:
        pending = b""
        while data := connection.recv(65536):
            with self._lock:
                buffer += data
            pending += data
            while b"\r\n\r\n" in pending:
                _request, pending = pending.split(b"\r\n\r\n", 1)
                connection.sendall(REPLY)

    def snapshot(self) -> list[bytes]:
        with self._lock:
            return [bytes(buffer) for buffer in self.received]


def sha(data) -> str:
    return hashlib.sha256(bytes(data)).hexdigest()


@dataclass
class HeldWorld:
    folder: str
    namespace: dict
    recorder: Recorder
    names: tuple[str, ...] = field(default=())
    local_sockets: tuple[socket.socket, ...] = field(default=())  # listening UNIX sockets nobody may reach

    def close(self) -> None:
        """Closes the user's handles and frees the shared memory segment (a /dev/shm file otherwise left behind)."""
        ns = self.namespace
        for name in ("con", "wal", "text_fh", "bin_fh", "append_fh", "read_fh", "anon", "sock", "http_conn"):
            ns[name].close()
        for handler in ns["logger"].handlers[:]:
            handler.close()
            ns["logger"].removeHandler(handler)
        ns["shm"].close()
        ns["shm"].unlink()
        self.recorder.server.close()
        for local in self.local_sockets:
            local.close()

    def state(self) -> dict:
        ns = self.namespace
        return {
            "fingerprint": fingerprint(ns, self.names),
            "folder": folder_state(self.folder),
            "memmap": sha(ns["mm"]),
            "memmap_rplus": sha(ns["mm_rplus"]),
            "shared_memory": sha(ns["shm"].buf),
            "anonymous_mmap": sha(ns["anon"]),
            "received": self.recorder.snapshot(),
            "local_sockets_reached": bool(select.select(list(self.local_sockets), [], [], 0)[0]),
            "positions": [ns[name].tell() for name in ("text_fh", "bin_fh", "append_fh", "read_fh")],
        }


def make_held_world(folder: str, namespace: dict) -> HeldWorld:
    """Opens everything in ``folder`` and binds it in ``namespace`` (a kernel's user_ns)."""
    os.makedirs(folder, exist_ok=True)
    path = lambda name: os.path.join(folder, name)  # noqa: E731
    recorder = Recorder()
    con = sqlite3.connect(path("user.db"))
    con.execute("create table t (x integer)")
    con.executemany("insert into t values (?)", [(1,), (2,), (3,)])
    con.commit()
    wal = sqlite3.connect(path("wal.db"))
    wal.execute("pragma journal_mode=wal")
    wal.execute("create table t (x integer)")
    wal.executemany("insert into t values (?)", [(1,), (2,)])
    wal.commit()
    with open(path("data.csv"), "w") as file:
        file.write("a,b\n1,2\n3,4\n")
    with open(path("blob.bin"), "wb") as file:
        file.write(b"\x00" * 64)
    os.makedirs(path("notes"))
    with open(path("notes/readme.txt"), "w") as file:
        file.write("hello\n")
    text_fh = open(path("log.txt"), "w")  # noqa: SIM115 - held open, as a user's kernel would
    text_fh.write("user line\n")
    text_fh.flush()
    append_fh = open(path("append.log"), "a")  # noqa: SIM115
    append_fh.write("first\n")
    append_fh.flush()
    read_fh = open(path("data.csv"))  # noqa: SIM115
    read_fh.readline()
    logger = logging.getLogger("held-world")
    logger.propagate = False
    logger.addHandler(logging.FileHandler(path("app.log")))
    logger.warning("user message")
    mm = np.memmap(path("arr.bin"), mode="w+", dtype="float64", shape=(1024,))
    mm[:] = 1.0
    mm.flush()
    np.arange(512, dtype="float64").tofile(path("arr2.bin"))
    shm = shared_memory.SharedMemory(create=True, size=4096)
    shm.buf[:4] = b"user"
    anon = mmap.mmap(-1, 4096)  # anonymous and MAP_SHARED: what multiprocessing's Value and Array live in
    anon[:4] = b"user"
    sock = socket.create_connection(("127.0.0.1", recorder.port))
    sock.sendall(b"hello from the user\r\n\r\n")
    assert sock.recv(100) == REPLY
    http_conn = http.client.HTTPConnection("127.0.0.1", recorder.port)
    http_conn.request("GET", "/user")
    assert http_conn.getresponse().read() == b"ok"  # the connection stays open (keep-alive)
    service = socket.socket(socket.AF_UNIX)  # a local service: a database or Docker socket, by path
    service.bind(path("service.sock"))
    service.listen()
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind(f"\0jupyter-layers-test-{os.getpid()}-{id(abstract)}")
    abstract.listen()
    datagrams = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # like syslog's /dev/log
    datagrams.bind(path("datagrams.sock"))
    data = {"df": pd.DataFrame({"a": [1, 3], "b": [2, 4]}), "values": [1, 2, 3], "FOLDER": folder}
    handles = {
        "con": con,
        "wal": wal,
        "text_fh": text_fh,
        "bin_fh": open(path("blob.bin"), "r+b"),  # noqa: SIM115
        "append_fh": append_fh,
        "read_fh": read_fh,
        "logger": logger,
        "mm": mm,
        "mm_rplus": np.memmap(path("arr2.bin"), mode="r+", dtype="float64"),
        "shm": shm,
        "anon": anon,
        "sock": sock,
        "http_conn": http_conn,
        "PORT": recorder.port,
        "ABSTRACT": abstract.getsockname(),
        "pd": pd,
        "np": np,
    }
    namespace.update(data)
    namespace.update(handles)
    return HeldWorld(folder, namespace, recorder, tuple(data), (service, abstract, datagrams))


LIBC = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
CHECKED = (
    "def checked(result, what):\n"
    "    if result < 0:\n"
    "        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), what)\n"
    "    return result\n"
)

# Each cell tries to change the user's world through what the kernel holds, from Python or from C.
HELD_HOSTILE = {
    "sqlite_delete": "con.execute('DELETE FROM t'); con.commit()",
    "sqlite_drop": "con.execute('DROP TABLE t'); con.commit()",
    "sqlite_to_sql_replace": "pd.DataFrame({'x': [9]}).to_sql('t', con, if_exists='replace', index=False)",
    "sqlite_insert": "con.execute('insert into t values (99)'); con.commit()",
    "sqlite_vacuum_into": "con.execute(f\"VACUUM INTO '{FOLDER}/copy.db'\")",
    "sqlite_wal_delete": "wal.execute('DELETE FROM t'); wal.commit()",
    "sqlite_new_connection": "import sqlite3; sqlite3.connect(FOLDER + '/user.db').execute('DELETE FROM t')",
    "text_write": "text_fh.write('SCRATCH'); text_fh.flush()",
    "text_truncate": "text_fh.truncate(0)",
    "binary_seek_write": "bin_fh.seek(0); bin_fh.write(b'XXXX'); bin_fh.flush()",
    "append_write": "append_fh.write('SCRATCH\\n'); append_fh.flush()",
    "os_write_user_fd": "import os; os.write(text_fh.fileno(), b'SCRATCH')",
    "os_ftruncate_user_fd": "import os; os.ftruncate(bin_fh.fileno(), 0)",
    "reopen_through_proc": "import os; os.open(f'/proc/self/fd/{text_fh.fileno()}', os.O_WRONLY | os.O_TRUNC)",
    "logging_handler": "logger.warning('SCRATCH'); logger.handlers[0].flush()",
    "memmap_write": "mm[:] = 7.0; mm.flush()",
    "memmap_rplus_write": "mm_rplus[:10] = -1.0; mm_rplus.flush()",
    "shared_memory_write": "shm.buf[:4] = b'XXXX'",
    "shared_memory_attach": (
        "from multiprocessing import shared_memory\nshared_memory.SharedMemory(name=shm.name).buf[:4] = b'XXXX'"
    ),
    "anonymous_mmap_write": "anon[:4] = b'XXXX'; anon.flush()",
    "ctypes_open_create": LIBC + CHECKED + "checked(libc.open(FOLDER.encode() + b'/c.txt', 0o101, 0o644), 'open')",
    "ctypes_write_user_fd": LIBC + CHECKED + "checked(libc.write(text_fh.fileno(), b'SCRATCH', 7), 'write')",
    "ctypes_unlink": LIBC + CHECKED + "checked(libc.unlink(FOLDER.encode() + b'/data.csv'), 'unlink')",
    "ctypes_rename": LIBC + CHECKED + "checked(libc.rename(FOLDER.encode() + b'/data.csv', b'/tmp/x.csv'), 'rename')",
    "ctypes_truncate": LIBC + CHECKED + "checked(libc.truncate(FOLDER.encode() + b'/data.csv', 0), 'truncate')",
    "ctypes_system": LIBC + "assert libc.system(f'echo C >> {FOLDER}/data.csv'.encode()) == 0, 'the shell failed'",
    "ctypes_connect": LIBC
    + CHECKED
    + (
        "import socket, struct\ns = checked(libc.socket(socket.AF_INET, socket.SOCK_STREAM, 0), 'socket')\n"
        "address = struct.pack('<HH4s8x', socket.AF_INET, socket.htons(PORT), socket.inet_aton('127.0.0.1'))\n"
        "checked(libc.connect(s, address, len(address)), 'connect')\nlibc.write(s, b'SCRATCH', 7)"
    ),
    "ctypes_connect_unix_path": LIBC
    + CHECKED
    + (
        "import socket\ns = checked(libc.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0), 'socket')\n"
        "address = socket.AF_UNIX.to_bytes(2, 'little') + FOLDER.encode() + b'/service.sock\\0'\n"
        "checked(libc.connect(s, address, len(address)), 'connect')"
    ),
    "ctypes_connect_abstract": LIBC
    + CHECKED
    + (
        "import socket\ns = checked(libc.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0), 'socket')\n"
        "address = socket.AF_UNIX.to_bytes(2, 'little') + ABSTRACT\n"
        "checked(libc.connect(s, address, len(address)), 'connect')"
    ),
    "ctypes_sendto_unix_datagram": LIBC
    + CHECKED
    + (
        "import socket\ns = checked(libc.socket(socket.AF_UNIX, socket.SOCK_DGRAM, 0), 'socket')\n"
        "address = socket.AF_UNIX.to_bytes(2, 'little') + FOLDER.encode() + b'/datagrams.sock\\0'\n"
        "checked(libc.sendto(s, b'SCRATCH', 7, 0, address, len(address)), 'sendto')"
    ),
    "unix_socket_connect": "import socket; socket.socket(socket.AF_UNIX).connect(FOLDER + '/service.sock')",
    "ctypes_kill_kernel": LIBC + CHECKED + "checked(libc.kill(os.getppid(), 15), 'kill')",
    "posix_spawn": "import os; os.posix_spawn('/bin/sh', ['sh', '-c', f'echo x >> {FOLDER}/data.csv'], {})",
    "subprocess": "import subprocess; subprocess.run(['sh', '-c', f'echo x >> {FOLDER}/data.csv'], check=True)",
    "os_system": "import os; assert os.system(f'echo x >> {FOLDER}/data.csv') == 0",
    "pandas_to_csv": "df.to_csv(FOLDER + '/data.csv')",
    "pandas_to_parquet": "df.to_parquet(FOLDER + '/out.parquet', engine='pyarrow')",
    "arrow_write_table": (
        "import pyarrow as pa, pyarrow.parquet as pq\npq.write_table(pa.table({'a': [1]}), FOLDER + '/t.parquet')"
    ),
    "pickle_dump": "import pickle; pickle.dump(df, open(FOLDER + '/df.pkl', 'wb'))",
    "rmtree_user_folder": "import shutil; shutil.rmtree(FOLDER)",
    "rmtree_quietly": "import shutil; shutil.rmtree(FOLDER + '/notes', ignore_errors=True)",
    "socket_sendall": "sock.sendall(b'SCRATCH')",
    "socket_recv": "sock.recv(100)",
    "http_keepalive_request": "http_conn.request('POST', '/scratch', body=b'SCRATCH'); http_conn.getresponse().read()",
    "http_new_connection": "import urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{PORT}/new', timeout=2)",
}

# Reads the agent must still be able to make; each cell's value is compared with ``expected``.
HELD_READS = {
    "sqlite_select": ("con.execute('select sum(x) from t').fetchone()[0]", "6"),
    "sqlite_read_sql": ("pd.read_sql('select x from t', con)['x'].tolist()", "[1, 2, 3]"),
    "sqlite_wal_select": ("wal.execute('select count(*) from t').fetchone()[0]", "2"),
    "read_user_handle": ("read_fh.readline()", "'1,2\\n'"),
    "read_by_path": ("open(FOLDER + '/data.csv').read()", "'a,b\\n1,2\\n3,4\\n'"),
    "pandas_read_csv": ("pd.read_csv(FOLDER + '/data.csv')['b'].sum()", "np.int64(6)"),
    "memmap_read": ("float(mm.sum()), float(mm_rplus[-1])", "(1024.0, 511.0)"),
    "shared_memory_read": ("bytes(shm.buf[:4])", "b'user'"),
    "anonymous_mmap_read": ("anon[:4]", "b'user'"),
    "write_in_sandbox_folder": (
        "import tempfile; p = tempfile.gettempdir() + '/ok.parquet'; df.to_parquet(p); len(pd.read_parquet(p))",
        "2",
    ),
}


def check_every_held_cell(world: HeldWorld) -> dict:
    """Runs each hostile cell, then each read, in its own fork sandbox; what was refused and what changed."""
    from jupyter_layers.sandbox import ForkSandbox

    report = {}
    before = world.state()
    for name, code in HELD_HOSTILE.items():
        with ForkSandbox(world.namespace) as sandbox:
            result = sandbox.run(code, timeout=20)
            alive = sandbox.run("21 * 2").result == "42"
        after = world.state()
        report[name] = {
            "refused": list(result.refused),
            "error": (result.error or "").split("\n")[0][:200],
            "hint": "sandbox:" in (result.error or ""),
            "changed": sorted(key for key in before if after[key] != before[key]),
            "alive": alive,
        }
    reads = {}
    for name, (code, expected) in HELD_READS.items():
        with ForkSandbox(world.namespace) as sandbox:
            result = sandbox.run(code, timeout=20)
        reads[name] = {"result": result.result, "expected": expected, "error": result.error}
    return {"hostile": report, "reads": reads, "unchanged_after_reads": world.state() == before}


def user_handles_work(world: HeldWorld) -> dict:
    """After the explorations: each of the user's own handles still does its job in the kernel."""
    ns = world.namespace
    con = ns["con"]
    con.execute("insert into t values (4)")
    con.commit()
    ns["wal"].execute("insert into t values (3)")
    ns["wal"].commit()
    ns["text_fh"].write("user again\n")
    ns["text_fh"].flush()
    ns["append_fh"].write("second\n")
    ns["append_fh"].flush()
    ns["logger"].warning("user again")
    ns["mm"][:2] = 2.0
    ns["mm"].flush()
    ns["shm"].buf[:4] = b"USER"
    ns["sock"].sendall(b"user again\r\n\r\n")
    ns["http_conn"].request("GET", "/again")
    path = lambda name: os.path.join(world.folder, name)  # noqa: E731
    with open(path("log.txt")) as log, open(path("append.log")) as appended, open(path("app.log")) as app:
        files = (log.read(), appended.read(), app.read())
    return {
        "sqlite": con.execute("select sum(x) from t").fetchone()[0],
        "wal": ns["wal"].execute("select count(*) from t").fetchone()[0],
        "files": files,
        "memmap": np.fromfile(path("arr.bin"), dtype="float64")[:3].tolist(),
        "shared_memory": bytes(ns["shm"].buf[:4]).decode(),
        "socket_reply": ns["sock"].recv(100) == REPLY,
        "http": ns["http_conn"].getresponse().read().decode(),
        "received": [bytes(b).decode() for b in world.recorder.snapshot()],
    }
