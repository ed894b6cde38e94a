"""Every attack on the trusted grading boundary gains nothing and leaves the host unchanged.

Test cells run in the grader's own process (``autograder/trusted.py``); the student's
names there are proxies to the sandboxed kernel, values cross as data, and a static check
(``autograder/forbidden.py``) gives 0 to functions built on what they must not use. One
grading run (``python -m autograder grade --jobs 2 --timeout 120 --memory 2``) over hostile
submissions of ``02_convolution``: each hostile student leaves every function unimplemented
(or wrong) except where the attack sits, so a point beyond what the honest equivalent earns
is a gain. Attacks come in two forms: *literal* (as the issue writes them; the static check
refuses them, so all their tests score 0 before any test runs) and *evasive* (the same
attack written so that the static check lets it through: its code really runs, and the
boundary itself must hold). The students, in the order the grader takes them (ids sort;
``--jobs 2`` interleaves):

- ``0-sleeper``: a graded function that sleeps forever inside a test cell (time limit);
- ``a-literal``: ``get_ipython()`` input transformers, ``run_cell``/``run_cell_async`` wrapped
  to succeed, a ``post_run_cell`` callback clearing the error, ``sys.excepthook`` and
  ``showtraceback`` replaced, ``sys.settrace``/``threading.settrace`` rewriting the arguments
  of ``autograder.checks`` functions, fake ``autograder``/``autograder.checks`` modules,
  ``builtins`` patched, ``np`` shadowed, frames walked with ``sys._getframe``/``inspect``,
  ``linecache``, ``In`` and ``inspect.getsource`` raised as errors;
- ``b-kernel``: the same through ``exit._ip`` (no ``get_ipython``; the static check refuses
  that shell too), ``autograder.checks`` patched in the kernel, ``np``, ``isinstance``,
  ``AssertionError``, ``torch``, ``F`` shadowed in the notebook's namespace;
- ``b-torch``: a tensor subclass with rigged comparisons (nothing the static check refuses);
- ``b-transformer``: an input transformer that swaps the grader's agent cell for a forged
  agent (every name is ``True``), with the locked ``imports`` cell deleted;
- ``g-direct``, ``g-alias``, ``g-getattr``: forbidden libraries with correct results (``corr2d``
  via SciPy, ``conv2d_forward`` via torch, ``conv2d_torch`` via ``F.conv2d`` directly, through
  an alias, through ``getattr``), plus, in their other functions, evasive attacks: an ndarray
  subclass, an int and a dict with rigged comparisons; callers' locals read through
  ``traceback``; ``linecache``, ``In``, the call stack and the grader's files raised as errors;
- ``k-osexit``: ``os._exit`` inside a graded function (dead kernel);
- ``r-memory``, ``r-forkbomb``: five children holding 1 GiB each, 500 forks;
- ``w-host``: writes marker files to the host (Python, /usr/bin, this package, /tmp, the
  submissions, the output), tries ``mount -o remount,rw``, fills /tmp and its working folder;
- ``reference``, ``untouched`` and ``zz-reference`` (the reference again, graded after all the
  attackers).
"""

from __future__ import annotations

import glob
import html
import json
import random
import re
import subprocess
import sys
import sysconfig
import uuid
from pathlib import Path

import nbformat
import pytest
from test_variants import solution_sources

from conftest import ROOT, SOLUTIONS, autograded_notebook, read_grades, read_results, run_grader

pytestmark = pytest.mark.slow

ASSIGNMENT = "02_convolution"
SOURCE_NB = SOLUTIONS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
FULL = 48.0
TIMEOUT_S = 120
MEMORY_GB = 2
TOKEN = f"cnn-boundary-{uuid.uuid4().hex[:12]}"  # in every marker file name of this run
SLEEP_ARG = f"3601.{random.randrange(10**8, 10**9)}"  # argument of the fork bomb's children
HIDDEN_REGION = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MIN_LEAK_LINE = 25

# ---------------------------------------------------------------- attacks on the kernel's machinery
# ``_ip`` is the shell: ``get_ipython()`` in the literal attacks (the static check refuses that
# name), ``exit._ip`` in the evasive ones.
HOOKS = '''
_real_run_cell, _real_run_cell_async = _ip.run_cell, _ip.run_cell_async


def _succeed(result):
    result.error_before_exec = None
    result.error_in_exec = None
    return result


def _run_cell(*args, **kwargs):
    return _succeed(_real_run_cell(*args, **kwargs))


async def _run_cell_async(*args, **kwargs):
    return _succeed(await _real_run_cell_async(*args, **kwargs))


def _clear_errors(result):
    _succeed(result)
    sys.last_type = sys.last_value = sys.last_traceback = None


_ip.run_cell, _ip.run_cell_async = _run_cell, _run_cell_async
_ip.events.register("post_run_cell", _clear_errors)
sys.excepthook = lambda *args: None
_ip.showtraceback = lambda *args, **kwargs: None
_ip._showtraceback = lambda *args, **kwargs: None
_ip.showsyntaxerror = lambda *args, **kwargs: None
_ip.set_custom_exc((BaseException,), lambda shell, etype, value, tb, tb_offset=None: None)
'''

