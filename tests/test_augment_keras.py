"""Keras 3's augmentation layers: RandomRotation and RandomZoom (ops.random_affine), RandomCrop,
RandomContrast and RandomErasing, and their ops.

The draws are replayed here from the contract (geometric.h, intensity.h): u(seed, k) is the
dropout hash, so a reference can be computed in float64 for the very parameters each image drew.
Tolerances: the resampling and contrast ops are float32 sums of at most H * W terms of O(1)
values, so opcheck's 1e-4 holds; the draws themselves (angles, zooms, contrast factors) reach the
reference as float32 values, so they add no error beyond that.
"""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convnet
from conftest import requires_cuda
from convnet import layers as L
from convnet import ops
from opcheck import assert_close, assert_raises, check_finite_differences, compare_with_torch

MASK = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


def _mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def u(seed, k):
    """dropout_uniform(seed, k) (csrc/ops/elementwise.h), exactly."""
    key = _mix((seed + GAMMA) & MASK)
    return np.float32((_mix((key + (k + 1) * GAMMA) & MASK) >> 40) / 2.0**24)


def uniform_int(seed, k, lo, hi):
    """augment.h's uniform_int, in the same float32 arithmetic."""
    return min(lo + int(u(seed, k) * np.float32(hi - lo + 1)), hi)


def affine_draws(seed, n, rotation=(0, 0), zoom_height=(0, 0), zoom_width=None):
    """(turn, zh, zw) of each image, as geometric.h draws them."""
    f32 = np.float32
    draws = []
    for s in range(n):
        turn = f32(rotation[0]) + u(seed, 3 * s) * (f32(rotation[1]) - f32(rotation[0]))
        zh = f32(1) + f32(zoom_height[0]) + u(seed, 3 * s + 1) * (f32(zoom_height[1]) - f32(zoom_height[0]))
        zw = zh if zoom_width is None else \
            f32(1) + f32(zoom_width[0]) + u(seed, 3 * s + 2) * (f32(zoom_width[1]) - f32(zoom_width[0]))
        draws.append((float(turn), float(zh), float(zw)))
    return draws


def read_positions(h, w, turn, zh, zw):
    """(px, py) each output pixel reads: c + R(2 pi turn) diag(zw, zh) (p - c), in float64."""
    a = 2 * math.pi * turn
    cx, cy = (w - 1) / 2, (h - 1) / 2
    i, j = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    dx, dy = j - cx, i - cy
    return (cx + math.cos(a) * zw * dx - math.sin(a) * zh * dy, cy + math.sin(a) * zw * dx + math.cos(a) * zh * dy)


TORCH_PADDING = {"constant": "zeros", "nearest": "border", "reflect": "reflection"}


def torch_affine(x, draws, fill_mode):
    """grid_sample at the read positions: with align_corners=False, pixel p sits at (2p + 1) / size - 1,
    and torch's 'reflection' (about the image's outer edges) is Keras' reflect (d c b a | a b c d)."""
    n, c, h, w = x.shape
    out = []
    for s, (turn, zh, zw) in enumerate(draws):
        px, py = read_positions(h, w, turn, zh, zw)
        grid = torch.tensor(np.stack([(2 * px + 1) / w - 1, (2 * py + 1) / h - 1], -1)[None])
        out.append(F.grid_sample(x[s:s + 1], grid, mode="bilinear", padding_mode=TORCH_PADDING[fill_mode],
                                 align_corners=False))
    return torch.cat(out)


NUMPY_PAD = {"reflect": "symmetric", "wrap": "wrap", "nearest": "edge", "constant": "constant"}


