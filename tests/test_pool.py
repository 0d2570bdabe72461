"""Pooling ops against PyTorch (float64), finite differences, exact ties and every error path."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convnet
from conftest import requires_cuda
from convnet import ops
from opcheck import assert_close, assert_raises, check_finite_differences, compare_with_torch


def torch_min_pool2d(x, kernel_size, stride=None, padding=0):
    return -F.max_pool2d(-x, kernel_size, stride, padding)


def torch_avg_pool2d(x, kernel_size, stride=None, padding=0):
    return F.avg_pool2d(x, kernel_size, stride, padding)  # count_include_pad=True, the default


POOLS = {
    "max": (ops.max_pool2d, ops.max_pool2d_backward, F.max_pool2d),
    "avg": (ops.avg_pool2d, ops.avg_pool2d_backward, torch_avg_pool2d),
    "min": (ops.min_pool2d, ops.min_pool2d_backward, torch_min_pool2d),
}

# (x shape, kernel_size, stride, padding): batch 1 and 3, odd sizes, kernel != stride (overlapping
# and gapped windows), non-square kernels, stride 3, padding 1.
CONFIGS = [
    ((1, 2, 7, 9), 2, None, 0),
    ((3, 2, 7, 9), 3, 2, 1),
    ((3, 1, 8, 8), 3, 2, 0),
    ((1, 3, 7, 9), (2, 3), None, 0),
    ((3, 2, 9, 7), 3, 3, 0),
    ((1, 2, 7, 9), 3, 1, 1),
    ((3, 2, 7, 9), (3, 2), (2, 1), (1, 0)),
    ((1, 1, 5, 6), 2, 3, 1),
    ((3, 4, 4, 4), 1, 1, 0),
    ((1, 1, 3, 3), 3, None, 1),
]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def near_tie_skip(kernel_size, stride, padding, eps):
    """skip(i, x, idx) for finite differences: True when some element sharing a window with x[idx] lies
    within 2*eps of it, so a +-eps step could change which element a window picks."""
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(stride if stride is not None else kernel_size)
    ph, pw = _pair(padding)

    def skip(i, x, idx):
        n, c, h, w = np.unravel_index(idx, x.shape)
        plane = x[n, c]
        H, W = plane.shape
        # All windows containing (h, w), then all elements of those windows.
        for oh in range((H + 2 * ph - kh) // sh + 1):
            r0 = oh * sh - ph
            if not r0 <= h < r0 + kh:
                continue
            for ow in range((W + 2 * pw - kw) // sw + 1):
                c0 = ow * sw - pw
                if not c0 <= w < c0 + kw:
                    continue
                win = plane[max(r0, 0):r0 + kh, max(c0, 0):c0 + kw].ravel()
                if np.sum(np.abs(win - plane[h, w]) < 2 * eps) > 1:
                    return True
        return False

    return skip


@pytest.mark.parametrize("mode", ["max", "avg", "min"])
@pytest.mark.parametrize("shape,kernel_size,stride,padding", CONFIGS)
def test_pool2d_matches_torch(rng, mode, shape, kernel_size, stride, padding):
    fwd, bwd, ref = POOLS[mode]
    x = rng.standard_normal(shape).astype(np.float32)
    compare_with_torch(lambda x: fwd(x, kernel_size, stride, padding),
                       lambda g, x: bwd(g, x, kernel_size, stride, padding),
                       lambda x: ref(x, kernel_size, stride, padding), [x], n_diff=1)
    expected_hw = ref(torch.tensor(x), kernel_size, stride, padding).shape
    assert tuple(fwd(x, kernel_size, stride, padding).shape) == tuple(expected_hw)


@pytest.mark.parametrize("mode", ["max", "avg", "min"])
@pytest.mark.parametrize("shape,kernel_size,stride,padding", CONFIGS[:7])
def test_pool2d_finite_differences(rng, mode, shape, kernel_size, stride, padding):
    fwd, bwd, _ = POOLS[mode]
    x = rng.standard_normal(shape).astype(np.float32)
    eps = 1e-2
    check_finite_differences(lambda x: fwd(x, kernel_size, stride, padding),
                             lambda g, x: bwd(g, x, kernel_size, stride, padding), [x], n_diff=1, eps=eps,
                             n_coords=12, skip=None if mode == "avg" else near_tie_skip(kernel_size, stride,
                                                                                        padding, eps))


def tf_same_pads(size, kernel, stride):
    """TensorFlow's 'same' split along one axis: (before, after)."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def torch_same_pool(mode, x, kernel_size, stride):
    """Keras' padding='same' pooling in torch: pad explicitly (max -inf, min +inf, avg zeros and the
    mean over the window's real elements only)."""
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride)
    (t, b), (l, r) = tf_same_pads(x.shape[2], kh, sh), tf_same_pads(x.shape[3], kw, sw)
    if mode == "avg":
        count = F.avg_pool2d(F.pad(torch.ones_like(x), (l, r, t, b)), (kh, kw), (sh, sw))
        return F.avg_pool2d(F.pad(x, (l, r, t, b)), (kh, kw), (sh, sw)) / count
    sign = 1 if mode == "max" else -1
    return sign * F.max_pool2d(F.pad(sign * x, (l, r, t, b), value=-float("inf")), (kh, kw), (sh, sw))


