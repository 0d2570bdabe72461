"""Each layer: its weights in PyTorch's layouts (get_weights / set_weights round trip) and its
inference output against the same layer in PyTorch."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convnet
from convnet import layers as L


def model_of(layer, shape=(3, 9, 8)):
    """A model whose output is the layer's output, flattened (the graph ends in a flat output)."""
    inputs = L.Input(shape)
    return convnet.Model(inputs, L.Flatten()(layer(inputs)))


def randomize(layer, rng):
    layer.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in layer.get_weights()])


CASES = [
    (lambda: L.Conv2D(4, 3), lambda x, w: F.conv2d(x, w[0], w[1])),
    (lambda: L.Conv2D(4, (2, 3), strides=2, padding=1, dilation_rate=(1, 2), activation="relu"),
     lambda x, w: F.relu(F.conv2d(x, w[0], w[1], stride=2, padding=1, dilation=(1, 2)))),
    (lambda: L.Conv2D(6, 3, padding="same", groups=3, use_bias=False, activation="tanh"),
     lambda x, w: torch.tanh(F.conv2d(x, w[0], None, padding="same", groups=3))),
    (lambda: L.DepthwiseConv2D(3, depth_multiplier=2, padding=1, activation="elu"),
     lambda x, w: F.elu(F.conv2d(x, w[0], w[1], padding=1, groups=3))),
    (lambda: L.SeparableConv2D(5, 3, activation="sigmoid"),
     lambda x, w: torch.sigmoid(F.conv2d(F.conv2d(x, w[0], None, groups=3), w[1], w[2]))),
    # Keras' 'same' with strides on the 9x8 input: rows 9 -> 5 (total 2: one each side), columns 8 -> 4
    # (total 1, at the right); the average counts only the real elements.
    (lambda: L.Conv2D(4, 3, strides=2, padding="same"), lambda x, w: F.conv2d(F.pad(x, (0, 1, 1, 1)), w[0], w[1], 2)),
    (lambda: L.MaxPool2D(3, strides=2, padding="same"),
     lambda x, w: F.max_pool2d(F.pad(x, (0, 1, 1, 1), value=-np.inf), 3, 2)),
    (lambda: L.AvgPool2D(2, padding="same"),  # rows 9 -> 5: one zero row at the bottom, not counted
     lambda x, w: F.avg_pool2d(F.pad(x, (0, 0, 0, 1)), 2) / F.avg_pool2d(F.pad(torch.ones_like(x), (0, 0, 0, 1)), 2)),
    (lambda: L.MaxPool2D(2), lambda x, w: F.max_pool2d(x, 2)),
    (lambda: L.AvgPool2D(3, strides=2, padding=1), lambda x, w: F.avg_pool2d(x, 3, 2, 1)),
    (lambda: L.MinPool2D((2, 3)), lambda x, w: -F.max_pool2d(-x, (2, 3))),
    (lambda: L.BatchNormalization(epsilon=1e-3),
     lambda x, w: F.batch_norm(x, w[2], w[3].abs(), w[0], w[1], training=False, eps=1e-3)),
    (lambda: L.Dropout(0.5), lambda x, w: x),
    (lambda: L.LeakyReLU(0.1), lambda x, w: F.leaky_relu(x, 0.1)),
    (lambda: L.ELU(0.7), lambda x, w: F.elu(x, 0.7)),
    (lambda: L.ReLU(), lambda x, w: F.relu(x)),
    (lambda: L.Activation("sigmoid"), lambda x, w: torch.sigmoid(x)),
]


@pytest.mark.parametrize("make, reference", CASES)
def test_layer_matches_pytorch_and_round_trips_weights(rng, make, reference):
    layer = make()
    model = model_of(layer)
    randomize(layer, rng)
    weights = layer.get_weights()
    if isinstance(layer, L.BatchNormalization):  # a variance must be positive
        weights[3] = np.abs(weights[3])
        layer.set_weights(weights)
    for w, got in zip(weights, layer.get_weights()):
        np.testing.assert_array_equal(w, got)
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    expected = reference(torch.tensor(x, dtype=torch.float64), [torch.tensor(w, dtype=torch.float64) for w in weights])
    np.testing.assert_allclose(model.predict(x), expected.reshape(2, -1).numpy(), rtol=1e-4, atol=1e-5)


