"""random_flip_translate (the op of RandomFlip / RandomTranslation) and the two layers."""
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convnet
from conftest import requires_cuda
from convnet import layers as L
from convnet import ops
from opcheck import assert_close, assert_raises, check_finite_differences, compare_with_torch


def shifted(t, sy, sx):
    """t (..., H, W) moved down sy and right sx pixels with zero fill (negative padding crops)."""
    return F.pad(t, (sx, -sx, sy, -sy))


def transform(t, flip_h, flip_v, sy, sx):
    dims = [d for d, f in ((-2, flip_v), (-1, flip_h)) if f]
    return shifted(torch.flip(t, dims) if dims else t, sy, sx)


def drawn_transforms(x, y, flips, shift_h, shift_w):
    """Which (flip_h, flip_v, sy, sx) in the allowed ranges turned each x[n] into y[n]: with random
    inputs exactly one candidate matches."""
    found = []
    for n in range(x.shape[0]):
        matches = [c for c in itertools.product(flips[0], flips[1], range(shift_h[0], shift_h[1] + 1),
                                                range(shift_w[0], shift_w[1] + 1))
                   if np.array_equal(transform(torch.tensor(x[n]), *c).numpy(), y[n])]
        assert len(matches) == 1, f"sample {n}: {len(matches)} candidate transforms match"
        found.append(matches[0])
    return found


CASES = [  # flip_horizontal, flip_vertical, shift_height, shift_width
    (True, False, 0, 0), (False, True, 0, 0), (True, True, 0, 0), (False, False, 2, 2),
    (False, False, (-1, 3), (0, 1)), (True, True, 1, (-2, 0)),
]


@pytest.mark.parametrize("flip_h,flip_v,shift_h,shift_w", CASES)
def test_random_flip_translate_matches_torch(rng, flip_h, flip_v, shift_h, shift_w):
    x = rng.standard_normal((24, 2, 7, 6)).astype(np.float32)
    kwargs = dict(flip_horizontal=flip_h, flip_vertical=flip_v, shift_height=shift_h, shift_width=shift_w, seed=5)
    y = np.asarray(ops.random_flip_translate(x, **kwargs))
    ranges = [(-r, r) if isinstance(r, int) else r for r in (shift_h, shift_w)]
    flips = ((False, True) if flip_h else (False,), (False, True) if flip_v else (False,))
    draws = drawn_transforms(x, y, flips, *ranges)
    if flip_h or flip_v or ranges != [(0, 0), (0, 0)]:
        assert len(set(draws)) > 1, "every sample drew the same transform"

    def reference(t):
        return torch.stack([transform(t[n], *draws[n]) for n in range(t.shape[0])])

    compare_with_torch(lambda x: ops.random_flip_translate(x, **kwargs),
                       lambda g, x: ops.random_flip_translate_backward(g, x, **kwargs), reference, [x], n_diff=1)
    check_finite_differences(lambda x: ops.random_flip_translate(x, **kwargs),
                             lambda g, x: ops.random_flip_translate_backward(g, x, **kwargs), [x], n_diff=1)


def test_draws_cover_the_range_and_follow_the_seed(rng):
    x = rng.standard_normal((400, 1, 5, 5)).astype(np.float32)
    kwargs = dict(flip_horizontal=True, shift_height=(-1, 2), shift_width=1)
    y = np.asarray(ops.random_flip_translate(x, seed=3, **kwargs))
    draws = drawn_transforms(x[:200], y[:200], ((False, True), (False,)), (-1, 2), (-1, 1))
    assert {d[0] for d in draws} == {False, True}
    assert {d[2] for d in draws} == {-1, 0, 1, 2} and {d[3] for d in draws} == {-1, 0, 1}
    flipped = np.mean([d[0] for d in draws])
    assert 0.35 < flipped < 0.65  # probability 1/2
    np.testing.assert_array_equal(np.asarray(ops.random_flip_translate(x, seed=3, **kwargs)), y)
    assert not np.array_equal(np.asarray(ops.random_flip_translate(x, seed=4, **kwargs)), y)
    # No flip and no shift: the identity.
    np.testing.assert_array_equal(np.asarray(ops.random_flip_translate(x, seed=3)), x)