# (x shape, kernel_size, stride): odd and even totals, the odd pad at the bottom/right, no pad at all.
SAME_CONFIGS = [((2, 3, 7, 7), 2, 2), ((1, 2, 28, 28), 3, 2), ((2, 1, 5, 6), 3, 1), ((1, 2, 9, 4), 4, 3),
                ((2, 2, 6, 6), 3, 3), ((1, 1, 8, 8), 2, 2), ((1, 2, 5, 7), (3, 2), (2, 1))]


@pytest.mark.parametrize("mode", ["max", "avg", "min"])
@pytest.mark.parametrize("shape,kernel_size,stride", SAME_CONFIGS)
def test_pool2d_same_padding_matches_torch(rng, mode, shape, kernel_size, stride):
    fwd, bwd, _ = POOLS[mode]
    x = rng.standard_normal(shape).astype(np.float32)
    compare_with_torch(lambda x: fwd(x, kernel_size, stride, "same"),
                       lambda g, x: bwd(g, x, kernel_size, stride, "same"),
                       lambda x: torch_same_pool(mode, x, kernel_size, stride), [x], n_diff=1)
    (sh, sw) = _pair(stride)
    assert tuple(fwd(x, kernel_size, stride, "same").shape) == (*shape[:2], -(-shape[2] // sh), -(-shape[3] // sw))
    assert_close(fwd(x, kernel_size, stride, "valid").numpy(), fwd(x, kernel_size, stride, 0).numpy())


def test_avg_pool2d_same_padding_finite_differences(rng):
    x = rng.standard_normal((2, 2, 7, 6)).astype(np.float32)
    check_finite_differences(lambda x: ops.avg_pool2d(x, 3, 2, "same"),
                             lambda g, x: ops.avg_pool2d_backward(g, x, 3, 2, "same"), [x], n_diff=1, n_coords=12)


def test_max_pool_known_values_and_first_tie():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(ops.max_pool2d(x, 2).numpy().ravel(), [5, 7, 13, 15])
    np.testing.assert_array_equal(ops.min_pool2d(x, 2).numpy().ravel(), [0, 2, 8, 10])
    np.testing.assert_allclose(ops.avg_pool2d(x, 2).numpy().ravel(), [2.5, 4.5, 10.5, 12.5])
    # All equal: every window's gradient goes to its first (top-left) element.
    ones = np.ones((1, 1, 3, 3), np.float32)
    g = np.arange(1, 5, dtype=np.float32).reshape(1, 1, 2, 2)
    for bwd in (ops.max_pool2d_backward, ops.min_pool2d_backward):
        dx = bwd(g, ones, 2, 1).numpy()[0, 0]
        np.testing.assert_array_equal(dx, [[1, 2, 0], [3, 4, 0], [0, 0, 0]])
    # A tie inside one window: [[3, 3], [3, 1]] picks (0, 0) for max; [[1, 3], [3, 1]] picks (0, 1) for max.
    x = np.array([[[[3, 3], [3, 1]]]], np.float32)
    np.testing.assert_array_equal(ops.max_pool2d_backward(np.ones((1, 1, 1, 1), np.float32), x, 2).numpy().ravel(),
                                  [1, 0, 0, 0])
    np.testing.assert_array_equal(ops.min_pool2d_backward(np.ones((1, 1, 1, 1), np.float32), -x, 2).numpy().ravel(),
                                  [1, 0, 0, 0])
    x = np.array([[[[1, 3], [3, 1]]]], np.float32)
    np.testing.assert_array_equal(ops.max_pool2d_backward(np.ones((1, 1, 1, 1), np.float32), x, 2).numpy().ravel(),
                                  [0, 1, 0, 0])
    # PyTorch picks the first on ties too, so a tie-heavy input matches its gradient exactly.
    rng = np.random.default_rng(0)
    xt = rng.integers(0, 3, (2, 3, 7, 9)).astype(np.float32)
    compare_with_torch(lambda x: ops.max_pool2d(x, 3, 2, 1), lambda g, x: ops.max_pool2d_backward(g, x, 3, 2, 1),
                       lambda x: F.max_pool2d(x, 3, 2, 1), [xt], n_diff=1)


def test_max_pool_padding_never_chosen():
    # -inf everywhere: padding (also -inf) must not be picked; the first real element is.
    x = np.full((1, 1, 2, 2), -np.inf, np.float32)
    y = ops.max_pool2d(x, 3, 1, 1).numpy()
    assert np.all(y == -np.inf)
    dx = ops.max_pool2d_backward(np.ones((1, 1, 2, 2), np.float32), x, 3, 1, 1).numpy()[0, 0]
    np.testing.assert_array_equal(dx, [[4, 0], [0, 0]])  # every window's first real element is (0, 0)
    # Negative values with padding: the max is negative, not 0 from padding.
    x = -np.ones((1, 1, 3, 3), np.float32) - np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    assert ops.max_pool2d(x, 2, 2, 1).numpy().max() < 0
    assert ops.min_pool2d(-x, 2, 2, 1).numpy().min() > 0


def test_pool_nan_propagates_like_torch():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan
    y = ops.max_pool2d(x, 2).numpy().ravel()
    ref = F.max_pool2d(torch.tensor(x), 2).numpy().ravel()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ref))


