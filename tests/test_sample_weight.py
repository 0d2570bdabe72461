"""Row weights in the loss (Keras' sample_weight and class_weight): the ops against PyTorch's
unreduced losses, fit's step against the hand-computed weighted loss, evaluate, and the errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convnet
from conftest import requires_cuda
from convnet import layers as L, ops
from opcheck import assert_close, assert_raises, check_finite_differences, compare_with_torch


def weighted(loss_none, w):
    """Keras' sum_over_batch_size: sum(w * loss_n) / N (the per-row loss already averaged over its elements)."""
    return (loss_none * w).mean()


def test_cross_entropy_weight_matches_torch(rng):
    z = rng.standard_normal((6, 4)).astype(np.float32)
    w = rng.uniform(0, 3, 6).astype(np.float32)
    labels = rng.integers(0, 4, 6)
    probs = rng.dirichlet(np.ones(4), 6).astype(np.float32)
    for target in (labels, probs):
        tt = torch.tensor(target)
        compare_with_torch(lambda z: ops.cross_entropy(z, target, 0.1, weight=w),
                           lambda g, z: ops.cross_entropy_backward(g, z, target, 0.1, weight=w),
                           lambda z: weighted(F.cross_entropy(z, tt.to(z.dtype) if tt.is_floating_point() else tt,
                                                              reduction="none", label_smoothing=0.1),
                                              torch.tensor(w, dtype=z.dtype)), [z], n_diff=1)


def test_binary_cross_entropy_weight_matches_torch(rng):
    z = rng.standard_normal((7, 1)).astype(np.float32)
    t = rng.integers(0, 2, (7, 1)).astype(np.float32)
    w = rng.uniform(0, 3, 7).astype(np.float32)
    compare_with_torch(lambda z: ops.binary_cross_entropy_with_logits(z, t, weight=w),
                       lambda g, z: ops.binary_cross_entropy_with_logits_backward(g, z, t, weight=w),
                       lambda z: weighted(F.binary_cross_entropy_with_logits(z, torch.tensor(t, dtype=z.dtype),
                                                                             reduction="none")[:, 0],
                                          torch.tensor(w, dtype=z.dtype)), [z], n_diff=1)


def test_mse_weight_matches_torch_and_finite_differences(rng):
    p = rng.standard_normal((5, 3, 2)).astype(np.float32)
    t = rng.standard_normal((5, 3, 2)).astype(np.float32)
    w = rng.uniform(0, 3, 5).astype(np.float32)
    compare_with_torch(lambda p: ops.mse_loss(p, t, weight=w), lambda g, p: ops.mse_loss_backward(g, p, t, weight=w),
                       lambda p: weighted(F.mse_loss(p, torch.tensor(t, dtype=p.dtype), reduction="none").mean((1, 2)),
                                          torch.tensor(w, dtype=p.dtype)), [p], n_diff=1)
    check_finite_differences(lambda p: np.asarray(ops.mse_loss(p, t, weight=w)).reshape(1),
                             lambda g, p: ops.mse_loss_backward(g[0], p, t, weight=w), [p], n_diff=1)


def test_weight_errors():
    z = np.zeros((3, 2), np.float32)
    assert_raises(ValueError, ["cross_entropy", "'weight'", "(3,)", "(2,)"], ops.cross_entropy, z, [0, 1, 1],
                  weight=np.ones(2, np.float32))
    assert_raises(ValueError, ["mse_loss_backward", "'weight'", "(3,)", "(3, 2)"], ops.mse_loss_backward, 1.0, z, z,
                  weight=z)
    assert_raises(TypeError, ["binary_cross_entropy_with_logits", "'weight'", "float32", "int64"],
                  ops.binary_cross_entropy_with_logits, z[:, :1], z[:, :1],
                  weight=convnet.tensor(np.ones(3), dtype="int64"))


def small_model(loss="sparse_categorical_crossentropy", units=3, activation="softmax"):
    convnet.set_random_seed(5)
    model = convnet.Sequential([L.Input((1, 4, 4)), L.Flatten(), L.Dense(units, activation=activation)])
    model.compile(optimizer=convnet.optimizers.SGD(0.5), loss=loss, device="cpu",
                  metrics=None if loss == "mean_squared_error" else ["accuracy"])
    return model


