"""dropout (inverted, mask from a counter-based hash of (seed, i)) and flatten."""
import numpy as np
import pytest
import torch

import convnet
from conftest import requires_cuda
from convnet import ops
from opcheck import assert_close, assert_raises, check_finite_differences, compare_with_torch


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_mask_statistics(p):
    x = np.ones(200_000, np.float32)
    y = np.asarray(ops.dropout(x, p, seed=7))
    kept = y != 0
    # Kept fraction ~ Binomial(n, 1-p) / n: 5 standard deviations of slack.
    sd = np.sqrt(p * (1 - p) / x.size)
    assert abs(kept.mean() - (1 - p)) < 5 * sd
    np.testing.assert_allclose(y[kept], np.float32(1) / np.float32(1 - p), rtol=1e-6)
    assert abs(y.mean() - 1.0) < 5 * sd / (1 - p)  # inverted dropout keeps the expectation


def test_dropout_same_seed_same_mask_and_seeds_differ(rng):
    x = rng.standard_normal((3, 4, 5, 7)).astype(np.float32)
    a = np.asarray(ops.dropout(x, 0.5, seed=3))
    b = np.asarray(ops.dropout(x, 0.5, seed=3))
    c = np.asarray(ops.dropout(x, 0.5, seed=4))
    np.testing.assert_array_equal(a, b)
    assert (a != c).mean() > 0.3
    # Nearby seeds are not shifted copies of each other's streams.
    m = [np.asarray(ops.dropout(np.ones(4096, np.float32), 0.5, seed=s)) != 0 for s in range(4)]
    for i in range(4):
        for j in range(i + 1, 4):
            assert 0.4 < (m[i] == m[j]).mean() < 0.6
            assert 0.4 < (m[i][1:] == m[j][:-1]).mean() < 0.6
    # A seed above 2**63 works too.
    assert np.asarray(ops.dropout(x, 0.5, seed=2**64 - 1)).shape == x.shape


def test_dropout_backward_uses_the_same_mask(rng):
    x = rng.standard_normal((5, 9)).astype(np.float32)
    g = rng.standard_normal((5, 9)).astype(np.float32)
    p = 0.3
    y = np.asarray(ops.dropout(x, p, seed=11))
    dx = np.asarray(ops.dropout_backward(g, x, p, seed=11))
    mask = y != 0
    np.testing.assert_array_equal(dx != 0, mask)
    np.testing.assert_allclose(dx, g * mask / np.float32(1 - p), rtol=1e-6)
    # It is the gradient of the forward pass: compare with torch using the same mask.
    mask64 = torch.tensor(mask, dtype=torch.float64)
    compare_with_torch(lambda x: ops.dropout(x, p, seed=11), lambda g, x: ops.dropout_backward(g, x, p, seed=11),
                       lambda x: x * mask64 / (1 - p), [x], n_diff=1)
    check_finite_differences(lambda x: ops.dropout(x, p, seed=11),
                             lambda g, x: ops.dropout_backward(g, x, p, seed=11), [x], n_diff=1)


def test_dropout_p0_is_identity(rng):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(ops.dropout(x, 0.0, seed=5)), x)
    np.testing.assert_array_equal(np.asarray(ops.dropout_backward(x, x, 0.0, seed=5)), x)


def test_dropout_errors():
    x = np.zeros((2, 3), np.float32)
    assert_raises(ValueError, ["dropout", "'p'", "[0, 1)", "1.0"], ops.dropout, x, 1.0)
    assert_raises(ValueError, ["dropout", "'p'", "[0, 1)", "-0.1"], ops.dropout, x, -0.1)
    assert_raises(ValueError, ["dropout", "'p'", "nan"], ops.dropout, x, float("nan"))
    assert_raises(ValueError, ["dropout", "'seed'", "[0, 2**64)", "-1"], ops.dropout, x, 0.5, -1)
    assert_raises(TypeError, ["dropout", "'seed'", "an int", "1.5"], ops.dropout, x, 0.5, 1.5)
    assert_raises(TypeError, ["dropout", "'x'", "numeric"], ops.dropout, "text")
    assert_raises(TypeError, ["dropout", "'x'", "float32", "int64"], ops.dropout, convnet.tensor(x, dtype="int64"))
    assert_raises(ValueError, ["dropout_backward", "'grad_out'", "(2, 3)", "(3, 2)"], ops.dropout_backward,
                  np.zeros((3, 2), np.float32), x)
    assert_raises(ValueError, ["dropout_backward", "'p'"], ops.dropout_backward, x, x, 1.5)


@pytest.mark.parametrize("shape", [(1, 3), (3, 2, 5, 7), (2, 4, 3)])
def test_flatten(rng, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    compare_with_torch(ops.flatten, ops.flatten_backward, lambda t: torch.flatten(t, 1), [x], n_diff=1)
    y = ops.flatten(x)
    assert y.shape == (shape[0], int(np.prod(shape[1:])))
    assert ops.flatten_backward(np.asarray(y), x).shape == shape
    assert ops.flatten(np.zeros((0, 3, 4), np.float32)).shape == (0, 12)


def test_flatten_errors():
    assert_raises(ValueError, ["flatten", "'x'", "rank >= 1", "0-d"], ops.flatten, np.float32(1.0))
    assert_raises(ValueError, ["flatten_backward", "'grad_out'", "(2, 12)", "(2, 11)"], ops.flatten_backward,
                  np.zeros((2, 11), np.float32), np.zeros((2, 3, 4), np.float32))


@requires_cuda
def test_dropout_gpu_matches_cpu(rng):
    x = rng.standard_normal((4, 3, 9, 7)).astype(np.float32)
    xg = convnet.tensor(x, device="cuda")
    for p in (0.0, 0.25, 0.6):
        assert_close(ops.dropout(xg, p, seed=9).numpy(), np.asarray(ops.dropout(x, p, seed=9)), 0.0)
        assert_close(ops.dropout_backward(xg, xg, p, seed=9).numpy(),
                     np.asarray(ops.dropout_backward(x, x, p, seed=9)), 0.0)
    assert_close(ops.flatten(xg).numpy(), np.asarray(ops.flatten(x)), 0.0)
