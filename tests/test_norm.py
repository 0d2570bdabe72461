"""batch_norm against torch.nn.functional.batch_norm: outputs, running statistics, all three gradients.

The reductions run in double on float32 data, so the 1e-4 bound of opcheck applies unchanged."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convnet
from conftest import requires_cuda
from convnet import ops
from opcheck import assert_close, assert_raises, check_finite_differences, compare_with_torch

# (M = 2 values per channel is left out: there the exact grad_x is ~eps-sized, pure float32 cancellation.)
SHAPES = [(3, 4, 5, 7), (1, 2, 3, 3), (5, 3), (3, 1, 1, 1), (7, 6, 1, 9), (1, 3, 2, 1)]


def make(rng, shape):
    C = shape[1]
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)
    w = rng.uniform(0.5, 1.5, C).astype(np.float32)
    b = rng.standard_normal(C).astype(np.float32)
    rm = rng.standard_normal(C).astype(np.float32)
    rv = rng.uniform(0.5, 2.0, C).astype(np.float32)
    return x, w, b, rm, rv


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", SHAPES)
def test_batch_norm_matches_torch(rng, shape, training):
    x, w, b, rm, rv = make(rng, shape)
    momentum, eps = 0.2, 1e-3

    def fwd(x, w, b, rm, rv):
        return ops.batch_norm(x, w, b, rm, rv, training=training, momentum=momentum, eps=eps)[0]

    def bwd(g, x, w, b, rm, rv):
        return ops.batch_norm_backward(g, x, w, b, rm, rv, training=training, momentum=momentum, eps=eps)

    def ref(x, w, b, rm, rv):
        return F.batch_norm(x, rm.clone(), rv.clone(), w, b, training=training, momentum=momentum, eps=eps)

    compare_with_torch(fwd, bwd, ref, [x, w, b, rm, rv], n_diff=3)
    check_finite_differences(fwd, bwd, [x, w, b, rm, rv], n_diff=3)

    # Running statistics: updated copies returned, the arguments untouched.
    rm0, rv0 = rm.copy(), rv.copy()
    _, new_rm, new_rv = ops.batch_norm(x, w, b, rm, rv, training=training, momentum=momentum, eps=eps)
    np.testing.assert_array_equal(rm, rm0)
    np.testing.assert_array_equal(rv, rv0)
    trm, trv = torch.tensor(rm, dtype=torch.float64), torch.tensor(rv, dtype=torch.float64)
    F.batch_norm(torch.tensor(x, dtype=torch.float64), trm, trv, None, None, training=training, momentum=momentum,
                 eps=eps)
    assert_close(np.asarray(new_rm), trm.numpy(), what="running_mean")
    assert_close(np.asarray(new_rv), trv.numpy(), what="running_var")


def test_batch_norm_without_affine_or_running_stats(rng):
    x, *_ = make(rng, (4, 3, 2, 5))
    y, rm, rv = ops.batch_norm(x, None, None, None, None, training=True)
    assert rm is None and rv is None
    assert_close(np.asarray(y), F.batch_norm(torch.tensor(x, dtype=torch.float64), None, None, training=True).numpy())
    gx, gw, gb = ops.batch_norm_backward(np.ones_like(x), x, None, None, None, None)
    assert gw is None and gb is None
    assert np.abs(np.asarray(gx)).max() < 1e-4  # d(sum y)/dx = 0 when y is normalised


def test_batch_norm_defaults_match_torch(rng):
    x, w, b, rm, rv = make(rng, (3, 2, 4, 4))
    y, new_rm, new_rv = ops.batch_norm(x, w, b, rm, rv)
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    ty = F.batch_norm(torch.tensor(x), trm, trv, torch.tensor(w), torch.tensor(b), training=True)
    assert_close(np.asarray(y), ty.numpy())
    assert_close(np.asarray(new_rm), trm.numpy())
    assert_close(np.asarray(new_rv), trv.numpy())


def test_batch_norm_errors():
    x = np.zeros((2, 3, 4, 4), np.float32)
    c3 = np.ones(3, np.float32)
    assert_raises(ValueError, ["batch_norm", "'x'", "2-D or 4-D", "3-D"], ops.batch_norm,
                  np.zeros((2, 3, 4), np.float32), c3, c3, c3, c3)
    assert_raises(ValueError, ["batch_norm", "'weight'", "(3,)", "(4,)"], ops.batch_norm, x, np.ones(4), c3, c3, c3)
    assert_raises(ValueError, ["batch_norm", "'bias'", "(3,)", "(2,)"], ops.batch_norm, x, c3, np.ones(2), c3, c3)
    assert_raises(ValueError, ["batch_norm", "'running_var'", "(3,)", "(1,)"], ops.batch_norm, x, c3, c3, c3,
                  np.ones(1))
    assert_raises(ValueError, ["batch_norm", "'running_mean'", "training=False", "None"], ops.batch_norm, x, c3, c3,
                  None, None, training=False)
    assert_raises(ValueError, ["batch_norm", "'running_var'", "running_mean"], ops.batch_norm, x, c3, c3, c3, None)
    assert_raises(ValueError, ["batch_norm", "'x'", "more than 1 value per channel", "(1, 3)"], ops.batch_norm,
                  np.zeros((1, 3), np.float32), c3, c3, c3, c3)
    assert_raises(ValueError, ["batch_norm", "'eps'", "> 0"], ops.batch_norm, x, c3, c3, c3, c3, eps=0.0)
    assert_raises(ValueError, ["batch_norm", "'momentum'", "[0, 1]"], ops.batch_norm, x, c3, c3, c3, c3,
                  momentum=1.5)
    assert_raises(ValueError, ["batch_norm", "'x'", "non-empty"], ops.batch_norm, np.zeros((0, 3)), c3, c3, c3, c3)
    assert_raises(TypeError, ["batch_norm", "'x'", "float32", "int64"], ops.batch_norm,
                  convnet.tensor(x, dtype="int64"), c3, c3, c3, c3)
    assert_raises(ValueError, ["batch_norm_backward", "'grad_out'", "(2, 3, 4, 4)", "(2, 3, 4, 5)"],
                  ops.batch_norm_backward, np.zeros((2, 3, 4, 5), np.float32), x, c3, c3, c3, c3)
    # Inference mode with a single value per channel is fine.
    y, _, _ = ops.batch_norm(np.ones((1, 3), np.float32), c3, c3, c3, c3, training=False)
    assert y.shape == (1, 3)


@requires_cuda
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gpu_matches_cpu(rng, training):
    for shape in [(3, 4, 5, 7), (9, 5)]:
        x, w, b, rm, rv = make(rng, shape)
        g = rng.standard_normal(shape).astype(np.float32)
        cpu_args = [x, w, b, rm, rv]
        gpu_args = [convnet.tensor(a, device="cuda") for a in cpu_args]
        for c, d in zip(ops.batch_norm(*cpu_args, training=training), ops.batch_norm(*gpu_args, training=training)):
            assert_close(d.numpy(), np.asarray(c))
        cpu_g = ops.batch_norm_backward(g, *cpu_args, training=training)
        gpu_g = ops.batch_norm_backward(convnet.tensor(g, device="cuda"), *gpu_args, training=training)
        for c, d in zip(cpu_g, gpu_g):
            assert_close(d.numpy(), np.asarray(c))