def test_weight_layouts_follow_pytorch():
    conv, dense, sep = L.Conv2D(8, (3, 5), groups=2), L.Dense(7), L.SeparableConv2D(6, 3, depth_multiplier=2)
    inputs = L.Input((4, 10, 10))
    y = L.Flatten()(sep(conv(inputs)))
    convnet.Model(inputs, dense(y))
    assert [w.shape for w in conv.get_weights()] == [(8, 2, 3, 5), (8,)]
    assert [w.shape for w in sep.get_weights()] == [(16, 1, 3, 3), (6, 16, 1, 1), (6,)]
    assert [w.shape for w in dense.get_weights()] == [(7, 6 * 6 * 4), (7,)]
    assert conv.weight_names == ["kernel", "bias"] and sep.weight_names[0] == "depthwise_kernel"


def test_global_average_pooling_and_softmax(rng):
    inputs = L.Input((3, 5, 4))
    model = convnet.Model(inputs, L.Softmax()(L.GlobalAveragePooling2D()(inputs)))
    x = rng.standard_normal((4, 3, 5, 4)).astype(np.float32)
    expected = torch.softmax(torch.tensor(x, dtype=torch.float64).mean((2, 3)), 1).numpy()
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5)


def test_global_max_pooling_forward_and_gradient(rng):
    inputs = L.Input((3, 5, 4))
    model = convnet.Model(inputs, L.Dense(2)(L.GlobalMaxPooling2D()(inputs)))
    assert L.GlobalMaxPool2D is L.GlobalMaxPooling2D and L.GlobalAvgPool2D is L.GlobalAveragePooling2D
    x = rng.standard_normal((4, 3, 5, 4)).astype(np.float32)
    kernel, bias = model.layers[-1].get_weights()
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = xt.amax((2, 3)) @ torch.tensor(kernel, dtype=torch.float64).T + torch.tensor(bias, dtype=torch.float64)
    np.testing.assert_allclose(model.predict(x), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    target = rng.standard_normal((4, 2)).astype(np.float32)
    model.compile(loss="mse")
    (expected,) = torch.autograd.grad(F.mse_loss(yt, torch.tensor(target, dtype=torch.float64)), xt)
    np.testing.assert_allclose(model.input_gradients(x, target), expected.numpy(), rtol=1e-5, atol=1e-7)
    assert model.receptive_field(model.layers[1]).is_global


def test_set_weights_errors():
    layer = L.Dense(3)
    with pytest.raises(ValueError, match="not part of a built model"):
        layer.get_weights()
    inputs = L.Input((4,))
    convnet.Model(inputs, layer(inputs))
    with pytest.raises(ValueError, match=r"expected 2 arrays \['kernel', 'bias'\], got 1"):
        layer.set_weights([np.zeros((3, 4))])
    with pytest.raises(ValueError, match=r"weight 'kernel' expected shape \(3, 4\), got \(4, 3\)"):
        layer.set_weights([np.zeros((4, 3)), np.zeros(3)])
    with pytest.raises(ValueError, match="finite"):
        layer.set_weights([np.full((3, 4), np.nan), np.zeros(3)])
    before = layer.get_weights()
    with pytest.raises(ValueError):
        layer.set_weights([np.ones((3, 4)), np.zeros(4)])  # second array bad: first not written either
    np.testing.assert_array_equal(layer.get_weights()[0], before[0])


def _dropout_model(seed):
    model = convnet.Sequential([L.Input((12,)), L.Dropout(0.5, seed=seed), L.Dense(3, activation="softmax")])
    model.compile("sgd")
    return model


def test_dropout_layer_seed_fixes_the_masks(rng):
    """A layer seed makes the masks independent of the model's seed; without one they follow it."""
    x, y = rng.random((8, 12)).astype(np.float32), np.arange(8) % 3
    convnet.set_random_seed(1)
    a, a_free = _dropout_model(7), _dropout_model(None)
    convnet.set_random_seed(2)
    b, b_free = _dropout_model(7), _dropout_model(None)
    for first, second in ((a, b), (a_free, b_free)):
        second.set_weights(first.get_weights())
        first.train_on_batch(x, y)
        second.train_on_batch(x, y)
    np.testing.assert_array_equal(a.get_weights()[0], b.get_weights()[0])
    assert not np.array_equal(a_free.get_weights()[0], b_free.get_weights()[0])
    assert L.Dropout.from_config(a.layers[0].get_config()).seed == 7


def test_random_layer_seed_errors():
    with pytest.raises(TypeError, match="dropout.*'seed'.*None or an int.*1.5"):
        L.Dropout(0.5, seed=1.5)
    with pytest.raises(ValueError, match="'seed'.*\\[0, 2\\*\\*63\\).*-3"):
        L.RandomFlip(seed=-3)
