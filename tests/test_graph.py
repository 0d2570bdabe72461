"""The model graph against PyTorch: every node kind in one DAG (several outputs of any rank, Add of
3 inputs, Concatenate of feature maps and of features, depthwise and separable convolutions,
batch norm, every pooling, dropout), its outputs, input gradients and one training step; feature
extraction; the losses and the outputs they fit; the node parameters' checks.

Tolerances: float32 against PyTorch in float64, relative to the largest reference value (opcheck),
1e-4 as for the ops: each value here is a float32 sum of at most a few hundred terms."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convnet
from convnet import layers as L, losses, optimizers
from conftest import requires_cuda
from opcheck import assert_close


def dag_model():
    """A functional model using every node kind, with a feature map as its second output."""
    inp = L.Input((2, 10, 10), name="x")
    c1 = L.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inp)
    bn = L.BatchNormalization(name="bn")(c1)
    c2 = L.Conv2D(4, 3, padding="same", activation="tanh", name="c2")(bn)
    dw = L.DepthwiseConv2D(3, padding="same", name="dw")(bn)
    s = L.Add(name="add3")([bn, c2, dw])
    cat = L.Concatenate(name="cat")([s, c1])
    sep = L.SeparableConv2D(3, 3, padding="same", activation="leaky_relu", name="sep")(cat)
    mx = L.MaxPool2D(2, name="max")(sep)
    av = L.AvgPool2D(2, name="avg")(sep)
    mn = L.MinPool2D(2, name="min")(sep)
    pools = L.Concatenate(name="pools")([mx, av, mn])
    g = L.GlobalAveragePooling2D(name="gap")(pools)
    f = L.Dropout(0.0, name="drop")(L.Flatten(name="flat")(pools))
    d1 = L.Dense(6, activation="elu", name="d1")(f)
    feats = L.Concatenate(name="feats")([d1, g])
    out = L.Dense(3, activation="softmax", name="out")(feats)
    return convnet.Model(inp, [out, c2])


class TorchDag(torch.nn.Module):
    """dag_model in PyTorch, from convnet's weights (float64)."""

    def __init__(self, model):
        super().__init__()
        t = lambda a: torch.nn.Parameter(torch.tensor(np.asarray(a, np.float64)))
        w = {layer.name: layer.get_weights() for layer in model.layers}
        self.c1_w, self.c1_b = map(t, w["c1"])
        gamma, beta, mean, var = w["bn"]
        self.bn = torch.nn.BatchNorm2d(4, eps=1e-3, momentum=0.01).double()
        with torch.no_grad():
            self.bn.weight.copy_(torch.tensor(gamma))
            self.bn.bias.copy_(torch.tensor(beta))
            self.bn.running_mean.copy_(torch.tensor(mean))
            self.bn.running_var.copy_(torch.tensor(var))
        self.c2_w, self.c2_b = map(t, w["c2"])
        self.dw_w, self.dw_b = map(t, w["dw"])
        self.sep_dw, self.sep_pw, self.sep_b = map(t, w["sep"])
        self.d1_w, self.d1_b = map(t, w["d1"])
        self.out_w, self.out_b = map(t, w["out"])

    def forward(self, x):
        c1 = torch.relu(F.conv2d(x, self.c1_w, self.c1_b, padding=1))
        bn = self.bn(c1)
        c2 = torch.tanh(F.conv2d(bn, self.c2_w, self.c2_b, padding=1))
        dw = F.conv2d(bn, self.dw_w, self.dw_b, padding=1, groups=4)
        cat = torch.cat([bn + c2 + dw, c1], 1)
        sep = F.leaky_relu(F.conv2d(F.conv2d(cat, self.sep_dw, padding=1, groups=8), self.sep_pw, self.sep_b), 0.2)
        pools = torch.cat([F.max_pool2d(sep, 2), F.avg_pool2d(sep, 2), -F.max_pool2d(-sep, 2)], 1)
        feats = torch.cat([F.elu(pools.flatten(1) @ self.d1_w.T + self.d1_b), pools.mean((2, 3))], 1)
        logits = feats @ self.out_w.T + self.out_b
        return logits, c2


def batch(rng, n=6):
    return rng.standard_normal((n, 2, 10, 10)).astype(np.float32), rng.integers(0, 3, n)