def numpy_affine(x, draws, fill_mode, interpolation, fill_value=0.0):
    """The same resampling from an image padded by np.pad's equivalent of each fill mode."""
    n, c, h, w = x.shape
    m = 3 * max(h, w)
    kw = {"constant_values": fill_value} if fill_mode == "constant" else {}
    y = np.empty(x.shape)
    for s, (turn, zh, zw) in enumerate(draws):
        px, py = read_positions(h, w, turn, zh, zw)
        img = np.pad(x[s].astype(np.float64), ((0, 0), (m, m), (m, m)), mode=NUMPY_PAD[fill_mode], **kw)
        if interpolation == "nearest":
            y[s] = img[:, np.floor(py + 0.5).astype(int) + m, np.floor(px + 0.5).astype(int) + m]
            continue
        x0, y0 = np.floor(px), np.floor(py)
        ax, ay = px - x0, py - y0
        r, q = y0.astype(int) + m, x0.astype(int) + m
        y[s] = ((1 - ay) * (1 - ax) * img[:, r, q] + (1 - ay) * ax * img[:, r, q + 1] + ay * (1 - ax) * img[:, r + 1, q]
                + ay * ax * img[:, r + 1, q + 1])
    return y


def check_transpose(forward, backward, x, rng):
    """<A x, g> = <x, A^T g> for the linear part A of y = A x + b (b = forward(0))."""
    g = rng.standard_normal(np.asarray(forward(x)).shape).astype(np.float32)
    ax = np.asarray(forward(x), np.float64) - np.asarray(forward(np.zeros_like(x)), np.float64)
    lhs = float((ax * g).sum())
    rhs = float((x.astype(np.float64) * np.asarray(backward(g, x), np.float64)).sum())
    assert abs(lhs - rhs) <= 1e-4 * max(1.0, abs(lhs)), (lhs, rhs)


AFFINE_CASES = [  # rotation, zoom_height, zoom_width
    ((-0.5, 0.5), (0, 0), None), ((0.05, 0.2), (0, 0), None), ((0, 0), (-0.5, 0.6), None),
    ((0, 0), (-0.3, 0.4), (-0.5, 0.2)), ((-0.1, 0.1), (0.2, 0.5), None),
]


@pytest.mark.parametrize("fill_mode", ["reflect", "nearest", "constant"])
@pytest.mark.parametrize("rotation,zoom_height,zoom_width", AFFINE_CASES)
def test_random_affine_matches_torch_grid_sample(rng, rotation, zoom_height, zoom_width, fill_mode):
    x = rng.standard_normal((6, 2, 7, 9)).astype(np.float32)
    kw = dict(rotation=rotation, zoom_height=zoom_height, zoom_width=zoom_width, fill_mode=fill_mode, seed=13)
    draws = affine_draws(13, 6, rotation, zoom_height, zoom_width)
    forward = lambda x: ops.random_affine(x, **kw)  # noqa: E731
    backward = lambda g, x: ops.random_affine_backward(g, x, **kw)  # noqa: E731
    compare_with_torch(forward, backward, lambda t: torch_affine(t, draws, fill_mode), [x], n_diff=1)
    check_finite_differences(forward, backward, [x], n_diff=1)
    check_transpose(forward, backward, x, rng)


@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "nearest", "constant"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_random_affine_fill_modes_and_interpolation(rng, fill_mode, interpolation):
    """Against np.pad's symmetric / wrap / edge / constant extensions: large rotations and zooming
    out read far outside the image, so every border rule is exercised."""
    x = rng.standard_normal((5, 2, 6, 8)).astype(np.float32)
    kw = dict(rotation=(-0.5, 0.5), zoom_height=(0.3, 1.0), fill_mode=fill_mode, interpolation=interpolation,
              fill_value=1.5, seed=21)
    y = np.asarray(ops.random_affine(x, **kw))
    expected = numpy_affine(x, affine_draws(21, 5, (-0.5, 0.5), (0.3, 1.0)), fill_mode, interpolation, 1.5)
    assert_close(y, expected, what=f"{fill_mode}/{interpolation}")
    check_transpose(lambda x: ops.random_affine(x, **kw), lambda g, x: ops.random_affine_backward(g, x, **kw), x, rng)


