"""conv2d against PyTorch (float64), finite differences, error paths, GPU parity."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch.nn.functional as F

import convnet
from convnet import ops
from conftest import requires_cuda
from opcheck import assert_close, assert_raises, check_finite_differences, compare_with_torch

# (N, C_in, H, W, C_out, kH, kW, stride, padding, dilation, groups, bias)
CASES = [
    (1, 1, 5, 5, 2, 3, 3, 1, 0, 1, 1, True),            # batch 1, one input channel
    (3, 3, 7, 9, 4, 3, 3, 1, 1, 1, 1, True),            # odd batch, odd sizes
    (3, 2, 7, 9, 3, 2, 3, 1, (1, 0), 1, 1, False),      # non-square kernel, pair padding, no bias
    (1, 3, 8, 7, 5, 1, 5, 1, (0, 2), 1, 1, True),       # 1x5 kernel
    (3, 4, 9, 11, 6, 3, 3, 2, 1, 1, 1, True),           # stride 2
    (2, 3, 10, 8, 4, 3, 2, 3, (2, 1), 1, 1, True),      # stride 3
    (3, 2, 9, 7, 3, 3, 3, (2, 3), 0, 1, 1, False),      # stride pair
    (3, 4, 7, 9, 4, 3, 3, 1, "same", 1, 1, True),
    (3, 4, 7, 9, 4, 2, 4, 1, "same", 1, 1, False),      # even kernel: asymmetric 'same'
    (3, 4, 7, 9, 4, 3, 3, 1, "valid", 1, 1, True),
    (3, 4, 11, 12, 6, 3, 3, 1, 2, 2, 1, True),          # dilation 2
    (2, 3, 9, 9, 4, 3, 3, 1, "same", (2, 1), 1, True),  # 'same' with dilation
    (3, 4, 7, 9, 6, 3, 3, 1, 1, 1, 2, True),            # groups 2
    (3, 4, 7, 9, 4, 3, 3, 2, 1, 1, 4, False),           # depthwise
    (1, 4, 7, 9, 8, 3, 3, 1, 1, 1, 4, True),            # depthwise, channel multiplier 2
    (2, 3, 11, 10, 3, 3, 3, (2, 1), (3, 1), 2, 3, True),  # depthwise: stride pair, dilation, padding > kernel
    (2, 2, 8, 9, 4, 2, 4, 1, "same", 1, 2, False),      # depthwise, even kernel: asymmetric 'same'
    (3, 2, 8, 8, 2, 3, 3, 2, 0, 1, 2, True),            # depthwise: the last input row unused
    (4, 32, 14, 14, 32, 5, 5, 1, 2, 1, 32, True),       # depthwise, large enough to run threaded
    (2, 6, 5, 7, 4, 1, 1, 1, 0, 1, 1, True),            # pointwise (no im2col)
    (3, 4, 5, 7, 4, 1, 1, 1, 0, 1, 2, False),           # pointwise with groups
    (2, 2, 9, 9, 3, 1, 1, 3, 0, 1, 1, True),            # 1x1 with stride
    (5, 16, 12, 12, 24, 3, 3, 1, 1, 1, 1, True),        # several micro-tiles
    (1, 32, 14, 14, 64, 3, 3, 1, 1, 1, 1, True),        # batch 1: the GEMMs split over threads
    (3, 40, 6, 6, 20, 3, 3, 1, 1, 1, 1, False),         # K = 360 > the GEMM's KC block
    (2, 3, 6, 7, 4, 3, 3, 1, (3, 1), 1, 1, True),       # padding beyond the kernel: generic grad_x
    (3, 4, 6, 5, 4, 2, 2, 1, (0, 1), 1, 2, True),       # stride 1, unequal pads
    (1, 5, 9, 9, 70, 3, 3, 1, 1, 1, 1, True),           # C_out > 64: two row tiles of the CUDA GEMM
    (3, 8, 20, 20, 72, 3, 3, 1, 1, 1, 2, False),        # groups, grad_w in slices (CUDA split-K)
]


def _data(case, seed=0):
    n, c, h, w_, co, kh, kw, stride, padding, dilation, groups, bias = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w_)).astype(np.float32)
    w = (rng.standard_normal((co, c // groups, kh, kw)) / np.sqrt(c // groups * kh * kw)).astype(np.float32)
    b = rng.standard_normal(co).astype(np.float32) if bias else None
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    return x, w, b, kwargs


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_conv2d_matches_torch(case):
    x, w, b, kw = _data(case)
    compare_with_torch(lambda x, w, b: ops.conv2d(x, w, b, **kw),
                       lambda g, x, w, b: ops.conv2d_backward(g, x, w, b, **kw),
                       lambda x, w, b: F.conv2d(x, w, b, **kw), [x, w, b], n_diff=3)


# (x shape, kernel, stride, dilation, groups): Keras' padding='same' with strides, TensorFlow's split
# (the odd pad at the bottom/right).
STRIDED_SAME = [((2, 3, 28, 28), 3, 2, 1, 1), ((1, 4, 7, 8), 3, 2, 1, 1), ((2, 2, 9, 6), 4, (3, 2), 1, 1),
                ((1, 4, 8, 8), 1, 2, 1, 1), ((2, 4, 10, 9), 3, 2, 2, 4), ((1, 2, 5, 5), 2, 3, 1, 2)]


@pytest.mark.parametrize("case", STRIDED_SAME)
def test_conv2d_strided_same_matches_tensorflow_split(case):
    shape, k, stride, dilation, groups = case
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((4, shape[1] // groups, k, k)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    (sh, sw) = (stride, stride) if isinstance(stride, int) else stride
    pads = []
    for size, s in ((shape[2], sh), (shape[3], sw)):
        total = max((-(-size // s) - 1) * s + dilation * (k - 1) + 1 - size, 0)
        pads.append((total // 2, total - total // 2))
    (t, bt), (lt, r) = pads
    kw = dict(stride=stride, padding="same", dilation=dilation, groups=groups)
    compare_with_torch(lambda x, w, b: ops.conv2d(x, w, b, **kw),
                       lambda g, x, w, b: ops.conv2d_backward(g, x, w, b, **kw),
                       lambda x, w, b: F.conv2d(F.pad(x, (lt, r, t, bt)), w, b, stride, 0, dilation, groups),
                       [x, w, b], n_diff=3)
    assert tuple(ops.conv2d(x, w, b, **kw).shape)[2:] == (-(-shape[2] // sh), -(-shape[3] // sw))


@pytest.mark.parametrize("index", [1, 5, 9, 13])
def test_conv2d_finite_differences(index):
    x, w, b, kw = _data(CASES[index], seed=1)
    check_finite_differences(lambda x, w, b: ops.conv2d(x, w, b, **kw),
                             lambda g, x, w, b: ops.conv2d_backward(g, x, w, b, **kw), [x, w, b], n_diff=3)


def test_conv2d_backward_without_bias_returns_none():
    x, w, _, kw = _data(CASES[2])
    y = np.asarray(ops.conv2d(x, w, **kw))
    gx, gw, gb = ops.conv2d_backward(np.ones_like(y), x, w, **kw)
    assert gb is None and np.asarray(gx).shape == x.shape and np.asarray(gw).shape == w.shape


def test_conv2d_known_values():
    x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    w = np.ones((1, 1, 2, 2), np.float32)
    y = np.asarray(ops.conv2d(x, w, np.array([1.0], np.float32)))
    np.testing.assert_array_equal(y, [[[[9.0, 13.0], [21.0, 25.0]]]])


@pytest.mark.parametrize("isa", ["generic", "avx2"])
def test_every_gemm_micro_kernel(isa):
    """The slower micro-kernels (forced with CONVNET_GEMM_ISA in a fresh process) agree with PyTorch."""
    script = f"""