def test_every_node_kind_outputs_and_input_gradients_match_pytorch(rng):
    convnet.set_random_seed(0)
    model = dag_model()
    model.compile(optimizers.SGD(0.1), device="cpu")
    x, y = batch(rng)
    net = TorchDag(model).eval()
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    logits, c2 = net(tx)
    probs, feature_map = model.predict(x)
    assert probs.shape == (6, 3) and feature_map.shape == (6, 4, 10, 10)
    assert_close(probs, torch.softmax(logits, 1).detach().numpy(), what="softmax output")
    assert_close(feature_map, c2.detach().numpy(), what="feature map output")
    F.cross_entropy(logits, torch.tensor(y)).backward()
    grad = model.input_gradients(x, y)
    assert grad.shape == x.shape and grad.dtype == np.float32
    assert_close(grad, tx.grad.numpy(), what="input gradient")


def test_every_node_kind_training_step_matches_pytorch(rng):
    convnet.set_random_seed(1)
    model = dag_model()
    model.compile(optimizers.SGD(0.1), device="cpu")
    x, y = batch(rng)
    net = TorchDag(model).train()
    loss = F.cross_entropy(net(torch.tensor(x, dtype=torch.float64))[0], torch.tensor(y))
    loss.backward()
    assert abs(model.train_on_batch(x, y) - loss.item()) < 1e-5
    with torch.no_grad():
        for p in net.parameters():
            p -= 0.1 * p.grad
    expected = {"c1": [net.c1_w, net.c1_b], "c2": [net.c2_w, net.c2_b], "dw": [net.dw_w, net.dw_b],
                "sep": [net.sep_dw, net.sep_pw, net.sep_b], "d1": [net.d1_w, net.d1_b],
                "out": [net.out_w, net.out_b],
                "bn": [net.bn.weight, net.bn.bias, net.bn.running_mean, net.bn.running_var]}
    for name, tensors in expected.items():
        for got, want in zip(model.get_layer(name).get_weights(), tensors):
            assert_close(got, want.detach().numpy(), what=f"{name} after one step")


def test_feature_extraction_equals_the_hand_computation(rng):
    convnet.set_random_seed(2)
    model = convnet.Sequential([L.Input((1, 8, 8)), L.Conv2D(3, 3, activation="relu", name="conv1"),
                                L.MaxPool2D(2, name="pool"), L.Flatten(), L.Dense(4, activation="softmax")])
    features = convnet.Model(model.input, model.get_layer("conv1").output)
    x = rng.random((5, 1, 8, 8)).astype(np.float32)
    kernel, bias = model.get_layer("conv1").get_weights()
    windows = np.lib.stride_tricks.sliding_window_view(x[:, 0], (3, 3), axis=(1, 2))  # (N, 6, 6, 3, 3)
    expected = np.maximum(np.einsum("nhwij,oij->nohw", windows, kernel[:, 0]) + bias[None, :, None, None], 0)
    np.testing.assert_allclose(features.predict(x), expected, rtol=1e-5, atol=1e-6)
    both = convnet.Model(model.input, [model.get_layer("pool").output, model.output])
    pooled, probs = both.predict(x)
    np.testing.assert_allclose(probs, model.predict(x), rtol=1e-6)
    np.testing.assert_allclose(pooled, expected.reshape(5, 3, 3, 2, 3, 2).max((3, 5)), rtol=1e-5, atol=1e-6)


def test_input_gradients_through_batch_norm_and_dropout_use_inference_mode(rng):
    convnet.set_random_seed(3)
    model = convnet.Sequential([L.Input((6,)), L.Dense(5, activation="relu", name="a"), L.BatchNormalization(name="bn"),
                                L.Dropout(0.5), L.Dense(3, activation="softmax", name="b")])
    model.compile("adam", device="cpu")
    model.fit(rng.standard_normal((64, 6)).astype(np.float32), rng.integers(0, 3, 64), epochs=2, verbose=0)
    x, y = rng.standard_normal((7, 6)).astype(np.float32), rng.integers(0, 3, 7)
    (wa, ba), (wb, bb) = model.get_layer("a").get_weights(), model.get_layer("b").get_weights()
    gamma, beta, mean, var = (torch.tensor(v, dtype=torch.float64) for v in model.get_layer("bn").get_weights())
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    h = torch.relu(tx @ torch.tensor(wa, dtype=torch.float64).T + torch.tensor(ba, dtype=torch.float64))
    h = (h - mean) / torch.sqrt(var + 1e-3) * gamma + beta
    logits = h @ torch.tensor(wb, dtype=torch.float64).T + torch.tensor(bb, dtype=torch.float64)
    F.cross_entropy(logits, torch.tensor(y)).backward()
    before = model.get_weights()
    grad = model.input_gradients(x, y, batch_size=3)  # in chunks: still the gradient of the mean over all 7 rows
    assert_close(grad, tx.grad.numpy(), what="input gradient")
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)  # nothing trained, no statistics updated