def test_pool_accepts_tensors_and_pairs(rng):
    x = rng.standard_normal((3, 2, 7, 9)).astype(np.float32)
    a = ops.max_pool2d(convnet.tensor(x), [3, 2], stride=(2, 2), padding=[1, 1]).numpy()
    b = F.max_pool2d(torch.tensor(x), (3, 2), (2, 2), (1, 1)).numpy()
    np.testing.assert_array_equal(a, b)


def test_global_avg_pool2d(rng):
    for shape in [(1, 1, 1, 1), (3, 5, 7, 9), (2, 3, 4, 4)]:
        x = rng.standard_normal(shape).astype(np.float32)
        compare_with_torch(ops.global_avg_pool2d, ops.global_avg_pool2d_backward, lambda x: x.mean((2, 3)), [x],
                           n_diff=1)
        check_finite_differences(ops.global_avg_pool2d, ops.global_avg_pool2d_backward, [x], n_diff=1)
        assert tuple(ops.global_avg_pool2d(x).shape) == shape[:2]


@pytest.mark.parametrize("mode", ["max", "avg", "min"])
def test_pool2d_errors(mode):
    fwd, bwd, _ = POOLS[mode]
    op = f"{mode}_pool2d"
    x = np.zeros((2, 3, 5, 5), np.float32)
    assert_raises(ValueError, [op, "'x'", "4-D tensor (N, C, H, W)", "3-D"], fwd, x[0], 2)
    assert_raises(ValueError, [op, "'x'", "non-empty", "(0, 3, 5, 5)"], fwd, np.zeros((0, 3, 5, 5), np.float32), 2)
    assert_raises(TypeError, [op, "'x'", "float32", "int64"], fwd, convnet.tensor(x, dtype="int64"), 2)
    assert_raises(ValueError, [op, "'kernel_size'", "padded input size (7, 7)", "(8, 8)"], fwd, x, 8, 1, 1)
    assert_raises(ValueError, [op, "'kernel_size'", "padded input size (5, 5)", "(2, 6)"], fwd, x, (2, 6))
    assert_raises(ValueError, [op, "'padding'", "half the kernel size (1, 1)", "(2, 2)"], fwd, x, 3, 1, 2)
    assert_raises(ValueError, [op, "'padding'", "half the kernel size (1, 0)", "(0, 1)"], fwd, x, (2, 1), 1, (0, 1))
    assert_raises(ValueError, [op, "'padding'", "(-1, 0)"], fwd, x, 2, 1, (-1, 0))
    assert_raises(ValueError, [op, "'stride'", "positive", "(0, 0)"], fwd, x, 2, 0)
    assert_raises(ValueError, [op, "'stride'", "positive", "(1, -1)"], fwd, x, 2, (1, -1))
    assert_raises(ValueError, [op, "'kernel_size'", "positive", "(0, 2)"], fwd, x, (0, 2))
    assert_raises(TypeError, [op, "'kernel_size'", "int or a pair", "'2'"], fwd, x, "2")
    assert_raises(ValueError, [op, "'kernel_size'", "pair of ints", "(1, 2, 3)"], fwd, x, (1, 2, 3))
    assert_raises(ValueError, [op, "'x'", "None"], fwd, None, 2)
    assert_raises(ValueError, [op, "'padding'", "'same', 'valid'", "'full'"], fwd, x, 2, 2, "full")
    assert_raises(ValueError, [op, "'padding'", "'same' with positive", "(1, 0)"], fwd, x, 2, (1, 0), "same")
    b = op + "_backward"
    assert_raises(ValueError, [b, "'grad_out'", "(2, 3, 2, 2)", "(2, 3, 3, 3)"], bwd,
                  np.zeros((2, 3, 3, 3), np.float32), x, 2)
    assert_raises(TypeError, [b, "'grad_out'", "float32", "int64"], bwd,
                  convnet.tensor(np.zeros((2, 3, 2, 2)), dtype="int64"), x, 2)
    assert_raises(ValueError, [b, "'padding'", "(2, 2)"], bwd, np.zeros((2, 3, 5, 5), np.float32), x, 3, 1, 2)
    assert_raises(ValueError, [b, "'x'", "4-D"], bwd, np.zeros((2, 2), np.float32), np.zeros((2, 3, 4), np.float32), 2)