LITERAL_KERNEL = '''
import builtins
import ctypes
import sys
import threading
import types

import autograder
import autograder.checks as _checks
import numpy


def conv1d(x, w, b=0.0):
    raise NotImplementedError()


_ip = get_ipython()
''' + HOOKS + '''

def _tracer(frame, event, arg):
    code = frame.f_code
    if event == "call" and code.co_filename == _checks.__file__ and code.co_name.startswith("assert_"):
        local = frame.f_locals
        if "expected" in local and "actual" in local:
            local["actual"] = local["expected"]
            ctypes.pythonapi.PyFrame_LocalsToFast(ctypes.py_object(frame), ctypes.c_int(0))
    return None


sys.settrace(_tracer)
threading.settrace(_tracer)


def _always(*args, **kwargs):
    return None


_fake_checks = types.ModuleType("autograder.checks")
for _name in dir(_checks):
    if _name.startswith("assert_"):
        setattr(_fake_checks, _name, _always)
_fake_checks.snapshot = lambda value: value
_fake_checks.__getattr__ = lambda name: _always
_fake_package = types.ModuleType("autograder")
_fake_package.__path__ = list(autograder.__path__)  # the grader's agent still imports
_fake_package.checks = _fake_checks
sys.modules["autograder.checks"] = _fake_checks
sys.modules["autograder"] = _fake_package


class FakeNumpy:
    """Every function says yes."""

    ndarray, float64, float32 = numpy.ndarray, numpy.float64, numpy.float32

    def __getattr__(self, name):
        return lambda *args, **kwargs: True


np = FakeNumpy()
numpy.allclose = lambda *args, **kwargs: True
AssertionError = type("AssertionError", (Exception,), {})
builtins.AssertionError = AssertionError
_real_isinstance = builtins.isinstance
# Lies about arrays only: ``lambda *a: True`` for everything hangs the kernel's own machinery
# (the notebook then runs out of time and scores 0, which proves nothing about the tests).
builtins.isinstance = lambda obj, cls: True if cls is numpy.ndarray else _real_isinstance(obj, cls)
'''

LITERAL_TRANSFORMER = '''
def conv2d_torch(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    raise NotImplementedError()


get_ipython().input_transformers_cleanup.append(lambda lines: ["pass\\n"])
get_ipython().input_transformers_post.append(lambda lines: ["pass\\n"])
'''

EVASIVE_KERNEL = '''
import sys

import autograder.checks as _checks
import numpy


def conv1d(x, w, b=0.0):
    raise NotImplementedError()


_ip = exit._ip  # the shell, reached without naming get_ipython
''' + HOOKS + '''

def _always(*args, **kwargs):
    return None


_checks.assert_array = _checks.assert_tensor = _checks.assert_value_error = _always
_checks.assert_unchanged = _checks.assert_int = _checks.assert_float = _always


class FakeNumpy:
    """The comparisons say yes."""

    ndarray, float64, float32 = numpy.ndarray, numpy.float64, numpy.float32

    def allclose(self, *args, **kwargs):
        return True

    def isclose(self, *args, **kwargs):
        return True

    def array_equal(self, *args, **kwargs):
        return True

    def array(self, *args, **kwargs):
        return numpy.array(*args, **kwargs)


np = FakeNumpy()
isinstance = lambda *args: True  # the notebook's namespace, not builtins
AssertionError = type("AssertionError", (Exception,), {})
'''

EVASIVE_TORCH = '''
_real_torch = torch


class _RiggedTensor(_real_torch.Tensor):
    """Every comparison says yes."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in {"allclose", "equal", "eq", "__eq__", "isclose", "all", "__bool__"}:
            return True
        return super().__torch_function__(func, types, args, kwargs or {})

    def __eq__(self, other):
        return True


def conv2d_torch(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    return _real_torch.zeros(1, dtype=x.dtype).as_subclass(_RiggedTensor)


class FakeTorch:
    """The comparisons say yes."""

    Tensor, float32, float64 = _real_torch.Tensor, _real_torch.float32, _real_torch.float64

    def allclose(self, *args, **kwargs):
        return True

    def equal(self, *args, **kwargs):
        return True


torch = FakeTorch()
F = FakeTorch()
'''

# An input transformer that swaps the grader's agent cell for a forged agent: every name is
# True, every call returns True. (With the ``imports`` cell deleted, ``np`` comes from it too.)
FORGED_AGENT = '''
import socket

import matplotlib.pyplot as plt
import numpy as np

from autograder import wire as _wire


def conv1d(x, w, b=0.0):
    raise NotImplementedError()


def _forged_serve(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    try:
        while True:
            header, _ = _wire.recv_frame(sock, 1 << 30)
            if header.get("op") == "end":
                return
            if header.get("op") == "describe":
                reply = {"found": {name: {"kind": "value", "value": True} for name in header.get("names", [])}}
            else:
                reply = {"value": True, "writeback": []}
            _wire.send_frame(sock, reply, [])
    finally:
        sock.close()


def _rewrite(lines):
    text = "".join(lines)
    if "_cnn_agent.serve(" in text:
        return ["_forged_serve(" + text.split("serve(", 1)[1].split(")", 1)[0] + ")\\n"]
    return lines


exit._ip.input_transformers_cleanup.append(_rewrite)
'''

# ---------------------------------------------------------------- attacks through values, frames and errors
RIGGED_ARRAY = '''
class _Rigged(np.ndarray):
    """Every comparison and every NumPy function on it says yes."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __bool__(self):
        return True

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return True

    def __array_function__(self, func, types, args, kwargs):
        return True


def conv1d(x, w, b=0.0):
    return np.zeros(max(1, len(x) - len(w) + 1)).view(_Rigged)
'''

RIGGED_INT = '''
class _AlwaysEqual(int):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = int.__hash__


def conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
    return _AlwaysEqual(-1)
'''

DICT_POSER = '''
class _PosingArray(dict):
    """A dict that looks like the expected array."""

    shape = (2, 3, 6, 7)
    dtype = np.dtype("float64")
    ndim = 4

    def __eq__(self, other):
        return True

    def __array__(self, dtype=None, copy=None):
        return np.zeros(self.shape)


def pad2d(x, padding):
    return _PosingArray(shape=np.shape(x), dtype="float64", data=[0.0])
'''