@pytest.mark.parametrize("loss, activation, from_logits", [
    ("sparse_categorical_crossentropy", "softmax", False),
    (losses.SparseCategoricalCrossentropy(from_logits=True), None, True),
])
def test_cross_entropy_from_softmax_or_logits_matches_pytorch(rng, loss, activation, from_logits):
    convnet.set_random_seed(4)
    model = convnet.Sequential([L.Input((5,)), L.Dense(4, activation=activation, name="d")])
    model.compile(optimizers.SGD(0.5), loss, device="cpu")
    x, y = rng.standard_normal((8, 5)).astype(np.float32), rng.integers(0, 4, 8)
    w, b = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in model.get_layer("d").get_weights())
    expected = F.cross_entropy(torch.tensor(x, dtype=torch.float64) @ w.T + b, torch.tensor(y))
    expected.backward()
    assert abs(model.train_on_batch(x, y) - expected.item()) < 1e-5
    assert_close(model.get_layer("d").get_weights()[0], (w - 0.5 * w.grad).detach().numpy())


@pytest.mark.parametrize("from_logits", [False, True])
def test_binary_crossentropy_matches_pytorch(rng, from_logits):
    convnet.set_random_seed(5)
    model = convnet.Sequential([L.Input((5,)), L.Dense(1, activation=None if from_logits else "sigmoid", name="d")])
    model.compile(optimizers.SGD(0.5), losses.BinaryCrossentropy(from_logits=from_logits, label_smoothing=0.2),
                  metrics=["accuracy"], device="cpu")
    x, y = rng.standard_normal((8, 5)).astype(np.float32), rng.integers(0, 2, 8)
    w, b = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in model.get_layer("d").get_weights())
    z = (torch.tensor(x, dtype=torch.float64) @ w.T + b)[:, 0]
    target = torch.tensor(y, dtype=torch.float64) * 0.8 + 0.1
    expected = F.binary_cross_entropy_with_logits(z, target)
    expected.backward()
    _, accuracy = model.evaluate(x, y)
    assert accuracy == np.mean((z.detach().numpy() > 0) == (y == 1))
    assert abs(model.train_on_batch(x, y) - expected.item()) < 1e-5
    assert_close(model.get_layer("d").get_weights()[0], (w - 0.5 * w.grad).detach().numpy())
    probs = model.predict(x)
    assert probs.shape == (8, 1)


def test_mean_squared_error_on_a_feature_map_matches_pytorch(rng):
    convnet.set_random_seed(6)
    model = convnet.Sequential([L.Input((1, 6, 6)), L.Conv2D(2, 3, padding="same", activation="relu", name="c")])
    model.compile(optimizers.SGD(0.1), "mean_squared_error", device="cpu")
    x = rng.standard_normal((4, 1, 6, 6)).astype(np.float32)
    target = rng.standard_normal((4, 2, 6, 6)).astype(np.float32)
    w, b = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in model.get_layer("c").get_weights())
    expected = F.mse_loss(torch.relu(F.conv2d(torch.tensor(x, dtype=torch.float64), w, b, padding=1)),
                          torch.tensor(target, dtype=torch.float64))
    expected.backward()
    assert abs(model.evaluate(x, target) - expected.item()) < 1e-5  # the loss alone: no accuracy
    assert abs(model.train_on_batch(x, target) - expected.item()) < 1e-5
    assert_close(model.get_layer("c").get_weights()[0], (w - 0.1 * w.grad).detach().numpy())


def test_the_loss_attaches_to_the_output_named(rng):
    convnet.set_random_seed(7)
    inp = L.Input((4,))
    h = L.Dense(3, activation="relu", name="h")(inp)
    side = L.Dense(2, activation="softmax", name="side")(h)
    main = L.Dense(3, activation="softmax", name="main")(h)
    model = convnet.Model(inp, [side, main])
    model.compile(optimizers.SGD(0.5), {"main": "sparse_categorical_crossentropy"}, device="cpu")
    before = model.get_layer("side").get_weights()
    x, y = rng.standard_normal((6, 4)).astype(np.float32), rng.integers(0, 3, 6)
    model.train_on_batch(x, y)
    for a, b in zip(before, model.get_layer("side").get_weights()):
        np.testing.assert_array_equal(a, b)  # the loss does not depend on it: not updated
    with pytest.raises(ValueError, match="no output named 'nope'"):
        model.compile("sgd", {"nope": "mse"}, device="cpu")