def test_fill_modes_at_the_border():
    """Zoomed out 2x about the centre c = 1.5, a row a b c d = 1 2 3 4 is read at 1.5 + 2 (j - 1.5) =
    -1.5, 0.5, 2.5, 4.5, nearest pixels -1, 1, 3, 5: each mode's extension of the row."""
    x = np.array([1, 2, 3, 4], np.float32).reshape(1, 1, 1, 4)
    expected = {"reflect": [1, 2, 4, 3], "wrap": [4, 2, 4, 2], "nearest": [1, 2, 4, 4], "constant": [9, 2, 4, 9]}
    for mode, want in expected.items():
        y = np.asarray(ops.random_affine(x, zoom_height=(1.0, 1.0), fill_mode=mode, interpolation="nearest",
                                         fill_value=9.0))
        np.testing.assert_array_equal(y[0, 0, 0], want, err_msg=mode)
    # bilinear, halfway between pixels: -1.5 blends pixels -2 and -1, 4.5 blends 4 and 5
    y = {mode: np.asarray(ops.random_affine(x, zoom_height=(1.0, 1.0), fill_mode=mode, fill_value=9.0))[0, 0, 0]
         for mode in expected}
    np.testing.assert_array_equal(y["reflect"], [1.5, 1.5, 3.5, 3.5])  # b a | a b c d | d c
    np.testing.assert_array_equal(y["wrap"], [3.5, 1.5, 3.5, 1.5])  # c d | a b c d | a b
    np.testing.assert_array_equal(y["nearest"], [1, 1.5, 3.5, 4])
    np.testing.assert_array_equal(y["constant"], [9, 1.5, 3.5, 9])


def test_rotation_by_a_quarter_turn_is_exact(rng):
    """A turn of 1/4 maps pixel centres onto pixel centres: the picture turned counter-clockwise."""
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    y = np.asarray(ops.random_affine(x, rotation=(0.25, 0.25), fill_mode="constant"))
    assert_close(y, np.rot90(x, 1, axes=(2, 3)), 1e-6)


def test_rotation_and_zoom_draws_stay_in_their_ranges():
    """The draws the op uses (the torch comparisons above replay them) cover their ranges uniformly."""
    draws = np.array(affine_draws(5, 2000, (-0.1, 0.3), (-0.2, 0.4), (0.1, 0.2)))
    turns, zh, zw = draws.T
    assert turns.min() >= -0.1 and turns.max() <= 0.3 and abs(turns.mean() - 0.1) < 0.01
    assert zh.min() >= 0.8 and zh.max() <= 1.4 and zw.min() >= 1.1 and zw.max() <= 1.2
    assert abs(np.corrcoef(zh, zw)[0, 1]) < 0.1  # independent draws


def crop_offsets(seed, n, h, w, height, width):
    return [(uniform_int(seed, 2 * s, 0, h - height), uniform_int(seed, 2 * s + 1, 0, w - width)) for s in range(n)]


def test_random_crop_windows(rng):
    x = rng.standard_normal((40, 2, 7, 9)).astype(np.float32)
    offsets = crop_offsets(3, 40, 7, 9, 4, 5)
    assert {o[0] for o in offsets} == {0, 1, 2, 3} and {o[1] for o in offsets} == {0, 1, 2, 3, 4}

    def reference(t):
        return torch.stack([t[s, :, oy:oy + 4, ox:ox + 5] for s, (oy, ox) in enumerate(offsets)])

    forward = lambda x: ops.random_crop(x, 4, 5, seed=3)  # noqa: E731
    backward = lambda g, x: ops.random_crop_backward(g, x, 4, 5, seed=3)  # noqa: E731
    compare_with_torch(forward, backward, reference, [x], n_diff=1, tol=0.0)
    check_transpose(forward, backward, x, rng)
    center = np.asarray(ops.random_crop(x, 4, 5, seed=3, center=True))
    np.testing.assert_array_equal(center, x[:, :, 1:5, 2:7])
    dx = np.asarray(ops.random_crop_backward(center, x, 4, 5, center=True))
    assert dx[:, :, 1:5, 2:7].tolist() == center.tolist() and np.count_nonzero(dx) == center.size


def contrast_reference(x, factors, value_range):
    m = x.mean((2, 3), keepdim=True)
    return torch.clamp((x - m) * torch.tensor(factors, dtype=x.dtype).reshape(-1, 1, 1, 1) + m, *value_range)