import numpy as np, torch, torch.nn.functional as F
from convnet import ops
import sys
sys.path.insert(0, {os.path.dirname(__file__)!r})
from test_conv import CASES, _data
from opcheck import compare_with_torch
for i in (1, 4, 12, 18, 19, 20):
    x, w, b, kw = _data(CASES[i])
    compare_with_torch(lambda x, w, b: ops.conv2d(x, w, b, **kw),
                       lambda g, x, w, b: ops.conv2d_backward(g, x, w, b, **kw),
                       lambda x, w, b: F.conv2d(x, w, b, **kw), [x, w, b], n_diff=3)
rng = np.random.default_rng(0)
x = rng.standard_normal((150, 300)).astype(np.float32); w = rng.standard_normal((37, 300)).astype(np.float32)
compare_with_torch(ops.linear, ops.linear_backward, F.linear, [x, w, None], n_diff=3)
print(ops.gemm_isa())
"""
    env = dict(os.environ, CONVNET_GEMM_ISA=isa)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    used = out.stdout.strip().splitlines()[-1]
    assert used == isa or (isa == "avx2" and used == "generic"), used


def test_conv2d_errors():
    x = np.zeros((2, 4, 5, 5), np.float32)
    w = np.zeros((6, 4, 3, 3), np.float32)
    err = ValueError
    assert_raises(err, ["conv2d", "'x'", "4-D", "3-D"], ops.conv2d, x[0], w)
    assert_raises(err, ["conv2d", "'w'", "4-D", "2-D"], ops.conv2d, x, w[0, 0])
    assert_raises(err, ["conv2d", "'groups'", "divisor", "C_in = 4", "3"], ops.conv2d, x,
                  np.zeros((6, 1, 3, 3), np.float32), groups=3)
    assert_raises(err, ["conv2d", "'groups'", "C_out", "= 6", "4"], ops.conv2d, x,
                  np.zeros((6, 1, 3, 3), np.float32), groups=4)
    assert_raises(err, ["conv2d", "'w'", "C_in/groups = 2", "(6, 4, 3, 3)"], ops.conv2d, x, w, groups=2)
    assert_raises(err, ["conv2d", "'w'", "(5, 5)", "(7, 7)"], ops.conv2d, x,
                  np.zeros((6, 4, 7, 7), np.float32))
    assert_raises(err, ["conv2d", "'w'", "(9, 9)", "(11, 11)"], ops.conv2d, x, w, padding=2, dilation=5)
    assert_raises(err, ["conv2d", "'stride'", "positive", "(0, 0)"], ops.conv2d, x, w, stride=0)
    assert_raises(err, ["conv2d", "'stride'", "positive", "(1, -2)"], ops.conv2d, x, w, stride=(1, -2))
    assert_raises(err, ["conv2d", "'padding'", "non-negative", "-1"], ops.conv2d, x, w, padding=(-1, 0))
    assert_raises(err, ["conv2d", "'dilation'", ">= 1", "(0, 0)"], ops.conv2d, x, w, dilation=0)
    assert_raises(err, ["conv2d", "'groups'", "positive", "0"], ops.conv2d, x, w, groups=0)
    assert_raises(err, ["conv2d", "'x'", "non-empty", "(0, 4, 5, 5)"], ops.conv2d,
                  np.zeros((0, 4, 5, 5), np.float32), w)
    assert_raises(err, ["conv2d", "'w'", "non-empty"], ops.conv2d, x, np.zeros((0, 4, 3, 3), np.float32))
    assert_raises(err, ["conv2d", "'b'", "(6,)", "(5,)"], ops.conv2d, x, w, np.zeros(5, np.float32))
    assert_raises(TypeError, ["conv2d", "'x'", "float32", "int64"], ops.conv2d, convnet.tensor(x, dtype="int64"), w)
    assert_raises(TypeError, ["conv2d", "'w'", "numeric", "bool"], ops.conv2d, x, w.astype(bool))
    assert_raises(err, ["conv2d", "'padding'", "'same', 'valid'", "'full'"], ops.conv2d, x, w, padding="full")
    assert_raises(err, ["conv2d", "'stride'", "positive", "(0, 1)"], ops.conv2d, x, w, stride=(0, 1), padding="same")
    assert_raises(TypeError, ["conv2d", "'groups'", "an int", "1.5"], ops.conv2d, x, w, groups=1.5)
    assert_raises(TypeError, ["conv2d", "'stride'", "'a'"], ops.conv2d, x, w, stride="a")
    assert_raises(err, ["conv2d", "'dilation'", "pair", "(1, 2, 3)"], ops.conv2d, x, w, dilation=(1, 2, 3))
    assert_raises(err, ["conv2d", "'x'", "None"], ops.conv2d, None, w)


def test_conv2d_backward_errors():
    x = np.zeros((2, 4, 5, 5), np.float32)
    w = np.zeros((6, 4, 3, 3), np.float32)
    g = np.zeros((2, 6, 3, 3), np.float32)
    assert_raises(ValueError, ["conv2d_backward", "'grad_out'", "(2, 6, 3, 3)", "(2, 6, 5, 5)"],
                  ops.conv2d_backward, np.zeros((2, 6, 5, 5), np.float32), x, w)
    assert_raises(ValueError, ["conv2d", "'b'", "(6,)", "(2,)"], ops.conv2d_backward, g, x, w, np.zeros(2, np.float32))
    assert_raises(ValueError, ["conv2d", "'stride'"], ops.conv2d_backward, g, x, w, stride=0)
    assert_raises(TypeError, ["conv2d_backward", "'grad_out'", "float32", "int64"], ops.conv2d_backward,
                  convnet.tensor(g, dtype="int64"), x, w)


def _parity(fn, *arrays, tol=1e-4, **kw):
    """fn on the GPU against the CPU; returns the GPU results."""
    cpu = fn(*arrays, **kw)
    gpu = fn(*[None if a is None else convnet.tensor(a).to("cuda") for a in arrays], **kw)
    cpu, gpu = (cpu if isinstance(cpu, tuple) else (cpu,)), (gpu if isinstance(gpu, tuple) else (gpu,))
    for c, g in zip(cpu, gpu):
        if c is None:
            assert g is None
        else:
            assert_close(g.numpy(), np.asarray(c), tol, "cuda vs cpu")
    return [None if g is None else g.numpy() for g in gpu]


@requires_cuda
@pytest.mark.parametrize("index", range(len(CASES)))
def test_conv2d_cuda_matches_cpu(index):
    x, w, b, kw = _data(CASES[index])
    _parity(ops.conv2d, x, w, b, **kw)
    y = np.asarray(ops.conv2d(x, w, b, **kw))
    g = np.random.default_rng(2).standard_normal(y.shape).astype(np.float32)
    _parity(ops.conv2d_backward, g, x, w, b, **kw)


@requires_cuda
@pytest.mark.parametrize("index", [1, 4, 12, 22, 28])
def test_conv2d_cuda_tf32_within_its_tolerance(index):
    # TF32 rounds each GEMM input to 10 mantissa bits (relative error <= 2^-11 each, so <= 2^-10 per
    # product) and sums in float. Against the CPU's FP32 the relative error (opcheck.rel_err) was at
    # most 5.2e-4 over all CASES on the emulator, where exact FP32 stays within 1e-4; 2e-3 is the
    # tolerance stated for TF32. Depthwise convolutions have no GEMM and stay exact.
    x, w, b, kw = _data(CASES[index])
    y = np.asarray(ops.conv2d(x, w, b, **kw))
    g = np.random.default_rng(2).standard_normal(y.shape).astype(np.float32)
    exact = _parity(ops.conv2d, x, w, b, **kw) + _parity(ops.conv2d_backward, g, x, w, b, **kw)
    convnet.cuda.set_allow_tf32(True)
    try:
        assert convnet.cuda.allow_tf32()
        tf32 = _parity(ops.conv2d, x, w, b, tol=2e-3, **kw) + _parity(ops.conv2d_backward, g, x, w, b, tol=2e-3, **kw)
    finally:
        convnet.cuda.set_allow_tf32(False)
    # the switch took effect: TF32 results differ from the exact ones
    assert any(e is not None and not np.array_equal(e, t) for e, t in zip(exact, tf32))
