"""concat (channel axis) against torch.cat(inputs, dim=1); its gradients, errors and GPU parity."""
import numpy as np
import pytest
import torch

import convnet
from conftest import requires_cuda
from convnet import ops
from opcheck import assert_raises, check_finite_differences, compare_with_torch


def fwd(*xs):
    return ops.concat(list(xs))


def bwd(g, *xs):
    return tuple(ops.concat_backward(g, list(xs)))


@pytest.mark.parametrize("shapes", [
    [(2, 3, 4, 5), (2, 1, 4, 5)],
    [(3, 2, 3, 3), (3, 5, 3, 3), (3, 1, 3, 3)],
    [(1, 1, 1, 1), (1, 2, 1, 1)],
    [(4, 7), (4, 1), (4, 3), (4, 2)],
    [(2, 3, 6), (2, 2, 6)],
])
def test_concat_matches_torch(rng, shapes):
    xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    compare_with_torch(fwd, bwd, lambda *t: torch.cat(t, 1), xs, n_diff=len(xs))
    check_finite_differences(fwd, bwd, xs, n_diff=len(xs))
    y = fwd(*xs)
    np.testing.assert_array_equal(np.asarray(y), np.concatenate(xs, 1))  # a copy: exact


def test_concat_backward_takes_shapes(rng):
    xs = [rng.standard_normal(s).astype(np.float32) for s in [(2, 3, 4, 4), (2, 5, 4, 4)]]
    dy = rng.standard_normal((2, 8, 4, 4)).astype(np.float32)
    by_inputs = ops.concat_backward(dy, xs)
    by_shapes = ops.concat_backward(dy, [(2, 3, 4, 4), [2, 5, 4, 4]])
    by_tensors = ops.concat_backward(convnet.tensor(dy), [convnet.tensor(x) for x in xs])
    assert isinstance(by_inputs, list) and len(by_inputs) == 2
    for grads in (by_inputs, by_shapes, by_tensors):
        np.testing.assert_array_equal(np.asarray(grads[0]), dy[:, :3])
        np.testing.assert_array_equal(np.asarray(grads[1]), dy[:, 3:])


def test_concat_errors():
    a = np.zeros((2, 3, 4, 4), np.float32)
    assert_raises(ValueError, ["concat", "'inputs'", "at least 2", "got 1"], ops.concat, [a])
    assert_raises(ValueError, ["concat", "'inputs'", "at least 2", "got 0"], ops.concat, [])
    assert_raises(ValueError, ["concat", "'inputs[1]'", "(2, C, 4, 4)", "(3, 1, 4, 4)"], ops.concat,
                  [a, np.zeros((3, 1, 4, 4), np.float32)])
    assert_raises(ValueError, ["concat", "'inputs[2]'", "(2, C, 4, 4)", "(2, 1, 4, 5)"], ops.concat,
                  [a, a, np.zeros((2, 1, 4, 5), np.float32)])
    assert_raises(ValueError, ["concat", "'inputs[1]'", "(2, C, 4, 4)", "(2, 12)"], ops.concat,
                  [a, np.zeros((2, 12), np.float32)])
    assert_raises(ValueError, ["concat", "'inputs[0]'", "rank >= 2", "1-D"], ops.concat,
                  [np.zeros(3, np.float32), np.zeros(3, np.float32)])
    assert_raises(ValueError, ["concat", "'inputs[1]'", "non-empty", "(2, 0, 4, 4)"], ops.concat,
                  [a, np.zeros((2, 0, 4, 4), np.float32)])
    assert_raises(TypeError, ["concat", "'inputs[1]'", "float32", "int64"], ops.concat,
                  [a, convnet.tensor(a, dtype="int64")])
    assert_raises(ValueError, ["concat", "'inputs[1]'", "None"], ops.concat, [a, None])
    assert_raises(TypeError, ["concat", "'inputs'", "a list"], ops.concat, a)
    dy = np.zeros((2, 6, 4, 4), np.float32)
    assert_raises(ValueError, ["concat_backward", "'grad_out'", "(2, 7, 4, 4)", "(2, 6, 4, 4)"],
                  ops.concat_backward, dy, [a, (2, 4, 4, 4)])
    assert_raises(ValueError, ["concat_backward", "'input_shapes'", "at least 2"], ops.concat_backward, dy, [a])
    assert_raises(ValueError, ["concat_backward", "'input_shapes[1]'", "(2, C, 4, 4)", "(2, 3, 4)"],
                  ops.concat_backward, dy, [a, (2, 3, 4)])
    assert_raises(ValueError, ["concat_backward", "'input_shapes[1]'", "non-empty", "(2, -3, 4, 4)"],
                  ops.concat_backward, dy, [a, (2, -3, 4, 4)])
    assert_raises(TypeError, ["concat_backward", "'grad_out'", "float32", "int64"], ops.concat_backward,
                  convnet.tensor(dy, dtype="int64"), [a, a])
    assert_raises(TypeError, ["concat_backward", "'inputs[1]'", "a shape, Tensor or array"], ops.concat_backward,
                  dy, [a, object()])


@requires_cuda
def test_concat_gpu_matches_cpu(rng):
    shapes = [(3, 2, 5, 7), (3, 1, 5, 7), (3, 4, 5, 7)]
    xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    gs = [convnet.tensor(x, device="cuda") for x in xs]
    y = ops.concat(gs)
    assert y.device == "cuda:0"
    np.testing.assert_array_equal(y.numpy(), np.asarray(ops.concat(xs)))
    dy = rng.standard_normal(y.shape).astype(np.float32)
    grads = ops.concat_backward(convnet.tensor(dy, device="cuda"), gs)
    for g, want in zip(grads, ops.concat_backward(dy, xs)):
        assert g.device == "cuda:0"
        np.testing.assert_array_equal(g.numpy(), np.asarray(want))
    # More rows (10000 > 1024 blocks * 8), then wider rows (20000 > 512 blocks * 32), than one grid covers.
    for pair in ([(10000, 3), (10000, 1)], [(2, 20000), (2, 1)]):
        flat = [rng.standard_normal(s).astype(np.float32) for s in pair]
        np.testing.assert_array_equal(ops.concat([convnet.tensor(x, device="cuda") for x in flat]).numpy(),
                                      np.concatenate(flat, 1))
    assert_raises(ValueError, ["concat", "'inputs[1]'", "cuda:0", "cpu"], ops.concat, [gs[0], xs[1]])
