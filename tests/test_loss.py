"""cross_entropy against torch.nn.functional.cross_entropy (reduction='mean'); count_correct."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convnet
from conftest import requires_cuda
from convnet import ops
from opcheck import assert_close, assert_raises, check_finite_differences, compare_with_torch


def ce(s):
    return (lambda z, t: ops.cross_entropy(z, t, s)), (lambda g, z, t: ops.cross_entropy_backward(g, z, t, s))


def torch_ce(s):
    return lambda z, t: F.cross_entropy(z, t, label_smoothing=s)


@pytest.mark.parametrize("s", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("N,C", [(1, 10), (7, 3), (33, 10), (5, 1)])
def test_cross_entropy_int_targets(rng, N, C, s):
    z = (rng.standard_normal((N, C)) * 3).astype(np.float32)
    t = rng.integers(0, C, N).astype(np.int64)
    fwd, bwd = ce(s)
    compare_with_torch(fwd, bwd, torch_ce(s), [z, t], n_diff=1)
    check_finite_differences(fwd, bwd, [z, t], n_diff=1)
    loss = fwd(z, t)
    assert loss.shape == () and loss.dtype == "float32"


@pytest.mark.parametrize("s", [0.0, 0.25])
@pytest.mark.parametrize("N,C", [(1, 4), (9, 10)])
def test_cross_entropy_probability_targets(rng, N, C, s):
    z = rng.standard_normal((N, C)).astype(np.float32)
    p = rng.uniform(0, 1, (N, C)).astype(np.float32)
    p /= p.sum(1, keepdims=True)
    fwd, bwd = ce(s)
    compare_with_torch(fwd, bwd, torch_ce(s), [z, p], n_diff=1)
    check_finite_differences(fwd, bwd, [z, p], n_diff=1)
    # One-hot rows give the same as indices; unnormalised rows still match torch's gradient.
    labels = rng.integers(0, C, N)
    onehot = np.eye(C, dtype=np.float32)[labels]
    assert_close(np.asarray(fwd(z, onehot)), np.asarray(fwd(z, labels)), 1e-6)
    assert_close(np.asarray(bwd(1.0, z, onehot)), np.asarray(bwd(1.0, z, labels)), 1e-6)
    compare_with_torch(fwd, bwd, torch_ce(s), [z, p * 1.7], n_diff=1)


def test_cross_entropy_grad_out_forms(rng):
    z = rng.standard_normal((4, 5)).astype(np.float32)
    t = np.array([0, 4, 2, 2])
    g1 = np.asarray(ops.cross_entropy_backward(1.0, z, t))
    for g in (2, 2.0, np.float32(2.0), np.array(2.0, np.float32), np.array([2.0], np.float32),
              convnet.tensor([2.0])):
        assert_close(np.asarray(ops.cross_entropy_backward(g, z, t)), 2 * g1, 1e-6)
    # int32 labels and lists are converted
    assert_close(np.asarray(ops.cross_entropy(z, t.astype(np.int32))), np.asarray(ops.cross_entropy(z, list(t))), 0)


def test_cross_entropy_extreme_logits():
    z = np.array([[1000.0, -1000.0, 0.0], [-1e4, 1e4, 5.0]], np.float32)
    t = np.array([1, 1])
    got = float(np.asarray(ops.cross_entropy(z, t)))
    ref = F.cross_entropy(torch.tensor(z, dtype=torch.float64), torch.tensor(t)).item()
    assert np.isfinite(got) and abs(got - ref) <= 1e-4 * abs(ref)
    assert np.isfinite(np.asarray(ops.cross_entropy_backward(1.0, z, t))).all()


def test_count_correct():
    z = np.array([[0.1, 0.9, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 3.0], [1.0, 1.0, 0.0]], np.float32)
    assert ops.count_correct(z, np.array([1, 0, 1, 0])) == 3  # ties: the first maximum wins
    assert ops.count_correct(z, np.eye(3, dtype=np.float32)[[1, 2, 2, 1]]) == 2


def test_cross_entropy_errors():
    z = np.zeros((3, 4), np.float32)
    assert_raises(ValueError, ["cross_entropy", "'target'", "[0, 4)", "label 4 at index 1"], ops.cross_entropy, z,
                  np.array([0, 4, 1]))
    assert_raises(ValueError, ["cross_entropy", "'target'", "[0, 4)", "label -1 at index 2"], ops.cross_entropy, z,
                  np.array([0, 1, -1]))
    assert_raises(ValueError, ["cross_entropy_backward", "'target'", "label 9 at index 0"],
                  ops.cross_entropy_backward, 1.0, z, np.array([9, 1, 1]))
    assert_raises(ValueError, ["count_correct", "'target'", "label 7 at index 0"], ops.count_correct, z,
                  np.array([7, 1, 1]))
    assert_raises(ValueError, ["cross_entropy", "'target'", "(3,)", "(2,)"], ops.cross_entropy, z, np.array([0, 1]))
    assert_raises(ValueError, ["cross_entropy", "'target'", "(3, 4)", "(3, 5)"], ops.cross_entropy, z,
                  np.zeros((3, 5), np.float32))
    assert_raises(ValueError, ["cross_entropy", "'logits'", "2-D", "3-D"], ops.cross_entropy,
                  np.zeros((3, 4, 1), np.float32), np.array([0, 1, 2]))
    assert_raises(ValueError, ["cross_entropy", "'logits'", "non-empty"], ops.cross_entropy,
                  np.zeros((0, 4), np.float32), np.zeros(0, np.int64))
    assert_raises(ValueError, ["cross_entropy", "'label_smoothing'", "[0, 1]", "1.5"], ops.cross_entropy, z,
                  np.array([0, 1, 2]), 1.5)
    assert_raises(ValueError, ["cross_entropy", "'label_smoothing'", "[0, 1]"], ops.cross_entropy, z,
                  np.array([0, 1, 2]), -0.1)
    assert_raises(TypeError, ["cross_entropy", "'target'", "int64", "bool"], ops.cross_entropy, z,
                  np.array([True, False, True]))
    assert_raises(TypeError, ["cross_entropy", "'target'", "dtype uint8"], ops.cross_entropy, z,
                  convnet.tensor([0, 1, 2], dtype="uint8"))
    assert_raises(ValueError, ["cross_entropy_backward", "'grad_out'", "1-element", "(2,)"],
                  ops.cross_entropy_backward, np.ones(2, np.float32), z, np.array([0, 1, 2]))
    assert_raises(ValueError, ["cross_entropy", "'target'", "None"], ops.cross_entropy, z, None)


@requires_cuda
def test_cross_entropy_gpu_matches_cpu(rng):
    z = rng.standard_normal((37, 10)).astype(np.float32)
    t = rng.integers(0, 10, 37)
    p = np.eye(10, dtype=np.float32)[t] * 0.8 + 0.02
    zg = convnet.tensor(z, device="cuda")
    for target in (t, p):
        tg = convnet.tensor(target, device="cuda")
        assert_close(ops.cross_entropy(zg, tg, 0.1).numpy(), np.asarray(ops.cross_entropy(z, target, 0.1)))
        assert_close(ops.cross_entropy_backward(1.0, zg, tg, 0.1).numpy(),
                     np.asarray(ops.cross_entropy_backward(1.0, z, target, 0.1)))
        assert ops.count_correct(zg, tg) == ops.count_correct(z, target)
    # A bad label on the GPU: NaN loss, zero gradient row, not counted (documented in loss.h).
    bad = t.copy()
    bad[3] = 10
    bg = convnet.tensor(bad, device="cuda")
    assert np.isnan(ops.cross_entropy(zg, bg).numpy())
    assert (ops.cross_entropy_backward(1.0, zg, bg).numpy()[3] == 0).all()
