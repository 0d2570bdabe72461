"""convnet.plot on the CPU: each picture is a PNG of the documented size whose pixels vary, or a Figure
when no path is given; and the refusals (a missing layer, a non-convolution for filters, epsilon < 0, an
image of the wrong shape, empty or uncompiled inputs)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import convnet
from convnet import callbacks, layers as L, plot
from convnet.datasets import fashion_mnist

matplotlib = pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402
import matplotlib.image  # noqa: E402


@pytest.fixture(scope="module")
def trained():
    (x, y), (xt, yt) = fashion_mnist.load_data()
    convnet.set_random_seed(0)
    seed = convnet.zoo.seed_cnn()
    seed.compile("adam", metrics=["accuracy"], device="cpu")
    seed.fit(x[:3000], y[:3000], epochs=2, verbose=0, validation_data=(xt[:300], yt[:300]))
    small = convnet.Sequential([L.Input((1, 28, 28)), L.Conv2D(4, 3, padding=1, activation="relu"), L.MaxPool2D(2),
                                L.Conv2D(6, 3, strides=2, padding=1, activation="relu"), L.Flatten(),
                                L.Dense(10, activation="softmax")], name="small")
    small.compile("adam", metrics=["accuracy"], device="cpu")
    small.fit(x[:1000], y[:1000], epochs=1, verbose=0)
    return seed, small, xt[:200], yt[:200]


def check_png(path, name):
    assert os.path.isfile(path)
    pixels = matplotlib.image.imread(path)
    width, height = plot.SIZES[name]
    assert pixels.shape[:2] == (height, width)
    assert pixels[..., :3].std() > 0.05  # not blank: the pixels vary
    assert [f for f in os.listdir(os.path.dirname(path)) if f.startswith(".")] == []  # no temporary left


def test_history(trained, tmp_path):
    seed, _, _, _ = trained
    path = str(tmp_path / "history.png")
    assert plot.history(seed.history, path) == path
    check_png(path, "history")
    assert isinstance(plot.history(seed), Figure)  # a model: its history; no path: the Figure
    fig = plot.history({"loss": [1.0, 0.5, 0.4], "learning_rate": [1e-3, 1e-4, 1e-5]})  # no accuracy; a schedule
    assert [ax.get_title() for ax in fig.axes] == ["Loss per epoch", "Learning rate per epoch"]


def test_confusion_matrix(trained, tmp_path):
    seed, _, x, y = trained
    path = plot.confusion_matrix(seed, x, y, tmp_path / "cm.png")
    assert path == str(tmp_path / "cm.png")
    check_png(path, "confusion_matrix")
    fig = plot.confusion_matrix(seed, x, y)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == list(fashion_mnist.CLASS_NAMES)  # Fashion-MNIST's names by default
    counts = fig.axes[0].images[0].get_array()
    assert counts.sum() == len(y) and np.array_equal(counts, convnet.metrics.confusion_matrix(
        y, seed.predict(x).argmax(1), num_classes=10))
    uncompiled = convnet.Sequential(seed.layers)  # predict needs no loss
    mine = Figure()
    assert plot.confusion_matrix(uncompiled, x[:20], y[:20], class_names=[f"c{i}" for i in range(10)],
                                 figure=mine) is mine


def test_filters_first_and_deeper_layer(trained, tmp_path):
    seed, small, _, _ = trained
    check_png(plot.filters(seed.layers[0], str(tmp_path / "f1.png")), "filters")
    fig = plot.filters(seed.layers[0])
    assert len(fig.axes) == 32 + 1  # one axes per kernel and the colour bar
    check_png(plot.filters(small.layers[2], str(tmp_path / "f2.png")), "filters")
    grid = plot.filters(small.layers[2]).axes[0].images[0].get_array()
    assert grid.shape == (6 * 4 - 1, 4 * 4 - 1)  # 6 filters (rows) x 4 input channels (columns) of 3x3, gaps
    depthwise = convnet.Sequential([L.Input((2, 8, 8)), L.SeparableConv2D(3, 3, depth_multiplier=2)])
    assert "depthwise" in plot.filters(depthwise.layers[0])._suptitle.get_text()


def test_feature_maps(trained, tmp_path):
    seed, small, x, _ = trained
    check_png(plot.feature_maps(seed, x[0], seed.layers[0].name, str(tmp_path / "fm.png")), "feature_maps")
    fig = plot.feature_maps(small, x[0][None], small.layers[2])  # a layer object; a batch of one
    assert "6 channels of 7x7" in fig._suptitle.get_text()
    fig = plot.feature_maps(seed, x[0].astype(np.float32) / 255, seed.layers[-1])  # flat output: one bar per unit
    assert len(fig.axes[1].patches) == 10 and "no spatial maps" in fig._suptitle.get_text()
    nested = convnet.Sequential([L.Input((1, 28, 28)), small, L.Dense(3)])
    maps = plot.feature_maps(nested, x[1], small.layers[0].name).axes[1].images[0].get_array()
    assert np.isfinite(maps).sum() == 4 * 28 * 28  # a layer of a nested model, reached through it


def test_saliency(trained, tmp_path):
    seed, _, x, y = trained
    check_png(plot.saliency(seed, x[:6], y[:6], str(tmp_path / "s.png")), "saliency")
    fig = plot.saliency(seed, x[:20], y[:20])  # the first 8 shown
    assert len(fig.axes) == 2 * 8 + 1 and "first 8 of 20" in fig._suptitle.get_text()
    maps = [ax.images[0].get_array() for ax in fig.axes[8:16]]
    assert all(np.isclose(m.max(), 1) and m.min() >= 0 for m in maps)  # per-image scaling


def test_receptive_field(trained, tmp_path):
    seed, small, x, _ = trained
    check_png(plot.receptive_field(small, small.layers[2], str(tmp_path / "rf.png"), image=x[0]), "receptive_field")
    check_png(plot.receptive_field(seed, seed.layers[1].name, str(tmp_path / "rf0.png")), "receptive_field")
    title = plot.receptive_field(small, small.layers[2])._suptitle.get_text()
    field = small.receptive_field(small.layers[2])
    assert f"{field.size[0]}x{field.size[1]}, stride {field.stride[0]}x{field.stride[1]}" in title
    lines = []
    small.summary(print_fn=lines.append)
    row = next(line for line in lines if line.startswith(small.layers[2].name))
    assert row.split()[-2:] == ["8x8", "4x4"] and "8x8, stride 4x4" in title  # the summary's numbers
    assert "global" in plot.receptive_field(seed, seed.layers[3].name, image=x[1])._suptitle.get_text()


def test_adversarial(trained, tmp_path):
    pytest.importorskip("convnet.attacks")
    seed, _, x, y = trained
    path = plot.adversarial(seed, x[:6], y[:6], str(tmp_path / "adv.png"), 0.1)
    check_png(path, "adversarial")
    fig = plot.adversarial(seed, x[:3], y[:3], epsilon=0.05)
    perturbation = fig.axes[3].images[0].get_array()  # row-major: 3 clean, then the first perturbation
    assert np.abs(perturbation).max() <= 0.05 + 1e-6 and np.abs(perturbation).max() > 0
    assert "epsilon = 0.05" in fig._suptitle.get_text()


def test_refusals(trained, tmp_path):
    seed, small, x, y = trained
    uncompiled = convnet.Sequential([L.Input((1, 28, 28)), L.Flatten(), L.Dense(10, activation="softmax")])
    cases = [
        (lambda: plot.feature_maps(seed, x[0], "nope"), ValueError, r"plot.feature_maps: model 'seed_cnn' has no "
                                                                    r"layer named 'nope'"),
        (lambda: plot.receptive_field(seed, "nope"), ValueError, r"plot.receptive_field: .*no layer named 'nope'"),
        (lambda: plot.feature_maps(seed, x[0], small.layers[0]), ValueError, r"is not a layer of model 'seed_cnn'"),
        (lambda: plot.filters(seed.layers[1]), TypeError, r"plot.filters: argument 'layer' expected a convolution "
                                                          r"layer .*got layer 'max_pool2d\w*' \(MaxPool2D\)"),
        (lambda: plot.filters("conv2d"), TypeError, r"plot.filters: argument 'layer' expected a convolution"),
        (lambda: plot.filters(L.Conv2D(2, 3)), ValueError, r"plot.filters: .*not part of a built model"),
        (lambda: plot.adversarial(seed, x[:2], y[:2], None, -0.1), ValueError,
         r"plot.adversarial: argument 'epsilon' expected a finite number >= 0, got -0.1"),
        (lambda: plot.adversarial(seed, x[:2], y[:2], epsilon=float("nan")), ValueError, r"'epsilon'"),
        (lambda: plot.adversarial(seed, x[:2], y[:2], epsilon="0.1"), TypeError, r"'epsilon'"),
        (lambda: plot.feature_maps(seed, x[:3], seed.layers[0].name), ValueError,
         r"plot.feature_maps: argument 'image' expected one image of shape \(1, 28, 28\) or \(28, 28\), got shape "
         r"\(3, 28, 28\) \(a batch of 3"),
        (lambda: plot.receptive_field(seed, seed.layers[0].name, image=np.zeros((32, 32), np.uint8)), ValueError,
         r"argument 'image' expected one image"),
        (lambda: plot.saliency(seed, x[:0], y[:0]), ValueError, r"plot.saliency: argument 'x' expected a non-empty"),
        (lambda: plot.saliency(seed, x[:2, :20], y[:2]), ValueError, r"argument 'x' expected samples of shape"),
        (lambda: plot.saliency(uncompiled, x[:2], y[:2]), RuntimeError, r"plot.saliency: the model is not compiled"),
        (lambda: plot.adversarial(uncompiled, x[:2], y[:2]), RuntimeError, r"plot.adversarial: the model is not "
                                                                           r"compiled"),
        (lambda: plot.confusion_matrix(seed, x[:3], y[:2]), ValueError, r"x and y have different lengths"),
        (lambda: plot.confusion_matrix(seed, x[:2], [0, 10]), ValueError, r"labels in \[0, 10\)"),
        (lambda: plot.confusion_matrix(seed, x[:2], y[:2], class_names=["a"]), ValueError, r"expected 10 names"),
        (lambda: plot.history(callbacks.History()), ValueError, r"plot.history: argument 'history' has no epochs"),
        (lambda: plot.history(uncompiled), ValueError, r"has no history"),
        (lambda: plot.history([1, 2]), TypeError, r"argument 'history' expected a callbacks.History"),
        (lambda: plot.history({"loss": [1.0], "accuracy": [0.1, 0.2]}), ValueError, r"expected 1 values"),
        (lambda: plot.history(seed.history, 3), TypeError, r"plot.history: argument 'path' expected str"),
        (lambda: plot.history(seed.history, figure="fig"), TypeError, r"argument 'figure' expected a matplotlib"),
        (lambda: plot.history(seed.history, str(tmp_path)), IsADirectoryError, r"plot.history: cannot write"),
    ]
    for call, error, pattern in cases:
        with pytest.raises(error, match=pattern):
            call()


def test_import_convnet_does_not_import_matplotlib():
    code = "import sys, convnet; assert 'matplotlib' not in sys.modules, 'imported'; convnet.plot.SIZES"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, env=dict(os.environ))