# Literal: walk up the callers' frames (every thread's, and the garbage collector's objects)
# for the hidden test's expected values or its _ref_* reference functions.
STEAL_LITERAL = '''
import gc
import inspect
import sys

_WANTED = ("_expected", "expected", "_want", "want")


def _from_scope(scope, args):
    for name, value in list(scope.items()):
        if name in _WANTED and not callable(value) and value is not None:
            return value
        if name.startswith("_ref") and callable(value):
            try:
                return value(*args)
            except Exception:
                pass
    return None


def _steal(*args):
    frames = []
    frame = sys._getframe(1)
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    frames += [info.frame for info in inspect.stack()]
    for top in sys._current_frames().values():
        while top is not None:
            frames.append(top)
            top = top.f_back
    for frame in frames:
        for scope in (frame.f_locals, frame.f_globals):
            found = _from_scope(scope, args)
            if found is not None:
                return found
    for obj in gc.get_objects():
        if inspect.isfunction(obj) and obj.__name__.startswith("_ref"):
            try:
                return obj(*args)
            except Exception:
                pass
    return None


def corr2d(x, k):
    found = _steal(x, k)
    if found is None:
        raise NotImplementedError("nothing to steal")
    return found
'''

# Evasive: the callers' locals as the traceback module renders them (no frame attribute named).
STEAL_EVASIVE = '''
import ast
import traceback


def _stolen():
    summary = traceback.StackSummary.extract(traceback.walk_stack(None), capture_locals=True)
    for frame in summary:
        for name, text in (frame.locals or {}).items():
            if name.lstrip("_") in ("expected", "want", "reference") or name.startswith("_ref"):
                print("FOUND", frame.name, name, text[:100])
                body = text.strip()
                if body.startswith("array(") and body.endswith(")"):
                    body = body[6:-1]
                try:
                    return np.array(ast.literal_eval(body))
                except (ValueError, SyntaxError):
                    pass
    return None
'''
STEAL_EVASIVE_FUNCTION = '''

def {name}({args}):
    found = _stolen()
    if found is None:
        raise NotImplementedError("nothing to steal")
    return found
'''

# Leaks: raise what the kernel can see of the tests. Bad input gets NotImplementedError, so
# the errors cell scores 0 as for an unimplemented function (any ValueError would pass it).
LEAK_LITERAL = '''
import linecache


def conv_matrix(w, n):
    if np.ndim(w) != 1 or len(w) > n:
        raise NotImplementedError()
    parts = ["".join(entry[2]) for entry in list(linecache.cache.values()) if len(entry) == 4]
    shell = get_ipython()
    parts += [str(cell) for cell in shell.user_ns.get("In", [])]
    parts += [str(value) for value in shell.user_ns.get("Out", {}).values()]
    raise ValueError("LEAK " + "\\n".join(parts))
'''

LEAK_SOURCE_LITERAL = '''
import inspect
import sys


def pad2d(x, padding):
    parts = []
    for info in inspect.stack():
        try:
            parts.append(inspect.getsource(info.frame))
        except (OSError, TypeError):
            parts.append(f"{info.filename}:{info.lineno} {info.code_context}")
    for top in sys._current_frames().values():
        try:
            parts.append(inspect.getsource(top))
        except (OSError, TypeError):
            pass
    raise RuntimeError("LEAK " + "\\n".join(parts))
'''

LEAK_EVASIVE = '''
import linecache
import traceback


def conv_matrix(w, n):
    if np.ndim(w) != 1 or len(w) > n:
        raise NotImplementedError()
    parts = ["".join(linecache.getlines(name)) for name in list(linecache.cache)]
    parts += [str(cell) for cell in In] + [str(cell) for cell in _ih]
    parts += traceback.format_stack()
    raise ValueError("LEAK " + "\\n".join(parts))
'''

LEAK_FILES = '''
import traceback


def pad2d(x, padding):
    parts = traceback.format_stack()
    for path in @FILES@:
        try:
            with open(path, errors="replace") as handle:
                parts.append(handle.read())
        except OSError as error:
            parts.append(f"{path}: {type(error).__name__}")
    raise RuntimeError("LEAK " + "\\n".join(parts))
'''

# ---------------------------------------------------------------- forbidden libraries, correct results
CORR2D_CHECKS = '''
    x, k = np.asarray(x), np.asarray(k)
    if x.ndim != 2 or k.ndim != 2:
        raise ValueError(f"x and k must be 2-D, got shapes {x.shape} and {k.shape}")
    if 0 in k.shape or k.shape[0] > x.shape[0] or k.shape[1] > x.shape[1]:
        raise ValueError(f"the kernel {k.shape} must be non-empty and fit in the image {x.shape}")
    dtype = np.result_type(x, k, np.float32)
'''

FORWARD_CHECKS = '''
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"x and w must be 4-D, got shapes {x.shape} and {w.shape}")
    if w.shape[1] != x.shape[1] or b.shape != (w.shape[0],):
        raise ValueError("the channels of x and w, or the bias, do not match")
    (sh, sw), (ph, pw), (dh, dw) = as_pair(stride, "stride"), as_pair(padding, "padding"), as_pair(dilation, "dilation")
    if min(sh, sw, dh, dw) < 1 or min(ph, pw) < 0:
        raise ValueError("stride and dilation must be >= 1 and padding >= 0")
    if dh * (w.shape[2] - 1) + 1 > x.shape[2] + 2 * ph or dw * (w.shape[3] - 1) + 1 > x.shape[3] + 2 * pw:
        raise ValueError("the kernel does not fit in the padded input")
    dtype = np.result_type(x, w, b, np.float32)
'''

