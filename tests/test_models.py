"""The training API: layers, models, fit/evaluate/predict, summary, save/load, callbacks, and the
comparison of training steps with PyTorch."""
import os

import numpy as np
import pytest
import torch

import convnet
from convnet import callbacks, layers as L, optimizers
from convnet.datasets import fashion_mnist


@pytest.fixture(scope="module")
def data():
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    return x_train[:3000], y_train[:3000], x_test[:1000], y_test[:1000]


def small_cnn(batch_norm=False, dropout=0.0):
    body = [L.Input((1, 12, 12)), L.Conv2D(4, 3, activation="relu", name="conv")]
    if batch_norm:
        body.append(L.BatchNormalization(name="bn"))
    body += [L.MaxPool2D(2, name="pool"), L.Flatten(name="flat")]
    if dropout:
        body.append(L.Dropout(dropout))
    body.append(L.Dense(5, activation="softmax", name="dense"))
    return convnet.Sequential(body)


def torch_twin(model, batch_norm=False):
    """The same network in PyTorch with the same weights."""
    mods = [torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU()]
    if batch_norm:
        mods.append(torch.nn.BatchNorm2d(4, eps=1e-3, momentum=0.01))
    mods += [torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4 * 5 * 5, 5)]
    net = torch.nn.Sequential(*mods)
    with torch.no_grad():
        k, b = model.get_layer("conv").get_weights()
        net[0].weight.copy_(torch.tensor(k))
        net[0].bias.copy_(torch.tensor(b))
        k, b = model.get_layer("dense").get_weights()
        net[-1].weight.copy_(torch.tensor(k))
        net[-1].bias.copy_(torch.tensor(b))
    return net


@pytest.mark.parametrize("opt_name", ["sgd", "adam", "rmsprop", "adamw"])
def test_training_steps_match_pytorch(rng, opt_name):
    convnet.set_random_seed(0)
    model = small_cnn(batch_norm=True)
    net = torch_twin(model, batch_norm=True)
    conv_opt = {"sgd": optimizers.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
                "adam": optimizers.Adam(1e-2, epsilon=1e-8),
                "rmsprop": optimizers.RMSprop(1e-2, rho=0.9, momentum=0.5, epsilon=1e-8),
                "adamw": optimizers.AdamW(1e-2, weight_decay=0.1, epsilon=1e-8)}[opt_name]
    torch_opt = {"sgd": lambda p: torch.optim.SGD(p, 0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
                 "adam": lambda p: torch.optim.Adam(p, 1e-2, eps=1e-8),
                 "rmsprop": lambda p: torch.optim.RMSprop(p, 1e-2, alpha=0.9, momentum=0.5, eps=1e-8),
                 "adamw": lambda p: torch.optim.AdamW(p, 1e-2, weight_decay=0.1, eps=1e-8)}[opt_name](net.parameters())
    model.compile(conv_opt, "sparse_categorical_crossentropy", device="cpu")
    for step in range(5):
        x = rng.standard_normal((8, 1, 12, 12)).astype(np.float32)
        y = rng.integers(0, 5, 8)
        loss = model.train_on_batch(x, y)
        torch_opt.zero_grad()
        torch_loss = torch.nn.functional.cross_entropy(net(torch.tensor(x)), torch.tensor(y))
        torch_loss.backward()
        torch_opt.step()
        assert abs(loss - torch_loss.item()) <= 1e-4 * max(1.0, abs(torch_loss.item())), f"step {step}"
    k, b = model.get_layer("conv").get_weights()
    np.testing.assert_allclose(k, net[0].weight.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(b, net[0].bias.detach().numpy(), rtol=1e-4, atol=1e-5)
    k, b = model.get_layer("dense").get_weights()
    np.testing.assert_allclose(k, net[-1].weight.detach().numpy(), rtol=1e-4, atol=1e-5)
    gamma, beta, mean, var = model.get_layer("bn").get_weights()
    np.testing.assert_allclose(mean, net[2].running_mean.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(var, net[2].running_var.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gamma, net[2].weight.detach().numpy(), rtol=1e-4, atol=1e-5)
    # inference mode matches eval() in PyTorch (running statistics)
    x = rng.standard_normal((3, 1, 12, 12)).astype(np.float32)
    net.eval()
    expected = torch.softmax(net(torch.tensor(x)), 1).detach().numpy()
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-4, atol=1e-6)


def test_one_hot_labels_and_label_smoothing_match_pytorch(rng):
    convnet.set_random_seed(1)
    model = small_cnn()
    net = torch_twin(model)
    model.compile(optimizers.SGD(0.05), convnet.losses.CategoricalCrossentropy(label_smoothing=0.1), device="cpu")
    x = rng.standard_normal((6, 1, 12, 12)).astype(np.float32)
    y = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 6)]
    loss = model.train_on_batch(x, y)
    expected = torch.nn.functional.cross_entropy(net(torch.tensor(x)), torch.tensor(y), label_smoothing=0.1)
    assert abs(loss - expected.item()) < 1e-5