@pytest.mark.parametrize("factor,value_range", [((0.5, 0.8), (0.1, 0.9)), ((0.3, 0.3), (-5, 5)), ((1.0, 0.0), (0, 1))])
def test_random_contrast_matches_torch(rng, factor, value_range):
    x = rng.random((8, 3, 5, 6)).astype(np.float32)
    factors = [float(1 - np.float32(factor[0]) + u(4, s) * (np.float32(factor[0]) + np.float32(factor[1])))
               for s in range(8)]
    assert all(1 - factor[0] <= c <= 1 + factor[1] for c in factors)
    kw = dict(factor=factor, value_range=value_range, seed=4)
    forward = lambda x: ops.random_contrast(x, **kw)  # noqa: E731
    backward = lambda g, x: ops.random_contrast_backward(g, x, **kw)  # noqa: E731
    compare_with_torch(forward, backward, lambda t: contrast_reference(t, factors, value_range), [x], n_diff=1)
    z = np.asarray(contrast_reference(torch.tensor(x, dtype=torch.float64), factors, (-1e9, 1e9)))

    def near_clip(i, x, idx):  # the clip's kinks
        return np.min(np.abs(z.reshape(-1)[idx] - np.array(value_range))) < 0.05

    check_finite_differences(forward, backward, [x], n_diff=1, eps=1e-3, skip=near_clip)


def erased_boxes(x, y, fill):
    """Each image's erased rectangle (top, left, height, width), None when kept; checks the rest."""
    boxes = []
    for s in range(len(x)):
        mask = y[s] != x[s]
        assert (mask == mask[0]).all(), "every channel erases the same rectangle"
        rows, cols = np.nonzero(mask[0])
        if rows.size == 0:
            boxes.append(None)
            continue
        top, left, h, w = rows.min(), cols.min(), rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert rows.size == h * w, "the erased pixels form a rectangle"
        if fill is not None:
            assert (y[s][mask] == fill).all()
        boxes.append((top, left, h, w))
    return boxes


def test_random_erasing_rectangles_and_gradient(rng):
    x = rng.standard_normal((30, 2, 10, 12)).astype(np.float32)
    kw = dict(factor=(0.7, 0.7), fill_value=-7.0, seed=8)
    y = np.asarray(ops.random_erasing(x, **kw))
    boxes = erased_boxes(x, y, -7.0)
    assert 10 < sum(b is not None for b in boxes) < 30
    dx = np.asarray(ops.random_erasing_backward(x, x, **kw))
    np.testing.assert_array_equal(dx, np.where(y == -7.0, 0.0, x).astype(np.float32))
    forward = lambda x: ops.random_erasing(x, **kw)  # noqa: E731
    backward = lambda g, x: ops.random_erasing_backward(g, x, **kw)  # noqa: E731
    check_transpose(forward, backward, x, rng)
    check_finite_differences(forward, backward, [x], n_diff=1)


def test_random_erasing_statistics():
    """Area fractions within scale and aspect ratios within ratio, up to the rounding of each side to
    whole pixels; the probability of erasing; random fill values within value_range."""
    h, w, n = 20, 30, 1500
    x = np.full((n, 1, h, w), -100.0, np.float32)
    scale, ratio = (0.05, 0.3), (0.5, 2.0)
    y = np.asarray(ops.random_erasing(x, factor=(0.5, 0.5), scale=scale, ratio=ratio, value_range=(2, 3), seed=1))
    boxes = [b for b in erased_boxes(x, y, None) if b is not None]
    assert abs(len(boxes) / n - 0.5) < 0.05
    for _, _, bh, bw in boxes:
        rounding = 0.5 * (bh + bw) + 0.25  # |bh bw - s H W| when each side is within 1/2 of its exact value
        assert scale[0] * h * w - rounding <= bh * bw <= scale[1] * h * w + rounding
        assert (bh - 0.5) / (bw + 0.5) <= ratio[1] and (bh + 0.5) / (bw - 0.5) >= ratio[0]
    areas = np.array([bh * bw for _, _, bh, bw in boxes]) / (h * w)
    assert abs(areas.mean() - np.mean(scale)) < 0.02  # uniform in scale
    assert abs(np.log([bh / bw for _, _, bh, bw in boxes]).mean()) < 0.1  # log-uniform, symmetric about 1
    filled = y[y != -100.0]
    assert filled.min() >= 2 and filled.max() < 3 and abs(filled.mean() - 2.5) < 0.01
    assert min(b[0] for b in boxes) == 0 and max(b[0] + b[2] for b in boxes) == h  # positions reach both edges


