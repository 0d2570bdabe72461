"""Property-based probes of every op in convnet.ops (issue 12): random shapes (0-size and large dims
included, the total kept small), dtypes, layouts and arguments (kernel, stride, padding, dilation,
axis, seeds, steps; huge, negative, float, bool and nan where ints are expected). Each generated call
runs in a forked child (probe.check_no_crash): it must give a result or a clear exception, never a
crash, a hang or an unclear error."""
import math

import pytest

pytest.importorskip("hypothesis")  # absent where no registry is reachable (the GPU machine)
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st

from probe import check_no_crash

import convnet

SETTINGS = settings(max_examples=8, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

HUGE = [2**31 - 1, 2**31, 2**32, 2**62 + 1, 2**63 - 1, 2**63, 2**64, 10**12, -1, -2**31, -2**31 - 1, -2**63]
MAX_ELEMENTS = 4096

# An integer argument: usually small and sensible, sometimes hostile (huge, negative, float, bool, nan).
ints = st.one_of(st.integers(-2, 6), st.integers(-2, 6), st.sampled_from(HUGE), st.booleans(),
                 st.sampled_from([1.0, 2.5, float("nan"), float("inf"), "2", None]))
int_or_pair = st.one_of(ints, st.tuples(ints, ints), st.lists(ints, max_size=3))
floats = st.one_of(st.floats(-2, 2), st.sampled_from([0.0, 0.5, 1.0, float("nan"), float("inf"), -1.0, 2**64, "x"]))
seeds = st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([-1, 2**64, 1.5, True]))


