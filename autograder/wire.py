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
import sys

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


# ---------------------------------------------------------------- what both sides encode alike
def _torch() -> object:
    """PyTorch if this process has imported it (the wire never imports it itself)."""
    return sys.modules.get("torch")


def is_tensor(value: object) -> bool:
    torch = _torch()
    return torch is not None and isinstance(value, torch.Tensor)


class ValueEncoder:
    """Values -> JSON + arrays: numbers, strings, containers, arrays, tensors, dtypes, devices.

    Both sides subclass it: ``before`` sees each value first (links to inputs, the student's
    modules), ``sent`` hears of every array and tensor sent, ``other`` takes what is left.
    Dicts go key, value, key, value: the order in which the reader decodes them.
    """

    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []
        self.memo: dict[int, int] = {}
        self.keep: list[object] = []  # tensors whose ids the memo holds stay alive

    def array(self, array: np.ndarray) -> int:
        self.arrays.append(np.require(array, requirements="C"))
        return len(self.arrays) - 1

    def tensor(self, tensor: object, with_grad: bool = False) -> dict:
        key = id(tensor)
        if key in self.memo:
            return {"$": "ref", "r": self.memo[key]}
        torch = _torch()
        self.memo[key] = len(self.memo)
        self.keep.append(tensor)
        self.sent(tensor)
        data = tensor.detach()
        spec = {"$": "tensor", "id": self.memo[key], "dtype": str(data.dtype).replace("torch.", ""),
                "device": str(data.device), "shape": list(data.shape), "rg": bool(tensor.requires_grad),
                "param": isinstance(tensor, torch.nn.Parameter), "a": None}
        if data.device.type != "meta":
            data = data.cpu()
            if data.dtype == torch.bfloat16:
                data = data.float()
            spec["a"] = self.array(data.resolve_conj().resolve_neg().numpy())
        if with_grad and tensor.grad is not None:
            spec["grad"] = self.tensor(tensor.grad)
        return spec

    def encode(self, value: object, depth: int = 0) -> object:
        check_depth(depth)
        if value is None or isinstance(value, (bool, str)) or type(value) in (int, float):
            return value
        linked = self.before(value)
        if linked is not None:
            return linked
        torch = _torch()
        if isinstance(value, np.ndarray) and value.dtype.name in ARRAY_DTYPES:
            self.sent(value)
            return {"$": "nd", "a": self.array(value)}
        if isinstance(value, np.generic) and value.dtype.name in ARRAY_DTYPES:
            return {"$": "np", "a": self.array(np.asarray(value))}
        if torch is not None and isinstance(value, torch.Tensor):
            return self.tensor(value)
        if isinstance(value, complex):
            return {"$": "complex", "re": value.real, "im": value.imag}
        if isinstance(value, (int, float)) and not isinstance(value, (np.generic, np.ndarray)):
            return int(value) if isinstance(value, int) else float(value)  # IntEnum and other subclasses
        if torch is not None and isinstance(value, torch.Size):
            return {"$": "tuple", "v": [int(v) for v in value]}
        if isinstance(value, tuple):
            return {"$": "tuple", "v": [self.encode(v, depth + 1) for v in value]}
        if isinstance(value, list):
            return [self.encode(v, depth + 1) for v in value]
        if isinstance(value, dict):
            keys, values = [], []
            for k, v in value.items():
                keys.append(self.encode(k, depth + 1))
                values.append(self.encode(v, depth + 1))
            return {"$": "dict", "k": keys, "v": values}
        if isinstance(value, slice):
            return {"$": "slice", "v": [self.encode(v, depth + 1) for v in (value.start, value.stop, value.step)]}
        if value is Ellipsis:
            return {"$": "ellipsis"}
        if torch is not None and isinstance(value, torch.dtype):
            return {"$": "dtype", "v": str(value).replace("torch.", "")}
        if torch is not None and isinstance(value, torch.device):
            return {"$": "device", "v": str(value)}
        return self.other(value, depth)

    def before(self, value: object) -> dict | None:
        return None

    def sent(self, value: object) -> None:
        """An array or tensor is being sent (the grader numbers them: its *slots*)."""

    def other(self, value: object, depth: int) -> object:
        raise TypeError(f"a {type(value).__name__} cannot be sent")


def fingerprint(tensor: object) -> tuple:
    """What changes when a tensor is replaced, moved, cast or written in place."""
    if tensor is None:
        return (None,)
    ptr = 0 if tensor.device.type == "meta" else tensor.data_ptr()
    return (id(tensor), tensor._version, ptr, str(tensor.dtype), str(tensor.device), tuple(tensor.shape),
            tensor.requires_grad)


def module_state(module: object) -> dict:
    """Name -> tensor of every parameter and buffer (shared ones once)."""
    state = dict(module.named_parameters())
    state.update(dict(module.named_buffers()))
    return state


def fingerprints(module: object) -> dict:
    return {name: fingerprint(t) for name, t in module_state(module).items()}


def module_flags(module: object) -> list:
    return [[path, m.training] for path, m in module.named_modules()]


def replace_parameter(module: object, old: object, new: object) -> None:
    """``new`` wherever ``old`` was a parameter (shared parameters stay shared)."""
    for sub in module.modules():
        for key, value in sub._parameters.items():
            if value is old:
                sub._parameters[key] = new


def apply_state(module: object, values: list) -> None:
    """Set parameters and buffers by name from the other side's values, keeping identities:
    copied in place where the layout is unchanged, else a new parameter wherever the old one was."""
    torch = _torch()
    for name, value in values:
        if not isinstance(name, str):
            raise WireError("a state entry has no name")
        *path, leaf = name.split(".")
        owner = module
        for part in path:
            owner = owner._modules.get(part)
            if owner is None:
                raise WireError(f"the module has no submodule for {name!r}")
        if value is not None and not isinstance(value, torch.Tensor):
            raise WireError(f"state {name!r} is not a tensor")
        if leaf in owner._parameters:
            current = owner._parameters[leaf]
            if value is None or current is None:
                owner._parameters[leaf] = None if value is None else torch.nn.Parameter(value.detach(), value.requires_grad)
                continue
            if current.shape == value.shape and current.dtype == value.dtype and current.device == value.device:
                with torch.no_grad():
                    current.copy_(value)
                current.requires_grad_(value.requires_grad)
            else:
                replace_parameter(module, current, torch.nn.Parameter(value.detach(), value.requires_grad))
        elif leaf in owner._buffers:
            owner._buffers[leaf] = None if value is None else value.detach()


def apply_flags(module: object, flags: object) -> None:
    """Set train/eval flags by submodule path; entries that name no submodule are ignored."""
    if not isinstance(flags, list):
        return
    modules = dict(module.named_modules())
    for entry in flags:
        if isinstance(entry, list) and len(entry) == 2 and entry[0] in modules:
            modules[entry[0]].training = bool(entry[1])