def test_ops_follow_the_seed(rng):
    x = rng.random((6, 2, 8, 8)).astype(np.float32)
    calls = [lambda s: ops.random_affine(x, rotation=(-0.2, 0.2), seed=s),
             lambda s: ops.random_crop(x, 5, 6, seed=s),
             lambda s: ops.random_contrast(x, (0.5, 0.5), value_range=(0, 1), seed=s),
             lambda s: ops.random_erasing(x, seed=s)]
    for call in calls:
        a, b, c = (np.asarray(call(s)) for s in (3, 3, 4))
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)


def test_op_errors():
    x = np.zeros((2, 1, 4, 5), np.float32)
    assert_raises(ValueError, ["random_affine", "'x'", "(N, C, H, W)"], ops.random_affine, np.zeros((4, 5), np.float32))
    assert_raises(ValueError, ["random_affine", "'rotation'", "-1 <= lo <= hi <= 1"], ops.random_affine, x,
                  rotation=(0.5, 0.1))
    assert_raises(ValueError, ["random_affine", "'fill_mode'", "'reflect'", "'mirror'"], ops.random_affine, x,
                  fill_mode="mirror")
    assert_raises(ValueError, ["random_affine", "'interpolation'", "'bicubic'"], ops.random_affine, x,
                  interpolation="bicubic")
    assert_raises(TypeError, ["random_affine", "'zoom_height'", "pair"], ops.random_affine, x, zoom_height=0.2)
    assert_raises(ValueError, ["random_crop", "'height'", "[1, 4]", "5"], ops.random_crop, x, 5, 2)
    assert_raises(ValueError, ["random_crop_backward", "'grad_out'", "(2, 1, 3, 2)"], ops.random_crop_backward,
                  np.zeros((2, 1, 2, 3), np.float32), x, 3, 2)
    assert_raises(ValueError, ["random_contrast", "'factor'", "[0, 1]"], ops.random_contrast, x, (0.2, 1.5))
    assert_raises(ValueError, ["random_contrast", "'value_range'", "low < high"], ops.random_contrast, x, (0.2, 0.2),
                  value_range=(1, 1))
    assert_raises(ValueError, ["random_erasing", "'scale'", "0 < lo <= hi <= 1"], ops.random_erasing, x,
                  scale=(0.0, 0.5))
    assert_raises(ValueError, ["random_erasing", "'ratio'"], ops.random_erasing, x, ratio=(-1, 2))
    assert_raises(TypeError, ["random_erasing", "'fill_value'", "'a'"], ops.random_erasing, x, fill_value="a")


# -- layers ----------------------------------------------------------------------------------------

def model_with(*augmentation, shape=(1, 8, 8), lr=0.0):
    model = convnet.Sequential([L.Input(shape), *augmentation, L.Flatten(), L.Dense(3, activation="softmax")])
    model.compile(convnet.optimizers.SGD(learning_rate=lr))
    return model


LAYERS = [
    lambda: L.RandomRotation(0.2, seed=1), lambda: L.RandomZoom(0.3, (-0.2, 0.1), seed=1),
    lambda: L.RandomContrast(0.5, value_range=(0, 1), seed=1), lambda: L.RandomErasing(seed=1),
]