def test_fit_beats_chance_on_fashion_mnist(data):
    x_train, y_train, x_test, y_test = data
    convnet.set_random_seed(0)
    model = convnet.zoo.seed_cnn()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"], device="cpu")
    history = model.fit(x_train, y_train, epochs=2, batch_size=32, validation_data=(x_test, y_test), verbose=0)
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.history["loss"][1] < history.history["loss"][0]
    loss, acc = model.evaluate(x_test, y_test)
    assert acc > 0.7, acc  # chance is 0.1
    assert abs(acc - history.history["val_accuracy"][-1]) < 1e-9
    probs = model.predict(x_test[:10])
    assert probs.shape == (10, 10)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)


def test_same_seed_same_result_bit_for_bit(data):
    x_train, y_train = data[0][:600], data[1][:600]
    weights = []
    for _ in range(2):
        convnet.set_random_seed(7)
        model = small_cnn(batch_norm=True, dropout=0.3)
        model.compile("adam", device="cpu")
        model.fit(x_train[:, 8:20, 8:20], y_train % 5, epochs=2, batch_size=50, seed=3, verbose=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_functional_residual_model_trains(rng):
    inputs = L.Input((1, 12, 12))
    x = L.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    y = L.Conv2D(16, 3, strides=2, padding=1, activation="relu")(x)
    y = L.Conv2D(16, 3, padding="same")(y)
    shortcut = L.Conv2D(16, 1, strides=2)(x)
    out = L.ReLU()(L.Add()([y, shortcut]))
    out = L.Dense(3, activation="softmax")(L.GlobalAveragePooling2D()(out))
    model = convnet.Model(inputs, out)
    model.compile(optimizers.Adam(0.01), device="cpu")
    x_data = rng.standard_normal((64, 1, 12, 12)).astype(np.float32)
    y_data = (x_data[:, 0, :6].mean((1, 2)) > x_data[:, 0, 6:].mean((1, 2))).astype(np.int64)
    history = model.fit(x_data, y_data, epochs=15, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] * 0.8


def test_residual_gradients_sum_over_both_branches(rng):
    """A node feeding two consumers receives the sum of both gradients (checked against PyTorch)."""
    inputs = L.Input((4,))
    h = L.Dense(3, name="h")(inputs)
    a = L.Dense(3, activation="tanh", name="a")(h)
    out = L.Dense(2, name="out")(L.Add()([h, a]))
    model = convnet.Model(inputs, out)
    model.compile(optimizers.SGD(0.5), convnet.losses.SparseCategoricalCrossentropy(from_logits=True), device="cpu")
    x = rng.standard_normal((5, 4)).astype(np.float32)
    y = rng.integers(0, 2, 5)
    wh, wa, wo = (torch.tensor(model.get_layer(n).get_weights()[0], requires_grad=True) for n in ("h", "a", "out"))
    bh, ba, bo = (torch.tensor(model.get_layer(n).get_weights()[1], requires_grad=True) for n in ("h", "a", "out"))
    hh = torch.tensor(x) @ wh.T + bh
    logits = (hh + torch.tanh(hh @ wa.T + ba)) @ wo.T + bo
    torch.nn.functional.cross_entropy(logits, torch.tensor(y)).backward()
    before = model.get_layer("h").get_weights()[0]
    model.train_on_batch(x, y)
    after = model.get_layer("h").get_weights()[0]
    np.testing.assert_allclose((before - after) / 0.5, wh.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_uint8_and_nhw_inputs_are_scaled(data):
    x = data[2][:20]
    convnet.set_random_seed(0)
    model = convnet.zoo.seed_cnn()
    a = model.predict(x)  # (N, H, W) uint8, scaled to [0, 1] in C++
    b = model.predict((x / 255.0).astype(np.float32)[:, None])
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_sequential_builds_from_first_fit():
    model = convnet.Sequential([L.Conv2D(2, 3), L.Flatten(), L.Dense(3, activation="softmax")])
    assert not model.built
    model.compile("sgd", device="cpu")
    model.fit(np.zeros((4, 6, 6), np.float32), np.array([0, 1, 2, 0]), epochs=1, verbose=0)
    assert model.input_shape == (1, 6, 6) and model.count_params() == 2 * 9 + 2 + 32 * 3 + 3


def test_summary_shapes_params_and_receptive_field(capsys):
    model = convnet.zoo.seed_cnn()
    model.summary()
    out = capsys.readouterr().out
    assert "(None, 32, 26, 26)" in out and "(None, 32, 13, 13)" in out and "(None, 5408)" in out
    assert "Total params: 542,230" in out and "Trainable params: 542,230" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith(("conv2d", "max_pool2d"))}
    conv_line = next(v for k, v in lines.items() if k.startswith("conv2d"))
    pool_line = next(v for k, v in lines.items() if k.startswith("max_pool2d"))
    assert "3x3" in conv_line and conv_line.rstrip().endswith("1x1")
    assert "4x4" in pool_line and pool_line.rstrip().endswith("2x2")


def test_conv_output_size_formula_and_frozen_layers():
    model = convnet.Sequential([L.Input((1, 28, 28)), L.Conv2D(4, 5, strides=2, padding=1, name="c"),
                                L.Flatten(), L.Dense(2, activation="softmax", name="d")])
    # (I - K + 2P) / S + 1 = (28 - 5 + 2) / 2 + 1 = 13
    assert model._graph.output_shape(model.get_layer("c")._node_ids[-1]) == (4, 13, 13)
    model.get_layer("c").trainable = False
    model.compile("sgd", device="cpu")
    before = model.get_layer("c").get_weights()[0]
    model.train_on_batch(np.ones((2, 28, 28), np.float32), [0, 1])
    np.testing.assert_array_equal(model.get_layer("c").get_weights()[0], before)


def test_save_load_round_trip_resumes_exactly(tmp_path, data):
    x, y = data[0][:256], data[1][:256]
    convnet.set_random_seed(3)
    model = convnet.zoo.vgg_small()
    model.compile(optimizers.Adam(1e-3), device="cpu")
    model.fit(x, y, epochs=1, batch_size=64, verbose=0, seed=1)
    path = tmp_path / "model.cnet"
    model.save(path)
    loaded = convnet.load_model(path, device="cpu")
    np.testing.assert_array_equal(loaded.predict(x[:16]), model.predict(x[:16]))
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    model.fit(x, y, epochs=1, batch_size=64, verbose=0, seed=2)
    loaded.fit(x, y, epochs=1, batch_size=64, verbose=0, seed=2)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_callbacks(tmp_path, data):
    x, y = data[0][:300], data[1][:300]
    model = convnet.zoo.seed_cnn()
    model.compile(optimizers.SGD(0.01), device="cpu")
    schedule = callbacks.LearningRateScheduler(callbacks.step_decay(0.1, drop=0.5, every=1))
    ckpt = callbacks.ModelCheckpoint(str(tmp_path / "ckpt-{epoch:02d}.cnet"))
    stop = callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    history = model.fit(x, y, epochs=5, batch_size=50, verbose=0,
                        callbacks=[schedule, ckpt, stop])
    assert len(history.history["loss"]) == 2  # stopped after no improvement of 10.0 in one epoch
    assert history.history["learning_rate"] == [0.1, 0.05]
    assert sorted(os.listdir(tmp_path)) == ["ckpt-01.cnet", "ckpt-02.cnet"]
    cosine = callbacks.cosine_decay(1.0, 10)
    assert cosine(0) == 1.0 and abs(cosine(5) - 0.5) < 1e-12 and abs(cosine(10)) < 1e-12


def test_nan_loss_stops_fit_naming_epoch_and_step():
    model = small_cnn()
    model.compile(optimizers.SGD(1e30), device="cpu")
    x = np.full((64, 1, 12, 12), 1e3, np.float32)
    with pytest.raises(FloatingPointError, match=r"epoch 1, step \d+"):
        model.fit(x, np.arange(64) % 5, epochs=3, batch_size=8, verbose=0)


@pytest.mark.parametrize("bad, exc, fragment", [
    (dict(x=np.zeros((4, 1, 12, 13), np.float32)), ValueError, "expected samples of shape (1, 12, 12)"),
    (dict(x=np.zeros((4, 12), np.float32)), ValueError, "expected samples of shape"),
    (dict(y=np.array([0, 1, 2])), ValueError, "different lengths"),
    (dict(y=np.array([0, 1, 2, 9])), ValueError, "labels in [0, 5), got 9 at index 3"),
    (dict(y=np.array([0, -1, 2, 3])), ValueError, "got -1 at index 1"),
    (dict(y=np.eye(4, dtype=np.float32)), ValueError, "one-hot rows of width 5"),
    (dict(x=np.full((4, 1, 12, 12), np.nan, np.float32)), ValueError, "NaN or infinite"),
    (dict(batch_size=0), ValueError, "'batch_size' expected an int >= 1"),
    (dict(batch_size=2.5), TypeError, "'batch_size' expected an int"),
    (dict(epochs=-1), ValueError, "'epochs' expected an int >= 0"),
    (dict(x=np.zeros((0, 1, 12, 12), np.float32), y=np.zeros(0, np.int64)), ValueError, "non-empty"),
    (dict(x=np.array([["a"]])), TypeError, "numeric images"),
    (dict(y=np.array(["a", "b", "c", "d"])), TypeError, "integer class labels"),
])
def test_fit_rejects_bad_arguments(bad, exc, fragment):
    model = small_cnn()
    model.compile("sgd", device="cpu")
    args = dict(x=np.zeros((4, 1, 12, 12), np.float32), y=np.array([0, 1, 2, 3]), batch_size=2, epochs=1, verbose=0)
    args.update(bad)
    with pytest.raises(exc) as info:
        model.fit(**args)
    assert fragment in str(info.value)


def test_api_errors(tmp_path):
    with pytest.raises(RuntimeError, match="compile"):
        small_cnn().fit(np.zeros((2, 1, 12, 12), np.float32), [0, 1], verbose=0)
    with pytest.raises(ValueError, match="unknown activation 'relux'"):
        L.Conv2D(2, 3, activation="relux")
    with pytest.raises(ValueError, match="unknown initializer 'uniformish'"):
        L.Dense(2, kernel_initializer="uniformish")
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'"):
        small_cnn().compile("adamax")
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        small_cnn().compile("adam", "hinge")
    with pytest.raises(ValueError, match="unknown layer 'Conv3D'"):
        L.get("Conv3D")
    with pytest.raises(ValueError, match="padding"):
        L.Conv2D(2, 3, padding="full")
    with pytest.raises(ValueError, match="filters"):
        L.Conv2D(0, 3)
    with pytest.raises(ValueError, match="rate"):
        L.Dropout(1.5)
    # A layer whose output would be empty is refused when the model is built, naming the layer and sizes
    with pytest.raises(ValueError, match=r"layer 'too_big'.*padded input \(4, 4\).*\(5, 5\)"):
        convnet.Sequential([L.Input((1, 4, 4)), L.Conv2D(2, 5, name="too_big")])
    with pytest.raises(ValueError, match="Flatten"):
        convnet.Sequential([L.Input((1, 4, 4)), L.Dense(3)])
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        if not convnet.cuda.is_available():
            small_cnn().compile("adam", device="cuda")
        else:
            raise RuntimeError("CUDA is not available (skipped: a GPU is present)")


def test_model_file_errors(tmp_path):
    model = small_cnn()
    model.compile("adam", device="cpu")
    path = tmp_path / "m.cnet"
    model.save(path)
    with pytest.raises(FileNotFoundError):
        convnet.load_model(tmp_path / "missing.cnet")
    data = path.read_bytes()
    (tmp_path / "truncated.cnet").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated.cnet"):
        convnet.load_model(tmp_path / "truncated.cnet")
    (tmp_path / "garbage.cnet").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="garbage.cnet"):
        convnet.load_model(tmp_path / "garbage.cnet")


