"""The trusted side of the grading boundary: test cells run here, student code never.

The grader runs each test cell's code (taken from the template gradebook, never from
the submission) in a namespace of its own, in the grading process. There, every name
the student defines is a *proxy*:

- a function becomes ``RemoteFunction``: calling it sends the arguments to the
  student's kernel as data and decodes the result (``wire.py``); tensors that need
  gradients go through ``_RemoteCall``, an autograd function whose backward pass asks
  the kernel for the gradients of the same call, so ``out.backward()`` and
  ``torch.autograd.grad`` work unchanged;
- a class becomes a mirror class: constructing it builds the module in the kernel and
  a mirror here, a real ``nn.Module`` tree with the student's submodule types (torch.nn
  layers stay torch.nn layers), attributes, parameters and buffers by value. Its
  forward runs in the kernel; parameters, buffers and train/eval flags are exchanged
  before and after each call, so loading weights, ``.double()``, ``.to(device)``,
  optimiser steps and forward hooks on submodules behave as on the real module;
- a value is fetched by value.

Inputs that the student's code changed in place are changed here too, so tests that
check inputs are left alone keep working. Nothing the kernel says is a verdict: it
only supplies values, and every comparison runs here.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import socket
import time
from dataclasses import dataclass

import numpy as np

from .checks import exact_float32
from .wire import (
    ValueEncoder,
    WireError,
    apply_flags,
    apply_state,
    check_depth,
    fingerprint,
    fingerprints,
    module_state,
    recv_frame,
    send_frame,
)

__all__ = ["KernelUnavailable", "NotebookTimeLimit", "Session", "StudentError", "connected", "exact_float32"]

try:
    import torch
    from torch import nn
except ImportError:  # pragma: no cover - depends on the environment
    torch = None
    nn = None

MAX_REPLY_BYTES = 2 * 1024**3
TORCH_DTYPES = frozenset(
    "float16 bfloat16 float32 float64 complex64 complex128 int8 int16 int32 int64 uint8 bool".split()
)


# ---------------------------------------------------------------- errors
class StudentError(Exception):
    """An exception raised by the student's code, rebuilt here from its description."""

    student_traceback = ""
    student_type = "Exception"


class KernelUnavailable(Exception):
    """The student's kernel could not be reached (it died, hung or broke the connection)."""


class NotebookTimeLimit(Exception):
    """The notebook's time budget ran out while waiting for the student's code."""


_ERROR_CLASSES: dict[str, type] = {}


def student_error(description: dict) -> StudentError:
    """The exception to raise here for the student's exception: same builtin type where
    there is one (so ``except ValueError`` in a test still works), never their class."""
    name = str(description.get("type", "Exception"))[:100]
    builtin = getattr(builtins, name, None) if description.get("builtin") else None
    if not (isinstance(builtin, type) and issubclass(builtin, Exception)) or builtin is StopIteration:
        builtin = None
    key = builtin.__name__ if builtin else ""
    if key not in _ERROR_CLASSES:
        bases = (builtin, StudentError) if builtin else (StudentError,)
        _ERROR_CLASSES[key] = type(builtin.__name__ if builtin else "StudentError", bases, {})
    message = str(description.get("message", ""))
    error = _ERROR_CLASSES[key](message if builtin else f"{name}: {message}")
    error.student_traceback = str(description.get("traceback", ""))
    error.student_type = name
    return error


# ---------------------------------------------------------------- fingerprints and state
def _torch_nn_only(module: object) -> bool:
    return all(getattr(nn, type(m).__name__, None) is type(m) for m in module.modules())


_PLAIN = (bool, int, float, str, type(None))


def _plain(value: object, depth: int = 0) -> bool:
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, (tuple, list)) and depth < 3:
        return all(_plain(v, depth + 1) for v in value)
    return False


