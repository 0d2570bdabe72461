"""The Keras callbacks fit runs: ReduceLROnPlateau, CSVLogger, TerminateOnNaN, LambdaCallback and the batch
hooks, each doing what Keras' does on a small run."""
import csv

import numpy as np
import pytest

import convnet
from convnet import callbacks, layers as L


def _model(lr=0.01):
    convnet.set_random_seed(0)
    model = convnet.Sequential([L.Input((1, 6, 6)), L.Flatten(), L.Dense(3, activation="softmax")])
    model.compile(convnet.optimizers.SGD(learning_rate=lr), metrics=["accuracy"], device="cpu")
    return model


def _data(n=40):
    rng = np.random.default_rng(0)
    return rng.random((n, 1, 6, 6), np.float32), rng.integers(0, 3, n)


class _Feed(callbacks.Callback):
    """Replaces the monitored metric by a given sequence (what ReduceLROnPlateau reads)."""

    def __init__(self, values):
        self.values = list(values)

    def on_epoch_end(self, epoch, logs=None):
        logs["loss"] = self.values[epoch]


def test_reduce_lr_on_plateau_follows_keras_patience_cooldown_and_min_lr():
    model = _model(lr=1.0)
    x, y = _data()
    seen = []
    # loss: improves, then a plateau of 5 epochs, then improves once, then flat
    losses = [1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.5, 0.5, 0.5, 0.5, 0.5]
    reduce = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, cooldown=1, min_lr=0.3)
    record = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(model.learning_rate))
    model.fit(x, y, epochs=len(losses), verbose=0, callbacks=[_Feed(losses), reduce, record])
    # Keras: wait counts non-improving epochs outside cooldown (the epoch that ends a cooldown counts); at
    # wait == patience lr *= factor (not below min_lr), then a cooldown of 1 epoch
    assert seen == pytest.approx([1.0, 1.0, 1.0, 0.5, 0.5, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3])


def test_reduce_lr_on_plateau_checks_its_arguments_and_the_monitor():
    with pytest.raises(ValueError, match="ReduceLROnPlateau: argument 'factor' expected a number < 1"):
        callbacks.ReduceLROnPlateau(factor=1.0)
    with pytest.raises(ValueError, match="ReduceLROnPlateau: argument 'patience' expected an int >= 0"):
        callbacks.ReduceLROnPlateau(patience=-1)
    with pytest.raises(ValueError, match="ReduceLROnPlateau: argument 'min_lr' expected a finite number >= 0"):
        callbacks.ReduceLROnPlateau(min_lr=float("nan"))
    model = _model()
    with pytest.raises(ValueError, match="ReduceLROnPlateau: monitored metric 'val_loss' is not logged"):
        model.fit(*_data(), epochs=1, verbose=0, callbacks=[callbacks.ReduceLROnPlateau()])


def test_csv_logger_writes_keras_rows_and_appends(tmp_path):
    path = tmp_path / "log.csv"
    x, y = _data()
    model = _model()
    history = model.fit(x, y, epochs=3, verbose=0, validation_split=0.25, callbacks=[callbacks.CSVLogger(path)])
    rows = list(csv.DictReader(open(path)))
    assert list(rows[0]) == ["epoch", "accuracy", "learning_rate", "loss", "val_accuracy", "val_loss"]
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert [float(r["loss"]) for r in rows] == pytest.approx(history.history["loss"])
    model.fit(x, y, epochs=2, verbose=0, callbacks=[callbacks.CSVLogger(path, separator=";", append=True)])
    lines = open(path).read().splitlines()
    assert len(lines) == 1 + 3 + 2 and lines[4].startswith("0;")  # no second header
    with pytest.raises(ValueError, match="CSVLogger: argument 'separator' expected one character"):
        callbacks.CSVLogger(path, separator=";;")


def test_terminate_on_nan_stops_training_instead_of_raising(capsys):
    model = _model(lr=1e30)
    x, y = _data()
    x = x * 1e20
    with pytest.raises(FloatingPointError, match="NaN or infinite"):
        _model(lr=1e30).fit(x, y, epochs=3, verbose=0)
    epochs = []
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[
        callbacks.TerminateOnNaN(), callbacks.LambdaCallback(on_epoch_end=lambda e, logs: epochs.append(e))])
    assert epochs == [0] and len(history.history["loss"]) == 1 and model.stop_training
    assert "TerminateOnNaN: the loss became NaN or infinite at epoch 1" in capsys.readouterr().out


