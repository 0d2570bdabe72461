"""Activations and softmax against PyTorch (float64), finite differences, kinks and every error path."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convnet
from conftest import requires_cuda
from convnet import ops
from opcheck import assert_close, assert_raises, check_finite_differences, compare_with_torch

# name -> (forward, backward, torch reference, kwargs)
ACTIVATIONS = {
    "relu": (ops.relu, ops.relu_backward, F.relu, {}),
    "leaky_relu": (ops.leaky_relu, ops.leaky_relu_backward, F.leaky_relu, {}),
    "leaky_relu_0.2": (ops.leaky_relu, ops.leaky_relu_backward, F.leaky_relu, {"negative_slope": 0.2}),
    "elu": (ops.elu, ops.elu_backward, F.elu, {}),
    "elu_0.5": (ops.elu, ops.elu_backward, F.elu, {"alpha": 0.5}),
    "sigmoid": (ops.sigmoid, ops.sigmoid_backward, torch.sigmoid, {}),
    "tanh": (ops.tanh, ops.tanh_backward, torch.tanh, {}),
}
SHAPES = [(1,), (3, 5), (3, 2, 7, 9), (1, 1, 1, 1), (40000,)]  # the last one runs the OpenMP path


def skip_kink(eps):
    # ReLU-like kinks at 0: central differences across them are meaningless.
    return lambda i, x, idx: abs(x.reshape(-1)[idx]) < 2 * eps


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("shape", SHAPES)
def test_activation_matches_torch(rng, name, shape):
    fwd, bwd, ref, kw = ACTIVATIONS[name]
    # sigmoid and tanh differentiate through the float32 output y: 1 - y^2 (or 1 - y) loses ~eps/(1 - |y|)
    # relative accuracy as |y| -> 1 (PyTorch's float32 kernels do the same), so their inputs stay in |x| <~ 3
    # where that is below 1e-4; the kinks of the others are exercised over a wider range.
    scale = 1.0 if name in ("sigmoid", "tanh") else 3.0
    x = (rng.standard_normal(shape) * scale).astype(np.float32)
    compare_with_torch(lambda x: fwd(x, **kw), lambda g, x: bwd(g, x, **kw), lambda x: ref(x, **kw), [x], n_diff=1)
    if np.prod(shape) < 1000:
        check_finite_differences(lambda x: fwd(x, **kw), lambda g, x: bwd(g, x, **kw), [x], n_diff=1,
                                 skip=skip_kink(1e-2))


def test_activation_kinks_and_extremes():
    x = np.array([-2.0, -0.0, 0.0, 1e-30, 3.0], np.float32)
    g = np.ones_like(x)
    np.testing.assert_array_equal(ops.relu(x).numpy(), np.array([0, 0, 0, 1e-30, 3], np.float32))
    np.testing.assert_array_equal(ops.relu_backward(g, x).numpy(), [0, 0, 0, 1, 1])  # relu'(0) = 0, like PyTorch
    np.testing.assert_allclose(ops.leaky_relu_backward(g, x, 0.1).numpy(), [0.1, 0.1, 0.1, 1, 1], rtol=1e-7)
    np.testing.assert_allclose(ops.elu_backward(g, x).numpy(), [np.exp(-2.0), 1, 1, 1, 1], rtol=1e-6)
    xt = torch.tensor(x, requires_grad=True)
    F.relu(xt).sum().backward()
    np.testing.assert_array_equal(xt.grad.numpy(), ops.relu_backward(g, x).numpy())
    # No overflow to NaN at the extremes.
    big = np.array([-1e4, -100, 100, 1e4], np.float32)
    np.testing.assert_array_equal(ops.sigmoid(big).numpy(), [0, 0, 1, 1])
    np.testing.assert_array_equal(ops.tanh(big).numpy(), [-1, -1, 1, 1])
    assert np.all(np.isfinite(ops.sigmoid_backward(np.ones(4, np.float32), big).numpy()))
    np.testing.assert_allclose(ops.elu(big).numpy(), [-1, -1, 100, 1e4])
    assert np.isnan(ops.relu(np.array([np.nan], np.float32)).numpy()[0])  # NaN propagates, like PyTorch


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("shape,axis", [((1, 10), -1), ((3, 7), 1), ((3, 7), 0), ((2, 3, 5, 4), 1),
                                        ((2, 3, 5, 4), -2), ((5,), 0), ((3, 1), -1), ((1, 2, 3), -3)])
def test_softmax_matches_torch(rng, log, shape, axis):
    fwd, bwd = (ops.log_softmax, ops.log_softmax_backward) if log else (ops.softmax, ops.softmax_backward)
    ref = F.log_softmax if log else F.softmax
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    compare_with_torch(lambda x: fwd(x, axis), lambda g, x: bwd(g, x, axis), lambda x: ref(x, dim=axis), [x],
                       n_diff=1)
    check_finite_differences(lambda x: fwd(x, axis), lambda g, x: bwd(g, x, axis), [x], n_diff=1)


def test_softmax_default_axis_and_stability(rng):
    x = rng.standard_normal((4, 6)).astype(np.float32)
    np.testing.assert_allclose(ops.softmax(x).numpy(), ops.softmax(x, axis=1).numpy())
    np.testing.assert_allclose(ops.softmax(x).numpy().sum(-1), 1, rtol=1e-6)
    # Huge logits: subtracting the max keeps them finite.
    big = np.array([[1000.0, 1000.0, -1000.0], [-1e30, 0.0, 88.0]], np.float32)
    s = ops.softmax(big).numpy()
    ls = ops.log_softmax(big).numpy()
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(ls))
    assert_close(s, F.softmax(torch.tensor(big, dtype=torch.float64), -1).numpy())
    assert_close(ls, F.log_softmax(torch.tensor(big, dtype=torch.float64), -1).numpy())
    np.testing.assert_allclose(s[0], [0.5, 0.5, 0.0])


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "sigmoid", "tanh"])
def test_activation_errors(name):
    fwd, bwd = getattr(ops, name), getattr(ops, name + "_backward")
    x = np.zeros((2, 3), np.float32)
    assert_raises(TypeError, [name, "'x'", "float32", "int64"], fwd, convnet.tensor(x, dtype="int64"))
    assert_raises(ValueError, [name, "'x'", "non-empty", "(0, 3)"], fwd, np.zeros((0, 3), np.float32))
    assert_raises(ValueError, [name, "'x'", "None"], fwd, None)
    assert_raises(TypeError, [name, "'x'", "numeric", "<U4"], fwd, "text")
    b = name + "_backward"
    assert_raises(ValueError, [b, "'grad_out'", "(2, 3)", "(3, 2)"], bwd, np.zeros((3, 2), np.float32), x)
    assert_raises(TypeError, [b, "'grad_out'", "float32", "int64"], bwd, convnet.tensor(x, dtype="int64"), x)
    assert_raises(ValueError, [b, "'x'", "non-empty"], bwd, np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32))


def test_activation_parameter_errors():
    x = np.zeros((2, 3), np.float32)
    assert_raises(ValueError, ["leaky_relu", "'negative_slope'", "finite", "nan"], ops.leaky_relu, x, float("nan"))
    assert_raises(ValueError, ["elu_backward", "'alpha'", "finite", "inf"], ops.elu_backward, x, x, float("inf"))
    assert_raises(TypeError, ["elu"], ops.elu, x, "big")  # pybind11's own argument check


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_errors(name):
    fwd, bwd = getattr(ops, name), getattr(ops, name + "_backward")
    x = np.zeros((2, 3), np.float32)
    assert_raises(ValueError, [name, "'axis'", "[-2, 2)", "(2, 3)", "2"], fwd, x, 2)
    assert_raises(ValueError, [name, "'axis'", "[-2, 2)", "-3"], fwd, x, -3)
    assert_raises(ValueError, [name, "'axis'", "[-1, 1)", "5"], fwd, np.zeros(4, np.float32), 5)
    assert_raises(TypeError, [name, "'x'", "float32", "int64"], fwd, convnet.tensor(x, dtype="int64"))
    assert_raises(ValueError, [name, "'x'", "non-empty", "(2, 0)"], fwd, np.zeros((2, 0), np.float32))
    b = name + "_backward"
    assert_raises(ValueError, [b, "'axis'", "[-2, 2)", "7"], bwd, x, x, 7)
    assert_raises(ValueError, [b, "'grad_out'", "(2, 3)", "(6,)"], bwd, np.zeros(6, np.float32), x)
    # A 0-d tensor has no axis to normalise over.
    assert_raises(ValueError, [name, "'axis'", "0-D"], fwd, np.float32(1.0))


@requires_cuda
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_cuda_matches_cpu(rng, name):
    fwd, bwd, _, kw = ACTIVATIONS[name]
    for shape in [(3, 2, 7, 9), (100003,)]:
        x = (rng.standard_normal(shape) * 3).astype(np.float32)
        x.reshape(-1)[:3] = 0.0  # the kink, decided the same way on both
        g = rng.standard_normal(shape).astype(np.float32)
        xg, gg = convnet.tensor(x, device="cuda"), convnet.tensor(g, device="cuda")
        assert_close(fwd(xg, **kw).to("cpu").numpy(), fwd(x, **kw).numpy(), what="cuda forward")
        assert_close(bwd(gg, xg, **kw).to("cpu").numpy(), bwd(g, x, **kw).numpy(), what="cuda backward")


@requires_cuda
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,axis", [((3, 7), -1), ((2, 3, 5, 4), 1), ((64, 1000), -1)])
def test_softmax_cuda_matches_cpu(rng, name, shape, axis):
    fwd, bwd = getattr(ops, name), getattr(ops, name + "_backward")
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    xg, gg = convnet.tensor(x, device="cuda"), convnet.tensor(g, device="cuda")
    assert_close(fwd(xg, axis).to("cpu").numpy(), fwd(x, axis).numpy(), what="cuda forward")
    assert_close(bwd(gg, xg, axis).to("cpu").numpy(), bwd(g, x, axis).numpy(), what="cuda backward")