TORCH_CHECKS = '''
    if x.dim() != 4 or w.dim() != 4:
        raise ValueError("x and w must be 4-D")
    channels, filters = x.shape[1], w.shape[0]
    if groups < 1 or channels % groups or filters % groups or w.shape[1] * groups != channels:
        raise ValueError("groups must divide the channels and the filters")
    if b is not None and tuple(b.shape) != (filters,):
        raise ValueError("the bias must have one value per filter")
    (sh, sw), (ph, pw), (dh, dw) = as_pair(stride, "stride"), as_pair(padding, "padding"), as_pair(dilation, "dilation")
    if min(sh, sw, dh, dw) < 1 or min(ph, pw) < 0:
        raise ValueError("stride and dilation must be >= 1 and padding >= 0")
    if dh * (w.shape[2] - 1) + 1 > x.shape[2] + 2 * ph or dw * (w.shape[3] - 1) + 1 > x.shape[3] + 2 * pw:
        raise ValueError("the kernel does not fit in the padded input")
'''

CORR2D_SCIPY = "from scipy.signal import correlate2d\n\n\ndef corr2d(x, k):" + CORR2D_CHECKS + (
    '    return correlate2d(x.astype(dtype), k.astype(dtype), mode="valid")\n'
)
CORR2D_SCIPY_ALIAS = "def corr2d(x, k):" + CORR2D_CHECKS + (  # _signal_lib: imported in another cell
    '    return _signal_lib.correlate2d(x.astype(dtype), k.astype(dtype), mode="valid")\n'
)
CORR2D_SCIPY_GETATTR = "import scipy.signal\n\n\ndef corr2d(x, k):" + CORR2D_CHECKS + (
    '    return getattr(scipy.signal, "correlate" + "2d")(x.astype(dtype), k.astype(dtype), mode="valid")\n'
)

FORWARD_CALL = (
    "    args = [{lib}.from_numpy(np.ascontiguousarray(a, dtype)) for a in (x, w, b)]\n"
    "    return {conv}(*args, stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw)).numpy()\n"
)
FORWARD_SIGNATURE = "def conv2d_forward(x, w, b, stride=1, padding=0, dilation=1):"
FORWARD_TORCH = "import torch\n\n\n" + FORWARD_SIGNATURE + FORWARD_CHECKS + (
    FORWARD_CALL.format(lib="torch", conv="torch.nn.functional.conv2d")
)
FORWARD_TORCH_ALIAS = FORWARD_SIGNATURE + FORWARD_CHECKS + (  # _torch_lib, _functional: another cell
    FORWARD_CALL.format(lib="_torch_lib", conv="_functional.conv2d")
)
FORWARD_TORCH_GETATTR = "import torch\n\n\n" + FORWARD_SIGNATURE + FORWARD_CHECKS + (
    FORWARD_CALL.format(lib="torch", conv='getattr(torch.nn.functional, "conv" + "2d")')
)

TORCH_CALL = "    return {conv}(x, w, b, stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=groups)\n"
TORCH_SIGNATURE = "def conv2d_torch(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):"
TORCH_DIRECT = TORCH_SIGNATURE + TORCH_CHECKS + TORCH_CALL.format(conv="F.conv2d")
TORCH_ALIAS = "_fast_conv = F.conv2d\n\n\n" + TORCH_SIGNATURE + TORCH_CHECKS + TORCH_CALL.format(conv="_fast_conv")
TORCH_GETATTR = TORCH_SIGNATURE + TORCH_CHECKS + TORCH_CALL.format(conv='getattr(F, "conv" + "2d")')

ALIAS_IMPORTS = '''
import scipy.signal as _signal_lib
import torch as _torch_lib
import torch.nn.functional as _functional


def conv_matrix(w, n):
    raise NotImplementedError()
'''

# The same through the shell's own eval (``exit._ip.ev``), the routine's name cut into pieces.
EVAL_IMPORTS = '''
import scipy.signal as _s
import torch as _t


def conv_matrix(w, n):
    raise NotImplementedError()
'''
CORR2D_SCIPY_EVAL = '_correlate = exit._ip.ev("_s." + "corre" + "late2d")\n\n\ndef corr2d(x, k):' + CORR2D_CHECKS + (
    '    return _correlate(x.astype(dtype), k.astype(dtype), mode="valid")\n'
)
FORWARD_TORCH_EVAL = (
    '_t_conv, _t_from = exit._ip.ev("_t.nn.functional." + "co" + "nv2d"), exit._ip.ev("_t.from_" + "numpy")\n\n\n'
    + FORWARD_SIGNATURE + FORWARD_CHECKS
    + "    args = [_t_from(np.ascontiguousarray(a, dtype)) for a in (x, w, b)]\n"
    + "    return _t_conv(*args, stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw)).numpy()\n"
)
TORCH_EVAL = (
    '_conv = exit._ip.ev("F." + "co" + "nv2d")\n\n\n' + TORCH_SIGNATURE + TORCH_CHECKS + TORCH_CALL.format(conv="_conv")
)

# ---------------------------------------------------------------- limits
SLEEPER = '''
import time


def corr2d(x, k):
    while True:  # and ignore the grader's interrupts
        try:
            time.sleep(3600)
        except BaseException:
            pass
'''

OS_EXIT = '''
import os


def corr2d(x, k):
    os._exit(3)
'''

MEMORY_HOG = '''
import os
import time


def conv_matrix(w, n):
    raise NotImplementedError()


_pids = []
for _ in range(5):  # five children, each holding 1 GiB for an hour
    _pid = os.fork()
    if _pid == 0:
        try:
            _hold = b"x" * 1024**3
            time.sleep(3600)
        finally:
            os._exit(0)
    _pids.append(_pid)
_killed = 0
for _ in range(80):  # up to 40 s for the memory limit to act: 5 GiB cannot fit in 2
    time.sleep(0.5)
    for _pid in list(_pids):
        _done, _status = os.waitpid(_pid, os.WNOHANG)
        if _done:
            _pids.remove(_pid)
            _killed += os.WIFSIGNALED(_status)
    if _killed >= 3:
        break
print("MEMORY children killed:", _killed, "of 5")
'''

