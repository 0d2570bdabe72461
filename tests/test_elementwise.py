import numpy as np
import pytest
import torch

import convnet
from convnet import ops
from conftest import requires_cuda
from opcheck import assert_raises, check_finite_differences, compare_with_torch


@pytest.mark.parametrize("shape", [(1,), (3, 5), (2, 3, 7, 5)])
def test_add_matches_torch(rng, shape):
    a = rng.standard_normal(shape).astype(np.float32)
    b = rng.standard_normal(shape).astype(np.float32)
    compare_with_torch(ops.add, ops.add_backward, torch.add, [a, b], n_diff=2)
    check_finite_differences(ops.add, ops.add_backward, [a, b], n_diff=2)


def test_add_errors(rng):
    a = np.zeros((2, 3), np.float32)
    assert_raises(ValueError, ["add", "'b'", "(2, 3)", "(3, 2)"], ops.add, a, np.zeros((3, 2), np.float32))
    assert_raises(ValueError, ["add", "'a'", "non-empty"], ops.add, np.zeros((0, 3)), np.zeros((0, 3)))
    assert_raises(TypeError, ["add", "'b'", "float32", "int64"], ops.add, a, convnet.tensor(a, dtype="int64"))
    assert_raises(TypeError, ["add", "'a'", "numeric", "<U4"], ops.add, "text", a)
    assert_raises(TypeError, ["add", "'a'", "numeric", "object"], ops.add, object(), a)
    assert_raises(ValueError, ["add", "'a'", "None"], ops.add, None, a)
    assert_raises(ValueError, ["add_backward", "grad_out"], ops.add_backward, np.zeros((2, 2)), a, a)


@requires_cuda
def test_add_and_flatten_cuda_match_cpu(rng):
    a = rng.standard_normal((2, 3, 7, 5)).astype(np.float32)
    b = rng.standard_normal((2, 3, 7, 5)).astype(np.float32)
    ag, bg = convnet.tensor(a, device="cuda"), convnet.tensor(b, device="cuda")
    np.testing.assert_array_equal(ops.add(ag, bg).numpy(), a + b)
    da, db = ops.add_backward(ag, ag, bg)
    np.testing.assert_array_equal(da.numpy(), a)
    np.testing.assert_array_equal(db.numpy(), a)
    flat = ops.flatten(ag)
    assert flat.device == "cuda:0" and flat.shape == (2, 105)
    np.testing.assert_array_equal(flat.numpy(), a.reshape(2, 105))
