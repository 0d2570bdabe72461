"""The model API over the C++ graph: layers that own their weights (one layer in two models is one
set of weights), Sequential.add, trainable, models used as layers, custom layers composing layers,
model/layer inputs and outputs, the refusals, and one model used from many threads."""
import threading

import numpy as np
import pytest
import torch

import convnet
from convnet import losses, layers as L, optimizers
from convnet.datasets import fashion_mnist
from conftest import requires_cuda


@pytest.fixture(scope="module")
def fashion():
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    return x_train[:3000], y_train[:3000], x_test[:500]


@pytest.fixture
def data(rng):
    return rng.standard_normal((48, 1, 12, 12)).astype(np.float32), rng.integers(0, 5, 48)


def small_cnn(shape=(1, 12, 12), classes=5):
    return convnet.Sequential([L.Input(shape), L.Conv2D(4, 3), L.BatchNormalization(), L.ReLU(), L.MaxPool2D(2),
                               L.Flatten(), L.Dense(classes, activation="softmax")])


def trained(model, x, y, optimizer="adam", epochs=1, loss="sparse_categorical_crossentropy"):
    model.compile(optimizer, loss, device="cpu")
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0)
    return model


def layer_values(layers):
    return [w for layer in layers for w in layer.get_weights()]


def assert_all_equal(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def twin_predict(model, make, x):
    """What a fresh model of the same architecture with the same weights predicts."""
    twin = make()
    twin.set_weights(model.get_weights())
    return twin.predict(x)


# -- transfer learning ---------------------------------------------------------------------------
def test_transfer_learning_freezes_the_base_and_keeps_the_original(fashion):
    x, y, x_test = fashion
    convnet.set_random_seed(0)
    model = trained(small_cnn((1, 28, 28), 10), x, y)
    expected = model.predict(x_test)
    base = convnet.Sequential(model.layers[:-1], name="base")
    base.trainable = False
    frozen = layer_values(base.layers)
    head = L.Dense(5, activation="softmax", name="head")
    new = convnet.Sequential([L.Input((1, 28, 28)), base, head])
    assert new.get_layer("base") is base and not model.layers[0].trainable
    lines = []
    new.summary(print_fn=lines.append)
    assert f"Trainable params: {13 * 13 * 4 * 5 + 5:,}" in lines
    head_before = head.get_weights()
    trained(new, x, y // 2)
    assert_all_equal(layer_values(base.layers), frozen)  # weights and batch-norm statistics, bit for bit
    np.testing.assert_array_equal(model.predict(x_test), expected)
    assert not np.array_equal(head.get_weights()[0], head_before[0])


# -- layers own their weights ------------------------------------------------------------------------
def test_a_model_built_from_trained_layers_starts_from_their_weights(data, tmp_path):
    x, y = data
    a = trained(small_cnn(), x, y)
    conv = a.layers[0]
    trained_conv = conv.get_weights()
    b = convnet.Sequential([L.Input((1, 12, 12))] + a.layers[:-1] + [L.Dense(3, activation="softmax")])
    assert_all_equal(b.layers[0].get_weights(), trained_conv)  # no fresh initialisation
    trained(b, x, y % 3)
    assert not np.array_equal(conv.get_weights()[0], trained_conv[0])
    # a sees b's training: its weights, predictions and file agree with the layer's current values
    assert_all_equal(a.get_weights()[:6], layer_values(a.layers[:2]))
    np.testing.assert_array_equal(a.predict(x), twin_predict(a, small_cnn, x))
    a.save(tmp_path / "a.cnet")  # (a KeyError before layers owned their weights)
    np.testing.assert_array_equal(convnet.load_model(tmp_path / "a.cnet", device="cpu").predict(x), a.predict(x))
    # and training a changes what b computes
    trained(a, x, y)
    np.testing.assert_array_equal(b.get_weights()[0], conv.get_weights()[0])
    b_twin = convnet.Sequential([L.Input((1, 12, 12)), L.Conv2D(4, 3), L.BatchNormalization(), L.ReLU(),
                                 L.MaxPool2D(2), L.Flatten(), L.Dense(3, activation="softmax")])
    b_twin.set_weights(b.get_weights())
    np.testing.assert_array_equal(b.predict(x), b_twin.predict(x))


def test_a_functional_model_reusing_layers_shares_their_weights(data):
    x, y = data
    base = trained(small_cnn(), x, y)
    inputs = L.Input((1, 12, 12))
    h = inputs
    for layer in base.layers[:-1]:
        h = layer(h)
    model = convnet.Model(inputs, L.Dense(3, activation="softmax")(h))
    assert_all_equal(model.get_weights()[:6], base.get_weights()[:6])
    trained(model, x, y % 3)
    assert_all_equal(base.get_weights()[:6], model.get_weights()[:6])
    np.testing.assert_array_equal(base.predict(x), twin_predict(base, small_cnn, x))


@requires_cuda
def test_layers_shared_between_a_cpu_and_a_gpu_model(data):
    x, y = data
    a = trained(small_cnn(), x, y)
    b = convnet.Sequential([L.Input((1, 12, 12))] + a.layers[:-1] + [L.Dense(3, activation="softmax")])
    b.compile("adam", device="cuda")
    b.fit(x, y % 3, epochs=1, batch_size=16, verbose=0)
    assert b.device == "cuda:0" and a.device == "cpu"
    assert_all_equal(a.get_weights()[:6], b.get_weights()[:6])  # copied from the GPU
    np.testing.assert_array_equal(a.predict(x), twin_predict(a, small_cnn, x))
    a.to("cuda")
    assert_all_equal(b.get_weights()[:6], a.get_weights()[:6])


def test_layer_set_weights_reaches_every_model_holding_it(data):
    x, _ = data
    a = small_cnn()
    b = convnet.Sequential([L.Input((1, 12, 12))] + a.layers)
    weights = [np.full_like(w, 0.1) for w in a.layers[0].get_weights()]
    a.layers[0].set_weights(weights)
    assert_all_equal(b.layers[0].get_weights(), weights)
    np.testing.assert_array_equal(a.predict(x), b.predict(x))


def test_sequential_add_keeps_the_trained_weights(data):
    x, y = data
    model = trained(convnet.Sequential([L.Input((1, 12, 12)), L.Conv2D(4, 3), L.Flatten()]), x, y,
                    loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    before = model.get_weights()
    model.add(L.Dense(5, activation="softmax"))
    model.compile("adam", device="cpu")
    assert_all_equal(model.get_weights()[:2], before)
    refused = L.Conv2D(2, 3)
    with pytest.raises(ValueError, match=r"Conv2D: argument 'input' expected a \(C, H, W\) input, got \(5,\)"):
        model.add(refused)  # on a flat input: refused, and the model stays as it was
    with pytest.raises(AttributeError, match="not been called"):
        refused.output
    assert len(model.layers) == 3
    assert_all_equal(model.get_weights()[:2], before)
    model.train_on_batch(x, y)


def test_model_trainable_freezes_every_layer(data):
    x, y = data
    model = trained(small_cnn(), x, y)
    model.trainable = False
    assert not model.trainable and not any(layer.trainable for layer in model.layers)
    lines = []
    model.summary(print_fn=lines.append)
    assert "Trainable params: 0" in lines
    before = model.get_weights()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert_all_equal(model.get_weights(), before)  # weights and batch-norm statistics
    model.trainable = True
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert not np.array_equal(model.get_weights()[0], before[0])


# -- models as layers -------------------------------------------------------------------------------------
def test_model_in_a_sequential_round_trips(data, tmp_path):
    x, y = data
    base = trained(small_cnn(), x, y)
    body = convnet.Sequential(base.layers[:-2], name="body")  # no Input: the bigger model gives it one
    model = trained(convnet.Sequential([L.Input((1, 12, 12)), body, L.Flatten(), L.Dense(3, activation="softmax")]), x, y % 3)
    assert model.get_layer("body") is body and model.get_layer(base.layers[0].name) is base.layers[0]
    assert_all_equal(layer_values(body.layers), layer_values(base.layers[:-2]))
    model.save(tmp_path / "m.cnet")
    loaded = convnet.load_model(tmp_path / "m.cnet", device="cpu")
    assert isinstance(loaded.get_layer("body"), convnet.Sequential)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_model_called_in_a_functional_model_round_trips(data, tmp_path):
    x, y = data
    inputs = L.Input((1, 12, 12))
    h = L.Conv2D(1, 3, padding="same", name="inner_conv")(inputs)
    block = convnet.Model(inputs, L.ReLU()(L.Add()([inputs, h])), name="block")
    outer_inputs = L.Input((1, 12, 12))
    outputs = L.Dense(5, activation="softmax")(L.Flatten()(block(outer_inputs)))
    model = convnet.Model(outer_inputs, outputs)
    assert model.input is outer_inputs and model.output is outputs and isinstance(block.output.layer, L.ReLU)
    block.trainable = False  # freezes it inside the bigger model
    frozen = block.get_weights()
    trained(model, x, y)
    assert_all_equal(block.get_weights(), frozen)
    model.save(tmp_path / "m.cnet")
    loaded = convnet.load_model(tmp_path / "m.cnet", device="cpu")
    assert not loaded.get_layer("block").trainable and not loaded.get_layer("inner_conv").trainable
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_model_as_layer_needs_its_input_shape():
    base = small_cnn()
    with pytest.raises(ValueError, match=r"model 'seq.*' expects inputs of shape \(1, 12, 12\), got \(1, 10, 10\)"):
        convnet.Sequential([L.Input((1, 10, 10)), base])


# -- custom layers ---------------------------------------------------------------------------------------
class ConvBlock(L.Layer):
    """conv -> batch norm -> relu, and optionally a residual sum."""

    def __init__(self, filters, residual=False, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.residual = filters, residual
        self.conv = L.Conv2D(filters, 3, padding="same")
        self.bn = L.BatchNormalization()
        self.relu = L.ReLU()
        self.add = L.Add()

    def call(self, inputs):
        y = self.relu(self.bn(self.conv(inputs)))
        return self.add([inputs, y]) if self.residual else y

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, residual=self.residual)
        return config


@L.register
class RegisteredBlock(ConvBlock):
    pass


def test_custom_layer_is_the_flat_model_and_round_trips(data, tmp_path):
    x, y = data
    model = convnet.Sequential([L.Input((1, 12, 12)), ConvBlock(4, name="block"), L.Flatten(), L.Dense(5, activation="softmax")])
    flat = convnet.Sequential([L.Input((1, 12, 12)), L.Conv2D(4, 3, padding="same"), L.BatchNormalization(),
                               L.ReLU(), L.Flatten(), L.Dense(5, activation="softmax")])
    trained(model, x, y)
    flat.set_weights(model.get_weights())
    np.testing.assert_array_equal(model.predict(x), flat.predict(x))
    block = model.get_layer("block")
    assert [w.shape for w in block.get_weights()] == [(4, 1, 3, 3), (4,), (4,), (4,), (4,), (4,)]
    model.save(tmp_path / "m.cnet")
    with pytest.raises(ValueError, match=r"unknown layer 'ConvBlock'.*custom_objects=\{'ConvBlock': ConvBlock\}"):
        convnet.load_model(tmp_path / "m.cnet", device="cpu")
    loaded = convnet.load_model(tmp_path / "m.cnet", device="cpu", custom_objects={"ConvBlock": ConvBlock})
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_residual_custom_layer_trains_and_loads_when_registered(data, tmp_path):
    x, y = data
    inputs = L.Input((1, 12, 12))
    block = RegisteredBlock(1, residual=True)
    model = convnet.Model(inputs, L.Dense(5, activation="softmax")(L.Flatten()(block(inputs))))
    before = block.get_weights()
    trained(model, x, y)
    assert not np.array_equal(block.get_weights()[0], before[0])
    block.conv.trainable = False  # a sub-layer's own flag is saved too
    model.save(tmp_path / "m.cnet")
    loaded = convnet.load_model(tmp_path / "m.cnet", device="cpu")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert [layer.trainable for layer in loaded.layers[0]._leaves()] == [False, True, True, True]


class Doubling(L.Layer):
    def call(self, inputs):
        return inputs * 2


class NumpyMean(L.Layer):
    def call(self, inputs):
        return np.mean(inputs)


class NoCall(L.Layer):
    pass


class OwnWeights(L.Layer):
    def build(self, input_shape):
        self.w = self.add_weight((3,))

    def call(self, inputs):
        return inputs


class ReturnsArray(L.Layer):
    def call(self, inputs):
        return np.zeros(3)


class MissingConfig(L.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.dense = L.Dense(units)

    def call(self, inputs):
        return self.dense(inputs)


@pytest.mark.parametrize("layer, fragment", [
    (Doubling(name="doubling"), r"doubling \(Doubling\): call\(\) used arithmetic \('__mul__'\)"),
    (NumpyMean(name="mean"), r"mean \(NumpyMean\): call\(\) used numpy"),
    (NoCall(name="nothing"), r"nothing \(NoCall\): the layer implements neither call\(self, inputs\) nor graph nodes"),
    (OwnWeights(name="own"), r"own \(OwnWeights\): build\(\) is not supported"),
    (ReturnsArray(name="array"), r"array \(ReturnsArray\): call\(\) returned ndarray"),
])
def test_custom_layers_the_graph_cannot_run_are_refused(layer, fragment):
    with pytest.raises(TypeError, match=fragment + r".*may only compose convnet layers"):
        convnet.Sequential([L.Input((1, 4, 4)), layer, L.Flatten()])


def test_a_model_subclass_with_call_is_refused():
    class Subclassed(convnet.Model):
        def call(self, inputs):
            return inputs

    with pytest.raises(TypeError, match=r"subclassed \(Subclassed\): a Model subclass with call\(\) is not supported"):
        Subclassed()


def test_custom_layer_without_get_config_cannot_be_saved(tmp_path):
    model = convnet.Sequential([L.Input((3,)), MissingConfig(2, name="mc")])
    with pytest.raises(TypeError, match=r"mc \(MissingConfig\): __init__ takes 'units'.*get_config"):
        model.save(tmp_path / "m.cnet")


# -- symbolic tensors and the refusals ------------------------------------------------------------------
def test_layer_output_and_a_layer_called_twice():
    inputs = L.Input((4,))
    dense = L.Dense(3)
    hidden = dense(inputs)
    model = convnet.Model(inputs, L.Dense(2)(hidden))
    assert dense.output is hidden and model.input is inputs
    with pytest.raises(AttributeError, match="not been called"):
        L.Dense(3).output
    convnet.Sequential([L.Input((4,)), dense])  # a second call, in another model
    with pytest.raises(ValueError, match=f"{dense.name}: the layer has been called 2 times"):
        dense.output
    with pytest.raises(TypeError, match=r"arithmetic \('__add__'\) on a symbolic tensor"):
        hidden + 1


def test_a_layer_used_twice_in_one_model_shares_its_weights(rng, tmp_path):
    """A siamese branch: one Dense on two inputs; its gradient is the sum over both calls (PyTorch)."""
    convnet.set_random_seed(5)
    inputs = L.Input((4,))
    shared = L.Dense(4, activation="tanh", name="siamese")
    left = shared(inputs)
    right = shared(L.Dense(4, name="pre")(inputs))
    model = convnet.Model(inputs, L.Dense(3, activation="softmax", name="out")(L.Add()([left, right])))
    model.compile(optimizers.SGD(0.5), device="cpu")
    assert len(model.get_weights()) == 6 and model.count_params() == 20 + 20 + 15
    x, y = rng.standard_normal((6, 4)).astype(np.float32), rng.integers(0, 3, 6)
    (ws, bs), (wp, bp), (wo, bo) = (
        [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in model.get_layer(n).get_weights()]
        for n in ("siamese", "pre", "out"))
    tx = torch.tensor(x, dtype=torch.float64)
    branch = lambda h: torch.tanh(h @ ws.T + bs)
    logits = (branch(tx) + branch(tx @ wp.T + bp)) @ wo.T + bo
    torch.nn.functional.cross_entropy(logits, torch.tensor(y)).backward()
    model.train_on_batch(x, y)
    np.testing.assert_allclose(model.get_layer("siamese").get_weights()[0], (ws - 0.5 * ws.grad).detach().numpy(),
                               rtol=1e-4, atol=1e-6)
    model.save(tmp_path / "siamese.cnet")
    loaded = convnet.load_model(tmp_path / "siamese.cnet", device="cpu")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    base = convnet.Sequential([L.Input((4,)), L.Dense(4, name="square")], name="twice")
    twice = convnet.Sequential([L.Input((4,)), base, base])  # base(base(x)), one set of weights
    np.testing.assert_allclose(twice.predict(x), base.predict(base.predict(x)), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="two different layers are named 'same'"):
        convnet.Sequential([L.Input((4,)), L.Dense(4, name="same"), L.Dense(4, name="same")])


# -- threads ---------------------------------------------------------------------------------------------
def run_threads(*targets):
    errors = []

    def guarded(target):
        try:
            target()
        except BaseException as e:  # reported in the main thread
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread did not finish (deadlock?)"
    if errors:
        raise errors[0]


def test_threads_predicting_on_one_model_get_the_single_threaded_results(data):
    x, y = data
    model = trained(small_cnn(), x, y)
    sizes = (5, 16, 48, 256)
    expected = {b: model.predict(x, batch_size=b) for b in sizes}
    got = {b: [] for b in sizes}
    run_threads(*[lambda b=b: [got[b].append(model.predict(x, batch_size=b)) for _ in range(5)] for b in sizes])
    for b in sizes:
        for result in got[b]:
            np.testing.assert_array_equal(result, expected[b])


def test_two_threads_fitting_one_model_finish_with_finite_weights(data):
    x, y = data
    model = trained(small_cnn(), x, y)
    run_threads(*[lambda: model.fit(x, y, epochs=2, batch_size=8, verbose=0)] * 2)
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_models_in_parallel_and_models_sharing_layers(data):
    x, y = data
    a, b = trained(small_cnn(), x, y), trained(small_cnn(), x, y)
    expected = a.predict(x), b.predict(x)
    got = []
    run_threads(lambda: got.append(("a", a.predict(x))), lambda: got.append(("b", b.predict(x))))
    for name, result in got:
        np.testing.assert_array_equal(result, expected[name == "b"])
    # c and d each hold layers whose values live in the other: their locks are taken in one order
    c = convnet.Sequential([L.Input((1, 12, 12))] + a.layers[:3] + b.layers[3:])
    d = convnet.Sequential([L.Input((1, 12, 12))] + b.layers[:3] + a.layers[3:])
    c.compile("sgd", device="cpu")
    run_threads(lambda: [c.fit(x, y, batch_size=16, verbose=0) for _ in range(3)],
                lambda: [d.predict(x) for _ in range(10)], lambda: [a.predict(x) for _ in range(10)])
    np.testing.assert_array_equal(c.predict(x), twin_predict(c, small_cnn, x))


def test_a_model_with_a_feature_map_output_predicts_and_trains_with_a_fitting_loss(data):
    x, y = data
    inputs = L.Input((1, 12, 12))
    base = convnet.Model(inputs, L.Conv2D(3, 3, name="maps")(inputs), name="features")
    assert base.predict(x).shape == (48, 3, 10, 10)
    with pytest.raises(ValueError, match=r"compile: .*layer 'maps'.*of shape \(classes,\)"):
        base.compile("sgd", losses.SparseCategoricalCrossentropy(from_logits=True), device="cpu")
    base.compile("sgd", "mean_squared_error", device="cpu")
    history = base.fit(x, np.zeros((48, 3, 10, 10), np.float32), epochs=2, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]


def test_an_unbuilt_model_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match=r"unbuilt.save: the model has no input shape yet"):
        convnet.Sequential([L.Dense(3)], name="unbuilt").save(tmp_path / "m.cnet")
