"""The trusted helpers hidden tests rely on."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from autograder import checks


def test_assert_array_accepts_close_values_of_either_float_dtype():
    x = np.random.default_rng(0).normal(size=(3, 4))
    checks.assert_array(x + 1e-12, x, name="x")
    checks.assert_array((x + 1e-6).astype(np.float32), x, name="x32")


def test_assert_array_names_shape_errors_and_off_by_one():
    with pytest.raises(AssertionError, match=r"expected shape \(4, 4\), got \(3, 4\).*off by one"):
        checks.assert_array(np.zeros((3, 4)), np.zeros((4, 4)), name="out")


def test_assert_array_diagnoses_a_known_mistake():
    expected, flipped = np.arange(4.0), np.arange(4.0)[::-1]
    with pytest.raises(AssertionError, match="Likely mistake: the kernel is flipped"):
        checks.assert_array(flipped.copy(), expected, name="corr", hints={"the kernel is flipped": flipped})


def test_assert_array_refuses_subclasses_and_lists():
    class Always(np.ndarray):
        def __eq__(self, other):
            return True

    with pytest.raises(AssertionError, match=r"numpy\.ndarray"):
        checks.assert_array(np.zeros(3).view(Always), np.ones(3), name="x")
    with pytest.raises(AssertionError, match=r"numpy\.ndarray"):
        checks.assert_array([1.0, 2.0], np.array([1.0, 2.0]), name="x")


def test_checks_survive_monkeypatched_comparisons(monkeypatch):
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    monkeypatch.setattr(np, "isclose", lambda *a, **k: np.ones(np.shape(a[0]), bool))
    monkeypatch.setattr(math, "isclose", lambda *a, **k: True)
    monkeypatch.setattr(torch, "allclose", lambda *a, **k: True)
    with pytest.raises(AssertionError):
        checks.assert_array(np.zeros(3), np.ones(3), name="x")
    with pytest.raises(AssertionError):
        checks.assert_float(0.0, 1.0, name="f")
    with pytest.raises(AssertionError):
        checks.assert_tensor(torch.zeros(3), torch.ones(3), name="t")


def test_assert_tensor_checks_device_and_dtype():
    with pytest.raises(AssertionError, match="dtype"):
        checks.assert_tensor(torch.zeros(2, dtype=torch.float32), torch.zeros(2, dtype=torch.float64), name="t")
    meta = torch.empty(2, device="meta")
    with pytest.raises(AssertionError, match="is on cpu"):
        checks.assert_tensor(torch.zeros(2), meta, name="t")
    checks.assert_tensor(torch.ones(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64), name="t")


def test_assert_int_and_value_error():
    checks.assert_int(np.int64(7), 7, name="n")
    with pytest.raises(AssertionError, match="Likely mistake: off by one"):
        checks.assert_int(6, 7, name="n", hints={"off by one": 6})
    with pytest.raises(AssertionError, match="expected an int"):
        checks.assert_int(True, 1, name="n")
    checks.assert_value_error(int, "x", what="bad int")
    with pytest.raises(AssertionError, match="nothing was raised"):
        checks.assert_value_error(int, "3", what="good int")
    with pytest.raises(AssertionError, match="got TypeError"):
        checks.assert_value_error(len, 3, what="len of int")


def test_unchanged_and_numerical_gradient():
    x = np.arange(6.0).reshape(2, 3)
    before = checks.snapshot(x)
    checks.assert_unchanged(before, x, name="x")
    x[0, 0] = 10
    with pytest.raises(AssertionError, match="modified in place"):
        checks.assert_unchanged(before, x, name="x")
    dout = np.ones((2, 3))
    grad = checks.numerical_gradient(lambda v: v**2, x, dout)
    assert checks.relative_error(grad, 2 * x) < 1e-7