def torch_step(model, x, loss_rows, w, lr=0.5):
    """The loss of one full-batch SGD step weighted by w (computed by hand in torch) and the weights after it."""
    kernel, bias = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in model.layers[-1].get_weights())
    logits = torch.tensor(x.reshape(len(x), -1), dtype=torch.float64) @ kernel.T + bias
    loss = (loss_rows(logits) * torch.tensor(w, dtype=torch.float64)).sum() / len(x)
    loss.backward()
    return loss.item(), [(kernel - lr * kernel.grad).detach().numpy(), (bias - lr * bias.grad).detach().numpy()]


def test_class_weight_is_the_weighted_loss_computed_by_hand(rng):
    x = rng.standard_normal((12, 1, 4, 4)).astype(np.float32)
    y = rng.integers(0, 3, 12)
    class_weight = {0: 0.5, 2: 4.0}  # class 1 is not named: weight 1
    model = small_model()
    w = np.array([class_weight.get(int(c), 1.0) for c in y])
    expected_loss, expected_weights = torch_step(
        model, x, lambda z: F.cross_entropy(z, torch.tensor(y), reduction="none"), w)
    history = model.fit(x, y, batch_size=12, epochs=1, verbose=0, shuffle=False, class_weight=class_weight)
    assert abs(history.history["loss"][0] - expected_loss) < 1e-5 * max(1.0, expected_loss)
    for got, want in zip(model.layers[-1].get_weights(), expected_weights):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # the same as the sample weights of those classes, and one-hot labels pick the class by argmax
    by_sample, one_hot = small_model(), small_model(loss="categorical_crossentropy")
    by_sample.fit(x, y, batch_size=5, epochs=2, verbose=0, seed=1, sample_weight=w)
    one_hot.fit(x, np.eye(3, dtype=np.float32)[y], batch_size=5, epochs=2, verbose=0, seed=1,
                class_weight=class_weight)
    reference = small_model()
    reference.fit(x, y, batch_size=5, epochs=2, verbose=0, seed=1, class_weight=class_weight)
    for model_ in (by_sample, one_hot):
        for got, want in zip(model_.get_weights(), reference.get_weights()):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_binary_class_weight_rounds_the_targets(rng):
    x = rng.standard_normal((10, 1, 4, 4)).astype(np.float32)
    t = rng.integers(0, 2, 10).astype(np.float32)
    model = small_model("binary_crossentropy", units=1, activation="sigmoid")
    w = np.where(t == 1, 3.0, 1.0)
    expected_loss, expected_weights = torch_step(
        model, x, lambda z: F.binary_cross_entropy_with_logits(z[:, 0], torch.tensor(t, dtype=z.dtype),
                                                               reduction="none"), w)
    history = model.fit(x, t, batch_size=10, verbose=0, shuffle=False, class_weight={1: 3.0})
    assert abs(history.history["loss"][0] - expected_loss) < 1e-5
    for got, want in zip(model.layers[-1].get_weights(), expected_weights):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_evaluate_sample_weight_and_weighted_validation(rng):
    x = rng.standard_normal((20, 1, 4, 4)).astype(np.float32)
    y = rng.integers(0, 3, 20)
    w = rng.uniform(0, 2, 20).astype(np.float32)
    model = small_model()
    p = model.predict(x)
    rows = -np.log(p[np.arange(20), y])
    loss, accuracy = model.evaluate(x, y, batch_size=7, sample_weight=w)
    assert abs(loss - (rows * w).mean()) < 1e-5
    assert accuracy == model.evaluate(x, y)[1]  # accuracy is not weighted
    assert model.evaluate(x, y, sample_weight=np.ones(20))[0] == pytest.approx(model.evaluate(x, y)[0], rel=1e-6)
    # validation_split takes the sample weights of its rows along; a weight of 0 drops a row from the loss
    history = model.fit(x, y, epochs=1, verbose=0, validation_split=0.25, sample_weight=w)
    after = model.evaluate(x[15:], y[15:], sample_weight=w[15:])[0]
    assert history.history["val_loss"][0] == pytest.approx(after, rel=1e-5)
    zero = np.ones(20, np.float32)
    zero[:10] = 0
    assert model.evaluate(x, y, sample_weight=zero)[0] == pytest.approx(model.evaluate(x[10:], y[10:])[0] / 2, rel=1e-5)
    history = model.fit(x[:15], y[:15], verbose=0, validation_data=(x[15:], y[15:], w[15:]))
    assert history.history["val_loss"][0] == pytest.approx(model.evaluate(x[15:], y[15:], sample_weight=w[15:])[0],
                                                           rel=1e-5)