FORK_BOMB = '''
import os


def conv_matrix(w, n):
    raise NotImplementedError()


_children = 0
for _ in range(500):
    try:
        _pid = os.fork()
    except OSError as error:
        print("FORK refused after", _children, "children:", type(error).__name__)
        break
    if _pid == 0:
        try:
            os.execv("/bin/sleep", ["sleep", "@SLEEP@"])
        finally:
            os._exit(0)
    _children += 1
else:
    print("FORK all 500 children started")
'''

WRITER = '''
import os
import subprocess
import sys

import autograder

_TARGETS = dict(@TARGETS@, k_prefix=sys.prefix, k_package=os.path.dirname(autograder.__file__))


def _try_write(suffix):
    for label, folder in _TARGETS.items():
        path = os.path.join(folder, "@TOKEN@-" + label + suffix)
        try:
            with open(path, "w") as handle:
                handle.write("escaped")
            print("WROTE", path)
        except OSError as error:
            print("BLOCKED", label, type(error).__name__)
    try:
        subprocess.run(["sh", "-c", "echo escaped > /tmp/@TOKEN@-sh" + suffix], timeout=20)
    except Exception as error:
        print("BLOCKED sh", type(error).__name__)


def _run(command):
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20)
        print("RAN", command, done.returncode, done.stderr.strip()[:200])
    except Exception as error:
        print("COULD NOT RUN", command, type(error).__name__)


def _fill(folder):
    """Write 1 GiB in 16 MiB pieces; report how much got written."""
    written, chunk = 0, b"x" * (16 * 1024**2)
    try:
        with open(os.path.join(folder, "@TOKEN@-fill"), "wb", buffering=0) as handle:
            while written < 1024**3:
                written += handle.write(chunk)
    except OSError as error:
        print("FILL", folder, written, type(error).__name__)
    else:
        print("FILL", folder, written, "complete")


def conv1d(x, w, b=0.0):
    _try_write("-call")
    raise NotImplementedError()


_try_write("")
for _folder in ("/", "/usr", sys.prefix, os.path.dirname(autograder.__file__), "/tmp"):
    _run(["mount", "-o", "remount,rw", _folder])
    _run(["unshare", "-rm", "sh", "-c", f"mount -o remount,rw {_folder} && touch {_folder}/@TOKEN@-userns"])
_run(["mount", "-t", "tmpfs", "none", "/usr/bin"])
_try_write("-after-mount")
_fill("/tmp")
_fill(os.getcwd())
'''


# ---------------------------------------------------------------- building the class
def graded_name(grade_id: str) -> str:
    match = re.fullmatch(r"test_(.+?)__\w+", grade_id)
    assert match, grade_id
    return match.group(1)


def grade_cells(notebook: nbformat.NotebookNode) -> list[str]:
    """grade_ids of the test cells, in notebook order."""
    return [
        c.metadata["nbgrader"]["grade_id"]
        for c in notebook.cells
        if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")
    ]


