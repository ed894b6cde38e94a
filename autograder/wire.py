"""The format that crosses between the student's kernel and the trusted grader: data only.

One message is a *frame*: an 8-byte length, a 4-byte header length, a JSON header and
the raw bytes of the arrays it refers to. JSON carries numbers, strings, lists and
tagged objects (``{"$": "nd", ...}``); arrays are described in the header by a dtype
from a fixed list, a shape, an offset and a byte count, and read back with
``np.frombuffer``. Nothing in a frame can carry code: there is no pickle and no import
by name. The reader checks every length before it allocates and refuses what does not
add up, so a hostile kernel can send wrong values but never run code here or make the
grader allocate more than ``max_bytes``.

This module is imported on both sides; the encoders and decoders that know about
tensors, modules and handles live in ``trusted.py`` (grader) and ``agent.py`` (kernel).
"""

from __future__ import annotations

import json
import socket
import struct

import numpy as np

ARRAY_DTYPES = frozenset(
    "bool int8 int16 int32 int64 uint8 uint16 uint32 uint64 float16 float32 float64 complex64 complex128".split()
)
MAX_HEADER_BYTES = 16 * 1024**2
MAX_DEPTH = 64


class WireError(Exception):
    """A frame that is malformed, too large, or a connection that broke."""


def _recv_exact(sock: socket.socket, size: int) -> bytearray:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        try:
            n = sock.recv_into(view[got:], min(size - got, 1 << 22))
        except TimeoutError:
            raise
        except OSError as error:
            raise WireError(f"the connection to the kernel broke: {error}") from None
        if n == 0:
            raise WireError("the kernel closed the connection")
        got += n
    return buffer


def send_frame(sock: socket.socket, header: dict, arrays: list[np.ndarray]) -> None:
    """Send ``header`` (JSON-able) and the arrays its ``arrays`` entries describe."""
    specs, offset = [], 0
    blobs = []
    for array in arrays:
        array = np.require(array, requirements="C")
        specs.append({"dtype": array.dtype.name, "shape": list(array.shape), "offset": offset, "nbytes": array.nbytes})
        blobs.append(memoryview(array).cast("B") if array.nbytes else b"")
        offset += array.nbytes
    head = json.dumps({**header, "arrays": specs}).encode()
    total = 4 + len(head) + offset
    sock.sendall(struct.pack("<QI", total, len(head)) + head)
    for blob in blobs:
        if len(blob):
            sock.sendall(blob)


def recv_frame(sock: socket.socket, max_bytes: int) -> tuple[dict, list[np.ndarray]]:
    """Receive one frame; every size is checked against ``max_bytes`` before reading."""
    (total,) = struct.unpack("<Q", bytes(_recv_exact(sock, 8)))
    if total > max_bytes:
        raise WireError(f"a message of {total} bytes is larger than the limit of {max_bytes} bytes")
    if total < 4:
        raise WireError("a message is too short")
    payload = _recv_exact(sock, total)
    (head_len,) = struct.unpack("<I", bytes(payload[:4]))
    if head_len > min(MAX_HEADER_BYTES, total - 4):
        raise WireError("a message header is too large")
    try:
        header = json.loads(bytes(payload[4 : 4 + head_len]))
    except (ValueError, UnicodeDecodeError) as error:
        raise WireError(f"a message header is not JSON: {error}") from None
    if not isinstance(header, dict):
        raise WireError("a message header is not a JSON object")
    body = memoryview(payload)[4 + head_len :]
    return header, _read_arrays(header.get("arrays"), body)


def _read_arrays(specs: object, body: memoryview) -> list[np.ndarray]:
    if not isinstance(specs, list):
        raise WireError("a message lists no arrays")
    arrays = []
    for spec in specs:
        if not isinstance(spec, dict):
            raise WireError("an array description is not an object")
        dtype, shape, offset, nbytes = (spec.get(k) for k in ("dtype", "shape", "offset", "nbytes"))
        if dtype not in ARRAY_DTYPES:
            raise WireError(f"an array has a dtype that is not allowed: {dtype!r}")
        if not (isinstance(shape, list) and len(shape) <= 32 and all(type(s) is int and s >= 0 for s in shape)):
            raise WireError("an array has an invalid shape")
        if not (type(offset) is int and type(nbytes) is int and 0 <= offset and offset + nbytes <= len(body)):
            raise WireError("an array lies outside its message")
        size = 1
        for s in shape:
            size *= s
        if size * np.dtype(dtype).itemsize != nbytes:
            raise WireError("an array's byte count does not match its shape")
        array = np.frombuffer(body[offset : offset + nbytes], dtype=dtype).reshape(shape)
        arrays.append(array)
    return arrays


def check_depth(depth: int) -> None:
    if depth > MAX_DEPTH:
        raise WireError(f"a value is nested more than {MAX_DEPTH} levels deep")