def test_validation_split_and_restore_best_weights(data):
    x, y = data[0][:400], data[1][:400]
    model = convnet.zoo.seed_cnn()
    model.compile(optimizers.SGD(0.05), device="cpu")
    stop = callbacks.EarlyStopping(monitor="val_accuracy", patience=1, restore_best_weights=True)
    history = model.fit(x, y, epochs=6, batch_size=40, validation_split=0.25, verbose=0, callbacks=[stop])
    assert len(history.history["val_accuracy"]) == len(history.history["loss"]) >= 2
    # the split is the last quarter, evaluated as Keras does (before any shuffling)
    # stopped: the best epoch's weights are back; else the last epoch's are kept
    accuracies = history.history["val_accuracy"]
    expected = max(accuracies) if stop.stopped_epoch is not None else accuracies[-1]
    assert abs(model.evaluate(x[300:], y[300:])[1] - expected) < 1e-9
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(x[:3], y[:3], validation_split=0.1, verbose=0)


@pytest.mark.parametrize("stack", [
    [L.Conv2D(2, 3, strides=2, padding=1), L.MaxPool2D(2), L.Conv2D(2, 3, dilation_rate=2)],
    [L.Conv2D(2, 4, padding="same"), L.AvgPool2D(3, strides=2), L.DepthwiseConv2D(2, padding=1)],
    [L.Conv2D(2, 3, strides=2, padding="same"), L.MaxPool2D(3, strides=2, padding="same"),
     L.Conv2D(2, 2, strides=2, padding="same")],
])
def test_receptive_field_is_the_set_of_input_pixels_a_unit_depends_on(stack):
    """Perturbs each input pixel of a 23x23 image in turn: exactly the pixels inside the window that
    receptive_field reports for unit (i, j) change that unit (random weights, biases: no accidental zero)."""
    S = 23
    convnet.set_random_seed(3)
    model = convnet.Sequential([L.Input((1, S, S))] + stack)
    field = model.receptive_field(model.layers[-1])
    x = np.random.default_rng(0).uniform(0.5, 1.0, (1, 1, S, S)).astype(np.float32)
    pokes = np.repeat(x, S * S, axis=0)
    pokes.reshape(S * S, -1)[np.arange(S * S), np.arange(S * S)] += 1.0
    base, poked = model.predict(x), model.predict(pokes)
    out_h, out_w = base.shape[2:]
    for i, j in [(0, 0), (out_h - 1, out_w - 1), (out_h // 2, out_w // 2)]:
        seen = np.abs(poked[:, :, i, j] - base[:, :, i, j]).max(axis=1).reshape(S, S) > 0
        rows = np.arange(S)[:, None]
        cols = np.arange(S)[None, :]
        ch, cw = field.center[0] + i * field.stride[0], field.center[1] + j * field.stride[1]
        window = (np.abs(rows - ch) <= (field.size[0] - 1) / 2) & (np.abs(cols - cw) <= (field.size[1] - 1) / 2)
        assert not field.is_global
        assert (seen <= window).all()  # depends on nothing outside the window
        assert seen[window].mean() > 0.25  # and on much of it (max pool, strides, dilation leave holes)


def test_receptive_field_refuses_what_is_not_a_layer_of_the_model():
    model = convnet.zoo.seed_cnn()
    assert model.receptive_field(model.layers[2].name).is_global
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        model.receptive_field("nope")
    with pytest.raises(ValueError, match="receptive_field: argument 'layer'"):
        model.receptive_field(L.Dense(3))


def test_the_training_history_is_kept_in_the_model_file(tmp_path):
    model = convnet.Sequential([L.Input((1, 6, 6)), L.Flatten(), L.Dense(3, activation="softmax")])
    model.compile(metrics=["accuracy"])
    assert model.history is None
    x, y = np.random.default_rng(0).random((20, 1, 6, 6), np.float32), np.arange(20) % 3
    model.fit(x, y, epochs=3, verbose=0, validation_split=0.25)
    model.save(tmp_path / "m.cnet")
    loaded = convnet.load_model(tmp_path / "m.cnet")
    assert loaded.history.epoch == [0, 1, 2]
    assert loaded.history.history == pytest.approx(model.history.history)
    assert set(loaded.history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
    convnet.Sequential([L.Input((2,)), L.Dense(1)]).save(tmp_path / "fresh.cnet")
    assert convnet.load_model(tmp_path / "fresh.cnet").history is None