# ---------------------------------------------------------------- encoding (grader -> kernel)
class Encoder(ValueEncoder):
    """Grader values -> data. Remembers each array and tensor it sent (its *slot*)."""

    def __init__(self, session: Session):
        super().__init__()
        self.session = session
        self.slots: list[object] = []
        self.nnspecs: dict[int, object] = {}
        self.nn_seen: set[int] = set()  # torch.nn modules described in this request: a submodule
        # passed again (``grad_cam(model, model[2], ...)``) is the same object in the kernel
        self.mirrors: list[object] = []  # the student's modules among the values sent

    def sent(self, value: object) -> None:
        self.slots.append(value)

    def other(self, value: object, depth: int) -> object:
        if isinstance(value, MirrorModule):
            self.mirrors.append(value)
            return {"$": "module", "h": value._cnn_handle}
        if isinstance(value, RemoteObject):
            return {"$": "obj", "h": value._cnn_handle}
        if nn is not None and isinstance(value, nn.Module) and _torch_nn_only(value):
            key = len(self.nnspecs)
            self.nnspecs[key] = value
            return {"$": "nnspec", "key": key, "tree": self.nnspec(value, self.nn_seen)}
        if callable(value):
            index = len(self.session.callbacks)
            self.session.callbacks.append(value)
            return {"$": "cb", "i": index, "name": str(getattr(value, "__name__", "function"))[:100]}
        raise TypeError(f"a {type(value).__name__} cannot be sent to the student's code")

    def nnspec(self, module: object, seen: set) -> dict:
        """A torch.nn module by value: class names of torch.nn, plain attributes, tensors."""
        if id(module) in seen:
            return {"same": id(module)}
        seen.add(id(module))
        attrs = {k: self.encode(v) for k, v in vars(module).items() if k != "training" and _plain(v)}
        return {
            "id": id(module), "cls": type(module).__name__, "attrs": attrs, "training": module.training,
            "params": [[k, None if p is None else self.tensor(p)] for k, p in module._parameters.items()],
            "buffers": [[k, None if b is None else self.tensor(b)] for k, b in module._buffers.items()],
            "children": [[k, None if c is None else self.nnspec(c, seen)] for k, c in module._modules.items()],
        }


