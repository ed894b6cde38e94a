"""Comparison helpers for test cells, with messages written for the student.

Test cells run on the grader's side of the boundary (``trusted.py``), never in the
student's kernel: the values compared here came from the kernel as data and were
rebuilt as plain ``np.ndarray`` and ``torch.Tensor`` objects, so student code cannot
reach these functions or what they compare. The same helpers work in a plain notebook
(the instructor's source notebooks run them directly). Every check demands the exact
result type (``np.ndarray`` or ``torch.Tensor``, never a subclass).

Hidden tests use it as::

    from autograder.checks import assert_array, assert_tensor, assert_value_error
    assert_array(corr2d(x, k), expected, name="corr2d(x, k)",
                 hints={"the kernel is flipped (true convolution)": flipped})

The helpers raise ``AssertionError`` with a message for the student's feedback.
"""

from __future__ import annotations

import builtins as _builtins
import math as _math

import numpy as _np

_type = _builtins.type
_isinstance = _builtins.isinstance
_len = _builtins.len
_float = _builtins.float
_int = _builtins.int
_bool = _builtins.bool
_tuple = _builtins.tuple
_repr = _builtins.repr
_str = _builtins.str
_AssertionError = _builtins.AssertionError
_ValueError = _builtins.ValueError
_BaseException = _builtins.BaseException

_ndarray = _np.ndarray
_np_array = _np.array
_abs = _np.absolute
_subtract = _np.subtract
_multiply = _np.multiply
_add = _np.add
_less_equal = _np.less_equal
_isnan = _np.isnan
_isfinite = _np.isfinite
_logical_and = _np.logical_and
_logical_or = _np.logical_or
_equal = _np.equal
_array_equal_all = _np.ndarray.all
_ndarray_max = _np.ndarray.max
_ndarray_copy = _np.ndarray.copy
_ndarray_astype = _np.ndarray.astype
_float64 = _np.float64
_integer = _np.integer
_floating = _np.floating
_isclose_math = _math.isclose

try:  # torch is optional: NumPy-only assignments do not need it.
    import torch as _torch

    _Tensor = _torch.Tensor
    _detach = _torch.Tensor.detach
    _to = _torch.Tensor.to
    _numpy = _torch.Tensor.numpy
    _torch_float64 = _torch.float64
    _cpu_device = _torch.device("cpu")
except ImportError:  # pragma: no cover - depends on the environment
    _torch = None
    _Tensor = None

DEFAULT_TOLERANCES = {"float64": (1e-7, 1e-9), "float32": (1e-4, 1e-5), "float16": (1e-2, 1e-3)}


def _shape_of(value: object) -> object:
    shape = getattr(value, "shape", None)
    return _tuple(shape) if shape is not None else None


def _close_mask(actual: _np.ndarray, expected: _np.ndarray, rtol: float, atol: float) -> _np.ndarray:
    """Element-wise |a - e| <= atol + rtol*|e| with NaNs equal, from trusted ufuncs."""
    diff = _abs(_subtract(actual, expected))
    bound = _add(atol, _multiply(rtol, _abs(expected)))
    close = _less_equal(diff, bound)
    both_nan = _logical_and(_isnan(actual), _isnan(expected))
    same_inf = _logical_and(_equal(actual, expected), ~_isfinite(actual))
    return _logical_or(_logical_or(close, both_nan), same_inf)


def _to_float64(array: _np.ndarray) -> _np.ndarray:
    return _ndarray_astype(_np_array(array, copy=True), _float64)


def _is_close(actual: _np.ndarray, expected: _np.ndarray, rtol: float, atol: float) -> bool:
    if _tuple(actual.shape) != _tuple(expected.shape):
        return False
    return _bool(_array_equal_all(_close_mask(_to_float64(actual), _to_float64(expected), rtol, atol)))


def _max_abs_error(actual: _np.ndarray, expected: _np.ndarray) -> float:
    if actual.size == 0:
        return 0.0
    return _float(_ndarray_max(_abs(_subtract(_to_float64(actual), _to_float64(expected)))))


def _diagnose(actual: _np.ndarray, hints: dict | None, rtol: float, atol: float) -> str:
    """Name the first known mistake whose output the student's result matches."""
    for mistake, wrong_output in (hints or {}).items():
        wrong = _np_array(wrong_output)
        if _is_close(actual, wrong, rtol, atol):
            return f" Likely mistake: {mistake}."
    return ""


