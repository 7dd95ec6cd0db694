"""No connections to local services: a seccomp filter that refuses ``connect`` and addressed sends.

The network namespace cuts off TCP and UDP, but a UNIX socket named by a path (PostgreSQL's
``/var/run/postgresql/.s.PGSQL.5432``, the Docker socket, a database proxy) is reached through the file system,
which neither the namespace nor Landlock (up to ABI 7) covers, and a C client library (libpq) raises no audit
event. In the child nothing legitimate needs to connect anywhere, so ``connect`` fails with EACCES, and so do
``sendto`` with an address, ``sendmsg`` and ``sendmmsg`` (which can carry one). ``io_uring_setup`` fails with
ENOSYS, as on kernels without io_uring, because io_uring's operations do not pass through seccomp. System calls
of another architecture's table (x32, or 32-bit ``int 0x80`` with its ``socketcall``) are refused whole.

The filter is a classic BPF program, written out here: it is twelve instructions, and libseccomp's Python
binding is not on PyPI for this. System call numbers differ by architecture; elsewhere there is no filter and the
status line says so.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
LD_W_ABS, JEQ_K, JGE_K, RET_K = 0x20, 0x15, 0x35, 0x06
NR, ARCH, ARG4_LOW, ARG4_HIGH = 0, 4, 16 + 4 * 8, 16 + 4 * 8 + 4  # offsets in struct seccomp_data
X32_BIT = 0x40000000

# machine -> (AUDIT_ARCH_*, connect, sendto, sendmsg, sendmmsg, io_uring_setup)
TABLES = {
    "x86_64": (0xC000003E, 42, 44, 46, 307, 425),
    "aarch64": (0xC00000B7, 203, 206, 211, 269, 425),
}


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def program(machine: str) -> bytes:
    """The filter for ``machine``, as the kernel reads it (struct sock_filter, little-endian host order)."""
    arch, connect, sendto, sendmsg, sendmmsg, io_uring_setup = TABLES[machine]
    refuse = RET_ERRNO | errno.EACCES
    return b"".join(
        [
            _op(LD_W_ABS, ARCH),
            _op(JEQ_K, arch, 1, 0),
            _op(RET_K, RET_ERRNO | errno.EPERM),  # another architecture's system call table
            _op(LD_W_ABS, NR),
            _op(JGE_K, X32_BIT, 0, 1),
            _op(RET_K, RET_ERRNO | errno.EPERM),
            _op(JEQ_K, io_uring_setup, 0, 1),
            _op(RET_K, RET_ERRNO | errno.ENOSYS),
            _op(JEQ_K, connect, 3, 0),
            _op(JEQ_K, sendmsg, 2, 0),
            _op(JEQ_K, sendmmsg, 1, 0),
            _op(JEQ_K, sendto, 1, 6),
            _op(RET_K, refuse),
            _op(LD_W_ABS, ARG4_LOW),  # sendto's destination address: allowed only when NULL
            _op(JEQ_K, 0, 0, 2),
            _op(LD_W_ABS, ARG4_HIGH),
            _op(JEQ_K, 0, 1, 0),
            _op(RET_K, refuse),
            _op(RET_K, RET_ALLOW),
        ]
    )


def supported() -> bool:
    return platform.machine() in TABLES and os.path.isdir("/proc/self")


def refuse_connections() -> None:
    """Installs the filter on this process and everything it starts, for good. Raises OSError if refused."""
    code = program(platform.machine())
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "no_new_privs")
    fprog = SockFprog(len(code) // 8, code)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"seccomp filter: {os.strerror(number)}")