@pytest.mark.parametrize("make", LAYERS)
def test_layers_train_only_and_seeded(rng, make):
    x = rng.random((8, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, 8)
    plain, a, b = model_with(), model_with(make()), model_with(make())
    a.set_weights(plain.get_weights())
    b.set_weights(plain.get_weights())
    np.testing.assert_array_equal(a.predict(x), plain.predict(x))  # the identity in predict
    assert a.evaluate(x, y, verbose=0) == plain.evaluate(x, y, verbose=0)
    # learning rate 0: the loss of each step on the same batch shows what the layer drew
    losses_a = [a.train_on_batch(x, y) for _ in range(3)]
    losses_b = [b.train_on_batch(x, y) for _ in range(3)]
    assert losses_a == losses_b  # the same seed, the same draws
    assert len(set(losses_a)) == 3  # each step draws anew
    assert plain.train_on_batch(x, y) not in losses_a


def test_random_crop_layer(rng):
    x = rng.random((4, 1, 8, 8)).astype(np.float32)
    model = model_with(L.RandomCrop(5, 6, seed=2))
    crop = convnet.Sequential([L.Input((1, 8, 8)), L.RandomCrop(5, 6)])
    np.testing.assert_array_equal(crop.predict(x), x[:, :, 1:6, 1:7])  # the central window in predict
    assert model.receptive_field(model.layers[0]).center == (1.0, 1.0)
    losses = [model.train_on_batch(x, np.array([0, 1, 2, 0])) for _ in range(3)]
    assert len(set(losses)) > 1
    with pytest.raises(ValueError, match=r"RandomCrop.*input.*at least the crop's 9 x 6.*\(1, 8, 8\)"):
        convnet.Sequential([L.Input((1, 8, 8)), L.RandomCrop(9, 6)])


def test_augmentation_in_the_middle_passes_gradients(rng):
    """Behind a convolution each layer's backward (its transposed map) feeds the convolution's gradient."""
    for layer in (L.RandomRotation(0.1), L.RandomZoom(0.2), L.RandomCrop(6, 6), L.RandomContrast(0.3),
                  L.RandomErasing()):
        model = convnet.Sequential([L.Input((1, 8, 8)), L.Conv2D(2, 3, padding="same"), layer, L.Flatten(),
                                    L.Dense(3, activation="softmax")])
        model.compile("sgd")
        before = model.layers[0].get_weights()[0].copy()
        model.train_on_batch(rng.random((4, 1, 8, 8)).astype(np.float32), np.array([0, 1, 2, 0]))
        assert not np.array_equal(model.layers[0].get_weights()[0], before), layer.name


def test_config_round_trip(tmp_path):
    model = model_with(L.RandomRotation((-0.1, 0.2), fill_mode="constant", interpolation="nearest", fill_value=0.5,
                                        seed=3),
                       L.RandomZoom(0.2, width_factor=(0.1, 0.3), fill_mode="wrap"),
                       L.RandomContrast((0.2, 0.4), value_range=(0, 1)),
                       L.RandomErasing(0.5, scale=(0.1, 0.2), fill_value=0.0, value_range=(0, 1), ratio=(0.5, 2)),
                       L.RandomCrop(6, 7), shape=(1, 8, 8))
    path = tmp_path / "m.cnet"
    model.save(path)
    loaded = convnet.load_model(path)
    for a, b in zip(model.layers, loaded.layers):
        assert type(a) is type(b) and a.get_config() == b.get_config()
    rot, zoom, contrast, erasing, crop = loaded.layers[:5]
    assert rot.factor == (-0.1, 0.2) and rot.fill_mode == "constant" and rot.seed == 3 and rot.fill_value == 0.5
    assert zoom.height_factor == (-0.2, 0.2) and zoom.width_factor == (0.1, 0.3)
    assert contrast.factor == (0.2, 0.4) and erasing.factor == (0.5, 0.5) and erasing.ratio == (0.5, 2.0)
    assert (crop.height, crop.width) == (6, 7)
    assert L.RandomZoom(0.1).get_config()["width_factor"] is None
    assert L.RandomErasing().get_config()["fill_value"] is None
    for layer in (L.RandomRotation(0.1), L.RandomZoom(0.1), L.RandomCrop(2, 3), L.RandomContrast(0.1),
                  L.RandomErasing()):
        assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()


def test_layer_defaults_follow_keras():
    rot, zoom, erasing, contrast = L.RandomRotation(0.1), L.RandomZoom(0.1), L.RandomErasing(), L.RandomContrast(0.2)
    assert (rot.fill_mode, rot.interpolation, rot.fill_value) == ("reflect", "bilinear", 0.0)
    assert (zoom.fill_mode, zoom.interpolation, zoom.width_factor) == ("reflect", "bilinear", None)
    assert erasing.factor == (1.0, 1.0) and erasing.scale == (0.02, 0.33) and erasing.fill_value is None
    assert erasing.value_range == (0.0, 255.0) and contrast.value_range == (0.0, 255.0)
    assert contrast.factor == (0.2, 0.2) and rot.factor == (-0.1, 0.1)


def test_layer_errors():
    assert_raises(ValueError, ["random_rotation", "'factor'", "1.5"], L.RandomRotation, 1.5)
    assert_raises(ValueError, ["random_rotation", "'fill_mode'", "'mirror'"], L.RandomRotation, 0.1,
                  fill_mode="mirror")
    assert_raises(ValueError, ["random_zoom", "'interpolation'", "'bicubic'"], L.RandomZoom, 0.1,
                  interpolation="bicubic")
    assert_raises(ValueError, ["random_zoom", "'width_factor'", "(0.3, 0.1)"], L.RandomZoom, 0.1, (0.3, 0.1))
    assert_raises(TypeError, ["random_zoom", "'fill_value'", "'a'"], L.RandomZoom, 0.1, fill_value="a")
    assert_raises(ValueError, ["random_crop", "'height'", "positive int", "0"], L.RandomCrop, 0, 3)
    assert_raises(ValueError, ["random_crop", "'width'", "2.5"], L.RandomCrop, 2, 2.5)
    assert_raises(ValueError, ["random_contrast", "'factor'", "[0, 1]", "1.2"], L.RandomContrast, 1.2)
    assert_raises(TypeError, ["random_contrast", "'value_range'"], L.RandomContrast, 0.1, value_range=5)
    assert_raises(ValueError, ["random_contrast", "'value_range'", "low < high"], L.RandomContrast, 0.1,
                  value_range=(1, 1))
    assert_raises(ValueError, ["random_erasing", "'factor'", "[0, 1]"], L.RandomErasing, 1.5)
    assert_raises(ValueError, ["random_erasing", "'scale'", "(0, 1]"], L.RandomErasing, scale=(0, 0.3))
    assert_raises(ValueError, ["random_erasing", "'ratio'", "positive"], L.RandomErasing, ratio=(0, 2))
    with pytest.raises(ValueError, match=r"RandomRotation/RandomZoom.*\(C, H, W\)"):
        convnet.Sequential([L.Input((8,)), L.RandomRotation(0.1)])


# -- CUDA parity (the emulator runs the CUDA kernels on the CPU) -------------------------------------

def parity(call, backward, x, tol):
    xg = convnet.tensor(x, device="cuda")
    assert_close(call(xg).numpy(), np.asarray(call(x)), tol, "forward")
    g = np.asarray(call(x))
    gg = convnet.tensor(g, device="cuda")
    assert_close(backward(gg, xg).numpy(), np.asarray(backward(g, x)), tol, "backward")


@requires_cuda
def test_gpu_matches_cpu(rng):
    """Bit-identical draws; the resampling and contrast results agree to float32 rounding (a GPU may
    fuse a multiply-add where the CPU does not), the crop and erasing exactly."""
    x = rng.random((3, 2, 7, 9)).astype(np.float32)
    for fill_mode in ("reflect", "wrap", "nearest", "constant"):
        for interpolation in ("bilinear", "nearest"):
            kw = dict(rotation=(-0.3, 0.3), zoom_height=(-0.2, 0.4), zoom_width=(0.0, 0.3), fill_mode=fill_mode,
                      interpolation=interpolation, fill_value=0.5, seed=6)
            parity(lambda x: ops.random_affine(x, **kw), lambda g, x: ops.random_affine_backward(g, x, **kw), x, 1e-6)
    for center in (False, True):
        parity(lambda x: ops.random_crop(x, 4, 5, seed=6, center=center),
               lambda g, x: ops.random_crop_backward(g, x, 4, 5, seed=6, center=center), x, 0.0)
    kw = dict(factor=(0.5, 0.9), value_range=(0.1, 0.9), seed=6)
    parity(lambda x: ops.random_contrast(x, **kw), lambda g, x: ops.random_contrast_backward(g, x, **kw), x, 1e-6)
    for fill_value in (None, -1.0):
        kw = dict(factor=(0.8, 0.8), fill_value=fill_value, value_range=(0, 1), seed=6)
        parity(lambda x: ops.random_erasing(x, **kw), lambda g, x: ops.random_erasing_backward(g, x, **kw), x, 0.0)
