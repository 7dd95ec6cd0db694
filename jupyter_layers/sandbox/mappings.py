"""Shared memory made private in the child: writes stay in the child, reads see the same data.

A fork keeps ``MAP_SHARED`` mappings shared: a ``numpy.memmap`` opened ``r+``/``w+``, an ``mmap`` of a file,
``multiprocessing.shared_memory`` and SQLite's WAL index would all carry the child's writes to the file, or to
the other processes. Each shared mapping is replaced at the same address by a private (copy-on-write) one with
the same contents and protection, so every pointer into it (numpy arrays, ``mmap`` objects) keeps working:

- backed by a file the child can open (through an inherited descriptor of the same inode, or by its path):
  the same file is mapped ``MAP_PRIVATE`` at the same offset. Nothing is copied; pages are copied when the
  child first writes them.
- otherwise (anonymous shared memory, System V segments, a deleted file no descriptor holds): the contents are
  copied into a fresh private region, which is then moved onto the same address. This costs the mapping's size
  in memory and time.

Device mappings (``/dev/...`` other than ``/dev/zero``: GPU or frame buffer memory) cannot be made private and
are reported as left shared.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import stat
from dataclasses import dataclass

MAP_FIXED = 0x10  # <asm-generic/mman-common.h>; Python's mmap module does not export these
MREMAP_MAYMOVE, MREMAP_FIXED = 1, 2  # <linux/mman.h>
MADV_HUGEPAGE = 14
MAP_FAILED = ctypes.c_void_p(-1).value
DELETED = " (deleted)"


@dataclass(frozen=True)
class Mapping:
    start: int
    end: int
    perms: str
    offset: int
    device: tuple[int, int]
    inode: int
    path: str

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def protection(self) -> int:
        flags = {"r": mmap.PROT_READ, "w": mmap.PROT_WRITE, "x": mmap.PROT_EXEC}
        return sum(flag for letter, flag in flags.items() if letter in self.perms)


@dataclass(frozen=True)
class Privatized:
    """What was done to the shared mappings: how many, how many bytes copied, and what stays shared."""

    remapped: int = 0
    copied_bytes: int = 0
    left_shared: tuple[str, ...] = ()


def shared_mappings() -> list[Mapping]:
    found = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.rstrip("\n").split(maxsplit=5)
            if fields[1][3] != "s":
                continue
            start, end = (int(part, 16) for part in fields[0].split("-"))
            major, minor = (int(part, 16) for part in fields[3].split(":"))
            path = fields[5] if len(fields) == 6 else ""
            found.append(Mapping(start, end, fields[1], int(fields[2], 16), (major, minor), int(fields[4]), path))
    return found


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.mremap.restype = ctypes.c_void_p
    libc.mremap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_int, ctypes.c_void_p]
    return libc


def _map(libc, mapping: Mapping, protection: int, flags: int, fd: int, offset: int) -> None:
    address = libc.mmap(mapping.start, mapping.size, protection, flags | MAP_FIXED, fd, offset)
    if address in (None, MAP_FAILED) or address != mapping.start:
        number = ctypes.get_errno()
        raise OSError(number, f"remapping {mapping.path or 'shared memory'} private: {os.strerror(number)}")


def _same_file(info: os.stat_result, mapping: Mapping) -> bool:
    return (os.major(info.st_dev), os.minor(info.st_dev), info.st_ino) == (*mapping.device, mapping.inode)


def _open_backing(mapping: Mapping, descriptors: dict[tuple[int, int, int], int]) -> int | None:
    """A read-only descriptor of the mapped file, or None when there is no way to open it."""
    fd = descriptors.get((*mapping.device, mapping.inode))
    path = mapping.path.removesuffix(DELETED)
    if fd is not None:
        source = f"/proc/self/fd/{fd}"
    elif mapping.path.endswith(DELETED) or not path.startswith("/"):
        return None
    else:
        source = path
    try:
        fresh = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:  # not readable by this user: the contents are copied instead
        return None
    if _same_file(os.fstat(fresh), mapping):
        return fresh
    os.close(fresh)  # the path now names another file
    return None


def _is_device(mapping: Mapping) -> bool:
    path = mapping.path.removesuffix(DELETED)
    if path == "/dev/zero" or not path.startswith("/dev/") or path.startswith("/dev/shm/"):
        return False
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True


def _copy_private(libc, mapping: Mapping) -> None:
    """Anonymous shared memory: copy it into a fresh private region, then move that region onto the address.

    ``mremap`` swaps the region in at once, so the contents exist twice only during the copy, and no Python
    object holds them (``ctypes.string_at`` takes its size as a C int: it fails from 2 GiB on)."""
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
    fresh = libc.mmap(None, mapping.size, mmap.PROT_READ | mmap.PROT_WRITE, flags, -1, 0)
    if fresh in (None, MAP_FAILED):
        number = ctypes.get_errno()
        raise OSError(number, f"copying shared memory ({mapping.size} bytes) private: {os.strerror(number)}")
    libc.madvise(ctypes.c_void_p(fresh), ctypes.c_size_t(mapping.size), MADV_HUGEPAGE)  # fewer faults; a hint
    ctypes.memmove(fresh, mapping.start, mapping.size)
    moved = libc.mremap(fresh, mapping.size, mapping.size, MREMAP_MAYMOVE | MREMAP_FIXED, mapping.start)
    if moved != mapping.start:
        number = ctypes.get_errno()
        raise OSError(number, f"moving private memory onto {mapping.start:#x}: {os.strerror(number)}")
    if mapping.protection != mmap.PROT_READ | mmap.PROT_WRITE:
        libc.mprotect(ctypes.c_void_p(mapping.start), ctypes.c_size_t(mapping.size), mapping.protection)


def privatize(descriptors: dict[tuple[int, int, int], int]) -> Privatized:
    """Makes every shared mapping of this process private. ``descriptors`` maps (major, minor, inode) of the
    files this process has open to a descriptor of each, for files that have no path any more."""
    libc = _libc()
    remapped = copied = 0
    left = []
    for mapping in shared_mappings():
        if _is_device(mapping):
            left.append(mapping.path)
            continue
        fd = _open_backing(mapping, descriptors)
        if fd is not None:
            try:
                _map(libc, mapping, mapping.protection, mmap.MAP_PRIVATE, fd, mapping.offset)
            finally:
                os.close(fd)
        elif "r" in mapping.perms:
            _copy_private(libc, mapping)
            copied += mapping.size
        else:  # unreadable: nothing to keep, and nothing may reach the other side
            _map(libc, mapping, mapping.protection, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
        remapped += 1
    return Privatized(remapped, copied, tuple(left))


def open_files() -> dict[tuple[int, int, int], int]:
    """(major, minor, inode) -> a descriptor of that file, for every regular file this process has open."""
    found = {}
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            info = os.fstat(fd)
        except OSError:  # the listing's own descriptor, closed by now
            continue
        if stat.S_ISREG(info.st_mode):
            found.setdefault((os.major(info.st_dev), os.minor(info.st_dev), info.st_ino), fd)
    return found