def test_batch_hooks_see_every_step_with_running_means_as_keras():
    model = _model()
    x, y = _data(40)
    begun, ended = [], []
    hooks = callbacks.LambdaCallback(on_train_batch_begin=lambda b, logs: begun.append(b),
                                     on_train_batch_end=lambda b, logs: ended.append((b, dict(logs))))
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[hooks])
    assert begun == [0, 1, 2, 3, 4] * 2 and [b for b, _ in ended] == begun
    last = ended[4][1]  # the epoch's running mean at its last batch is the epoch's logged loss
    assert last["loss"] == pytest.approx(history.history["loss"][0]) and 0 <= last["accuracy"] <= 1


def test_a_subclass_batch_hook_is_called_and_plain_callbacks_keep_chunked_steps():
    class Counter(callbacks.Callback):
        calls = 0

        def on_train_batch_end(self, batch, logs=None):
            Counter.calls += 1

    assert Counter().watches_batches and not callbacks.EarlyStopping().watches_batches
    assert not callbacks.LambdaCallback(on_epoch_end=print).watches_batches
    _model().fit(*_data(40), batch_size=4, epochs=1, verbose=0, callbacks=[Counter()])
    assert Counter.calls == 10


def test_lambda_callback_refuses_unknown_hooks():
    with pytest.raises(TypeError, match="LambdaCallback: unknown hook 'on_batch_end'"):
        callbacks.LambdaCallback(on_batch_end=print)
    with pytest.raises(TypeError, match="LambdaCallback: argument 'on_epoch_end' expected a callable"):
        callbacks.LambdaCallback(on_epoch_end=3)


def test_evaluate_return_dict_and_predict_verbose(capsys):
    model = _model()
    x, y = _data()
    loss, accuracy = model.evaluate(x, y)
    assert model.evaluate(x, y, return_dict=True) == {"loss": loss, "accuracy": accuracy}
    with pytest.raises(TypeError, match="evaluate: argument 'return_dict' expected True or False"):
        model.evaluate(x, y, return_dict="yes")
    np.testing.assert_array_equal(model.predict(x, verbose=1), model.predict(x))
    assert "predict" in capsys.readouterr().err
    with pytest.raises(ValueError, match="predict: argument 'verbose' expected 0"):
        model.predict(x, verbose=3)


def test_save_weights_and_load_weights_round_trip_and_refuse_another_architecture(tmp_path):
    model = _model()
    x, y = _data()
    model.fit(x, y, epochs=2, verbose=0)
    model.save_weights(tmp_path / "w.safetensors")
    other = _model()
    assert not np.array_equal(other.predict(x), model.predict(x))
    other.load_weights(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(other.predict(x), model.predict(x))
    model.save(tmp_path / "m.cnet")
    third = convnet.clone_model(model)  # the same layer names
    third.load_weights(tmp_path / "m.cnet")  # a whole model file's weights, matched by name
    np.testing.assert_array_equal(third.predict(x), model.predict(x))
    wide = convnet.Sequential([L.Input((1, 6, 6)), L.Flatten(), L.Dense(4, activation="softmax")])
    before = wide.get_weights()
    with pytest.raises(ValueError, match=r"load_weights: .*w\.safetensors' does not hold the weights of .*expected "
                                         r"float32 of shape \(4,\), got float32 of shape \(3,\)"):
        wide.load_weights(tmp_path / "w.safetensors")
    assert all(np.array_equal(a, b) for a, b in zip(before, wide.get_weights()))  # nothing changed
    with pytest.raises(FileNotFoundError):
        wide.load_weights(tmp_path / "missing")


def test_clone_model_has_the_architecture_and_fresh_weights():
    model = convnet.zoo.seed_cnn()
    clone = convnet.clone_model(model)
    assert [l.name for l in clone.layers] == [l.name for l in model.layers] and clone is not model
    assert [w.shape for w in clone.get_weights()] == [w.shape for w in model.get_weights()]
    assert not np.array_equal(clone.get_weights()[0], model.get_weights()[0])
    assert clone.optimizer is None and clone.layers[0] is not model.layers[0]
    with pytest.raises(TypeError, match="clone_model: argument 'model' expected a convnet Model"):
        convnet.clone_model(L.Dense(3))


def test_set_num_threads_sets_this_threads_kernel_team():
    before = convnet.get_num_threads()
    try:
        convnet.set_num_threads(1)
        assert convnet.get_num_threads() == 1
        model = _model()
        one = model.predict(_data()[0])
        convnet.set_num_threads(max(2, before))
        np.testing.assert_allclose(model.predict(_data()[0]), one, rtol=1e-6)  # the same result with more
    finally:
        convnet.set_num_threads(before)
    for bad, error in ((0, ValueError), (-3, ValueError), (2**40, ValueError), ("2", TypeError), (1.5, TypeError)):
        with pytest.raises(error, match="set_num_threads: argument 'threads' expected an int in \\[1, "):
            convnet.set_num_threads(bad)
