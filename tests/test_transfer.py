"""The transfer-learning recipes of examples/transfer.py: frozen weights stay bit-identical through
training, fine-tuning changes only the unfrozen layers, and feature extraction reuses the base as is."""
import os
import sys

import numpy as np
import pytest

import convnet

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples"))
import transfer  # noqa: E402  (examples/transfer.py)

transfer.DEVICE = "cpu"  # the recipes on the CPU (also where an emulated GPU is visible)


@pytest.fixture(scope="module")
def data():
    from convnet.datasets import fashion_mnist

    (x, y), _ = fashion_mnist.load_data()
    old_x, old_y = transfer.split(x[:4000], y[:4000], [0, 1, 2, 3, 4])
    new_x, new_y = transfer.split(x[4000:5000], y[4000:5000], [5, 6, 7, 8, 9])
    return old_x, old_y, new_x[:200], new_y[:200]


@pytest.fixture(scope="module")
def pretrained(data, tmp_path_factory):
    convnet.set_random_seed(0)
    path = str(tmp_path_factory.mktemp("transfer") / "pretrained.cnet")
    transfer.pretrain(data[0], data[1], 1, path)
    return path


def _weights_by_layer(model):
    return {layer.name: [w.copy() for w in layer.get_weights()] for layer in model.layers}


def _by_name(path):
    return {layer.name: layer.get_weights() for layer in convnet.load_model(path, device="cpu").layers}


def test_the_new_classes_are_relabelled_from_zero(data):
    assert set(np.unique(data[1])) == {0, 1, 2, 3, 4} and set(np.unique(data[3])) <= {0, 1, 2, 3, 4}


def test_a_frozen_base_is_bit_identical_after_training_and_the_head_learns(data, pretrained):
    model = transfer.frozen(pretrained, data[2], data[3], epochs=6)
    saved = _by_name(pretrained)
    base = model.get_layer("base")
    for layer in base.layers:
        for got, want in zip(layer.get_weights(), saved[layer.name]):
            assert np.array_equal(got, want), layer.name
    head = model.layers[-1]
    assert head.trainable and not base.trainable
    assert model.evaluate(data[2], data[3])[1] > 0.5  # a head on the frozen features learns the new classes


def test_fine_tuning_changes_only_the_unfrozen_layers(data, pretrained):
    model = transfer.fine_tune(pretrained, data[2], data[3], epochs=2, last=3)
    saved = _by_name(pretrained)
    frozen, trained = model.layers[:-3], model.layers[-3:]
    for layer in frozen:
        assert not layer.trainable
        assert all(np.array_equal(a, b) for a, b in zip(layer.get_weights(), saved[layer.name])), layer.name
    changed = [layer.name for layer in trained[:-1] if layer.get_weights()
               and not all(np.array_equal(a, b) for a, b in zip(layer.get_weights(), saved[layer.name]))]
    assert changed == [layer.name for layer in trained[:-1] if layer.get_weights()]  # 'features' moved
    assert model.count_params() == convnet.load_model(pretrained, device="cpu").count_params()  # a head of the same size


def test_feature_extraction_reuses_the_base_and_joins_it_to_the_classifier(data, pretrained):
    model = transfer.features(pretrained, data[2], data[3], epochs=3)
    base = convnet.load_model(pretrained, device="cpu")
    extractor = convnet.Model(base.input, base.get_layer("features").output)
    assert extractor.predict(data[2][:5]).shape == (5, 128)
    probabilities = model.predict(data[2][:5])
    assert probabilities.shape == (5, 5) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert model.evaluate(data[2], data[3])[1] > 0.5


def test_scratch_and_the_recipes_run_from_the_command_line(pretrained, tmp_path, capsys):
    results = transfer.main(["--labelled", "50", "--pretrain-limit", "500", "--pretrain-epochs", "1", "--epochs", "1",
                             "--test-limit", "200", "--model", str(tmp_path / "p.cnet"), "--device", "cpu"])
    assert set(results) == {"scratch", "features", "frozen", "fine_tune"}
    out = capsys.readouterr().out
    assert "50 labelled images of classes 5-9" in out and all(name in out for name in results)
