"""linear against PyTorch (float64), finite differences, error paths, GPU parity."""
import numpy as np
import pytest
import torch.nn.functional as F

import convnet
from convnet import ops
from conftest import requires_cuda
from opcheck import assert_close, assert_raises, check_finite_differences, compare_with_torch

# (N, in, out, bias): batch 1, odd sizes, and sizes past the GEMM's blocks (KC 256, MC 144).
CASES = [(1, 5, 3, True), (3, 7, 4, False), (17, 33, 9, True), (128, 300, 37, True), (150, 64, 70, False),
         (5, 3136, 256, True), (2, 4, 4100, True)]


def _data(case, seed=0):
    n, fin, fout, bias = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, fin)).astype(np.float32)
    w = (rng.standard_normal((fout, fin)) / np.sqrt(fin)).astype(np.float32)
    b = rng.standard_normal(fout).astype(np.float32) if bias else None
    return x, w, b


@pytest.mark.parametrize("case", CASES)
def test_linear_matches_torch(case):
    compare_with_torch(ops.linear, ops.linear_backward, F.linear, list(_data(case)), n_diff=3)


@pytest.mark.parametrize("case", CASES[:3])
def test_linear_finite_differences(case):
    check_finite_differences(ops.linear, ops.linear_backward, list(_data(case, seed=1)), n_diff=3)


def test_linear_known_values_and_none_bias_grad():
    x = np.array([[1.0, 2.0]], np.float32)
    w = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, -1.0]], np.float32)
    np.testing.assert_array_equal(np.asarray(ops.linear(x, w, np.array([0.5, 0, 1], np.float32))),
                                  [[1.5, 3.0, -1.0]])
    gx, gw, gb = ops.linear_backward(np.ones((1, 3), np.float32), x, w)
    np.testing.assert_array_equal(np.asarray(gx), [[2.0, 0.0]])
    np.testing.assert_array_equal(np.asarray(gw), [[1.0, 2.0]] * 3)
    assert gb is None
    assert ops.gemm_isa() in ("avx512", "avx2", "generic")


def test_measured_fma_peak():
    # a 10-chain FMA loop: more than a scalar loop on a loaded machine, at most what one core of today can do
    # (2 pipes x 16 lanes x 2 flops at 6 GHz = 384 GFLOP/s) per thread
    assert 0.1 < ops.measured_fma_peak_gflops(1, 0.05) < 384
    assert 0.1 < ops.measured_fma_peak_gflops(2, 0.05) < 2 * 384
    assert_raises(ValueError, ["measured_fma_peak_gflops", "'threads'", "0"], ops.measured_fma_peak_gflops, 0)
    assert_raises(ValueError, ["measured_fma_peak_gflops", "'seconds'", "(0, 60]"], ops.measured_fma_peak_gflops,
                  1, -1.0)
    assert_raises(TypeError, ["measured_fma_peak_gflops", "'threads'"], ops.measured_fma_peak_gflops, "two")


def test_linear_errors():
    x = np.zeros((4, 5), np.float32)
    w = np.zeros((3, 5), np.float32)
    assert_raises(ValueError, ["linear", "'x'", "2-D", "3-D"], ops.linear, np.zeros((4, 5, 1), np.float32), w)
    assert_raises(ValueError, ["linear", "'w'", "2-D", "1-D"], ops.linear, x, np.zeros(5, np.float32))
    assert_raises(ValueError, ["linear", "'w'", "(out_features, 5)", "(3, 6)"], ops.linear, x,
                  np.zeros((3, 6), np.float32))
    assert_raises(ValueError, ["linear", "'b'", "(3,)", "(4,)"], ops.linear, x, w, np.zeros(4, np.float32))
    assert_raises(ValueError, ["linear", "'b'", "(3,)", "(1, 3)"], ops.linear, x, w, np.zeros((1, 3), np.float32))
    assert_raises(ValueError, ["linear", "'x'", "non-empty", "(0, 5)"], ops.linear, np.zeros((0, 5), np.float32), w)
    assert_raises(TypeError, ["linear", "'x'", "float32", "int64"], ops.linear, convnet.tensor(x, dtype="int64"), w)
    assert_raises(TypeError, ["linear", "'b'", "numeric", "<U1"], ops.linear, x, w, "b")
    assert_raises(ValueError, ["linear_backward", "'grad_out'", "(4, 3)", "(4, 2)"], ops.linear_backward,
                  np.zeros((4, 2), np.float32), x, w)
    assert_raises(ValueError, ["linear", "'b'"], ops.linear_backward, np.zeros((4, 3), np.float32), x, w,
                  np.zeros(2, np.float32))


@requires_cuda
@pytest.mark.parametrize("case", CASES)
def test_linear_cuda_matches_cpu(case):
    x, w, b = _data(case)
    arrays = [x, w, b]
    cpu = np.asarray(ops.linear(*arrays))
    dev = [None if a is None else convnet.tensor(a).to("cuda") for a in arrays]
    assert_close(ops.linear(*dev).numpy(), cpu, 1e-4, "forward")
    g = np.random.default_rng(2).standard_normal(cpu.shape).astype(np.float32)
    for c, d in zip(ops.linear_backward(g, *arrays), ops.linear_backward(convnet.tensor(g).to("cuda"), *dev)):
        assert (c is None) == (d is None)
        if c is not None:
            assert_close(d.numpy(), np.asarray(c), 1e-4, "backward")
