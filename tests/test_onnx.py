"""ONNX interop (convnet.onnx): convnet -> ONNX -> onnxruntime and back to convnet for the zoo models
and a model of every layer, PyTorch -> ONNX -> convnet, and the errors for what cannot come in."""
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")  # the optional extra (absent on the GPU machine)
import convnet  # noqa: E402
from convnet import layers as L, onnx as convnet_onnx  # noqa: E402
from onnx import helper, numpy_helper, TensorProto  # noqa: E402

# onnxruntime is not built with AddressSanitizer: CI's sanitizer stage runs the rest without it
ort = None if "libasan" in os.environ.get("LD_PRELOAD", "") else pytest.importorskip("onnxruntime")
needs_ort = pytest.mark.skipif(ort is None, reason="onnxruntime under the ASan preload")


def rel_err(a, b):
    return float(np.abs(np.asarray(a, np.float64) - b).max() / max(np.abs(b).max(), 1e-30))


def run_ort(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})


def images(model, n=5, seed=0):
    return np.random.default_rng(seed).random((n,) + tuple(model.input_shape), dtype=np.float32)


def randomize(model, seed=1):
    """Weights and batch-norm statistics away from their initial values (a positive variance)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            new = [rng.uniform(-0.5, 0.5, w.shape).astype(np.float32) for w in weights]
            if isinstance(layer, L.BatchNormalization):
                new[3] = rng.uniform(0.5, 2.0, weights[3].shape).astype(np.float32)
            layer.set_weights(new)


def all_weights(model):
    return [w for layer in model.layers for w in layer.get_weights()]


def assert_same_weights(original, loaded):
    """Every weight array of `original` is in `loaded` (the layers may be split differently)."""
    pool = all_weights(loaded)
    for w in all_weights(original):
        assert any(w.shape == v.shape and np.array_equal(w, v) for v in pool), w.shape


def round_trip(model, tmp_path, x, tol=1e-5):
    path = tmp_path / f"{model.name}.onnx"
    proto = convnet_onnx.export(model, path)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    expected = model.predict(x)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"  # a dynamic batch
    if ort is not None:
        got = run_ort(path, x)
        for out, want in zip(got, expected if isinstance(expected, list) else [expected]):
            assert rel_err(out, want) <= tol
    loaded = convnet_onnx.load(path)
    back = loaded.predict(x)
    for out, want in zip(back if isinstance(back, list) else [back], expected if isinstance(expected, list) else
                         [expected]):
        assert rel_err(out, want) <= 1e-6
    assert_same_weights(model, loaded)
    return loaded


@pytest.mark.parametrize("name", convnet.zoo.NAMES)
def test_zoo_models_round_trip(name, tmp_path):
    convnet.set_random_seed(0)
    model = convnet.zoo.get(name)
    randomize(model)
    round_trip(model, tmp_path, images(model))


def every_layer_model(data_format=None):
    channels_last = data_format == "channels_last"
    shape = (12, 12, 3) if channels_last else (3, 12, 12)
    i = L.Input(shape, data_format=data_format)
    x = L.Rescaling(0.5, 0.1)(i)
    x = L.RandomFlip()(x)
    a = L.Conv2D(6, 3, strides=2, padding="same", activation="relu")(x)          # 6 x 6 x 6
    b = L.Conv2D(6, 3, padding=(2, 2), dilation_rate=2, groups=3, activation="leaky_relu")(x)
    b = L.MaxPool2D(3, strides=2, padding="same")(b)
    x = L.Add()([a, b])
    x = L.BatchNormalization()(x)
    x = L.ELU(0.7)(x)
    c = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="tanh")(x)
    d = L.SeparableConv2D(4, 3, padding="same", activation="sigmoid")(x)
    x = L.Concatenate()([c, d])                                                # 16 channels
    x = L.AvgPool2D(2, padding="same")(x)                                      # 3 x 3, Keras' mean
    x = L.ZeroPadding2D(((1, 0), (0, 1)))(x)
    x = L.AvgPool2D(3, strides=1, padding=1)(x)                                # zeros counted
    x = L.MinPool2D(2, strides=1)(x)
    x = L.UpSampling2D(2)(x)
    x = L.Conv2DTranspose(5, 3, strides=2, padding="same", activation="relu")(x)
    x = L.Conv2DTranspose(4, 2, strides=2)(x)
    x = L.RandomErasing(0.5)(x)
    g = L.GlobalMaxPooling2D()(x)
    h = L.GlobalAveragePooling2D()(x)
    x = L.Concatenate()([g, h])
    x = L.Dropout(0.3)(x)
    x = L.Dense(12, activation="relu")(x)
    x = L.Reshape((3, 2, 2) if not channels_last else (2, 2, 3))(x)
    x = L.Flatten()(x)
    x = L.Dense(5)(x)
    out = L.Softmax()(x)
    return convnet.Model(i, out, name="every_layer" + ("_nhwc" if channels_last else ""))


@pytest.mark.parametrize("data_format", [None, "channels_last"])
def test_a_model_of_every_layer_round_trips(data_format, tmp_path):
    convnet.set_random_seed(3)
    model = every_layer_model(data_format)
    randomize(model)
    loaded = round_trip(model, tmp_path, images(model, 4))
    assert loaded.input_shape == model.input_shape
    loaded.compile()  # ready to train further
    y = np.arange(4) % 5
    loaded.fit(images(model, 4), y, epochs=1, verbose=0)


def test_several_outputs_and_a_spatial_output(tmp_path):
    convnet.set_random_seed(4)
    i = L.Input((1, 8, 8))
    f = L.Conv2D(3, 3, activation="relu")(i)
    p = L.Dense(2, activation="softmax")(L.Flatten()(f))
    model = convnet.Model(i, [f, p])
    proto = convnet_onnx.export(model, tmp_path / "two.onnx")
    assert [o.name for o in proto.graph.output] == [t.layer.name for t in model._output_tensors]
    round_trip(model, tmp_path, images(model))


class TorchNets:
    """CNNs built in PyTorch, exported with torch 2.13's TorchScript exporter (dynamo=False)."""

    @staticmethod
    def residual():
        import torch.nn as nn

        class Block(nn.Module):
            def __init__(self, c_in, c, stride):
                super().__init__()
                self.c1, self.b1 = nn.Conv2d(c_in, c, 3, stride, 1, bias=False), nn.BatchNorm2d(c)
                self.c2, self.b2 = nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c)
                self.short = nn.Identity() if stride == 1 and c_in == c else \
                    nn.Sequential(nn.Conv2d(c_in, c, 1, stride, bias=False), nn.BatchNorm2d(c))

            def forward(self, x):
                return (self.b2(self.c2((self.b1(self.c1(x))).relu())) + self.short(x)).relu()

        return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), Block(8, 8, 1),
                             Block(8, 16, 2), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(16, 10))

    @staticmethod
    def vgg():
        import torch.nn as nn
        return nn.Sequential(nn.Conv2d(1, 8, 5, stride=2, padding=2), nn.LeakyReLU(0.1), nn.MaxPool2d(2),
                             nn.Conv2d(8, 16, 3, padding=1, groups=2), nn.ELU(), nn.AvgPool2d(3, 1, 1),
                             nn.Dropout(0.2), nn.Flatten(), nn.Linear(16 * 7 * 7, 32), nn.Tanh(), nn.Linear(32, 10),
                             nn.Softmax(dim=1))

    @staticmethod
    def decoder():
        import torch.nn as nn
        # (nn.ZeroPad2d exports as a pads computation of ConstantOfShape, Slice and Concat: not importable)
        return nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.Sigmoid(), nn.Conv2d(4, 4, 3, padding=1),
                             nn.Upsample(scale_factor=2, mode="nearest"),
                             nn.ConvTranspose2d(4, 2, 2, stride=2), nn.AdaptiveMaxPool2d(1), nn.Flatten())