def _shape_hint(actual_shape: tuple, expected_shape: tuple) -> str:
    if _len(actual_shape) != _len(expected_shape):
        return " The number of dimensions differs."
    deltas = [a - e for a, e in zip(actual_shape, expected_shape, strict=True)]
    off = [i for i, d in enumerate(deltas) if d != 0]
    if off and all(abs(deltas[i]) == 1 for i in off):
        return f" Axis {off} is off by one: check the output-size formula (the '+ 1')."
    return ""


def _tolerances(dtype_name: str, rtol: float | None, atol: float | None) -> tuple[float, float]:
    default_rtol, default_atol = DEFAULT_TOLERANCES.get(dtype_name, DEFAULT_TOLERANCES["float64"])
    return (default_rtol if rtol is None else rtol, default_atol if atol is None else atol)


def assert_array(
    actual: object,
    expected: object,
    *,
    name: str,
    rtol: float | None = None,
    atol: float | None = None,
    dtype: object = None,
    hints: dict | None = None,
) -> None:
    """Check that ``actual`` is an ``np.ndarray`` equal to ``expected`` within tolerance.

    ``dtype`` (optional) is the exact dtype the result must have. ``hints`` maps a
    description of a classic mistake to the output that mistake produces; a failing
    result that matches one of them gets that description in its message.
    """
    if _type(actual) is not _ndarray:
        raise _AssertionError(f"{name}: expected a numpy.ndarray, got {_type(actual).__name__}.")
    expected = _np_array(expected)
    if dtype is not None and actual.dtype != _np.dtype(dtype):
        raise _AssertionError(f"{name}: expected dtype {_np.dtype(dtype)}, got {actual.dtype}.")
    rtol, atol = _tolerances(_str(actual.dtype), rtol, atol)
    if _tuple(actual.shape) != _tuple(expected.shape):
        raise _AssertionError(
            f"{name}: expected shape {_tuple(expected.shape)}, got {_tuple(actual.shape)}."
            + _shape_hint(_tuple(actual.shape), _tuple(expected.shape))
            + _diagnose(actual, hints, rtol, atol)
        )
    if not _is_close(actual, expected, rtol, atol):
        raise _AssertionError(
            f"{name}: values differ from the expected result "
            f"(largest absolute error {_max_abs_error(actual, expected):.3g})."
            + _diagnose(actual, hints, rtol, atol)
        )


def tensor_to_numpy(tensor: object) -> _np.ndarray:
    """A float64 NumPy copy of a tensor, through methods captured before student code."""
    if _torch is None or _type(tensor) is not _Tensor:
        raise _AssertionError(f"expected a torch.Tensor, got {_type(tensor).__name__}.")
    return _numpy(_to(_detach(tensor), _cpu_device, _torch_float64))


def assert_tensor(
    actual: object,
    expected: object,
    *,
    name: str,
    device: object = None,
    dtype: object = None,
    rtol: float | None = None,
    atol: float | None = None,
    hints: dict | None = None,
) -> None:
    """Check that ``actual`` is a ``torch.Tensor`` on ``device`` with ``dtype`` close to ``expected``.

    ``expected`` may be a tensor or an array. ``device`` and ``dtype`` default to those
    of ``expected`` when it is a tensor: results must stay where their inputs were.
    """
    if _torch is None or _type(actual) is not _Tensor:
        raise _AssertionError(f"{name}: expected a torch.Tensor, got {_type(actual).__name__}.")
    if _type(expected) is _Tensor:
        device = expected.device if device is None else device
        dtype = expected.dtype if dtype is None else dtype
    if device is not None and _torch.device(device).type != actual.device.type:
        raise _AssertionError(
            f"{name}: the result is on {actual.device}, but the inputs were on {device}. "
            "Create new tensors with device=x.device (and dtype=x.dtype); do not call .cpu() or .numpy()."
        )
    if dtype is not None and actual.dtype != dtype:
        raise _AssertionError(
            f"{name}: expected dtype {dtype}, got {actual.dtype}. Keep the input's dtype."
        )
    if actual.device.type == "meta":  # meta tensors carry shapes only
        if _type(expected) is _Tensor and _tuple(actual.shape) != _tuple(expected.shape):
            raise _AssertionError(f"{name}: expected shape {_tuple(expected.shape)}, got {_tuple(actual.shape)}.")
        return
    if _type(expected) is _Tensor:
        expected_np = tensor_to_numpy(expected)
    else:
        expected_np = _np_array(expected, dtype=_float64)
    actual_np = tensor_to_numpy(actual)
    hint_arrays = {m: (tensor_to_numpy(v) if _type(v) is _Tensor else v) for m, v in (hints or {}).items()}
    rtol, atol = _tolerances(_str(actual.dtype).replace("torch.", ""), rtol, atol)
    assert_array(actual_np, expected_np, name=name, rtol=rtol, atol=atol, hints=hint_arrays)


