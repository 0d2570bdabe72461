"""Losses against PyTorch (reduction='mean'): cross_entropy and count_correct, binary cross-entropy from
logits and count_correct_binary, mean squared error."""
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


# ---- binary cross-entropy from logits ----

def bce(s):
    return ((lambda z, t: ops.binary_cross_entropy_with_logits(z, t, s)),
            (lambda g, z, t: ops.binary_cross_entropy_with_logits_backward(g, z, t, s)))


def torch_bce(s):
    # Keras' label smoothing of binary targets, done by hand: t' = t (1 - s) + 0.5 s.
    return lambda z, t: F.binary_cross_entropy_with_logits(z, (t * (1 - s) + 0.5 * s).reshape(z.shape))


@pytest.mark.parametrize("s", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("z_shape,t_shape", [((1,), (1,)), ((7, 1), (7, 1)), ((33,), (33,)), ((9, 1), (9,)),
                                             ((6,), (6, 1))])
def test_binary_cross_entropy_matches_torch(rng, z_shape, t_shape, s):
    z = (rng.standard_normal(z_shape) * 3).astype(np.float32)
    fwd, bwd = bce(s)
    for t in (rng.uniform(0, 1, t_shape), rng.integers(0, 2, t_shape)):  # probabilities, hard 0/1 labels
        t = t.astype(np.float32)
        compare_with_torch(fwd, bwd, torch_bce(s), [z, t], n_diff=1)
        check_finite_differences(fwd, bwd, [z, t], n_diff=1)
        loss = fwd(z, t)
        assert loss.shape == () and loss.dtype == "float32"
        assert np.asarray(bwd(1.0, z, t)).shape == z_shape


def test_binary_cross_entropy_keras_value():
    # Keras: binary_crossentropy([[0.], [1.]], [[-2.], [3.]], from_logits=True), computed by hand.
    z = np.array([[-2.0], [3.0]], np.float32)
    t = np.array([[0.0], [1.0]], np.float32)
    want = (np.log1p(np.exp(-2.0)) + np.log1p(np.exp(-3.0))) / 2
    assert_close(np.asarray(ops.binary_cross_entropy_with_logits(z, t)), want, 1e-6)
    # Smoothing 1 makes every target 1/2: the gradient is (sigmoid(z) - 1/2) / N.
    sig = 1 / (1 + np.exp(-z.astype(np.float64)))
    assert_close(np.asarray(ops.binary_cross_entropy_with_logits_backward(2.0, z, t, 1.0)), 2 * (sig - 0.5) / 2, 1e-6)


def test_binary_cross_entropy_extreme_logits():
    z = np.array([1000.0, -1000.0, 0.0, 1e4, -1e4, 88.0], np.float32)
    t = np.array([0.0, 1.0, 0.5, 1.0, 0.0, 0.3], np.float32)
    got = float(np.asarray(ops.binary_cross_entropy_with_logits(z, t)))
    ref = F.binary_cross_entropy_with_logits(torch.tensor(z, dtype=torch.float64),
                                             torch.tensor(t, dtype=torch.float64)).item()
    assert np.isfinite(got) and abs(got - ref) <= 1e-6 * abs(ref)
    grad = np.asarray(ops.binary_cross_entropy_with_logits_backward(1.0, z, t))
    assert np.isfinite(grad).all()
    assert_close(grad, (np.array([1, 0, 0.5, 1, 0, 1]) - t) / 6, 1e-6)


def test_count_correct_binary():
    z = np.array([2.0, -1.0, 0.0, 0.5, -3.0, 1e-3], np.float32)
    t = np.array([1.0, 0.0, 0.0, 0.5, 0.7, 0.4], np.float32)
    # z > 0 against t >= 0.5: right, right, right (0 is not > 0), right (0.5 counts as 1), wrong, wrong
    assert ops.count_correct_binary(z, t) == 4
    assert ops.count_correct_binary(z.reshape(6, 1), t) == 4


def test_binary_cross_entropy_errors():
    z = np.zeros((3, 1), np.float32)
    f, b = ops.binary_cross_entropy_with_logits, ops.binary_cross_entropy_with_logits_backward
    name = "binary_cross_entropy_with_logits"
    assert_raises(ValueError, [name, "'target'", "[0, 1]", "target 1.5 at index 2"], f, z,
                  np.array([0.0, 1.0, 1.5], np.float32))
    assert_raises(ValueError, [name, "'target'", "[0, 1]", "target -0.25 at index 0"], f, z,
                  np.array([-0.25, 1.0, 0.0], np.float32))
    assert_raises(ValueError, [name, "'target'", "[0, 1]", "target nan at index 1"], f, z,
                  np.array([0.0, np.nan, 0.0], np.float32))
    assert_raises(ValueError, [name + "_backward", "'target'", "target 2 at index 1"], b, 1.0, z,
                  np.array([0.0, 2.0, 0.0], np.float32))
    assert_raises(ValueError, ["count_correct_binary", "'target'", "target 3 at index 0"], ops.count_correct_binary,
                  z, np.array([3.0, 0.0, 0.0], np.float32))
    t = np.array([0.0, 1.0, 1.0], np.float32)
    assert_raises(ValueError, [name, "'label_smoothing'", "[0, 1]", "1.5"], f, z, t, 1.5)
    assert_raises(ValueError, [name + "_backward", "'label_smoothing'", "[0, 1]"], b, 1.0, z, t, -0.1)
    assert_raises(TypeError, [name, "'label_smoothing'", "a float"], f, z, t, "0.1")
    assert_raises(ValueError, [name, "'target'", "(3,) or (3, 1)", "(2,)"], f, z, np.array([0.0, 1.0], np.float32))
    assert_raises(ValueError, [name, "'target'", "(3,) or (3, 1)", "(3, 2)"], f, z, np.zeros((3, 2), np.float32))
    assert_raises(ValueError, [name, "'logits'", "(N,) or (N, 1)", "(3, 2)"], f, np.zeros((3, 2), np.float32),
                  np.zeros((3, 2), np.float32))
    assert_raises(ValueError, [name, "'logits'", "(N,) or (N, 1)", "0-D"], f, np.float32(0.0), t)
    assert_raises(ValueError, [name, "'logits'", "non-empty"], f, np.zeros(0, np.float32), np.zeros(0, np.float32))
    assert_raises(TypeError, [name, "'logits'", "float32", "int64"], f, convnet.tensor(z, dtype="int64"), t)
    assert_raises(TypeError, [name, "'target'", "float32", "int64"], f, z, convnet.tensor(t, dtype="int64"))
    assert_raises(TypeError, [name, "'target'", "numeric", "bool"], f, z, np.array([True, False, True]))
    assert_raises(ValueError, [name, "'target'", "None"], f, z, None)
    assert_raises(ValueError, [name + "_backward", "'grad_out'", "1-element", "(2,)"], b, np.ones(2, np.float32), z, t)
    assert_raises(ValueError, [name + "_backward", "'grad_out'", "finite"], b, float("inf"), z, t)
    # integer 0/1 labels from numpy are converted to float32, as for any float input
    assert_close(np.asarray(f(z, np.array([0, 1, 1]))), np.asarray(f(z, t)), 0)


@requires_cuda
def test_binary_cross_entropy_gpu_matches_cpu(rng):
    z = (rng.standard_normal((301, 1)) * 4).astype(np.float32)
    t = rng.uniform(0, 1, 301).astype(np.float32)
    zg, tg = convnet.tensor(z, device="cuda"), convnet.tensor(t, device="cuda")
    f, b = ops.binary_cross_entropy_with_logits, ops.binary_cross_entropy_with_logits_backward
    for s in (0.0, 0.1):
        assert_close(f(zg, tg, s).numpy(), np.asarray(f(z, t, s)), 1e-6)
        got = b(0.5, zg, tg, s)
        assert got.device == "cuda:0" and got.shape == (301, 1)
        assert_close(got.numpy(), np.asarray(b(0.5, z, t, s)), 1e-6)
    assert ops.count_correct_binary(zg, tg) == ops.count_correct_binary(z, t)
    # A bad target on the GPU: NaN loss, zero gradient, not counted (documented in loss.h).
    for value in (1.5, -0.5, np.nan):
        bad = t.copy()
        bad[7] = value
        bg = convnet.tensor(bad, device="cuda")
        assert np.isnan(f(zg, bg).numpy())
        grad = b(1.0, zg, bg).numpy()
        assert grad[7, 0] == 0 and np.isfinite(grad).all()
        ok = np.delete(np.arange(301), 7)
        assert ops.count_correct_binary(zg, bg) == ops.count_correct_binary(z[ok], t[ok])


# ---- mean squared error ----

@pytest.mark.parametrize("shape", [(1,), (5,), (4, 3), (2, 3, 5, 5)])
def test_mse_loss_matches_torch(rng, shape):
    p = rng.standard_normal(shape).astype(np.float32)
    t = rng.standard_normal(shape).astype(np.float32)
    compare_with_torch(ops.mse_loss, ops.mse_loss_backward, F.mse_loss, [p, t], n_diff=1)
    check_finite_differences(ops.mse_loss, ops.mse_loss_backward, [p, t], n_diff=1)
    loss = ops.mse_loss(p, t)
    assert loss.shape == () and loss.dtype == "float32"


def test_mse_loss_keras_value():
    # Keras: mean(mean_squared_error(y_true, y_pred)) over a batch of rows of equal width.
    p = np.array([[1.0, 2.0], [0.0, -1.0]], np.float32)
    t = np.array([[0.0, 2.0], [2.0, 1.0]], np.float32)
    per_row = ((p - t) ** 2).mean(1)  # Keras' per-sample losses: 0.5, 4
    assert_close(np.asarray(ops.mse_loss(p, t)), per_row.mean(), 1e-7)
    assert_close(np.asarray(ops.mse_loss_backward(3.0, p, t)), 3.0 * 2 * (p - t) / 4, 1e-7)


def test_mse_loss_errors():
    p = np.zeros((3, 4), np.float32)
    assert_raises(ValueError, ["mse_loss", "'target'", "(3, 4)", "(4, 3)"], ops.mse_loss, p, np.zeros((4, 3), np.float32))
    assert_raises(ValueError, ["mse_loss", "'target'", "(3, 4)", "(3, 4, 1)"], ops.mse_loss, p,
                  np.zeros((3, 4, 1), np.float32))
    assert_raises(ValueError, ["mse_loss_backward", "'target'", "(3, 4)", "(3,)"], ops.mse_loss_backward, 1.0, p,
                  np.zeros(3, np.float32))
    assert_raises(TypeError, ["mse_loss", "'pred'", "float32", "int64"], ops.mse_loss, convnet.tensor(p, dtype="int64"), p)
    assert_raises(TypeError, ["mse_loss", "'target'", "float32", "uint8"], ops.mse_loss, p,
                  convnet.tensor(p, dtype="uint8"))
    assert_raises(ValueError, ["mse_loss", "'pred'", "rank >= 1", "0-d"], ops.mse_loss, np.float32(1.0), np.float32(1.0))
    assert_raises(ValueError, ["mse_loss", "'pred'", "non-empty"], ops.mse_loss, np.zeros((0, 4), np.float32),
                  np.zeros((0, 4), np.float32))
    assert_raises(ValueError, ["mse_loss", "'target'", "None"], ops.mse_loss, p, None)
    assert_raises(ValueError, ["mse_loss_backward", "'grad_out'", "finite", "nan"], ops.mse_loss_backward, float("nan"),
                  p, p)


@requires_cuda
def test_mse_loss_gpu_matches_cpu(rng):
    p = rng.standard_normal((37, 3, 4, 4)).astype(np.float32)
    t = rng.standard_normal((37, 3, 4, 4)).astype(np.float32)
    pg, tg = convnet.tensor(p, device="cuda"), convnet.tensor(t, device="cuda")
    assert_close(ops.mse_loss(pg, tg).numpy(), np.asarray(ops.mse_loss(p, t)), 1e-6)
    got = ops.mse_loss_backward(2.0, pg, tg)
    assert got.device == "cuda:0"
    assert_close(got.numpy(), np.asarray(ops.mse_loss_backward(2.0, p, t)), 1e-6)
    assert_raises(ValueError, ["mse_loss", "'target'", "cuda:0", "cpu"], ops.mse_loss, pg, t)