@pytest.mark.parametrize("activation, loss, match", [
    ("relu", "sparse_categorical_crossentropy", "ending in softmax .* got 'relu'"),
    ("sigmoid", "sparse_categorical_crossentropy", "ending in softmax .* got 'sigmoid'"),
    ("softmax", losses.SparseCategoricalCrossentropy(from_logits=True), "without an activation, got an output ending in softmax"),
    ("relu", "binary_crossentropy", "ending in sigmoid .* got 'relu'"),
])
def test_a_loss_that_does_not_fit_the_output_is_refused_at_compile(activation, loss, match):
    units = 1 if loss == "binary_crossentropy" else 3
    model = convnet.Sequential([L.Input((4,)), L.Dense(units, activation=activation, name="last")])
    with pytest.raises(ValueError, match="compile: .*layer 'last'.*" + match):
        model.compile("adam", loss, device="cpu")


def test_custom_loss_subclasses_are_refused_unless_they_only_set_arguments():
    class Hinge(losses.Loss):
        def call(self, y_true, y_pred):
            return y_pred

    class Smoothed(losses.CategoricalCrossentropy):
        def __init__(self):
            super().__init__(label_smoothing=0.1)

    model = convnet.Sequential([L.Input((4,)), L.Dense(3, activation="softmax")])
    with pytest.raises(TypeError, match="loss Hinge defines call\\(\\).*computes its losses in C\\+\\+"):
        model.compile("adam", Hinge(), device="cpu")
    model.compile("adam", Smoothed(), device="cpu")
    assert model._loss.get_config()["class_name"] == "CategoricalCrossentropy"


def test_node_parameters_are_checked_by_the_kind():
    Graph = convnet._core.nn.Graph
    inp = {"op": "input", "name": "x", "shape": [4]}
    with pytest.raises(ValueError, match="layer 'd' \\(linear\\): unknown argument 'unitz'"):
        Graph([inp, {"op": "linear", "name": "d", "inputs": [0], "unitz": 3}], [1])
    with pytest.raises(TypeError, match="layer 'd' \\(linear\\): argument 'units' expected an int, got 'three'"):
        Graph([inp, {"op": "linear", "name": "d", "inputs": [0], "units": "three"}], [1])
    with pytest.raises(ValueError, match="op.*one of input, conv2d, linear"):
        Graph([inp, {"op": "lstm", "name": "r", "inputs": [0]}], [1])
    with pytest.raises(ValueError, match="Concatenate.*at least 2 inputs"):
        Graph([inp, {"op": "concat", "name": "c", "inputs": [0]}], [1])
    with pytest.raises(ValueError, match="Add.*inputs of the same shape"):
        Graph([inp, {"op": "linear", "name": "d", "inputs": [0], "units": 3},
               {"op": "add", "name": "a", "inputs": [0, 1]}], [2])


def test_a_step_without_a_loss_is_refused():
    g = convnet._core.nn.Graph([{"op": "input", "name": "x", "shape": [4]},
                                {"op": "linear", "name": "d", "inputs": [0], "units": 3}], [1])
    x = convnet.tensor(np.zeros((2, 4), np.float32))
    y = convnet.tensor(np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="evaluate: argument 'loss' expected a loss set"):
        g.evaluate(x, y, 2)


@requires_cuda
def test_dag_outputs_input_gradients_and_training_on_the_gpu_match_the_cpu(rng):
    x, y = batch(rng, 8)
    results = []
    for device in ("cpu", "cuda"):
        convnet.set_random_seed(8)
        model = dag_model()
        model.compile(optimizers.SGD(0.1), device=device)
        outputs = model.predict(x)
        grad = model.input_gradients(x, y)
        loss = model.train_on_batch(x, y)
        results.append((outputs, grad, loss, model.get_weights()))
    (cpu_out, cpu_grad, cpu_loss, cpu_w), (gpu_out, gpu_grad, gpu_loss, gpu_w) = results
    for a, b in zip(cpu_out, gpu_out):
        assert_close(b, a, what="output")
    assert_close(gpu_grad, cpu_grad, what="input gradient")
    assert abs(gpu_loss - cpu_loss) < 1e-5
    for a, b in zip(cpu_w, gpu_w):
        assert_close(b, a, what="weights after a step")