def test_weight_errors_name_the_argument(rng):
    x = rng.standard_normal((6, 1, 4, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2])
    model = small_model()
    with pytest.raises(ValueError, match=r"fit: argument 'class_weight' names class 3, which does not exist: "
                                         r"the model's classes are 0 \.\. 2"):
        model.fit(x, y, verbose=0, class_weight={0: 1.0, 3: 2.0})
    with pytest.raises(ValueError, match="names class -1"):
        model.fit(x, y, verbose=0, class_weight={-1: 2.0})
    with pytest.raises(ValueError, match="expected a finite number for class 1"):
        model.fit(x, y, verbose=0, class_weight={1: float("nan")})
    with pytest.raises(TypeError, match="'class_weight' expected a dict"):
        model.fit(x, y, verbose=0, class_weight=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="not both"):
        model.fit(x, y, verbose=0, class_weight={0: 1.0}, sample_weight=np.ones(6))
    with pytest.raises(ValueError, match=r"fit: argument 'sample_weight' expected one number per sample, shape \(6,\)"):
        model.fit(x, y, verbose=0, sample_weight=np.ones(5))
    with pytest.raises(ValueError, match="finite numbers, got inf at index 2"):
        model.evaluate(x, y, sample_weight=[1, 1, np.inf, 1, 1, 1])
    with pytest.raises(ValueError, match="do not apply to adversarial training"):
        model.fit(x, y, verbose=0, sample_weight=np.ones(6), adversarial=dict(epsilon=0.1))
    regression = small_model("mean_squared_error", activation=None)
    with pytest.raises(ValueError, match="'class_weight' needs a classification loss"):
        regression.fit(x, np.zeros((6, 3), np.float32), verbose=0, class_weight={0: 2.0})


