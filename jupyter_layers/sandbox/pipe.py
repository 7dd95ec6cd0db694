"""Length-prefixed JSON messages over the pipes between the kernel and its sandbox child.

Raw ``os.read``/``os.write`` on descriptors: no buffered file objects, whose locks and buffers a fork would
copy half-used.
"""

from __future__ import annotations

import json
import os
import struct

HEADER = struct.Struct(">Q")


def write_message(fd: int, message: dict) -> None:
    payload = json.dumps(message).encode()
    data = memoryview(HEADER.pack(len(payload)) + payload)
    while data:
        data = data[os.write(fd, data) :]


def read_message(fd: int) -> dict | None:
    """Blocks for one message; None when the other end has closed. Strictly one request, then one reply, so
    nothing is ever buffered past a message."""
    reader = MessageReader()
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return None
        message = reader.feed(chunk)
        if message is not None:
            return message


class MessageReader:
    """Collects bytes as they arrive (the parent reads without blocking) until one message is whole."""

    def __init__(self):
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> dict | None:
        self._buffer += chunk
        if len(self._buffer) < HEADER.size:
            return None
        (size,) = HEADER.unpack_from(self._buffer)
        if len(self._buffer) < HEADER.size + size:
            return None
        message = json.loads(self._buffer[HEADER.size : HEADER.size + size])
        del self._buffer[: HEADER.size + size]
        return message