def assert_int(actual: object, expected: int, *, name: str, hints: dict | None = None) -> None:
    """Check that ``actual`` is a Python or NumPy integer equal to ``expected``."""
    if _type(actual) is _bool or not (_isinstance(actual, _int) or _isinstance(actual, _integer)):
        raise _AssertionError(f"{name}: expected an int, got {_type(actual).__name__}.")
    if _int(actual) != _int(expected):
        message = f"{name}: expected {_int(expected)}, got {_int(actual)}."
        for mistake, wrong in (hints or {}).items():
            if _int(actual) == _int(wrong):
                message += f" Likely mistake: {mistake}."
                break
        raise _AssertionError(message)


def assert_float(actual: object, expected: float, *, name: str, rel_tol: float = 1e-9, abs_tol: float = 1e-12) -> None:
    """Check that ``actual`` is a real number (Python or NumPy) close to ``expected``."""
    if _type(actual) is _bool or not (_isinstance(actual, (_int, _float)) or _isinstance(actual, (_integer, _floating))):
        raise _AssertionError(f"{name}: expected a float, got {_type(actual).__name__}.")
    if not _isclose_math(_float(actual), _float(expected), rel_tol=rel_tol, abs_tol=abs_tol):
        raise _AssertionError(f"{name}: expected {_float(expected)!r}, got {_float(actual)!r}.")


def assert_value_error(function: object, *args: object, what: str, **kwargs: object) -> None:
    """Check that ``function(*args, **kwargs)`` raises ``ValueError`` (``what`` names the bad input)."""
    try:
        function(*args, **kwargs)
    except _ValueError as error:
        if not _str(error).strip():
            raise _AssertionError(f"ValueError for {what} has an empty message: say what is wrong.") from None
        return
    except _BaseException as error:
        raise _AssertionError(
            f"{what}: expected ValueError with a clear message, got {_type(error).__name__}: {error}"
        ) from None
    raise _AssertionError(f"{what}: expected ValueError, but nothing was raised.")


def snapshot(value: object) -> object:
    """A private copy of an array or tensor, to check later that it was not modified."""
    if _type(value) is _ndarray:
        return _ndarray_copy(value)
    if _torch is not None and _type(value) is _Tensor:
        return _torch.Tensor.clone(_detach(value))
    raise _AssertionError(f"cannot snapshot {_type(value).__name__}")


def assert_unchanged(before: object, after: object, *, name: str) -> None:
    """Check that an input still equals the snapshot taken before the call."""
    if _torch is not None and _type(after) is _Tensor:
        before_np, after_np = tensor_to_numpy(before), tensor_to_numpy(after)
    else:
        before_np, after_np = before, after
    if _tuple(before_np.shape) != _tuple(after_np.shape) or not _bool(
        _array_equal_all(_logical_or(_equal(before_np, after_np), _logical_and(_isnan(before_np), _isnan(after_np))))
    ):
        raise _AssertionError(f"{name} was modified in place: work on a copy of the input.")


def numerical_gradient(function: object, x: _np.ndarray, dout: _np.ndarray, h: float = 1e-6) -> _np.ndarray:
    """Centred-difference gradient of ``sum(function(x) * dout)`` with respect to ``x`` (float64)."""
    x = _to_float64(x)
    grad = _np.zeros_like(x)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)
    for i in range(flat_x.size):
        old = flat_x[i]
        flat_x[i] = old + h
        plus = _np.sum(_multiply(_np_array(function(x), dtype=_float64), dout))
        flat_x[i] = old - h
        minus = _np.sum(_multiply(_np_array(function(x), dtype=_float64), dout))
        flat_x[i] = old
        flat_grad[i] = (plus - minus) / (2 * h)
    return grad


def relative_error(x: _np.ndarray, y: _np.ndarray) -> float:
    """CS231n's max |x - y| / max(1e-8, |x| + |y|): about 1e-8 or less means equal."""
    x, y = _to_float64(x), _to_float64(y)
    denominator = _np.maximum(1e-8, _add(_abs(x), _abs(y)))
    return _float(_ndarray_max(_abs(_subtract(x, y)) / denominator)) if x.size else 0.0


def exact_float32() -> None:
    """Turn TF32 off: on CUDA, float32 convolutions and matmuls would otherwise round
    to 10-bit mantissas and miss the tolerances of float32 comparisons."""
    if _torch is not None:
        _torch.backends.cudnn.allow_tf32 = False
        _torch.backends.cuda.matmul.allow_tf32 = False


exact_float32()