@pytest.mark.parametrize("name,fold", [("residual", True), ("residual", False), ("vgg", True), ("decoder", True)])
def test_pytorch_models_come_in(name, fold, tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = getattr(TorchNets, name)().eval()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    x = torch.rand(6, 1, 28, 28)
    path = tmp_path / f"{name}.onnx"
    torch.onnx.export(net, (x,), str(path), dynamo=False, do_constant_folding=fold, input_names=["images"],
                      output_names=["out"], dynamic_axes={"images": {0: "N"}, "out": {0: "N"}})
    model = convnet_onnx.load(path)
    with torch.no_grad():
        expected = net(x).numpy()
    assert rel_err(model.predict(x.numpy()), expected) <= 1e-5
    if not fold:
        assert any(isinstance(layer, L.BatchNormalization) for layer in model.layers)
    ends_in_softmax = isinstance(model.layers[-1], L.Softmax)
    model.compile(loss=convnet.losses.SparseCategoricalCrossentropy(from_logits=not ends_in_softmax)
                  if name != "decoder" else "mean_squared_error")
    y = np.arange(6) % 10 if name != "decoder" else np.zeros((6, 2), np.float32)
    before = model.get_weights()
    history = model.fit(x.numpy(), y, epochs=1, batch_size=3, verbose=0)  # one more step trains it
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def graph_of(nodes, initializers=(), inputs=None, shape=(1, 1, 8, 8)):
    inputs = inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *shape[1:]])]
    out = helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, ["N", 1])
    graph = helper.make_graph(nodes, "g", inputs, [out], [numpy_helper.from_array(a, n) for n, a in initializers])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def load_proto(proto, tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(proto, str(path))
    return convnet_onnx.load(path)


def test_what_cannot_come_in_is_a_clear_error(tmp_path):
    w = np.ones((2, 1, 3, 3), np.float32)
    lstm = graph_of([helper.make_node("LSTM", ["x", "w", "r"], ["y"], name="rnn", hidden_size=2)],
                    [("w", np.ones((1, 8, 8), np.float32)), ("r", np.ones((1, 8, 2), np.float32))])
    with pytest.raises(ValueError, match=r"node 'rnn' \(LSTM\): operator LSTM is not supported"):
        load_proto(lstm, tmp_path)
    lower = graph_of([helper.make_node("Conv", ["x", "w"], ["y"], name="c", auto_pad="SAME_LOWER")], [("w", w)])
    with pytest.raises(ValueError, match=r"node 'c' \(Conv\): attribute 'auto_pad' 'SAME_LOWER' is not supported"):
        load_proto(lower, tmp_path)
    dynamic = graph_of([helper.make_node("Conv", ["x", "w"], ["y"], name="c")],
                       inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8]),
                               helper.make_tensor_value_info("w", TensorProto.FLOAT, [2, 1, 3, 3])])
    with pytest.raises(ValueError, match="expected one graph input"):
        load_proto(dynamic, tmp_path)
    weight_from_input = graph_of([helper.make_node("Relu", ["x"], ["r"], name="relu"),
                                  helper.make_node("Conv", ["x", "r"], ["y"], name="c")])
    with pytest.raises(ValueError, match=r"node 'c' \(Conv\): input 1 \(weight\) expected a constant initializer"):
        load_proto(weight_from_input, tmp_path)
    dilated = graph_of([helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[2, 2], dilations=[2, 2])])
    with pytest.raises(ValueError, match=r"node 'p' \(MaxPool\): attribute 'dilations' \[2, 2\] is not supported"):
        load_proto(dilated, tmp_path)
    ceil = graph_of([helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[3, 3], strides=[2, 2],
                                      ceil_mode=1)])
    with pytest.raises(ValueError, match="attribute 'ceil_mode' 1 changes the output size"):
        load_proto(ceil, tmp_path)
    view = graph_of([helper.make_node("Shape", ["x"], ["s"], name="shape")])
    with pytest.raises(ValueError, match="operator Shape is not supported.*torch.flatten"):
        load_proto(view, tmp_path)