@st.composite
def shapes(draw, min_rank=0, max_rank=5):
    """A shape with sizes 0..6 and now and then one large size, at most MAX_ELEMENTS elements (or none)."""
    rank = draw(st.integers(min_rank, max_rank))
    dims = draw(st.lists(st.integers(0, 6), min_size=rank, max_size=rank))
    if dims and draw(st.booleans()):
        i = draw(st.integers(0, rank - 1))
        rest = math.prod(d for k, d in enumerate(dims) if k != i)
        dims[i] = draw(st.sampled_from([2**20, 2**31, 2**62])) if rest == 0 else max(1, MAX_ELEMENTS // max(rest, 1))
    return tuple(dims)


DTYPES = ["float32", "float32", "float32", "float64", "int64", "uint8", "bool", "float16", "complex64", "object"]


@st.composite
def arrays(draw, shape=None, min_rank=0, max_rank=5):
    """Source text of an array argument: a numpy array (any dtype, maybe non-contiguous, read-only or
    0-strided), a Tensor, a list, a scalar or None."""
    shape = draw(shapes(min_rank, max_rank)) if shape is None else shape
    dtype = draw(st.sampled_from(DTYPES))
    kind = draw(st.sampled_from(["array", "array", "array", "strided", "readonly", "broadcast", "tensor", "other"]))
    base = f"np.random.default_rng(0).standard_normal({shape!r}).astype({dtype!r})"
    if math.prod(shape) > MAX_ELEMENTS:  # a view of one element: no memory until something copies it
        return f"np.broadcast_to(np.float32(1), {shape!r})"
    if kind == "strided" and shape:
        return f"np.repeat({base}, 2, axis=-1)[..., ::2]"
    if kind == "readonly":
        return f"(lambda a: (a.setflags(write=False), a)[1])({base})"
    if kind == "broadcast":
        return f"np.broadcast_to(np.float32(1), {shape!r})"
    if kind == "tensor" and dtype in ("float32", "int64", "uint8"):
        return f"convnet.tensor({base})"
    if kind == "other":
        return draw(st.sampled_from(["None", "3", "'abc'", "[[1.0, 2.0]]", "[]", "object()"]))
    return base


def src(value):
    """Python source of a generated value (repr, with nan and inf spelled as float(...))."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if isinstance(value, (tuple, list)):
        inner = ", ".join(src(v) for v in value) + ("," if isinstance(value, tuple) and len(value) == 1 else "")
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    return repr(value)


def call(name, *args, **kwargs):
    parts = list(args) + [f"{k}={v}" for k, v in kwargs.items()]
    return f"ops.{name}({', '.join(parts)})"


def run(code):
    check_no_crash(code, timeout=60)


UNARY = ["relu", "sigmoid", "tanh", "flatten", "global_avg_pool2d"]


@pytest.mark.parametrize("name", UNARY + [n + "_backward" for n in UNARY])
@SETTINGS
@given(data=st.data())
def test_unary(name, data):
    shape = data.draw(shapes())
    args = [data.draw(arrays(shape))] + ([data.draw(arrays(shape))] if name.endswith("_backward") else [])
    run(call(name, *args))


@pytest.mark.parametrize("name", ["elu", "leaky_relu", "elu_backward", "leaky_relu_backward"])
@SETTINGS
@given(data=st.data())
def test_parametrised_activation(name, data):
    shape = data.draw(shapes())
    args = [data.draw(arrays(shape)) for _ in range(2 if name.endswith("_backward") else 1)]
    args.append(src(data.draw(floats)))
    run(call(name, *args))


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmax_backward", "log_softmax_backward"])
@SETTINGS
@given(data=st.data())
def test_softmax(name, data):
    shape = data.draw(shapes())
    args = [data.draw(arrays(shape)) for _ in range(2 if name.endswith("_backward") else 1)]
    run(call(name, *args, axis=src(data.draw(ints))))


@pytest.mark.parametrize("name", ["add", "add_backward", "mse_loss", "mse_loss_backward"])
@SETTINGS
@given(data=st.data())
def test_binary(name, data):
    shape = data.draw(shapes())
    other = shape if data.draw(st.booleans()) else data.draw(shapes())
    args = ([data.draw(arrays(shape))] if name.endswith("_backward") else []) + [data.draw(arrays(shape)),
                                                                                data.draw(arrays(other))]
    if name == "mse_loss_backward":
        args[0] = data.draw(arrays(()))
    kwargs = {}
    if name.startswith("mse") and data.draw(st.booleans()):
        kwargs["weight"] = data.draw(st.one_of(arrays(shape[:1]), arrays()))
    run(call(name, *args, **kwargs))


@pytest.mark.parametrize("name", ["dropout", "dropout_backward"])
@SETTINGS
@given(data=st.data())
def test_dropout(name, data):
    shape = data.draw(shapes())
    args = [data.draw(arrays(shape)) for _ in range(2 if name.endswith("_backward") else 1)]
    run(call(name, *args, p=src(data.draw(floats)), seed=src(data.draw(seeds))))


@st.composite
def conv_case(draw):
    n, c, h, w = (draw(st.integers(0, 3)), draw(st.integers(1, 4)), draw(st.integers(0, 8)), draw(st.integers(0, 8)))
    groups = draw(st.one_of(st.sampled_from([1, 1, 2, c]), ints))
    cg = max(1, c // groups) if isinstance(groups, int) and not isinstance(groups, bool) and groups > 0 else c
    o = draw(st.integers(0, 4)) * (groups if isinstance(groups, int) and 0 < groups < 5 else 1)
    k = (draw(st.integers(0, 4)), draw(st.integers(0, 4)))
    x = draw(arrays((n, c, h, w)))
    wt = draw(arrays((o, cg, *k)))
    b = draw(st.one_of(st.just("None"), arrays((o,))))
    padding = draw(st.one_of(int_or_pair, st.sampled_from(["'same'", "'valid'", "'full'"])))
    padding = padding if isinstance(padding, str) and padding.startswith("'") else src(padding)
    return x, wt, b, dict(stride=src(draw(int_or_pair)), padding=padding, dilation=src(draw(int_or_pair)),
                          groups=src(groups)), (n, o)


@SETTINGS
@given(case=conv_case())
def test_conv2d(case):
    x, w, b, kw, _ = case
    run(call("conv2d", x, w, b, **kw))


@SETTINGS
@given(case=conv_case(), data=st.data())
def test_conv2d_backward(case, data):
    x, w, b, kw, (n, o) = case
    grad = f"np.ones(ops.conv2d({x}, {w}, {b}, **{{k: eval(v) for k, v in {kw!r}.items()}}).shape, np.float32)"
    if data.draw(st.booleans()):
        grad = data.draw(arrays(min_rank=3, max_rank=5))
    run(call("conv2d_backward", grad, x, w, b, **kw))


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d", "min_pool2d"])
@SETTINGS
@given(data=st.data())
def test_pool(name, data):
    shape = data.draw(st.one_of(st.tuples(*[st.integers(0, 6)] * 4), shapes()))
    x = data.draw(arrays(shape))
    kw = dict(kernel_size=src(data.draw(int_or_pair)), stride=src(data.draw(st.one_of(st.none(), int_or_pair))),
              padding=src(data.draw(int_or_pair)))
    run(call(name, x, **kw))
    grad = f"np.ones(ops.{name}({x}, **{{k: eval(v) for k, v in {kw!r}.items()}}).shape, np.float32)"
    run(call(name + "_backward", grad, x, **kw))


@pytest.mark.parametrize("name", ["linear", "linear_backward"])
@SETTINGS
@given(data=st.data())
def test_linear(name, data):
    n, i, o = (data.draw(st.sampled_from([0, 1, 3, 2**40, 2**62])) for _ in range(3))
    shape_x = data.draw(st.one_of(st.just((n, i)), shapes()))
    shape_w = data.draw(st.one_of(st.just((o, i)), shapes()))
    x, w = data.draw(arrays(shape_x)), data.draw(arrays(shape_w))
    b = data.draw(st.one_of(st.just("None"), arrays((o,)), arrays()))
    args = ([data.draw(arrays((n, o)))] if name.endswith("_backward") else []) + [x, w, b]
    run(call(name, *args))


@pytest.mark.parametrize("name", ["batch_norm", "batch_norm_backward"])
@SETTINGS
@given(data=st.data())
def test_batch_norm(name, data):
    shape = data.draw(shapes(1, 4))
    c = shape[1] if len(shape) > 1 else 1
    stats = [data.draw(st.one_of(st.just("None"), arrays((c,)), arrays())) for _ in range(4)]
    args = ([data.draw(arrays(shape))] if name.endswith("_backward") else []) + [data.draw(arrays(shape))] + stats
    run(call(name, *args, training=src(data.draw(st.booleans())), momentum=src(data.draw(floats)),
             eps=src(data.draw(floats))))


LOSSES = ["cross_entropy", "binary_cross_entropy_with_logits", "count_correct", "count_correct_binary", "count_in_top_k"]


@pytest.mark.parametrize("name", LOSSES + ["cross_entropy_backward", "binary_cross_entropy_with_logits_backward"])
@SETTINGS
@given(data=st.data())
def test_losses(name, data):
    n, k = data.draw(st.integers(0, 4)), data.draw(st.integers(0, 4))
    logits = data.draw(st.one_of(arrays((n, k)), arrays()))
    target = data.draw(st.one_of(st.just(f"np.array({src([data.draw(ints) for _ in range(n)])})"), arrays((n,)),
                                 arrays((n, k)), arrays()))
    args = ([data.draw(arrays(()))] if name.endswith("_backward") else []) + [logits, target]
    kwargs = {} if name.startswith("count") else dict(label_smoothing=src(data.draw(floats)))
    if name == "count_in_top_k":
        kwargs["k"] = src(data.draw(ints))
    if not name.startswith("count") and data.draw(st.booleans()):
        kwargs["weight"] = data.draw(st.one_of(arrays((n,)), arrays(), st.just("None")))
    run(call(name, *args, **kwargs))


@pytest.mark.parametrize("name", ["sgd_step", "adam_step", "adamw_step", "rmsprop_step"])
@SETTINGS
@given(data=st.data())
def test_optimizer_steps(name, data):
    shape = data.draw(shapes(0, 3))
    n_state = {"sgd_step": 1, "adam_step": 2, "adamw_step": 2, "rmsprop_step": 3}[name]
    args = [data.draw(arrays(shape)) for _ in range(2 + n_state)]
    if name == "sgd_step":
        kw = dict(lr=src(data.draw(floats)), momentum=src(data.draw(floats)), step=src(data.draw(ints)))
    else:
        kw = dict(step=src(data.draw(ints)), lr=src(data.draw(floats)))
        if name != "rmsprop_step":
            kw["betas"] = src(data.draw(st.one_of(st.tuples(floats, floats), floats)))
    run(call(name, *args, **kw))


@pytest.mark.parametrize("name", ["random_flip_translate", "random_flip_translate_backward"])
@SETTINGS
@given(data=st.data())
def test_augment(name, data):
    shape = data.draw(st.one_of(st.tuples(*[st.integers(0, 5)] * 4), shapes()))
    args = [data.draw(arrays(shape)) for _ in range(2 if name.endswith("_backward") else 1)]
    run(call(name, *args, flip_horizontal=src(data.draw(st.booleans())), flip_vertical=src(data.draw(st.booleans())),
             shift_height=src(data.draw(int_or_pair)), shift_width=src(data.draw(int_or_pair)),
             seed=src(data.draw(seeds))))


float_pair = st.one_of(floats, st.tuples(floats, floats), st.lists(floats, max_size=3))
modes = st.sampled_from(["reflect", "constant", "nearest", "wrap", "", "REFLECT", None, 3])
# Keyword strategies of the image ops that take (x) or (grad_out, x) and options.
IMAGE_OPS = {
    "layout": {"to_last": st.one_of(st.booleans(), st.sampled_from([0, 2, None, "yes"]))},
    "rescale": {"scale": floats, "offset": floats},
    "random_affine": {"rotation": float_pair, "zoom_height": float_pair,
                      "zoom_width": st.one_of(st.none(), float_pair), "fill_mode": modes,
                      "interpolation": st.sampled_from(["bilinear", "nearest", "bicubic", ""]), "fill_value": floats,
                      "seed": seeds},
    "random_contrast": {"factor": float_pair, "value_range": float_pair, "seed": seeds},
    "random_crop": {"height": ints, "width": ints, "seed": seeds, "center": st.booleans()},
    "random_erasing": {"factor": float_pair, "scale": float_pair, "ratio": float_pair,
                       "fill_value": st.one_of(st.none(), floats), "value_range": float_pair, "seed": seeds},
}


@pytest.mark.parametrize("name", sorted(IMAGE_OPS) + [n + "_backward" for n in sorted(IMAGE_OPS)])
@SETTINGS
@given(data=st.data())
def test_image_ops(name, data):
    shape = data.draw(st.one_of(st.tuples(*[st.integers(0, 6)] * 4), shapes()))
    args = [data.draw(arrays(shape)) for _ in range(2 if name.endswith("_backward") else 1)]
    options = IMAGE_OPS[name.removesuffix("_backward")]
    kwargs = {k: src(data.draw(v)) for k, v in options.items() if data.draw(st.integers(0, 4))}
    run(call(name, *args, **kwargs))


@pytest.mark.parametrize("name", ["concat", "concat_backward"])
@SETTINGS
@given(data=st.data())
def test_concat(name, data):
    base = data.draw(shapes(0, 4))
    count = data.draw(st.integers(0, 4))
    inputs = []
    for _ in range(count):
        s = list(base)
        if len(s) > 1 and data.draw(st.booleans()):
            s[1] = data.draw(st.sampled_from([0, 1, 3, 2**62]))
        inputs.append(repr(tuple(s)) if name.endswith("_backward") and data.draw(st.booleans())
                      else data.draw(arrays(tuple(s) if math.prod(s) <= MAX_ELEMENTS else tuple(base))))
    lst = f"[{', '.join(inputs)}]" if data.draw(st.integers(0, 5)) else data.draw(arrays())
    if name == "concat":
        run(call(name, lst))
    else:
        run(call(name, data.draw(arrays()), lst))


@SETTINGS
@given(data=st.data())
def test_wrong_keywords_and_counts(data):
    name = data.draw(st.sampled_from(convnet.ops.__all__))
    args = [data.draw(arrays(max_rank=2)) for _ in range(data.draw(st.integers(0, 9)))]
    kwargs = {data.draw(st.sampled_from(["x", "axis", "stride", "bogus", "lr", "step", "seed"])): src(data.draw(ints))}
    run(call(name, *args, **kwargs))


def test_every_op_is_generated():
    covered = set(UNARY) | {n + "_backward" for n in UNARY} | set(LOSSES) | {
        "elu", "leaky_relu", "elu_backward", "leaky_relu_backward", "softmax", "log_softmax", "softmax_backward",
        "log_softmax_backward", "add", "add_backward", "mse_loss", "mse_loss_backward", "dropout", "dropout_backward",
        "conv2d", "conv2d_backward", "max_pool2d", "avg_pool2d", "min_pool2d", "max_pool2d_backward",
        "avg_pool2d_backward", "min_pool2d_backward", "linear", "linear_backward", "batch_norm",
        "batch_norm_backward", "cross_entropy_backward", "binary_cross_entropy_with_logits_backward", "sgd_step",
        "adam_step", "adamw_step", "rmsprop_step", "random_flip_translate", "random_flip_translate_backward",
        "concat", "concat_backward", "gemm_isa", "measured_fma_peak_gflops",
        "zero_pad2d", "zero_pad2d_backward", "upsample_nearest2d", "upsample_nearest2d_backward", "conv_transpose2d",
        "conv_transpose2d_backward"} | set(IMAGE_OPS) | {n + "_backward" for n in IMAGE_OPS}
    assert set(convnet.ops.__all__) <= covered, set(convnet.ops.__all__) - covered


@pytest.mark.parametrize("name", ["zero_pad2d", "zero_pad2d_backward", "upsample_nearest2d",
                                  "upsample_nearest2d_backward", "conv_transpose2d", "conv_transpose2d_backward"])
@SETTINGS
@given(data=st.data())
def test_resample(name, data):
    shape = data.draw(st.one_of(st.tuples(*[st.integers(0, 5)] * 4), shapes()))
    grad = [data.draw(arrays(data.draw(st.one_of(st.just(shape), shapes()))))] if name.endswith("_backward") else []
    x = data.draw(arrays(shape))
    if name.startswith("zero_pad2d"):
        padding = data.draw(st.one_of(int_or_pair, st.tuples(int_or_pair, int_or_pair)))
        run(call(name, *grad, x, padding=src(padding)))
    elif name.startswith("upsample"):
        run(call(name, *grad, x, size=src(data.draw(int_or_pair))))
    else:
        w = data.draw(st.one_of(st.tuples(*[st.integers(0, 4)] * 4), shapes()))
        b = data.draw(st.one_of(st.just("None"), arrays(max_rank=2)))
        run(call(name, *grad, x, data.draw(arrays(w)), b, stride=src(data.draw(int_or_pair)),
                 padding=src(data.draw(st.one_of(int_or_pair, st.tuples(int_or_pair, int_or_pair)))),
                 output_padding=src(data.draw(int_or_pair)), groups=src(data.draw(ints)),
                 dilation=src(data.draw(int_or_pair))))