@requires_cuda
def test_weighted_losses_cuda_match_cpu(rng):
    z = rng.standard_normal((9, 4)).astype(np.float32)
    y = rng.integers(0, 4, 9)
    w = rng.uniform(0, 2, 9).astype(np.float32)
    zg, yg, wg = (convnet.tensor(a, device="cuda") for a in (z, y, w))
    assert_close(ops.cross_entropy(zg, yg, weight=wg).to("cpu").numpy(), ops.cross_entropy(z, y, weight=w).numpy())
    assert_close(ops.cross_entropy_backward(1.0, zg, yg, weight=wg).to("cpu").numpy(),
                 ops.cross_entropy_backward(1.0, z, y, weight=w).numpy())
    t = (z[:, :1] > 0).astype(np.float32)
    tg = convnet.tensor(t, device="cuda")
    assert_close(ops.binary_cross_entropy_with_logits(convnet.tensor(z[:, :1], device="cuda"), tg,
                                                      weight=wg).to("cpu").numpy(),
                 ops.binary_cross_entropy_with_logits(z[:, :1], t, weight=w).numpy())
    assert_close(ops.mse_loss_backward(1.0, zg, convnet.tensor(z * 0.5, device="cuda"), weight=wg).to("cpu").numpy(),
                 ops.mse_loss_backward(1.0, z, z * 0.5, weight=w).numpy())
    assert ops.count_in_top_k(zg, yg, 2) == ops.count_in_top_k(z, y, 2)
    model = small_model()
    model.compile(optimizer=convnet.optimizers.SGD(0.5), metrics=["accuracy"], device="cuda")
    x = rng.standard_normal((8, 1, 4, 4)).astype(np.float32)
    labels = rng.integers(0, 3, 8)
    cpu = small_model()
    model.set_weights(cpu.get_weights())
    for m in (model, cpu):
        m.fit(x, labels, batch_size=4, epochs=2, verbose=0, seed=2, class_weight={0: 2.0, 1: 0.5})
    for got, want in zip(model.get_weights(), cpu.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_count_in_top_k_matches_the_definition(rng):
    z = rng.standard_normal((50, 6)).astype(np.float32)
    z[0, :] = 1.0  # all tied: in the top 1 (ties at the k-th place count as in, as TensorFlow's in_top_k)
    z[1, 2] = np.nan
    y = rng.integers(0, 6, 50)
    y[1] = 2
    for k in (1, 3, 6, 9):
        larger = (z > z[np.arange(50), y][:, None]).sum(1)
        expected = int(((larger < k) & ~np.isnan(z[np.arange(50), y])).sum())
        assert ops.count_in_top_k(z, y, k) == expected
        assert ops.count_in_top_k(z, np.eye(6, dtype=np.float32)[y], k) == expected  # one-hot: the argmax
    assert ops.count_in_top_k(z, y, 1) == ops.count_correct(z, y) + 1  # the tied row 0 counts for top-1 only
    assert_raises(ValueError, ["count_in_top_k", "'k'", "0"], ops.count_in_top_k, z, y, 0)
    assert_raises(ValueError, ["count_in_top_k", "'target'", "[0, 6)"], ops.count_in_top_k, z, y + 6, 2)


def test_top_k_compile_metrics_in_fit_evaluate_and_the_model_file(rng, tmp_path):
    convnet.set_random_seed(2)
    x = rng.standard_normal((40, 1, 4, 4)).astype(np.float32)
    y = rng.integers(0, 8, 40)
    model = convnet.Sequential([L.Input((1, 4, 4)), L.Flatten(), L.Dense(8, activation="softmax")])
    model.compile(metrics=["accuracy", "sparse_top_k_categorical_accuracy"], device="cpu")
    p = model.predict(x)
    top5 = np.mean([y[i] in np.argsort(-p[i])[:5] for i in range(40)])
    loss, accuracy, top = model.evaluate(x, y, batch_size=16)
    assert top == pytest.approx(top5) and accuracy <= top
    assert model.evaluate(x, y, return_dict=True)["sparse_top_k_categorical_accuracy"] == pytest.approx(top5)
    history = model.fit(x, y, epochs=2, verbose=0, validation_data=(x, y))
    assert set(history.history) == {"loss", "accuracy", "sparse_top_k_categorical_accuracy", "val_loss",
                                    "val_accuracy", "val_sparse_top_k_categorical_accuracy", "learning_rate"}
    model.save(tmp_path / "m.convnet")
    loaded = convnet.load_model(tmp_path / "m.convnet")
    assert loaded.evaluate(x, y) == model.evaluate(x, y)
    one_hot = np.eye(8, dtype=np.float32)[y]
    model.compile(loss="categorical_crossentropy", metrics=[convnet.metrics.TopKCategoricalAccuracy(k=2, name="top2")],
                  device="cpu")
    p = model.predict(x)
    top2 = np.mean([y[i] in np.argsort(-p[i])[:2] for i in range(40)])
    assert model.evaluate(x, one_hot, return_dict=True)["top2"] == pytest.approx(top2)
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        model.compile(metrics=["f1"])
    with pytest.raises(ValueError, match="one is counted per model"):
        model.compile(metrics=["top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy"])
    with pytest.raises(ValueError, match="argument 'k' expected a positive int"):
        convnet.metrics.TopKCategoricalAccuracy(k=0)
    binary = convnet.Sequential([L.Input((1, 4, 4)), L.Flatten(), L.Dense(1, activation="sigmoid")])
    with pytest.raises(ValueError, match="needs a cross-entropy loss"):
        binary.compile(loss="binary_crossentropy", metrics=["top_k_categorical_accuracy"])
    from convnet import keras
    assert keras.metrics.TopKCategoricalAccuracy is convnet.metrics.TopKCategoricalAccuracy