def test_global_avg_pool2d_errors():
    op = "global_avg_pool2d"
    assert_raises(ValueError, [op, "'x'", "4-D tensor (N, C, H, W)", "2-D"], ops.global_avg_pool2d,
                  np.zeros((2, 3), np.float32))
    assert_raises(ValueError, [op, "'x'", "non-empty", "(2, 3, 0, 4)"], ops.global_avg_pool2d,
                  np.zeros((2, 3, 0, 4), np.float32))
    assert_raises(TypeError, [op, "'x'", "float32", "int64"], ops.global_avg_pool2d,
                  convnet.tensor(np.zeros((1, 1, 2, 2)), dtype="int64"))
    assert_raises(ValueError, [op + "_backward", "'grad_out'", "(2, 3)", "(3, 2)"], ops.global_avg_pool2d_backward,
                  np.zeros((3, 2), np.float32), np.zeros((2, 3, 4, 4), np.float32))


@requires_cuda
@pytest.mark.parametrize("mode", ["max", "avg", "min"])
@pytest.mark.parametrize("shape,kernel_size,stride,padding", CONFIGS)
def test_pool2d_cuda_matches_cpu(rng, mode, shape, kernel_size, stride, padding):
    fwd, bwd, _ = POOLS[mode]
    # Integer-valued input: many exact ties, which CPU and GPU must break the same way.
    x = rng.integers(-2, 3, shape).astype(np.float32)
    xg = convnet.tensor(x, device="cuda")
    y = fwd(x, kernel_size, stride, padding).numpy()
    assert_close(fwd(xg, kernel_size, stride, padding).to("cpu").numpy(), y, what="cuda forward")
    g = rng.standard_normal(y.shape).astype(np.float32)
    dx = bwd(g, x, kernel_size, stride, padding).numpy()
    dxg = bwd(convnet.tensor(g, device="cuda"), xg, kernel_size, stride, padding).to("cpu").numpy()
    assert_close(dxg, dx, what="cuda backward")


@requires_cuda
@pytest.mark.parametrize("mode", ["max", "avg", "min"])
@pytest.mark.parametrize("shape,kernel_size,stride", SAME_CONFIGS)
def test_pool2d_same_padding_cuda_matches_cpu(rng, mode, shape, kernel_size, stride):
    fwd, bwd, _ = POOLS[mode]
    x = rng.integers(-2, 3, shape).astype(np.float32)
    xg = convnet.tensor(x, device="cuda")
    y = fwd(x, kernel_size, stride, "same").numpy()
    assert_close(fwd(xg, kernel_size, stride, "same").to("cpu").numpy(), y, what="cuda forward")
    g = rng.standard_normal(y.shape).astype(np.float32)
    dxg = bwd(convnet.tensor(g, device="cuda"), xg, kernel_size, stride, "same").to("cpu").numpy()
    assert_close(dxg, bwd(g, x, kernel_size, stride, "same").numpy(), what="cuda backward")


@requires_cuda
def test_global_avg_pool2d_cuda_matches_cpu(rng):
    for shape in [(1, 1, 1, 1), (3, 5, 7, 9), (2, 70, 16, 16)]:
        x = rng.standard_normal(shape).astype(np.float32)
        g = rng.standard_normal(shape[:2]).astype(np.float32)
        xg, gg = convnet.tensor(x, device="cuda"), convnet.tensor(g, device="cuda")
        assert_close(ops.global_avg_pool2d(xg).to("cpu").numpy(), ops.global_avg_pool2d(x).numpy())
        assert_close(ops.global_avg_pool2d_backward(gg, xg).to("cpu").numpy(),
                     ops.global_avg_pool2d_backward(g, x).numpy())