def test_foreign_and_truncated_files(tmp_path):
    convnet.set_random_seed(0)
    good = tmp_path / "good.onnx"
    convnet_onnx.export(convnet.zoo.seed_cnn(), good)
    data = good.read_bytes()
    for name, content in (("truncated.onnx", data[:len(data) // 3]),
                          ("random.onnx", np.random.default_rng(0).bytes(4096)), ("empty.onnx", b"")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=f"convnet.onnx.load: '.*{name}' is not a valid ONNX model"):
            convnet_onnx.load(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        convnet_onnx.load(tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match="'opset' expected an int in"):
        convnet_onnx.export(convnet.zoo.seed_cnn(), tmp_path / "x.onnx", opset=7)
    with pytest.raises(TypeError, match="'model' expected a convnet Model"):
        convnet_onnx.export("seed_cnn", tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


@needs_ort
def test_convnet_export_on_the_command_line(tmp_path):
    from convnet.cli import main

    convnet.set_random_seed(0)
    model = convnet.zoo.lenet5()
    model.compile()
    model.save(tmp_path / "m.cnet")
    assert main(["export", str(tmp_path / "m.cnet"), "--onnx", str(tmp_path / "m.onnx")]) == 0
    x = images(model)
    assert rel_err(run_ort(tmp_path / "m.onnx", x)[0], model.predict(x)) <= 1e-5
    assert main(["export", str(tmp_path / "nope.cnet"), "--onnx", str(tmp_path / "n.onnx")]) == 2