def test_random_flip_translate_errors():
    x = np.zeros((2, 1, 4, 5), np.float32)
    op = ops.random_flip_translate
    assert_raises(ValueError, ["random_flip_translate", "'x'", "(N, C, H, W)"], op, np.zeros((2, 4, 5), np.float32))
    assert_raises(TypeError, ["random_flip_translate", "'x'", "float32", "int64"], op, convnet.tensor(x, dtype="int64"))
    assert_raises(ValueError, ["random_flip_translate", "'shift_height'", "[-4, 4]", "[-5, 5]"], op, x, shift_height=5)
    assert_raises(ValueError, ["random_flip_translate", "'shift_width'", "lo <= hi", "[2, 1]"], op, x,
                  shift_width=(2, 1))
    assert_raises(ValueError, ["random_flip_translate", "'shift_width'", "pair"], op, x, shift_width=(1, 2, 3))
    assert_raises(ValueError, ["random_flip_translate", "'seed'", "[0, 2**64)"], op, x, seed=-1)
    assert_raises(TypeError, ["random_flip_translate", "'seed'", "an int"], op, x, seed="a")
    assert_raises(ValueError, ["random_flip_translate_backward", "'grad_out'", "(2, 1, 4, 5)"],
                  ops.random_flip_translate_backward, np.zeros((2, 1, 5, 4), np.float32), x)


def augmented_model(*augmentation):
    model = convnet.Sequential([L.Input((1, 8, 8)), *augmentation, L.Flatten(), L.Dense(3, activation="softmax")])
    model.compile("sgd")
    return model


def test_augmentation_layers_train_only(rng):
    x = rng.random((16, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    plain = augmented_model()
    model = augmented_model(L.RandomFlip("horizontal"), L.RandomTranslation(0.25, (0, 0.125)))
    model.set_weights(plain.get_weights())
    # predict and evaluate see the images as they are
    np.testing.assert_array_equal(model.predict(x), plain.predict(x))
    assert model.evaluate(x, y, verbose=0) == plain.evaluate(x, y, verbose=0)
    # training sees transformed images, so the updates differ from the plain model's
    model.train_on_batch(x, y)
    plain.train_on_batch(x, y)
    assert not np.allclose(model.get_weights()[0], plain.get_weights()[0])


def test_augmentation_in_the_middle_passes_gradients(rng):
    """Behind a convolution the layer's backward (the transposed map) feeds the convolution's gradient."""
    model = convnet.Sequential([L.Input((1, 8, 8)), L.Conv2D(2, 3, padding="same"), L.RandomFlip(),
                                L.Flatten(), L.Dense(3, activation="softmax")])
    model.compile("sgd")
    before = model.layers[0].get_weights()[0].copy()
    model.train_on_batch(rng.random((4, 1, 8, 8)).astype(np.float32), np.array([0, 1, 2, 0]))
    assert not np.array_equal(model.layers[0].get_weights()[0], before)


def test_augmentation_layer_config_round_trip(tmp_path, rng):
    model = augmented_model(L.RandomFlip("vertical"), L.RandomTranslation((-0.25, 0.125), 0.25))
    path = tmp_path / "m.cnet"
    model.save(path)
    loaded = convnet.load_model(path)
    assert loaded.layers[0].mode == "vertical"
    assert loaded.layers[1].height_factor == (-0.25, 0.125) and loaded.layers[1].width_factor == (-0.25, 0.25)


def test_augmentation_layer_errors():
    assert_raises(ValueError, ["random_flip", "'mode'", "'horizontal'", "'diagonal'"], L.RandomFlip, "diagonal")
    assert_raises(ValueError, ["'height_factor'", "-1 <= lo <= hi <= 1", "1.5"], L.RandomTranslation, 1.5, 0.1)
    assert_raises(ValueError, ["'width_factor'", "(0.2, 0.1)"], L.RandomTranslation, 0.1, (0.2, 0.1))
    assert_raises(TypeError, ["'height_factor'", "a number or a pair", "'a'"], L.RandomTranslation, "a", 0.1)
    assert_raises(ValueError, ["'fill_mode'", "'constant'", "'reflect'"], L.RandomTranslation, 0.1, 0.1,
                  fill_mode="reflect")
    assert_raises(ValueError, ["'interpolation'", "'nearest'", "'bilinear'"], L.RandomTranslation, 0.1, 0.1,
                  interpolation="bilinear")
    with pytest.raises(ValueError, match="RandomFlip.*(C, H, W)"):
        convnet.Sequential([L.Input((8,)), L.RandomFlip()])


@requires_cuda
def test_random_flip_translate_gpu_matches_cpu(rng):
    x = rng.standard_normal((5, 3, 9, 7)).astype(np.float32)
    xg = convnet.tensor(x, device="cuda")
    for flip_h, flip_v, shift_h, shift_w in CASES:
        kwargs = dict(flip_horizontal=flip_h, flip_vertical=flip_v, shift_height=shift_h, shift_width=shift_w, seed=2)
        assert_close(ops.random_flip_translate(xg, **kwargs).numpy(), np.asarray(ops.random_flip_translate(x, **kwargs)),
                     0.0)
        assert_close(ops.random_flip_translate_backward(xg, xg, **kwargs).numpy(),
                     np.asarray(ops.random_flip_translate_backward(x, x, **kwargs)), 0.0)
