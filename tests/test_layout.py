"""Channels-last models: the layout op at their edges (ops.layout), Rescaling and Reshape, and
channels-last models against the same model run channels-first."""
import numpy as np
import pytest
import torch

import convnet
from convnet import layers as L, ops
from conftest import requires_cuda
from opcheck import assert_close, assert_raises, check_finite_differences, compare_with_torch


@pytest.mark.parametrize("to_last", [True, False])
def test_layout_matches_torch_permute(rng, to_last):
    x = rng.standard_normal((3, 5, 4, 6)).astype(np.float32)
    dims = (0, 2, 3, 1) if to_last else (0, 3, 1, 2)
    compare_with_torch(lambda x: ops.layout(x, to_last), lambda g, x: ops.layout_backward(g, x, to_last),
                       lambda x: x.permute(*dims), [x], 1)
    # a permutation: exact, and the two directions are inverses
    y = ops.layout(x, to_last).numpy()
    assert np.array_equal(y, x.transpose(dims))
    assert np.array_equal(ops.layout(y, not to_last).numpy(), x)


def test_layout_gradient_finite_differences(rng):
    x = rng.standard_normal((2, 3, 5, 7)).astype(np.float32)
    check_finite_differences(lambda x: ops.layout(x, True), lambda g, x: ops.layout_backward(g, x, True), [x], 1)


def test_layout_errors():
    assert_raises(ValueError, ["layout", "x", "4-D", "(2, 3)"], ops.layout, np.zeros((2, 3), np.float32), True)


def test_rescale_matches_torch_and_errors(rng):
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)
    compare_with_torch(lambda x: ops.rescale(x, 0.5, -1.0), lambda g, x: ops.rescale_backward(g, x, 0.5, -1.0),
                       lambda x: 0.5 * x - 1.0, [x], 1)
    assert_raises(ValueError, ["rescale", "scale", "finite"], ops.rescale, x, float("inf"), 0.0)
    assert_raises(ValueError, ["rescaling", "scale", "finite"], L.Rescaling, float("nan"))