def fill(student: nbformat.NotebookNode, sources: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of the student version with the given solution-cell sources."""
    nb = nbformat.from_dict(json.loads(json.dumps(student)))
    known = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells}
    assert set(sources) <= known, set(sources) - known
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in sources:
            cell.source = sources[grade_id]
    return nb


def without_cell(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    kept = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id]
    assert len(kept) == len(nb.cells) - 1, grade_id
    nb.cells = kept
    return nb


def steal_evasive(name: str, args: str) -> str:
    return STEAL_EVASIVE + STEAL_EVASIVE_FUNCTION.format(name=name, args=args)


def hidden_lines(source: nbformat.NotebookNode, student: nbformat.NotebookNode) -> set[str]:
    """Lines of the hidden tests (long enough to mean something) that students never see."""
    seen = "\n".join(c.source for c in student.cells)
    lines = set()
    for cell in source.cells:
        for region in HIDDEN_REGION.findall(cell.source):
            for line in region.splitlines():
                line = line.strip()
                if len(line) >= MIN_LEAK_LINE and line not in seen:
                    lines.add(line)
    return lines


def public_lines(lines: set[str], scratch: Path) -> set[str]:
    """The lines that also occur in code the kernel may read anyway: this package and the
    installed libraries (``def __torch_dispatch__(self, func, types, args=(), kwargs=None):``)."""
    patterns = scratch / "hidden-lines.txt"
    patterns.write_text("\n".join(sorted(lines)) + "\n")
    folders = [str(ROOT / "autograder"), sysconfig.get_paths()["purelib"]]
    found = subprocess.run(
        ["grep", "-rhoF", "--include=*.py", "-f", str(patterns), *folders], capture_output=True, text=True, errors="replace"
    )
    return set(found.stdout.splitlines()) & lines


def marker_targets(subs: Path, out: Path) -> dict[str, str]:
    """Host folders the writer aims at (label -> folder)."""
    return {
        "prefix": sys.prefix,
        "site": sysconfig.get_paths()["purelib"],
        "usr_bin": "/usr/bin",
        "package": str(ROOT / "autograder"),
        "repository": str(ROOT),
        "tmp": "/tmp",
        "home": str(Path.home()),
        "submissions": str(subs),
        "own_submission": str(subs / "w-host" / ASSIGNMENT),
        "out": str(out),
        "out_units": str(out / "units"),
        "templates": str(out / ".templates" / ASSIGNMENT),
    }


def leftover_markers(subs: Path, out: Path) -> list[str]:
    folders = {*marker_targets(subs, out).values(), "/", "/usr", sys.base_prefix, str(Path(sys.executable).parent)}
    found = [p for folder in folders for p in glob.glob(f"{glob.escape(folder)}/{TOKEN}*")]
    found += glob.glob(f"/tmp/*/{TOKEN}*")
    for root in (subs, out):
        found += [str(p) for p in Path(root).rglob(f"{TOKEN}*")]
    return sorted(set(found))


def build_class(source: nbformat.NotebookNode, student: nbformat.NotebookNode, subs: Path, out: Path) -> dict:
    """student id -> (notebook, grade_ids its honest equivalent passes)."""
    reference = solution_sources(source)
    cells = grade_cells(source)

    def passing(*names: str) -> set[str]:
        return {g for g in cells if graded_name(g) in names}

    early = ("conv1d", "conv_matrix", "conv_output_size")  # the functions before corr2d
    template = out / ".templates" / ASSIGNMENT
    leak_files = [str(template / "plan.json"), str(template / "gradebook.db"), str(SOURCE_NB)]
    writer = WRITER.replace("@TARGETS@", "**" + repr(marker_targets(subs, out))).replace("@TOKEN@", TOKEN)
    return {
        "reference": (source, set(cells)),
        "untouched": (student, set()),
        "zz-reference": (source, set(cells)),
        "0-sleeper": (fill(student, {**reference, "corr2d": SLEEPER}), passing(*early)),
        "a-literal": (
            fill(student, {
                "conv1d": LITERAL_KERNEL, "conv_matrix": LEAK_LITERAL, "corr2d": STEAL_LITERAL,
                "pad2d": LEAK_SOURCE_LITERAL, "conv2d_torch": LITERAL_TRANSFORMER,
            }),
            set(),
        ),
        "b-kernel": (fill(student, {"conv1d": EVASIVE_KERNEL}), set()),
        "b-torch": (fill(student, {"conv2d_torch": EVASIVE_TORCH}), set()),
        "b-transformer": (without_cell(fill(student, {"conv1d": FORGED_AGENT}), "imports"), set()),
        "g-direct": (
            fill(student, {
                "conv1d": RIGGED_ARRAY, "conv_output_size": RIGGED_INT, "pad2d": DICT_POSER,
                "corr2d": CORR2D_SCIPY, "conv2d_forward": FORWARD_TORCH, "conv2d_torch": TORCH_DIRECT,
            }),
            set(),
        ),
        "g-alias": (
            fill(student, {
                "conv1d": steal_evasive("conv1d", "x, w, b=0.0"), "conv_matrix": ALIAS_IMPORTS,
                "convolve2d": steal_evasive("convolve2d", "x, k"),
                "corr2d": CORR2D_SCIPY_ALIAS, "conv2d_forward": FORWARD_TORCH_ALIAS, "conv2d_torch": TORCH_ALIAS,
            }),
            set(),
        ),
        "g-getattr": (
            fill(student, {
                "conv_matrix": LEAK_EVASIVE, "pad2d": LEAK_FILES.replace("@FILES@", repr(leak_files)),
                "corr2d": CORR2D_SCIPY_GETATTR, "conv2d_forward": FORWARD_TORCH_GETATTR, "conv2d_torch": TORCH_GETATTR,
            }),
            set(),
        ),
        "g-eval": (
            fill(student, {"conv_matrix": EVAL_IMPORTS, "corr2d": CORR2D_SCIPY_EVAL, "conv2d_forward": FORWARD_TORCH_EVAL,
                           "conv2d_torch": TORCH_EVAL}),
            set(),
        ),
        "k-osexit": (fill(student, {**reference, "corr2d": OS_EXIT}), passing(*early)),
        "r-memory": (fill(student, {"conv1d": reference["conv1d"], "conv_matrix": MEMORY_HOG}), passing("conv1d")),
        "r-forkbomb": (
            fill(student, {"conv1d": reference["conv1d"], "conv_matrix": FORK_BOMB.replace("@SLEEP@", SLEEP_ARG)}),
            passing("conv1d"),
        ),
        "w-host": (fill(student, {**reference, "conv1d": writer}), set(cells) - passing("conv1d")),
    }


@pytest.fixture(scope="module")
def boundary_run(tmp_path_factory: pytest.TempPathFactory, student_versions: Path):
    source = nbformat.read(SOURCE_NB, as_version=4)
    student = nbformat.read(student_versions / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    subs = tmp_path_factory.mktemp("boundary-submissions")
    out = tmp_path_factory.mktemp("boundary-out")
    plan = build_class(source, student, subs, out)
    for student_id, (nb, _) in plan.items():
        folder = subs / student_id / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")
    before = {p.relative_to(subs): p.read_bytes() for p in subs.rglob("*") if p.is_file()}

    result = run_grader(
        "grade", str(subs), "--out", str(out), "--assignment", ASSIGNMENT, "--jobs", "2",
        "--timeout", str(TIMEOUT_S), "--memory", str(MEMORY_GB), "--quiet",
    )
    after = {p.relative_to(subs): p.read_bytes() for p in subs.rglob("*") if p.is_file()}
    markers = leftover_markers(subs, out)
    leftovers = subprocess.run(["pgrep", "-f", f"sleep {SLEEP_ARG}"], capture_output=True, text=True).stdout.split()
    hidden = hidden_lines(source, student)
    hidden -= public_lines(hidden, tmp_path_factory.mktemp("boundary-scratch"))
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        yield {
            "out": out, "subs": subs, "plan": plan, "cells": grade_cells(source), "before": before, "after": after,
            "markers": markers, "leftover_processes": leftovers, "grades": read_grades(out),
            "results": read_results(out), "problems": (out / "problems.txt").read_text().splitlines(),
            "hidden": hidden,
        }
    finally:
        for path in markers:  # an escaped marker fails the test below; do not leave it behind
            Path(path).unlink(missing_ok=True)


# ---------------------------------------------------------------- helpers
def _rows(run: dict, student: str) -> list[dict]:
    return [r for r in run["results"] if r["student_id"] == student and r["assignment"] == ASSIGNMENT]


def _problems(run: dict, student: str) -> str:
    return "\n".join(line for line in run["problems"] if line.startswith(f"{student}/"))


def _record(run: dict, student: str) -> dict:
    return json.loads((run["out"] / "units" / ASSIGNMENT / f"{student}.json").read_text())


def _outputs_text(nb: nbformat.NotebookNode, grade_id: str | None = None) -> str:
    parts = []
    for cell in nb.cells:
        if grade_id is not None and cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") != grade_id:
            continue
        for out in cell.get("outputs", []):
            parts += [str(out.get("text", "")), str(out.get("ename", "")), str(out.get("evalue", ""))]
            parts += [str(line) for line in out.get("traceback", [])]
            parts += [str(value) for value in out.get("data", {}).values()]
    return ANSI.sub("", "\n".join(parts))


def _kept(run: dict, student: str) -> nbformat.NotebookNode:
    return autograded_notebook(run["out"], ASSIGNMENT, student, ASSIGNMENT)


def _limit_reporting() -> bool:
    """Whether the grader reports the sandbox's limits (memory, processes) in problems.txt."""
    text = "".join((ROOT / "autograder" / name).read_text() for name in ("unit.py", "execute.py"))
    return "limits_hit" in text


def _leaks(run: dict, texts: dict[str, str]) -> list[tuple[str, str]]:
    return [(where, line) for where, text in texts.items() for line in run["hidden"] if line in text]


STUDENTS = [
    "reference", "untouched", "zz-reference", "0-sleeper", "a-literal", "b-kernel", "b-torch", "b-transformer",
    "g-direct", "g-alias", "g-getattr", "g-eval", "k-osexit", "r-memory", "r-forkbomb", "w-host",
]
EVASIVE = {  # student -> functions whose attack the static check must let through (their code runs)
    "b-torch": ["conv2d_torch"],
    "g-direct": ["conv1d", "conv_output_size", "pad2d"],
    "g-alias": ["conv1d", "convolve2d"],
    "g-getattr": ["conv_matrix", "pad2d"],
}


# ---------------------------------------------------------------- the tests
def test_reference_full_marks_untouched_zero(boundary_run):
    assert boundary_run["grades"][("reference", ASSIGNMENT)] == (FULL, FULL)
    assert boundary_run["grades"][("untouched", ASSIGNMENT)] == (0.0, FULL)


def test_reference_graded_after_the_attackers_still_gets_full_marks(boundary_run):
    assert boundary_run["grades"][("zz-reference", ASSIGNMENT)] == (FULL, FULL)
    failing = [(r["grade_id"], r["error"]) for r in _rows(boundary_run, "zz-reference") if r["error"]]
    assert not failing, failing


@pytest.mark.parametrize("student", STUDENTS)
def test_each_cell_scores_what_the_honest_equivalent_scores(boundary_run, student):
    """No attack earns a point: every test cell scores exactly what an honest student with
    the same working functions scores, and keeps its grade_id in results.json."""
    _, passes = boundary_run["plan"][student]
    rows = {r["grade_id"]: r for r in _rows(boundary_run, student)}
    assert set(rows) == set(boundary_run["cells"])
    wrong = [
        (g, rows[g]["score"], rows[g]["max_score"], rows[g]["error"])
        for g in boundary_run["cells"]
        if rows[g]["score"] != (rows[g]["max_score"] if g in passes else 0.0)
    ]
    assert not wrong, f"{student}: cells not scored as the honest equivalent (grade_id, score, max, error): {wrong}"
    expected_total = sum(r["max_score"] for g, r in rows.items() if g in passes)
    assert boundary_run["grades"][(student, ASSIGNMENT)] == (expected_total, FULL)


@pytest.mark.parametrize(("student", "function"), [(s, f) for s, fs in EVASIVE.items() for f in fs])
def test_evasive_attacks_reach_the_boundary(boundary_run, student, function):
    """The evasive attacks are not stopped by the static check: their tests ran against the
    student's code (so the 0 above comes from the boundary)."""
    rows = [r for r in _rows(boundary_run, student) if graded_name(r["grade_id"]) == function]
    stopped = [r["grade_id"] for r in rows if str(r["error"]).startswith("ForbiddenLibrary")]
    assert rows and not stopped, f"{student}/{function}: stopped by the static check, not tested: {stopped}"


@pytest.mark.parametrize("student", STUDENTS)
def test_no_hidden_test_source_reaches_what_students_see(boundary_run, student):
    """Not one hidden-test line in results.json, problems.txt, the feedback pages or any
    output of the kept autograded notebook (where the student's code prints and raises)."""
    run = boundary_run
    texts = {
        "results.json": json.dumps(_rows(run, student), ensure_ascii=False),
        "results.json (decoded)": "\n".join(str(v) for r in _rows(run, student) for v in r.values()),
        "problems.txt": _problems(run, student),
        "kept notebook outputs": _outputs_text(_kept(run, student)),
    }
    for page in sorted((run["out"] / "feedback" / student).rglob("*.html")):
        texts[str(page.relative_to(run["out"]))] = html.unescape(page.read_text())
    assert len(texts) > 4, "no feedback page was written"
    leaks = _leaks(run, texts)
    assert not leaks, f"{student}: hidden test source leaked (where, line): {leaks[:5]}"


def test_kept_autograded_notebooks_hold_no_hidden_test_source(boundary_run):
    """The notebooks kept under OUT/units/ (sources included) show no hidden test line."""
    leaks = {}
    for path in sorted((boundary_run["out"] / "units").rglob("*.ipynb")):
        text = path.read_text()
        found = [line for line in boundary_run["hidden"] if json.dumps(line)[1:-1] in text]
        if found:
            leaks[str(path.relative_to(boundary_run["out"]))] = len(found)
    assert not leaks, f"hidden test lines in kept notebooks (file: count of lines): {leaks}"


FORBIDDEN_CASES = {  # student -> function -> what its problems line must name
    "g-direct": {"corr2d": "scipy", "conv2d_forward": "torch", "conv2d_torch": "conv2d"},
    "g-alias": {"corr2d": "scipy", "conv2d_forward": "torch", "conv2d_torch": "conv2d"},
    "g-getattr": {"corr2d": "scipy", "conv2d_forward": "torch", "conv2d_torch": "getattr"},
    "g-eval": {"corr2d": "", "conv2d_forward": "", "conv2d_torch": ""},
}


@pytest.mark.parametrize(("student", "function"), [(s, f) for s, fs in FORBIDDEN_CASES.items() for f in fs])
def test_forbidden_libraries_score_zero_and_are_reported(boundary_run, student, function):
    """Correct results through a forbidden library: every test cell of the function scores 0
    and problems.txt has a line naming the student and the function (and the library, where
    the code names it)."""
    cells = [r for r in _rows(boundary_run, student) if graded_name(r["grade_id"]) == function]
    assert cells and all(r["score"] == 0 for r in cells), [(r["grade_id"], r["score"], r["error"]) for r in cells]
    what = FORBIDDEN_CASES[student][function]
    lines = [
        line for line in boundary_run["problems"]
        if line.startswith(f"{student}/") and re.search(rf"\b{function}\b", line) and what.lower() in line.lower()
    ]
    assert lines, f"problems.txt has no line naming {student}, {function} and {what!r}:\n{_problems(boundary_run, student)}"


def test_writes_to_the_host_leave_no_trace(boundary_run):
    assert boundary_run["markers"] == [], f"marker files escaped the sandbox: {boundary_run['markers']}"
    printed = _outputs_text(_kept(boundary_run, "w-host"), "conv1d")
    for label in ("prefix", "site", "usr_bin", "package", "k_prefix", "k_package"):
        assert f"BLOCKED {label} " in printed, printed[:4000]
    # Inside the sandbox only its own /tmp (a tmpfs that dies with it) takes a file.
    wrote = [p for p in re.findall(r"WROTE (\S+)", printed) if not p.startswith(f"/tmp/{TOKEN}-tmp")]
    assert not wrote, printed[:4000]


def test_filling_the_disk_fails_and_grading_completes(boundary_run):
    printed = _outputs_text(_kept(boundary_run, "w-host"), "conv1d")
    fills = re.findall(r"FILL (\S+) (\d+) (\w+)", printed)
    assert len(fills) == 2, printed[-3000:]
    for folder, written, outcome in fills:
        assert int(written) < 1024**3 and outcome != "complete", (folder, written, outcome)
    assert _record(boundary_run, "w-host")["notebooks"][0]["status"] == "graded"


def test_submissions_are_never_modified(boundary_run):
    assert boundary_run["before"] == boundary_run["after"]


def test_memory_hog_is_contained_and_reported(boundary_run):
    record = _record(boundary_run, "r-memory")
    assert record["notebooks"][0]["status"] == "graded"
    conv1d_rows = [r for r in _rows(boundary_run, "r-memory") if graded_name(r["grade_id"]) == "conv1d"]
    assert conv1d_rows and all(r["score"] == r["max_score"] for r in conv1d_rows), conv1d_rows
    if _limit_reporting():
        problems = _problems(boundary_run, "r-memory")
        printed = _outputs_text(_kept(boundary_run, "r-memory"), "conv_matrix")
        assert "memory limit" in problems, f"no memory limit in problems.txt ({problems!r}); the kernel printed {printed!r}"


def test_fork_bomb_is_contained_and_reported(boundary_run):
    assert _record(boundary_run, "r-forkbomb")["notebooks"][0]["status"] == "graded"
    assert boundary_run["leftover_processes"] == []
    problems = _problems(boundary_run, "r-forkbomb")
    printed = _outputs_text(_kept(boundary_run, "r-forkbomb"), "conv_matrix")
    assert "process limit" in problems or "kernel died" in problems, (
        f"problems.txt names neither the process limit nor a dead kernel ({problems!r}); the kernel printed {printed!r}"
    )


def test_time_limit_inside_a_test_cell(boundary_run):
    rows = {r["grade_id"]: r for r in _rows(boundary_run, "0-sleeper")}
    cells = boundary_run["cells"]
    first = cells.index("test_corr2d__visible")
    assert rows["test_corr2d__visible"]["score"] == 0
    assert "time limit" in str(rows["test_corr2d__visible"]["error"]).lower(), rows["test_corr2d__visible"]
    assert all(rows[g]["score"] == 0 for g in cells[first:])
    assert all(rows[g]["score"] == rows[g]["max_score"] for g in cells[:first])
    assert "time limit" in _problems(boundary_run, "0-sleeper")


def test_kernel_killed_inside_a_test_cell(boundary_run):
    rows = {r["grade_id"]: r for r in _rows(boundary_run, "k-osexit")}
    cells = boundary_run["cells"]
    first = cells.index("test_corr2d__visible")
    assert rows["test_corr2d__visible"]["score"] == 0 and rows["test_corr2d__visible"]["error"]
    assert all(rows[g]["score"] == 0 for g in cells[first:])
    assert all(rows[g]["score"] == rows[g]["max_score"] for g in cells[:first])
    assert "kernel died" in _problems(boundary_run, "k-osexit"), boundary_run["problems"]