# ---------------------------------------------------------------- decoding (kernel -> grader)
class Decoder:
    """Data from the kernel -> values here. Strict: anything unexpected is a WireError."""

    def __init__(self, session: Session, arrays: list[np.ndarray], sent: list | None = None):
        self.session = session
        self.arrays = arrays
        self.sent = sent or []  # what the request sent, by slot: results may be these or views of them
        self.refs: dict[int, object] = {}
        self.tracks_grad: dict[int, bool] = {}  # whether the kernel's tensor required gradients

    def _array(self, index: object) -> np.ndarray:
        if type(index) is not int or not 0 <= index < len(self.arrays):
            raise WireError("a value refers to an array that is not in the message")
        return self.arrays[index]

    def decode(self, value: object, depth: int = 0) -> object:
        check_depth(depth)
        if isinstance(value, list):
            return [self.decode(v, depth + 1) for v in value]
        if not isinstance(value, dict):
            if value is None or isinstance(value, (bool, int, float, str)):
                return value
            raise WireError("a value of an unknown kind")
        tag = value.get("$")
        if tag == "nd":
            return self._array(value.get("a")).copy()
        if tag == "np":
            array = self._array(value.get("a"))
            if array.ndim != 0:
                raise WireError("a NumPy scalar is not 0-dimensional")
            return array.copy()[()]
        if tag == "tensor":
            return self.tensor(value)
        if tag == "ref":
            if value.get("r") not in self.refs:
                raise WireError("a value refers to a tensor that was not sent")
            return self.refs[value["r"]]
        if tag == "tuple":
            return tuple(self.decode(v, depth + 1) for v in _list(value.get("v")))
        if tag == "dict":
            keys, values = _list(value.get("k")), _list(value.get("v"))
            if len(keys) != len(values):
                raise WireError("a dict has as many keys as values")
            result = {}
            for k, v in zip(keys, values, strict=True):
                key = self.decode(k, depth + 1)
                try:
                    result[key] = self.decode(v, depth + 1)
                except TypeError:
                    raise WireError("a dict key that cannot be hashed") from None
            return result
        if tag == "complex":
            return complex(float(value.get("re", 0.0)), float(value.get("im", 0.0)))
        if tag == "dtype":
            return _torch_dtype(value.get("v"))
        if tag == "device":
            return _torch_device(value.get("v"))
        if tag == "slot":
            return self._sent(value.get("i"))
        if tag == "view":
            return self.view(value)
        if tag == "module":
            return self.session.mirror(value.get("h"), value.get("tree"), self)
        if tag == "obj":
            return RemoteObject.make(self.session, value)
        raise WireError(f"a value of unknown kind {tag!r}")

    def _sent(self, index: object) -> object:
        if type(index) is not int or not 0 <= index < len(self.sent):
            raise WireError("a result refers to an input that was not sent")
        return self.sent[index]

    def view(self, spec: dict) -> object:
        """A view of an input, rebuilt on the grader's own object (bounds checked)."""
        original = self._sent(spec.get("i"))
        shape, strides, offset = spec.get("shape"), spec.get("strides"), spec.get("offset")
        if not (isinstance(shape, list) and isinstance(strides, list) and len(shape) == len(strides)
                and all(type(v) is int for v in [*shape, *strides, offset]) and all(n >= 0 for n in shape)):
            raise WireError("a view with an invalid layout")
        is_array = isinstance(original, np.ndarray)
        unit = original.itemsize if is_array else 1
        size = original.nbytes if is_array else original.numel()
        contiguous = original.flags.c_contiguous if is_array else original.is_contiguous()
        low = offset + sum(min(0, (n - 1) * st) for n, st in zip(shape, strides, strict=True) if n)
        high = offset + sum(max(0, (n - 1) * st) for n, st in zip(shape, strides, strict=True) if n) + unit
        if not contiguous or low < 0 or high > size or (is_array and offset % unit):
            raise WireError("a view that does not lie inside its input")
        if is_array:
            return np.ndarray(shape, original.dtype, buffer=original, offset=offset, strides=strides)
        if original.device.type == "meta":
            raise WireError("a view of a meta tensor")
        return original.detach().as_strided(shape, strides, original.storage_offset() + offset)

    def tensor(self, spec: dict) -> object:
        if torch is None:
            raise WireError("the kernel sent a tensor, but PyTorch is not installed here")
        dtype, device = _torch_dtype(spec.get("dtype")), _torch_device(spec.get("device"))
        shape = spec.get("shape")
        if not (isinstance(shape, list) and all(type(s) is int and s >= 0 for s in shape)):
            raise WireError("a tensor has an invalid shape")
        if spec.get("a") is None:
            if device.type != "meta":
                raise WireError("a tensor without data that is not on the meta device")
            tensor = torch.empty(shape, dtype=dtype, device="meta")
        else:
            array = self._array(spec.get("a"))
            if list(array.shape) != shape:
                raise WireError("a tensor's data does not have its shape")
            tensor = torch.from_numpy(array.copy()).to(dtype=dtype, device=device)
        if spec.get("param"):
            tensor = nn.Parameter(tensor, requires_grad=bool(spec.get("rg")) and tensor.is_floating_point())
        if "grad" in spec:
            grad = self.decode(spec["grad"])
            spec_grad = grad if isinstance(grad, torch.Tensor) and grad.shape == tensor.shape else None
            tensor.grad_from_kernel = spec_grad  # read by write-back only
        self.refs[spec.get("id")] = tensor
        self.tracks_grad[id(tensor)] = bool(spec.get("rg"))
        return tensor


def _list(value: object) -> list:
    if not isinstance(value, list):
        raise WireError("a list was expected")
    return value


def _torch_dtype(name: object) -> object:
    if name not in TORCH_DTYPES:
        raise WireError(f"a tensor dtype that is not allowed: {name!r}")
    return getattr(torch, name)


