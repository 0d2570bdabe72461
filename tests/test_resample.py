"""ZeroPadding2D, UpSampling2D and Conv2DTranspose: their ops (ops.zero_pad2d, ops.upsample_nearest2d,
ops.conv_transpose2d) against PyTorch in float64 (opcheck's 1e-4: the transposed convolution sums at
most C_in * kH * kW float32 products per output, padding and upsampling at most sh * sw terms), finite
differences, the layers in models of both layouts, Keras' output sizes, save/load, every error path
and CUDA parity (the emulator without a GPU)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convnet
import convnet.keras
from conftest import requires_cuda
from convnet import layers as L, ops
from opcheck import assert_close, assert_raises, check_finite_differences, compare_with_torch


# ---- zero_pad2d -------------------------------------------------------------------------------

def _sides(padding):
    if isinstance(padding, int):
        return (padding,) * 4
    if isinstance(padding[0], int):
        return (padding[0], padding[0], padding[1], padding[1])
    return tuple(padding[0]) + tuple(padding[1])


@pytest.mark.parametrize("shape,padding", [((2, 3, 5, 4), 1), ((1, 2, 3, 6), (2, 0)), ((3, 1, 4, 4), ((1, 2), (0, 3))),
                                           ((2, 2, 1, 1), ((0, 0), (0, 0))), ((1, 1, 2, 3), ((3, 0), (2, 5)))])
def test_zero_pad2d_matches_torch(rng, shape, padding):
    x = rng.standard_normal(shape).astype(np.float32)
    top, bottom, left, right = _sides(padding)
    compare_with_torch(lambda x: ops.zero_pad2d(x, padding), lambda g, x: ops.zero_pad2d_backward(g, x, padding),
                       lambda x: F.pad(x, (left, right, top, bottom)), [x], 1)
    # a copy and a crop: exact
    y = ops.zero_pad2d(x, padding).numpy()
    assert np.array_equal(y, np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right))))
    assert np.array_equal(ops.zero_pad2d_backward(y, x, padding).numpy(), x)


def test_zero_pad2d_finite_differences(rng):
    x = rng.standard_normal((2, 2, 3, 4)).astype(np.float32)
    p = ((1, 2), (2, 0))
    check_finite_differences(lambda x: ops.zero_pad2d(x, p), lambda g, x: ops.zero_pad2d_backward(g, x, p), [x], 1)


def test_zero_pad2d_errors():
    x = np.zeros((1, 1, 2, 2), np.float32)
    assert_raises(ValueError, ["zero_pad2d", "padding", "non-negative", "((-1, 0), (0, 0))"], ops.zero_pad2d, x,
                  ((-1, 0), (0, 0)))
    assert_raises(ValueError, ["zero_pad2d", "x", "(N, C, H, W)"], ops.zero_pad2d, np.zeros((2, 2), np.float32), 1)
    assert_raises(TypeError, ["zero_pad2d", "padding"], ops.zero_pad2d, x, "same")
    assert_raises(ValueError, ["zero_pad2d_backward", "grad_out", "(1, 1, 4, 4)"], ops.zero_pad2d_backward,
                  np.zeros((1, 1, 3, 4), np.float32), x, 1)


# ---- upsample_nearest2d -----------------------------------------------------------------------

@pytest.mark.parametrize("shape,size", [((2, 3, 4, 5), 2), ((1, 2, 3, 3), (3, 1)), ((2, 1, 2, 5), (1, 4)),
                                        ((1, 1, 1, 1), 1), ((1, 2, 3, 2), (2, 3))])
def test_upsample_nearest2d_matches_torch(rng, shape, size):
    x = rng.standard_normal(shape).astype(np.float32)
    sh, sw = (size, size) if isinstance(size, int) else size
    compare_with_torch(lambda x: ops.upsample_nearest2d(x, size),
                       lambda g, x: ops.upsample_nearest2d_backward(g, x, size),
                       lambda x: F.interpolate(x, scale_factor=(sh, sw), mode="nearest"), [x], 1)
    assert np.array_equal(ops.upsample_nearest2d(x, size).numpy(), x.repeat(sh, 2).repeat(sw, 3))


def test_upsample_nearest2d_backward_sums_blocks_exactly(rng):
    x = np.zeros((1, 1, 2, 2), np.float32)
    g = np.arange(24, dtype=np.float32).reshape(1, 1, 4, 6)
    expected = g.reshape(1, 1, 2, 2, 2, 3).sum(axis=(3, 5))
    assert np.array_equal(ops.upsample_nearest2d_backward(g, x, (2, 3)).numpy(), expected)


def test_upsample_nearest2d_finite_differences(rng):
    x = rng.standard_normal((2, 2, 3, 2)).astype(np.float32)
    check_finite_differences(lambda x: ops.upsample_nearest2d(x, (2, 3)),
                             lambda g, x: ops.upsample_nearest2d_backward(g, x, (2, 3)), [x], 1)


def test_upsample_nearest2d_errors():
    x = np.zeros((1, 1, 2, 2), np.float32)
    assert_raises(ValueError, ["upsample_nearest2d", "size", ">= 1", "(0, 2)"], ops.upsample_nearest2d, x, (0, 2))
    assert_raises(ValueError, ["upsample_nearest2d", "x", "(N, C, H, W)"], ops.upsample_nearest2d,
                  np.zeros((2, 2, 2), np.float32), 2)
    assert_raises(ValueError, ["upsample_nearest2d_backward", "grad_out", "(1, 1, 4, 4)"],
                  ops.upsample_nearest2d_backward, np.zeros((1, 1, 4, 3), np.float32), x, 2)


# ---- conv_transpose2d -------------------------------------------------------------------------

# (x shape, w shape (C_in, C_out/groups, kH, kW), stride, padding, output_padding, groups, dilation, bias)
CT_CONFIGS = [
    ((2, 3, 5, 4), (3, 4, 3, 3), 1, 0, 0, 1, 1, True),
    ((2, 3, 5, 4), (3, 4, 3, 3), 2, 1, 1, 1, 1, True),
    ((1, 2, 4, 4), (2, 3, 4, 4), 2, 1, 0, 1, 1, False),
    ((2, 2, 3, 5), (2, 2, 3, 2), (2, 3), (1, 0), (1, 2), 1, 1, True),
    ((1, 3, 4, 3), (3, 2, 3, 3), 2, 0, 1, 1, 2, True),
    ((2, 4, 3, 3), (4, 1, 3, 3), 1, 1, 0, 2, 1, True),
    ((1, 1, 3, 3), (1, 5, 1, 1), 3, 0, 2, 1, 1, False),
    ((2, 16, 5, 5), (16, 8, 3, 3), 1, 1, 0, 1, 1, True),  # C_in >= 8: the CPU conv's wide grad_x path
    ((2, 9, 4, 4), (9, 2, 1, 1), 1, 0, 0, 1, 1, True),  # 1x1: the pointwise path
]


@pytest.mark.parametrize("xs,ws,stride,padding,output_padding,groups,dilation,bias", CT_CONFIGS)
def test_conv_transpose2d_matches_torch(rng, xs, ws, stride, padding, output_padding, groups, dilation, bias):
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[1] * groups).astype(np.float32) if bias else None
    args = (stride, padding, output_padding, groups, dilation)
    compare_with_torch(lambda x, w, b: ops.conv_transpose2d(x, w, b, *args),
                       lambda g, x, w, b: ops.conv_transpose2d_backward(g, x, w, b, *args)[:3 if bias else 2],
                       lambda x, w, b: F.conv_transpose2d(x, w, b, *args), [x, w, b], 3 if bias else 2)


def test_conv_transpose2d_asymmetric_padding_is_a_crop(rng):
    """((top, bottom), (left, right)) crops the unpadded output as F.pad with negative values does."""
    x = rng.standard_normal((2, 2, 3, 4)).astype(np.float32)
    w = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    pad = ((0, 1), (2, 1))
    compare_with_torch(lambda x, w, b: ops.conv_transpose2d(x, w, b, 2, pad, 1),
                       lambda g, x, w, b: ops.conv_transpose2d_backward(g, x, w, b, 2, pad, 1),
                       # H: full 7 rows, out 7 (top 0); W: full 9 columns, out 7 from column 2
                       lambda x, w, b: F.pad(F.conv_transpose2d(x, w, b, 2), (-2, 0, 0, 0)), [x, w, b], 3)


def test_conv_transpose2d_is_the_adjoint_of_conv2d(rng):
    """<conv2d(z, w), x> = <z, conv_transpose2d(x, w)>: the two share their kernels."""
    z = rng.standard_normal((2, 3, 9, 8)).astype(np.float64)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    y = ops.conv2d(z.astype(np.float32), w, None, 2, 1).numpy()
    x = rng.standard_normal(y.shape).astype(np.float32)
    t = ops.conv_transpose2d(x, w, None, 2, 1, (0, 1)).numpy()  # width 8 = 3*2 - 2 + 3 + 1
    assert t.shape == z.shape
    assert abs((y * x).sum() - (z * t).sum()) <= 1e-4 * np.abs(y * x).sum()


def test_conv_transpose2d_finite_differences(rng):
    x = rng.standard_normal((2, 2, 3, 3)).astype(np.float32)
    w = rng.standard_normal((2, 3, 3, 2)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    check_finite_differences(lambda x, w, b: ops.conv_transpose2d(x, w, b, 2, 1, 1),
                             lambda g, x, w, b: ops.conv_transpose2d_backward(g, x, w, b, 2, 1, 1), [x, w, b], 3)


def test_conv_transpose2d_errors():
    x = np.zeros((1, 2, 3, 3), np.float32)
    w = np.zeros((2, 3, 3, 3), np.float32)
    assert_raises(ValueError, ["conv_transpose2d", "output_padding", "smaller than the stride", "(2, 2)"],
                  ops.conv_transpose2d, x, w, None, 2, 0, 2)
    assert_raises(ValueError, ["conv_transpose2d", "output_padding"], ops.conv_transpose2d, x, w, None, 1, 0, 1)
    assert_raises(ValueError, ["conv_transpose2d", "w", "C_in = 2"], ops.conv_transpose2d, x,
                  np.zeros((3, 3, 3, 3), np.float32))
    assert_raises(ValueError, ["conv_transpose2d", "b", "(3,)"], ops.conv_transpose2d, x, w,
                  np.zeros(4, np.float32))
    assert_raises(ValueError, ["conv_transpose2d", "padding", "at least 1 x 1"], ops.conv_transpose2d, x, w, None,
                  1, 3)
    assert_raises(ValueError, ["conv_transpose2d", "stride", "positive"], ops.conv_transpose2d, x, w, None, 0)
    assert_raises(ValueError, ["conv_transpose2d", "groups"], ops.conv_transpose2d, x, w, None, 1, 0, 0, 3)
    assert_raises(ValueError, ["conv_transpose2d_backward", "grad_out"], ops.conv_transpose2d_backward,
                  np.zeros((1, 3, 4, 4), np.float32), x, w)


# ---- the layers -------------------------------------------------------------------------------

def keras_length(size, k, s, d, padding, output_padding):
    """keras.src.utils.conv_utils.deconv_output_length."""
    k = k + (k - 1) * (d - 1)
    if output_padding is None:
        return size * s + max(k - s, 0) if padding == "valid" else size * s
    pad = k // 2 if padding == "same" else 0
    return (size - 1) * s + k - 2 * pad + output_padding


def torch_keras_conv_transpose(x, w, b, strides, padding, output_padding, dilation):
    """Keras' Conv2DTranspose (TF semantics) in torch: the unpadded transposed convolution without bias,
    cropped (or zero-extended) to Keras' size, total = max(full - out, 0) with the odd row at the
    bottom/right; then the bias everywhere."""
    full = F.conv_transpose2d(x, w, None, strides, 0, 0, 1, dilation)
    crops = []
    for axis in (1, 0):  # F.pad order: (left, right, top, bottom)
        size, k, s, d = x.shape[2 + axis], w.shape[2 + axis], strides[axis], dilation[axis]
        out = keras_length(size, k, s, d, padding, None if output_padding is None else output_padding[axis])
        n_full = full.shape[2 + axis]
        total = max(n_full - out, 0)
        crops += [-(total // 2), out - n_full + total // 2]
    return F.pad(full, crops) + b.view(1, -1, 1, 1)


LAYER_CASES = [  # kernel_size, strides, padding, output_padding, dilation_rate
    (3, 1, "valid", None, 1), (3, 1, "same", None, 1), (3, 2, "valid", None, 1), (3, 2, "same", None, 1),
    (4, 2, "same", None, 1), (2, 3, "valid", None, 1), (2, 3, "same", None, 1), (3, 2, "same", 1, 1),
    (3, 2, "valid", 1, 1), ((3, 2), (2, 1), "same", None, (1, 1)), (3, 1, "same", None, 2), (5, 2, "same", 0, 1),
]


@pytest.mark.parametrize("kernel_size,strides,padding,output_padding,dilation", LAYER_CASES)
def test_conv2d_transpose_layer_matches_keras_sizes_and_torch(rng, kernel_size, strides, padding, output_padding,
                                                              dilation):
    kh, kw = (kernel_size,) * 2 if isinstance(kernel_size, int) else kernel_size
    st = (strides,) * 2 if isinstance(strides, int) else strides
    dl = (dilation,) * 2 if isinstance(dilation, int) else dilation
    op = None if output_padding is None else (output_padding,) * 2
    layer = L.Conv2DTranspose(3, kernel_size, strides, padding, output_padding, dilation)
    x_in = L.Input((2, 5, 4))
    model = convnet.Model(x_in, layer(x_in))
    expected = (3, keras_length(5, kh, st[0], dl[0], padding, op and op[0]),
                keras_length(4, kw, st[1], dl[1], padding, op and op[1]))
    assert model.output_shape == (None,) + expected
    w = rng.standard_normal((2, 3, kh, kw)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    model.set_weights([w, b])
    x = rng.standard_normal((2, 2, 5, 4)).astype(np.float32)
    ref = torch_keras_conv_transpose(torch.tensor(x, dtype=torch.float64), torch.tensor(w, dtype=torch.float64),
                                     torch.tensor(b, dtype=torch.float64), st, padding, op, dl)
    assert_close(model.predict(x), ref.numpy(), what="Conv2DTranspose output")


def test_conv2d_transpose_same_symmetric_matches_torch_module(rng):
    """kernel 4, stride 2, 'same': Keras' total padding 2 is torch's padding=1 (the DCGAN upsampler)."""
    torch.manual_seed(0)
    ref = torch.nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1).double()
    x_in = L.Input((3, 4, 5))
    model = convnet.Model(x_in, L.Conv2DTranspose(2, 4, strides=2, padding="same")(x_in))
    model.set_weights([ref.weight.detach().numpy().astype(np.float32), ref.bias.detach().numpy().astype(np.float32)])
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    assert_close(model.predict(x), ref(torch.tensor(x, dtype=torch.float64)).detach().numpy())


def _decoder(keras=False):
    ns = convnet.keras.layers if keras else L
    x = (convnet.keras.Input((6, 6, 2)) if keras else L.Input((2, 6, 6)))
    y = ns.ZeroPadding2D(((1, 0), (0, 1)))(x)
    y = ns.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu")(y)
    y = ns.UpSampling2D((1, 2))(y)
    y = ns.Conv2D(2, 3, padding="same")(y)
    y = ns.Flatten()(y)
    y = ns.Dense(4, activation="softmax")(y)
    return convnet.Model(x, y)


def test_layers_in_both_layouts_train_and_round_trip(tmp_path, rng):
    first, last = _decoder(), _decoder(keras=True)
    assert [la.data_format for la in first.layers[:3]] == [None] * 3
    assert [la.data_format for la in last.layers[:3]] == ["channels_last"] * 3
    assert first.layers[0].output.shape == (None, 2, 7, 7)
    assert last.layers[1].output.shape == (None, 14, 14, 3)
    assert last.layers[2].output.shape == (None, 14, 28, 3)
    weights = first.get_weights()
    # the dense kernel's columns: (C, H, W) in one, (H, W, C) in the other
    weights[-2] = weights[-2].reshape(4, 2, 14, 28).transpose(0, 2, 3, 1).reshape(4, -1)
    last.set_weights(weights)
    x = rng.random((3, 2, 6, 6)).astype(np.float32)
    assert_close(last.predict(x.transpose(0, 2, 3, 1)), first.predict(x), 1e-5, "channels-last vs channels-first")
    labels = rng.integers(0, 4, 3)
    for model, data in ((first, x), (last, x.transpose(0, 2, 3, 1))):
        model.compile("adam", "sparse_categorical_crossentropy")
        before = model.get_weights()
        loss = model.train_on_batch(data, labels)
        assert np.isfinite(np.asarray(loss, dtype=np.float64)).all()
        assert not np.array_equal(before[0], model.get_weights()[0])  # the transposed kernel moved
        path = tmp_path / f"{model.name}.convnet"
        model.save(path)
        loaded = convnet.load_model(path)
        assert np.array_equal(loaded.predict(data), model.predict(data))
        assert [type(la).__name__ for la in loaded.layers[:3]] == ["ZeroPadding2D", "Conv2DTranspose",
                                                                    "UpSampling2D"]
    lines = []
    first.summary(print_fn=lines.append)
    assert any("Conv2DTranspose" in line and "0.5x0.5" in line for line in lines)


def test_sequential_and_configs():
    model = convnet.Sequential([L.Input((1, 4, 4)), L.UpSampling2D(2), L.ZeroPadding2D(1),
                                L.Conv2DTranspose(2, 2, strides=2, use_bias=False, output_padding=1)])
    assert model.output_shape == (None, 2, 21, 21)
    assert model.layers[-1].weight_names == ["kernel"]
    for layer in (L.ZeroPadding2D(((1, 2), (3, 4))), L.UpSampling2D((2, 3)),
                  L.Conv2DTranspose(4, 3, 2, "same", 1, activation="relu", use_bias=False)):
        config = layer.get_config()
        again = type(layer).from_config(config)
        assert again.get_config() == config
    assert L.ZeroPadding2D(((1, 2), (3, 4))).get_config()["padding"] == [1, 2, 3, 4]
    assert L.ZeroPadding2D((1, 2)).padding == (1, 1, 2, 2)


def test_layer_errors():
    assert_raises(ValueError, ["zero_pad", "padding", "non-negative", "-1"], L.ZeroPadding2D, -1, name="zero_pad")
    assert_raises(ValueError, ["zero_pad", "padding", "((top, bottom), (left, right))"], L.ZeroPadding2D,
                  ((1, 2, 3),), name="zero_pad")
    assert_raises(ValueError, ["up", "interpolation", "'nearest'", "'bilinear'"], L.UpSampling2D,
                  interpolation="bilinear", name="up")
    assert_raises(ValueError, ["up", "size", "positive"], L.UpSampling2D, 0, name="up")
    assert_raises(ValueError, ["deconv", "output_padding", "smaller than the strides", "2"], L.Conv2DTranspose, 2, 3,
                  strides=2, output_padding=2, name="deconv")
    assert_raises(ValueError, ["deconv", "output_padding"], L.Conv2DTranspose, 2, 3, output_padding=1, name="deconv")
    assert_raises(ValueError, ["deconv", "padding", "'valid' or 'same'", "'full'"], L.Conv2DTranspose, 2, 3,
                  padding="full", name="deconv")
    assert_raises(ValueError, ["deconv", "filters"], L.Conv2DTranspose, 0, 3, name="deconv")
    with pytest.raises(ValueError, match="ZeroPadding2D.*input.*\\(C, H, W\\)"):
        x = L.Input((8,))
        convnet.Model(x, L.ZeroPadding2D(1)(x))
    with pytest.raises(ValueError, match="UpSampling2D config"):
        L.UpSampling2D.from_config({"size": [2, 2], "interpolation": "bicubic"})


# ---- CUDA parity --------------------------------------------------------------------------------

@requires_cuda
def test_resample_ops_cuda_match_cpu(rng):
    x = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    xg = convnet.tensor(x, device="cuda")
    for pad in (1, ((2, 0), (1, 3))):
        y = ops.zero_pad2d(x, pad).numpy()
        assert np.array_equal(ops.zero_pad2d(xg, pad).to("cpu").numpy(), y)
        assert np.array_equal(ops.zero_pad2d_backward(convnet.tensor(y, device="cuda"), xg, pad).to("cpu").numpy(),
                              ops.zero_pad2d_backward(y, x, pad).numpy())
    for size in (2, (3, 1)):
        y = ops.upsample_nearest2d(x, size).numpy()
        g = rng.standard_normal(y.shape).astype(np.float32)
        assert np.array_equal(ops.upsample_nearest2d(xg, size).to("cpu").numpy(), y)
        # the same row-major sum of each block on both devices: bit for bit
        assert np.array_equal(ops.upsample_nearest2d_backward(convnet.tensor(g, device="cuda"), xg, size)
                              .to("cpu").numpy(), ops.upsample_nearest2d_backward(g, x, size).numpy())


@requires_cuda
@pytest.mark.parametrize("xs,ws,stride,padding,output_padding,groups,dilation,bias", CT_CONFIGS[:6])
def test_conv_transpose2d_cuda_matches_cpu(rng, xs, ws, stride, padding, output_padding, groups, dilation, bias):
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[1] * groups).astype(np.float32) if bias else None
    args = (stride, padding, output_padding, groups, dilation)
    dev = lambda a: None if a is None else convnet.tensor(a, device="cuda")  # noqa: E731
    y = ops.conv_transpose2d(x, w, b, *args).numpy()
    assert_close(ops.conv_transpose2d(dev(x), dev(w), dev(b), *args).to("cpu").numpy(), y, 1e-5, "forward")
    g = rng.standard_normal(y.shape).astype(np.float32)
    cpu = ops.conv_transpose2d_backward(g, x, w, b, *args)
    gpu = ops.conv_transpose2d_backward(dev(g), dev(x), dev(w), dev(b), *args)
    for name, a, e in zip(("grad_x", "grad_w", "grad_b"), gpu, cpu):
        if e is not None:
            assert_close(a.to("cpu").numpy(), e.numpy(), 1e-5, name)


@requires_cuda
def test_decoder_model_cuda_matches_cpu(rng):
    cpu = _decoder()
    gpu = _decoder()
    gpu.set_weights(cpu.get_weights())
    gpu.to("cuda")
    x = rng.random((3, 2, 6, 6)).astype(np.float32)
    assert_close(gpu.predict(x), cpu.predict(x), 1e-5, "predictions")
    labels = rng.integers(0, 4, 3)
    for model in (cpu, gpu):
        model.compile("sgd", "sparse_categorical_crossentropy")
        model.train_on_batch(x, labels)
    for a, e in zip(gpu.get_weights(), cpu.get_weights()):
        assert_close(a, e, 1e-4, "weights after a step")