@requires_cuda
def test_layout_and_rescale_cuda_match_cpu(rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    xg = convnet.tensor(x, device="cuda")
    for to_last in (True, False):
        assert np.array_equal(ops.layout(xg, to_last).to("cpu").numpy(), ops.layout(x, to_last).numpy())
        g = rng.standard_normal(tuple(ops.layout(x, to_last).shape)).astype(np.float32)
        assert np.array_equal(ops.layout_backward(convnet.tensor(g, device="cuda"), xg, to_last).to("cpu").numpy(),
                              ops.layout_backward(g, x, to_last).numpy())
    assert np.array_equal(ops.rescale(xg, 0.25, 2.0).to("cpu").numpy(), ops.rescale(x, 0.25, 2.0).numpy())


def _pair(data_format, pool_padding="valid"):
    """The same small CNN as a channels-first and a channels-last model, sharing no layers."""
    shape = (1, 12, 12) if data_format == "channels_first" else (12, 12, 1)
    x = L.Input(shape, data_format=data_format)
    y = L.Conv2D(4, 3, activation="relu", data_format=data_format)(x)
    y = L.BatchNormalization(axis=1 if data_format == "channels_first" else -1)(y)
    feat = L.MaxPool2D(2, padding=pool_padding)(y)
    y = L.Flatten()(feat)
    y = L.Dense(3, activation="softmax")(y)
    return convnet.Model(x, [y, feat])


def test_channels_last_model_equals_channels_first(rng):
    first, last = _pair("channels_first"), _pair("channels_last")
    assert last.output_shape == [(None, 3), (None, 5, 5, 4)]
    assert [o.shape for o in first.outputs] == [(None, 3), (None, 4, 5, 5)]
    weights = first.get_weights()
    # Flatten follows the layout (Keras): the dense kernel's columns are (C, H, W) in one, (H, W, C) in the other
    kernel = weights[6]
    weights[6] = kernel.reshape(3, 4, 5, 5).transpose(0, 2, 3, 1).reshape(3, -1)
    last.set_weights(weights)
    x = rng.random((6, 1, 12, 12)).astype(np.float32)
    probs_first, feat_first = first.predict(x)
    probs_last, feat_last = last.predict(x.transpose(0, 2, 3, 1))
    assert_close(probs_last, probs_first, 1e-6, "probabilities")
    assert np.array_equal(feat_last, feat_first.transpose(0, 2, 3, 1))
    # one training step moves both the same way
    labels = rng.integers(0, 3, 6)
    for model in (first, last):
        model.compile("sgd", {model.outputs[0].layer.name: "sparse_categorical_crossentropy"})
    first.train_on_batch(x, labels)
    last.train_on_batch(x.transpose(0, 2, 3, 1), labels)
    assert_close(last.get_weights()[0], first.get_weights()[0], 1e-5, "conv kernel after a step")


def test_channels_last_input_gradients_and_grayscale(rng):
    last = _pair("channels_last")
    last.compile("sgd", {last.outputs[0].layer.name: "sparse_categorical_crossentropy"})
    x = rng.random((4, 12, 12, 1)).astype(np.float32)
    labels = rng.integers(0, 3, 4)
    grads = last.input_gradients(x, labels)
    assert grads.shape == x.shape
    # (N, H, W) grayscale is one channel, as for channels-first models
    assert np.array_equal(last.predict(x[..., 0])[0], last.predict(x)[0])


def test_channels_last_uint8_is_taken_as_values(rng):
    x = L.Input((4, 4, 1), data_format="channels_last")
    model = convnet.Model(x, L.Flatten()(x))
    pixels = rng.integers(0, 256, (2, 4, 4, 1)).astype(np.uint8)
    assert np.array_equal(model.predict(pixels), pixels.reshape(2, -1).astype(np.float32))
    x = L.Input((1, 4, 4))
    model = convnet.Model(x, L.Flatten()(x))
    assert_close(model.predict(pixels.transpose(0, 3, 1, 2)), pixels.reshape(2, -1) / 255.0, 1e-6)


def test_reshape_in_both_layouts(rng):
    for data_format, shape in (("channels_first", (2, 3, 4)), ("channels_last", (3, 4, 2))):
        x = L.Input((24,), data_format=data_format)
        y = L.Reshape(shape)(x)
        assert y.shape == (None,) + shape
        back = L.Reshape((-1,))(y)
        model = convnet.Model(x, [y, back])
        v = rng.standard_normal((2, 24)).astype(np.float32)
        image, flat = model.predict(v)
        assert np.array_equal(image, v.reshape((2,) + shape))  # the elements in order, as numpy's reshape
        assert np.array_equal(flat, v)


def test_reshape_errors():
    assert_raises(ValueError, ["reshape", "target_shape", "at most one -1"], L.Reshape, (-1, -1))
    x = L.Input((24,))
    with pytest.raises(ValueError, match="target_shape.*24 elements"):
        convnet.Model(x, L.Reshape((5, 5))(x))


def test_data_format_errors():
    assert_raises(ValueError, ["conv2d", "unknown data_format", "'NHWC'", "channels_last"],
                  L.Conv2D, 4, 3, data_format="NHWC", name="conv2d_x")
    x = L.Input((8, 8, 1), data_format="channels_last")
    with pytest.raises(ValueError, match="data_format='channels_first'.*input is channels_last"):
        convnet.Model(x, L.Conv2D(4, 3, data_format="channels_first")(x))
    with pytest.raises(ValueError, match="axis.*channels_last.*got 1"):
        convnet.Model(x, L.Concatenate(axis=1)([x, x]))
    model = convnet.Model(x, L.Flatten()(x))
    with pytest.raises(ValueError, match=r"\(8, 8, 1\) \(channels_last.*look like channels_first.*transpose"):
        model.predict(np.zeros((2, 1, 8, 8), np.float32))


def test_channels_last_config_round_trip(tmp_path, rng):
    model = _pair("channels_last")
    path = tmp_path / "m.convnet"
    model.save(path)
    loaded = convnet.load_model(path, device="cpu")  # where the model is: the same sums, bit for bit
    assert loaded.layers[0].data_format == "channels_last" and loaded.input_shape == (12, 12, 1)
    x = rng.random((2, 12, 12, 1)).astype(np.float32)
    for a, b in zip(loaded.predict(x), model.predict(x)):
        assert np.array_equal(a, b)