def _torch_device(name: object) -> object:
    if not isinstance(name, str) or len(name) > 20:
        raise WireError("an invalid device")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise WireError(f"an invalid device {name!r}") from None
    if device.type not in ("cpu", "cuda", "meta"):
        raise WireError(f"a device that is not allowed: {name!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise WireError("the kernel sent a CUDA tensor, but the grader sees no GPU")
    return device


# ---------------------------------------------------------------- proxies
class RemoteObject:
    """An object that lives in the student's kernel, known here only by its handle."""

    def __init__(self, session: Session, handle: int, type_name: str):
        self._cnn_session, self._cnn_handle, self._cnn_type = session, handle, type_name

    @staticmethod
    def make(session: Session, value: dict) -> RemoteObject:
        handle, type_name = value.get("h"), str(value.get("type", "object"))[:100]
        if type(handle) is not int:
            raise WireError("an object without a handle")
        if value.get("callable"):
            return RemoteFunction(session, handle, type_name)
        return RemoteObject(session, handle, type_name)

    def __repr__(self) -> str:
        return f"<the student's {self._cnn_type} object>"


class RemoteFunction(RemoteObject):
    """A function of the student's: calling it calls it in the kernel, with data."""

    def __call__(self, *args: object, **kwargs: object) -> object:
        return self._cnn_session.call({"h": self._cnn_handle}, args, kwargs)

    def __repr__(self) -> str:
        return f"<the student's function {self._cnn_type}>"


if nn is not None:

    class MirrorModule(nn.Module):
        """Base of every mirror: an nn.Module whose forward runs in the student's kernel."""

        def forward(self, *args: object, **kwargs: object) -> object:
            if self.__dict__.get("_cnn_local"):  # torch.nn layers only: PyTorch's own forward
                return super().forward(*args, **kwargs)
            return self._cnn_session.call_module(self, args, kwargs)

        def extra_repr(self) -> str:
            return "(the student's module, run in their kernel)"

        def __deepcopy__(self, memo: dict) -> object:
            """A copy is a new module of the student's, copied in the kernel (state sent first)."""
            return self._cnn_session.call({"builtin": "deepcopy"}, (self,), {})

else:  # pragma: no cover
    MirrorModule = type("MirrorModule", (), {})


def _mirror_new(cls: type, *args: object, **kwargs: object) -> object:
    """Constructing a mirror class constructs the student's class in the kernel."""
    return cls._cnn_session.call({"h": cls._cnn_class_handle}, args, kwargs)


def _mirror_init(self: object, *args: object, **kwargs: object) -> None:
    """Mirrors are filled from the kernel's description, not by their arguments."""


# ---------------------------------------------------------------- the autograd bridge
class _RemoteCall(torch.autograd.Function if torch is not None else object):
    """A call in the kernel as one node of the grader's autograd graph."""

    @staticmethod
    def forward(ctx: object, call: Call, *tracked: object) -> tuple:
        call.result = call.run(keep_graph=True)
        ctx.call = call
        ctx.set_materialize_grads(False)
        flat = [*call.output_tensors, torch.zeros(())]  # the last one: a result without tensors
        dead = [t for t, alive in zip(flat, [*call.output_alive, False], strict=True) if not alive]
        ctx.mark_non_differentiable(*dead)
        return tuple(flat)

    @staticmethod
    def backward(ctx: object, *grads: object) -> tuple:
        return (None, *ctx.call.backward(grads[:-1]))


@dataclass
class Call:
    """One request to run a student's function or module, with what came back."""

    session: Session
    target: dict
    args: tuple
    kwargs: dict
    module: object = None
    result: object = None

    def tracked_inputs(self) -> list:
        """Tensors here that need gradients: tensor arguments, then the module's parameters."""
        tensors = [t for t in _flat_tensors((self.args, self.kwargs)) if t.requires_grad]
        self.grad_params: list[str] = []
        if self.module is not None:
            for name, p in self.module.named_parameters():
                if p.requires_grad:
                    self.grad_params.append(name)
                    tensors.append(p)
        unique, seen = [], set()
        for t in tensors:
            if id(t) not in seen:
                seen.add(id(t))
                unique.append(t)
        return unique

    def run(self, keep_graph: bool = False) -> object:
        session = self.session
        encoder = Encoder(session)
        header = {"op": "call", "target": self.target, "args": encoder.encode(list(self.args)),
                  "kwargs": encoder.encode(dict(self.kwargs)), "keep_graph": keep_graph,
                  "grad_params": getattr(self, "grad_params", []), "ambient": self.ambient}
        roots = list({id(m._cnn_root): m._cnn_root for m in encoder.mirrors}.values())
        if self.module is not None:
            if all(r is not self.module._cnn_root for r in roots):
                roots.append(self.module._cnn_root)
            header["capture"] = [["self", path] for path in _hooked_paths(self.module) if path]
        header["syncs"] = [session.push_state(root, encoder) for root in roots]
        header["rng"] = _send_rng(encoder)
        header["capture"] = header.get("capture", []) + [
            [str(key), path] for key, sent in encoder.nnspecs.items() for path in _hooked_paths(sent)
        ]
        reply, arrays = session.request(header, encoder)
        decoder = Decoder(session, arrays, encoder.slots)
        value = decoder.decode(reply.get("value"))
        by_handle = {root._cnn_handle: root for root in roots}
        for entry in reply.get("states", []):
            root = by_handle.get(entry[0]) if isinstance(entry, list) and len(entry) == 3 else None
            if root is not None:
                apply_state(root, decoder.decode(entry[1]))
                apply_flags(root, entry[2])
                session.synced[id(root)] = fingerprints(root)
        _take_rng(reply.get("rng"), arrays)
        _write_back(encoder.slots, decoder.decode(reply.get("writeback", [])))
        for key, state in (reply.get("nnstates") or {}).items():
            module = encoder.nnspecs.get(int(key))
            if module is not None and isinstance(state, dict):
                with torch.no_grad():
                    _copy_state(module, decoder.decode(state.get("state", [])))
                apply_flags(module, state.get("flags"))
        if reply.get("captures"):
            owners = {"self": self.module, **{str(k): m for k, m in encoder.nnspecs.items()}}
            _run_hooks(owners, decoder.decode(reply["captures"]))
        self.graph = reply.get("graph")
        self.output_tensors = _flat_tensors(value)
        self.output_alive = [decoder.tracks_grad.get(id(t), False) for t in self.output_tensors]
        return value

    def backward(self, grads: tuple) -> list:
        tracked = self.tracked
        if self.graph is None:
            return [None] * len(tracked)
        encoder = Encoder(self.session)
        header = {"op": "backward", "graph": self.graph,
                  "grads": encoder.encode([None if g is None else g.detach() for g in grads])}
        reply, arrays = self.session.request(header, encoder)
        got = Decoder(self.session, arrays).decode(reply.get("grads"))
        if not isinstance(got, list) or len(got) != len(tracked):
            raise WireError("the kernel sent the wrong number of gradients")
        result = []
        for g, t in zip(got, tracked, strict=True):
            ok = isinstance(g, torch.Tensor) and g.shape == t.shape
            result.append(g.to(dtype=t.dtype, device=t.device) if ok else None)
        return result


def _send_rng(encoder: Encoder) -> dict:
    """The grader's random states go with the call: ``torch.manual_seed(0); Model()`` draws the
    same numbers as it would in one process, and the states come back advanced."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"numpy": [encoder.array(keys), int(pos), int(has_gauss), float(cached)]}
    if torch is not None:
        state["torch"] = encoder.array(torch.get_rng_state().numpy())
    return state


def _take_rng(state: object, arrays: list) -> None:
    if not isinstance(state, dict):
        return
    entry = state.get("numpy")
    if isinstance(entry, list) and len(entry) == 4 and type(entry[0]) is int and 0 <= entry[0] < len(arrays):
        keys = arrays[entry[0]]
        if keys.dtype == np.uint32 and keys.shape == (624,) and type(entry[1]) is int and 0 <= entry[1] <= 624:
            np.random.set_state(("MT19937", keys.copy(), entry[1], int(bool(entry[2])), float(entry[3])))
    index = state.get("torch")
    if torch is not None and type(index) is int and 0 <= index < len(arrays):
        current = torch.get_rng_state()
        new = arrays[index]
        if new.dtype == np.uint8 and tuple(new.shape) == tuple(current.shape):
            torch.set_rng_state(torch.from_numpy(new.copy()))


def _ambient() -> dict:
    if torch is None:
        return {}
    device = torch.get_default_device() if hasattr(torch, "get_default_device") else torch.device("cpu")
    return {"grad": torch.is_grad_enabled(), "device": str(device)}


def _flat_tensors(value: object, depth: int = 0) -> list:
    if torch is None or depth > 8:
        return []
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _flat_tensors(v, depth + 1)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _flat_tensors(v, depth + 1)]
    return []


def _replace_tensors(value: object, replacements: object, depth: int = 0) -> object:
    if depth > 8:
        return value
    if isinstance(value, torch.Tensor):
        return next(replacements)
    if isinstance(value, tuple):
        return tuple(_replace_tensors(v, replacements, depth + 1) for v in value)
    if isinstance(value, list):
        return [_replace_tensors(v, replacements, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k: _replace_tensors(v, replacements, depth + 1) for k, v in value.items()}
    return value


def _hooked_paths(module: object) -> list[str]:
    return [path for path, m in module.named_modules() if m._forward_hooks]


def _run_hooks(owners: dict, captures: object) -> None:
    """Forward hooks of modules that ran in the kernel, called with what the kernel recorded,
    in the mode (train/eval, gradients on/off) the module ran in there."""
    for entry in captures if isinstance(captures, list) else []:
        if not (isinstance(entry, list) and len(entry) == 6 and owners.get(entry[0]) is not None):
            continue
        key, path, training, grad, inputs, output = entry
        modules = dict(owners[key].named_modules())
        if path not in modules:
            continue
        sub = modules[path]
        inputs = inputs if isinstance(inputs, tuple) else (inputs,)
        was = sub.training
        sub.training = bool(training)
        try:
            with torch.set_grad_enabled(bool(grad)):
                for hook in list(sub._forward_hooks.values()):
                    hook(sub, inputs, output)
        finally:
            sub.training = was


def _copy_state(module: object, values: object) -> None:
    state = module_state(module)
    for entry in values if isinstance(values, list) else []:
        if isinstance(entry, list | tuple) and len(entry) == 2 and entry[0] in state:
            current, value = state[entry[0]], entry[1]
            if isinstance(value, torch.Tensor) and current is not None and current.shape == value.shape:
                current.copy_(value.to(dtype=current.dtype, device=current.device))
                grad = getattr(value, "grad_from_kernel", None)
                if isinstance(current, nn.Parameter):
                    current.grad = None if grad is None else grad.to(dtype=current.dtype, device=current.device)


def _write_back(slots: list, changes: object) -> None:
    """Mirror the student's in-place changes of inputs onto the grader's objects."""
    for entry in changes if isinstance(changes, list) else []:
        if not (isinstance(entry, list) and len(entry) == 2 and type(entry[0]) is int and 0 <= entry[0] < len(slots)):
            continue
        original, new = slots[entry[0]], entry[1]
        if isinstance(original, np.ndarray) and isinstance(new, np.ndarray):
            if original.shape != new.shape and original.size == new.size and original.flags.c_contiguous:
                original.shape = new.shape  # the student reshaped the input in place
            if original.shape == new.shape and original.flags.writeable:
                np.copyto(original, new, casting="unsafe")
        elif torch is not None and isinstance(original, torch.Tensor) and isinstance(new, torch.Tensor):
            if original.shape == new.shape and original.device.type != "meta":
                with torch.no_grad():
                    original.copy_(new.to(dtype=original.dtype, device=original.device))
            if original.is_leaf and new.requires_grad != original.requires_grad:
                original.requires_grad_(new.requires_grad)
            grad = getattr(new, "grad_from_kernel", None)
            if grad is not None and original.is_leaf and original.grad is None:
                original.grad = grad.to(dtype=original.dtype, device=original.device)


# ---------------------------------------------------------------- the session
class Session:
    """The grader's side of one notebook: the namespace tests run in and the kernel link."""

    def __init__(self, max_reply_bytes: int = MAX_REPLY_BYTES):
        self.namespace: dict = {"__name__": "__main__", "__builtins__": builtins}
        self.sock: socket.socket | None = None
        self.deadline = float("inf")
        self.max_reply_bytes = max_reply_bytes
        self.callbacks: list = []
        self.classes: dict[int, type] = {}
        self.mirrors: dict[int, object] = {}
        self.synced: dict[int, dict] = {}
        self.remote_names: set[str] = set()
        self.student_output = io.StringIO()

    def take_student_output(self) -> str:
        """What the student's code printed during the requests since the last call."""
        text = self.student_output.getvalue()
        self.student_output = io.StringIO()
        return text

    # -- the connection
    def request(self, header: dict, encoder: Encoder) -> tuple[dict, list]:
        """Send a request and wait for its reply, answering the kernel's callbacks meanwhile."""
        if self.sock is None:
            raise KernelUnavailable("the student's kernel is not connected")
        self._send(header, encoder.arrays)
        while True:
            reply, arrays = self._receive()
            if reply.get("op") == "callback":
                self._answer_callback(reply, arrays)
                continue
            text = reply.get("stdout")
            if isinstance(text, str) and text:
                self.student_output.write(text[-20_000:])
            if "error" in reply:
                error = reply["error"] if isinstance(reply["error"], dict) else {}
                raise student_error(error)
            return reply, arrays

    def _send(self, header: dict, arrays: list) -> None:
        try:
            self.sock.settimeout(max(0.1, self.deadline - time.monotonic()))
            send_frame(self.sock, header, arrays)
        except (OSError, WireError) as error:
            self.sock = None
            raise KernelUnavailable(f"the student's kernel stopped answering ({error})") from None

    def _receive(self) -> tuple[dict, list]:
        try:
            self.sock.settimeout(max(0.1, self.deadline - time.monotonic()))
            return recv_frame(self.sock, self.max_reply_bytes)
        except TimeoutError:
            self.sock = None
            raise NotebookTimeLimit("the student's code did not finish within the notebook's time limit") from None
        except (OSError, WireError) as error:
            self.sock = None
            raise KernelUnavailable(f"the student's kernel stopped answering ({error})") from None

    def _answer_callback(self, header: dict, arrays: list) -> None:
        index = header.get("i")
        function = self.callbacks[index] if type(index) is int and 0 <= index < len(self.callbacks) else None
        decoder = Decoder(self, arrays)
        try:
            if function is None:
                raise WireError("a callback that does not exist")
            args = decoder.decode(header.get("args"))
            kwargs = decoder.decode(header.get("kwargs"))
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise WireError("a callback without arguments")
            value = function(*args, **{str(k): v for k, v in kwargs.items()})
            encoder = Encoder(self)
            self._send({"op": "return", "value": encoder.encode(value)}, encoder.arrays)
        except (KernelUnavailable, NotebookTimeLimit):
            raise
        except Exception as error:
            self._send({"op": "raise", "message": f"{type(error).__name__}: {error}"[:2000]}, [])

    # -- calls
    def call(self, target: dict, args: tuple, kwargs: dict, module: object = None) -> object:
        call = Call(self, target, args, kwargs, module)
        call.ambient = _ambient()  # before autograd switches gradients off inside _RemoteCall
        tracked = call.tracked_inputs() if torch is not None and torch.is_grad_enabled() else []
        call.tracked = tracked
        if not tracked:
            return call.run()
        outputs = _RemoteCall.apply(call, *tracked)
        return _replace_tensors(call.result, iter(outputs[:-1]))

    def call_module(self, mirror: object, args: tuple, kwargs: dict) -> object:
        return self.call({"h": mirror._cnn_handle, "path": ""}, args, kwargs, module=mirror)

    def push_state(self, root: object, encoder: Encoder) -> dict:
        before = self.synced.get(id(root), {})
        state = module_state(root)
        buffers = {id(b) for b in root.buffers()}
        changed = [[name, t] for name, t in state.items() if id(t) in buffers or before.get(name) != fingerprint(t)]
        flags = [[path, m.training] for path, m in root.named_modules()]
        self.synced[id(root)] = {name: fingerprint(t) for name, t in state.items()}
        return {"root": root._cnn_handle, "state": encoder.encode(changed), "flags": flags}

    # -- names
    def bind_remote_names(self, names: list[str]) -> None:
        """Ask the kernel what each name is now and bind a proxy for it in the namespace."""
        if not names:
            return
        encoder = Encoder(self)
        reply, arrays = self.request({"op": "describe", "names": names}, encoder)
        found = reply.get("found") if isinstance(reply.get("found"), dict) else {}
        decoder = Decoder(self, arrays)
        for name in names:
            info = found.get(name)
            self.remote_names.add(name)
            if not isinstance(info, dict):
                self.namespace.pop(name, None)
                continue
            kind = info.get("kind")
            if kind == "function" and type(info.get("h")) is int:
                self.namespace[name] = RemoteFunction(self, info["h"], name)
            elif kind == "class" and type(info.get("h")) is int and isinstance(info.get("cls"), dict):
                cls = self.mirror_class(info["cls"])
                cls._cnn_class_handle = info["h"]
                self.namespace[name] = cls
            elif kind == "value":
                self.namespace[name] = decoder.decode(info.get("value"))

    def mirror_class(self, info: dict) -> type:
        """The grader's stand-in for one of the student's classes (one per class)."""
        key = info.get("id")
        if key in self.classes:
            return self.classes[key]
        name = str(info.get("name", "Module"))
        if not name.isidentifier():
            name = "StudentModule"
        base = getattr(nn, str(info.get("base")), None) if info.get("base") else None
        if not (isinstance(base, type) and issubclass(base, nn.Module)) or base is nn.Module:
            base = None
        bases = (MirrorModule, base) if base else (MirrorModule,)
        cls = type(name, bases, {"__new__": _mirror_new, "__init__": _mirror_init,
                                 "__module__": "student" if str(info.get("module")) == "__main__" else str(info.get("module"))})
        cls._cnn_session = self
        cls._cnn_class_handle = None
        cls._cnn_exact = bool(base) and str(info.get("module", "")).startswith("torch.nn.") and info.get("name") == base.__name__
        self.classes[key] = cls
        return cls

    def mirror(self, handle: object, tree: object, decoder: Decoder) -> object:
        """The mirror of a module of the student's, built from the kernel's description."""
        if type(handle) is not int or not isinstance(tree, dict):
            raise WireError("a module without a handle or description")
        made: dict[int, object] = {}
        root = self._build(tree, decoder, made, 0)
        for node in made.values():
            node.__dict__["_cnn_root"] = root
        self.synced[id(root)] = fingerprints(root)
        return root

    def _build(self, node: dict, decoder: Decoder, made: dict, depth: int) -> object:
        check_depth(depth)
        if not isinstance(node, dict):
            raise WireError("a module description is not an object")
        if "same" in node:
            if node["same"] not in made:
                raise WireError("a module refers to one that was not described")
            return made[node["same"]]
        cls = self.mirror_class(node.get("cls") if isinstance(node.get("cls"), dict) else {})
        module = object.__new__(cls)
        nn.Module.__init__(module)
        module.__dict__.update({"_cnn_session": self, "_cnn_handle": node.get("id")})
        for key, value in (node.get("attrs") or {}).items():
            if (isinstance(key, str) and key.isidentifier() and not key.startswith(("__", "_cnn"))
                    and key != "training" and not hasattr(nn.Module, key)):
                module.__dict__[key] = decoder.decode(value)
        module.training = bool(node.get("training"))
        for key, spec in _pairs(node.get("params")):
            value = None if spec is None else decoder.decode(spec)
            if value is not None and not isinstance(value, nn.Parameter):
                value = nn.Parameter(value, requires_grad=value.requires_grad)
            module._parameters[key] = value
        for key, spec in _pairs(node.get("buffers")):
            module._buffers[key] = None if spec is None else decoder.decode(spec)
        for key, child in _pairs(node.get("children")):
            module._modules[key] = None if child is None else self._build(child, decoder, made, depth + 1)
        # A tree of torch.nn layers alone holds no code of the student's (only its settings and
        # tensors): it runs here, as PyTorch's own code, instead of a round trip per call.
        module.__dict__["_cnn_local"] = type(module)._cnn_exact and all(
            c.__dict__.get("_cnn_local", False) for c in module._modules.values() if c is not None)
        made[node.get("id")] = module
        return module

    # -- running test code
    def run(self, source: str, filename: str) -> None:
        """Run trusted test code in the namespace (stdout goes to the caller's capture)."""
        code = compile(source, filename, "exec")
        exec(code, self.namespace)


def _module_key(name: object) -> bool:
    """A name PyTorch accepts for a parameter, buffer or submodule ("0" included)."""
    return isinstance(name, str) and 0 < len(name) <= 200 and "." not in name and not name.startswith("_cnn")


def _pairs(value: object) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise WireError("a module description is malformed")
    pairs = []
    for entry in value:
        if not (isinstance(entry, list) and len(entry) == 2 and _module_key(entry[0])):
            raise WireError("a module description is malformed")
        pairs.append(entry)
    return pairs


@contextlib.contextmanager
def connected(session: Session, sock: socket.socket, deadline: float):
    """Use ``sock`` for the session's requests until the block ends, then say "end"."""
    session.sock, session.deadline = sock, deadline
    try:
        yield session
    finally:
        if session.sock is not None:
            with contextlib.suppress(OSError, WireError):
                session.sock.settimeout(2)
                send_frame(session.sock, {"op": "end"}, [])
        session.sock = None
        with contextlib.suppress(OSError):
            sock.close()
