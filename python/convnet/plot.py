"""Pictures of a trained model for teaching and checking: training curves, the confusion matrix, the
filters, feature maps, saliency, receptive fields and adversarial examples. Needs matplotlib
(``pip install "convnet[plot]"``); importing convnet does not import it.

>>> from convnet import plot
>>> plot.history(model.history, "history.png")            # doctest: +SKIP
'history.png'
>>> fig = plot.confusion_matrix(model, x_test, y_test)    # doctest: +SKIP  (a notebook shows the Figure)

Return convention, the same for every function: given a `path`, it writes the picture there as a PNG
(atomically, as model files are written: an existing file is replaced only by a complete new one) and
returns the path (a str); without one it writes nothing and returns the matplotlib Figure. ``figure=``
(keyword) draws into a Figure of yours, e.g. one from pyplot in a notebook, cleared first; the return is
the same. New figures are ``matplotlib.figure.Figure`` objects on the Agg canvas, never pyplot's: no
display is needed, nothing stays open in pyplot between calls, and threads do not share a figure. A new
figure has a fixed size whatever the data: ``SIZES[function name]`` (width, height) pixels at ``DPI``.

Images are taken as the model takes them (uint8 pixels 0..255 are shown as 0..1, floats as they are)
and checked against its input shape. Class names: ``class_names=``, else Fashion-MNIST's for a model
of 10 classes, else the class numbers. The class probabilities in titles are the model's output when
its rows are probabilities (a softmax output), else the softmax of its output (logits).
"""
import io
import math

import numpy as np

from . import callbacks, layers as L
from .models import Model
from .serialization import as_path, atomic_write_bytes

__all__ = ["history", "confusion_matrix", "filters", "feature_maps", "saliency", "receptive_field", "adversarial",
           "SIZES", "DPI"]

DPI = 100
SIZES = {"history": (1200, 450), "confusion_matrix": (1600, 720), "filters": (1000, 820),
         "feature_maps": (1400, 820), "saliency": (1600, 480), "receptive_field": (760, 820),
         "adversarial": (1600, 800)}
MAX_IMAGES = 8  # saliency and adversarial show the first 8 images of x
MAX_KERNELS = 64  # filters: a first layer's kernels shown
MAX_ROWS = 16  # filters: a deeper layer's filters (rows) and input channels (columns) shown

# -- figures ---------------------------------------------------------------------------------------


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError(f'convnet.plot needs matplotlib: pip install "convnet[plot]" (or pip install matplotlib); '
                          f"{e}") from None
    return Figure, FigureCanvasAgg


def _start(name, path, figure, where):
    """(the checked path or None, the Figure to draw into)."""
    if path is not None:
        path = as_path(path, where)
    Figure, Canvas = _matplotlib()
    if figure is None:
        width, height = SIZES[name]
        figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
        Canvas(figure)
        return path, figure
    if not isinstance(figure, Figure):
        raise TypeError(f"{where}: argument 'figure' expected a matplotlib.figure.Figure or None, got "
                        f"{type(figure).__name__}")
    figure.clear()
    figure.set_layout_engine("constrained")
    return path, figure


def _finish(figure, path, where):
    if path is None:
        return figure
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=figure.dpi)
    atomic_write_bytes(path, buffer.getvalue(), where)
    return path


# -- arguments -------------------------------------------------------------------------------------


def _check_model(model, where, built=True):
    """A Model; built (its input shape known) when `built`, else the images build it (a Sequential without Input)."""
    if not isinstance(model, Model):
        raise TypeError(f"{where}: argument 'model' expected a convnet Model or Sequential, got {type(model).__name__}")
    if built:
        model._require_built(where)


def _require_loss(model, where, what):
    if model.optimizer is None:
        raise RuntimeError(f"{where}: the model is not compiled, and {what} needs its loss: call model.compile(...) "
                           "first")


def _images(model, x, where, name="x"):
    """x checked by the model (its input shape, dtype, finite values): a uint8 or float32 NCHW batch."""
    return model._images(x, where, name)


def _one_image(model, image, where):
    """One image as a batch of one: (C, H, W), (H, W) for one channel, or (1, C, H, W)."""
    try:
        a = np.asarray(image.numpy() if hasattr(image, "numpy") else image)
    except Exception as e:
        raise TypeError(f"{where}: argument 'image' expected a numpy array, got {type(image).__name__} ({e})") from None
    want = tuple(model.input_shape)
    forms = [want] + ([want[1:]] if want[0] == 1 else [])
    if a.shape in forms:
        a = a[None]
    elif not (a.ndim == len(want) + 1 and a.shape[0] == 1 and a.shape[1:] == want):
        hint = f" (a batch of {a.shape[0]}: pass one, e.g. image[0])" if a.ndim >= len(want) and len(a) > 1 else ""
        raise ValueError(f"{where}: argument 'image' expected one image of shape {' or '.join(map(str, forms))}, "
                         f"got shape {a.shape}{hint}")
    return _images(model, a, where, "image")


def _shown(x):
    """Images (N, C, H, W) as the model sees them, as float (N, H, W) or (N, H, W, 3) for imshow."""
    x = x.astype(np.float32) / 255 if x.dtype == np.uint8 else x.astype(np.float32)
    if x.shape[1] == 3:
        return np.clip(x.transpose(0, 2, 3, 1), 0, 1)
    return x.mean(axis=1)  # one channel (or the mean of several)


def _imshow_image(ax, image):
    gray = image.ndim == 2
    low, high = (0.0, 1.0) if image.min() >= 0 and image.max() <= 1 else (float(image.min()), float(image.max()))
    return ax.imshow(image, cmap="gray" if gray else None, vmin=low, vmax=high, interpolation="nearest")


def _bare(ax):
    ax.set_xticks([])
    ax.set_yticks([])


def _colorbar(fig, image, ax, label):
    """A colour bar beside one image axes (inside its layout box, so the pair stays centred)."""
    cax = ax.inset_axes([1.03, 0.1, 0.03, 0.8])
    return fig.colorbar(image, cax=cax, label=label)


def _grid_shape(count, width, height):
    """(rows, cols) for `count` square cells in a width x height box: the largest cells, then the fewest empty."""
    best = max(range(1, count + 1), key=lambda c: (min(width / c, height / math.ceil(count / c)),
                                                   -(c * math.ceil(count / c) - count)))
    return math.ceil(count / best), best


def _class_scores(model, x, where):
    """The model's output on x as class probabilities (N, classes)."""
    out = model.predict(x)
    if isinstance(out, list):
        raise ValueError(f"{where}: the model has {len(out)} outputs; expected a classifier with one output")
    if out.ndim != 2 or out.shape[1] < 2:
        raise ValueError(f"{where}: expected a classifier whose output is class scores (N, classes), got output "
                         f"shape {out.shape[1:]}")
    out = out.astype(np.float64)
    if out.min() >= 0 and np.allclose(out.sum(axis=1), 1, atol=1e-3):
        return out
    e = np.exp(out - out.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _class_names(names, k, where):
    if names is None:
        if k == 10:
            from .datasets import fashion_mnist
            return list(fashion_mnist.CLASS_NAMES)
        return [str(i) for i in range(k)]
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"{where}: argument 'class_names' expected a sequence of str, got {names!r:.80}")
    names = list(names)
    if len(names) != k:
        raise ValueError(f"{where}: argument 'class_names' expected {k} names (the model's classes), got {len(names)}")
    return names


def _labels(y, n, k, where):
    """Class labels (N,) from integer labels or one-hot / probability rows, checked against n and k."""
    try:
        a = np.asarray(y.numpy() if hasattr(y, "numpy") else y)
    except Exception as e:
        raise TypeError(f"{where}: argument 'y' expected an array of labels, got {type(y).__name__} ({e})") from None
    if a.ndim == 2 and a.shape[1] == k and k > 1:
        a = a.argmax(axis=1)
    elif a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1 or a.dtype.kind not in "iu":
        raise ValueError(f"{where}: argument 'y' expected integer labels (N,) or rows (N, {k}), got shape {a.shape} "
                         f"of dtype {a.dtype}")
    if len(a) != n:
        raise ValueError(f"{where}: x and y have different lengths ({n} images, {len(a)} labels)")
    if a.size and (a.min() < 0 or a.max() >= k):
        bad = int(a.min() if a.min() < 0 else a.max())
        raise ValueError(f"{where}: argument 'y' expected labels in [0, {k}) (the model's classes), got {bad}")
    return a.astype(np.int64)


def _layer(model, layer, where):
    """The layer object for a name or a layer of `model` (or of a model nested in it)."""
    if isinstance(layer, str):
        found = model._find_layer(layer)
        if found is None:
            raise ValueError(f"{where}: model {model.name!r} has no layer named {layer!r}; layers: "
                             f"{', '.join(l.name for l in model.layers)}")
        return found
    if not isinstance(layer, L.Layer):
        raise TypeError(f"{where}: argument 'layer' expected a layer of the model or its name, got "
                        f"{type(layer).__name__}")
    if not _owns(model, layer):
        raise ValueError(f"{where}: layer {layer.name!r} is not a layer of model {model.name!r}")
    return layer


def _owns(model, layer):
    return any(l is layer or (isinstance(l, Model) and _owns(l, layer)) for l in model.layers)


def _layer_output(model, layer, x, where):
    """`layer`'s output for the batch x: through a features model from the input to the layer's (first)
    output; for a layer of a nested model, through that model, fed with what feeds it."""
    tensors = model._tensors
    for t in tensors[1:]:
        if t.layer is layer:
            return Model(tensors[0], t).predict(x)
    for t in tensors[1:]:
        inner = t.layer
        if isinstance(inner, Model) and _owns(inner, layer):
            if not inner._tensors:
                raise ValueError(f"{where}: layer {layer.name!r} is inside the nested model {inner.name!r}, which has "
                                 "no Input of its own; give it one (convnet.layers.Input) to reach its layers")
            feed = t.inputs[0]
            inner_x = x if feed is tensors[0] else Model(tensors[0], feed).predict(x)
            return _layer_output(inner, layer, inner_x, where)
    raise ValueError(f"{where}: layer {layer.name!r} is not reachable in model {model.name!r} (a layer inside a "
                     "custom layer has no output of its own)")


def _title(probs, names, i, truth=None):
    c = int(probs[i].argmax())
    pred = f"pred {names[c]} {probs[i, c]:.0%}"
    return pred if truth is None else f"true {names[truth[i]]}\n{pred}"


# -- the plots -------------------------------------------------------------------------------------


def history(history, path=None, *, figure=None):
    """Loss and accuracy per epoch, training and validation (and the learning rate when a schedule
    changed it), the epoch of the lowest validation loss marked. `history`: a callbacks.History
    (model.history, also kept in model files), its .history dict, or a trained model."""
    where = "plot.history"
    title = "Training history"
    if isinstance(history, Model):
        title += f" of {history.name}"
        if history.history is None:
            raise ValueError(f"{where}: model {history.name!r} has no history (train it with fit first)")
        history = history.history
    if isinstance(history, callbacks.History):
        logs, epochs = history.history, history.epoch
    elif isinstance(history, dict):
        logs, epochs = history, None
    else:
        raise TypeError(f"{where}: argument 'history' expected a callbacks.History, its .history dict or a model, "
                        f"got {type(history).__name__}")
    n = len(logs.get("loss") or [])
    if n == 0:
        raise ValueError(f"{where}: argument 'history' has no epochs (no 'loss' values); train with fit first")
    values = {}
    for key, v in logs.items():
        try:
            v = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: history[{key!r}] expected numbers, got {v!r:.80}") from None
        if v.shape != (n,):
            raise ValueError(f"{where}: history[{key!r}] expected {n} values (one per epoch, as 'loss'), got shape "
                             f"{v.shape}")
        values[key] = v
    x = np.asarray(epochs) + 1 if epochs is not None and len(epochs) == n else np.arange(1, n + 1)
    panels = [("loss", "Loss")] + ([("accuracy", "Accuracy")] if "accuracy" in values else [])
    lr = values.get("learning_rate")
    if lr is not None and np.nanmax(lr) != np.nanmin(lr):
        panels.append(("learning_rate", "Learning rate"))
    path, fig = _start("history", path, figure, where)
    from matplotlib.ticker import MaxNLocator
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    best = int(np.nanargmin(values["val_loss"])) if "val_loss" in values and np.isfinite(values["val_loss"]).any() \
        else None
    marker = 4 if n <= 40 else 0
    for ax, (key, label) in zip(axes, panels):
        runs = [("training", key, "o-"), ("validation", "val_" + key, "s--")] if key != "learning_rate" \
            else [("learning rate", key, "o-")]
        for run, k, style in runs:
            if k in values:
                ax.plot(x, values[k], style, markersize=marker, label=f"{run} (last {values[k][-1]:.4g})")
        if best is not None:
            ax.axvline(x[best], color="gray", linestyle=":", label=f"lowest val_loss (epoch {x[best]})")
        if key == "learning_rate":
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label.lower())
        ax.set_title(f"{label} per epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
    fig.suptitle(title + f" ({n} epoch{'s' if n != 1 else ''})")
    return _finish(fig, path, where)


def confusion_matrix(model, x, y, path=None, class_names=None, *, figure=None):
    """The confusion matrix of `model` (a classifier; compiling is not needed) on images x with labels
    y: the counts, and the counts divided by each true class's total (row-normalised: the diagonal is
    each class's recall). Rows are true classes, columns predicted, as in metrics.confusion_matrix."""
    from . import metrics
    where = "plot.confusion_matrix"
    _check_model(model, where, built=False)
    x = _images(model, x, where)
    probs = _class_scores(model, x, where)
    k = probs.shape[1]
    names = _class_names(class_names, k, where)
    y = _labels(y, len(x), k, where)
    if path is not None:
        as_path(path, where)
    counts = metrics.confusion_matrix(y, probs.argmax(axis=1), num_classes=k)
    totals = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, totals, out=np.full(counts.shape, np.nan), where=totals > 0)
    path, fig = _start("confusion_matrix", path, figure, where)
    axes = fig.subplots(1, 2)
    panels = [(counts, "Counts", "images", None), (rates, "Row-normalised (the diagonal is each class's recall)",
                                                   "fraction of the true class", 1.0)]
    for ax, (m, title, unit, top) in zip(axes, panels):
        cmap = _cmap("Blues", bad="#dddddd")
        image = ax.imshow(m, cmap=cmap, vmin=0, vmax=top if top is not None else max(int(m.max()), 1))
        fig.colorbar(image, ax=ax, label=unit, shrink=0.85)
        ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=9 if k <= 12 else 7)
        ax.set_yticks(range(k), names, fontsize=9 if k <= 12 else 7)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(title)
        if k <= 20:
            high = np.nanmax(m) if np.isfinite(m).any() else 1
            for i in range(k):
                for j in range(k):
                    v = m[i, j]
                    text = "" if not np.isfinite(v) else (f"{int(v)}" if top is None else
                                                          ("0" if v == 0 else f"{v:.2f}"))
                    ax.text(j, i, text, ha="center", va="center", fontsize=8 if k <= 12 else 6,
                            color="white" if np.isfinite(v) and v > high / 2 else "black")
    accuracy = np.trace(counts) / len(y)
    fig.suptitle(f"Confusion matrix of {model.name} on {len(y)} images: accuracy {accuracy:.2%}")
    return _finish(fig, path, where)


def _cmap(name, bad="white"):
    import matplotlib
    return matplotlib.colormaps[name].with_extremes(bad=bad)


def _kernels(layer, where):
    """(weights (filters, inputs per filter, kh, kw), the input channel of each filter for a depthwise
    kernel or None, a note on what is shown)."""
    if isinstance(layer, str) or not isinstance(layer, L._Conv):
        kind = f"layer {layer.name!r} ({type(layer).__name__})" if isinstance(layer, L.Layer) else \
            f"{type(layer).__name__} {layer!r:.40}"
        raise TypeError(f"{where}: argument 'layer' expected a convolution layer (Conv2D, DepthwiseConv2D or "
                        f"SeparableConv2D; e.g. model.get_layer('conv2d')), got {kind}")
    try:
        w = layer.get_weights()[0]
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    if isinstance(layer, L.Conv2D):
        groups = f", groups={layer.groups}" if layer.groups > 1 else ""
        return w, None, f"{type(layer).__name__}{groups}"
    source = np.arange(len(w)) // layer.depth_multiplier  # depthwise: filter f convolves input channel f // m
    note = "depthwise kernels (its 1x1 pointwise kernel is not shown)" if isinstance(layer, L.SeparableConv2D) \
        else "DepthwiseConv2D"
    return w, source, note


def filters(layer, path=None, *, figure=None):
    """The kernels of a convolution layer (PyTorch layout (filters, in_channels / groups, kh, kw)), on a
    diverging scale centred at 0 (blue negative, red positive) shared by all kernels shown, with a colour
    bar. A layer whose filters each see one input channel (a first layer on grayscale images; a
    depthwise convolution) shows each kernel as a small image, up to 64; a deeper layer shows one filter
    per row and one input channel per column, up to 16 of each. A SeparableConv2D shows its depthwise
    kernels."""
    where = "plot.filters"
    w, source, kind = _kernels(layer, where)
    n_filters, n_inputs, kh, kw = w.shape
    path, fig = _start("filters", path, figure, where)
    if n_inputs == 1:
        shown = min(n_filters, MAX_KERNELS)
        top = float(np.abs(w[:shown]).max()) or 1.0
        cols = min(8, shown)
        rows = math.ceil(shown / cols)
        axes = fig.subplots(rows, cols, squeeze=False)
        for i, ax in enumerate(axes.ravel()):
            _bare(ax)
            if i >= shown:
                ax.set_axis_off()
                continue
            image = ax.imshow(w[i, 0], cmap="RdBu_r", vmin=-top, vmax=top, interpolation="nearest")
            ax.set_title(f"{i}" if source is None else f"{i} (in {source[i]})", fontsize=9)
        fig.colorbar(image, ax=axes, label="weight", shrink=0.8)
        more = f", the first {shown} shown" if shown < n_filters else ""
        fig.suptitle(f"Filters of {layer.name} ({kind}): {n_filters} kernels of {kh}x{kw}, one input channel "
                     f"each{more}")
        return _finish(fig, path, where)
    rows, cols = min(n_filters, MAX_ROWS), min(n_inputs, MAX_ROWS)
    gap = 1
    grid = np.full((rows * (kh + gap) - gap, cols * (kw + gap) - gap), np.nan)
    for f in range(rows):
        for c in range(cols):
            grid[f * (kh + gap):f * (kh + gap) + kh, c * (kw + gap):c * (kw + gap) + kw] = w[f, c]
    top = float(np.nanmax(np.abs(grid))) or 1.0
    ax = fig.subplots()
    image = ax.imshow(grid, cmap=_cmap("RdBu_r"), vmin=-top, vmax=top, interpolation="nearest")
    ax.set_xticks([c * (kw + gap) + (kw - 1) / 2 for c in range(cols)], [str(c) for c in range(cols)])
    ax.set_yticks([f * (kh + gap) + (kh - 1) / 2 for f in range(rows)], [str(f) for f in range(rows)])
    ax.tick_params(length=0)
    ax.set_xlabel("input channel" + (" (within the filter's group)" if getattr(layer, "groups", 1) > 1 else ""))
    ax.set_ylabel("filter (output channel)")
    _colorbar(fig, image, ax, "weight")
    more = f"; the first {rows} filters x {cols} channels shown" if (rows, cols) != (n_filters, n_inputs) else ""
    fig.suptitle(f"Filters of {layer.name} ({kind}): {n_filters} filters x {n_inputs} input channels, "
                 f"{kh}x{kw} kernels{more}")
    return _finish(fig, path, where)


def feature_maps(model, image, layer, path=None, *, figure=None):
    """Every channel of `layer`'s output (a name or a layer of the model) for one image, beside the
    image, on one colour scale shared by all channels (so a weak or dead channel looks dark; the colour
    bar gives the values). A layer with a flat output (Flatten, Dense: no spatial maps) is drawn as one
    bar per unit, labelled with the class names for the model's output layer."""
    where = "plot.feature_maps"
    _check_model(model, where)
    target = _layer(model, layer, where)
    batch = _one_image(model, image, where)
    if path is not None:
        as_path(path, where)
    out = _layer_output(model, target, batch, where)
    if isinstance(out, list):
        out = out[0]
    out = out[0]
    path, fig = _start("feature_maps", path, figure, where)
    grid = fig.add_gridspec(1, 2, width_ratios=[1, 4])
    ax_in = fig.add_subplot(grid[0])
    _imshow_image(ax_in, _shown(batch)[0])
    _bare(ax_in)
    ax_in.set_title("input image")
    ax = fig.add_subplot(grid[1])
    name = f"{target.name} ({type(target).__name__})"
    if out.ndim == 1:
        units = len(out)
        ax.bar(np.arange(units), out, width=0.8 if units <= 100 else 1.0, color="tab:blue")
        output = target is model.layers[-1] and units > 1
        if output:
            ax.set_xticks(range(units), _class_names(None, units, where), rotation=45, ha="right")
        ax.set_xlabel("class (the model's output)" if output else "unit")
        ax.set_ylabel("activation")
        ax.grid(axis="y", alpha=0.3)
        fig.suptitle(f"Output of {name}: {units} units (a flat output: no spatial maps)")
        return _finish(fig, path, where)
    if out.ndim != 3:
        raise ValueError(f"{where}: layer {target.name!r} has output shape {out.shape}; expected (C, H, W) maps or a "
                         "flat vector")
    channels, h, w = out.shape
    rows, cols = _grid_shape(channels, 1050 / (w + 1), 720 / (h + 1))
    gap = max(1, h // 10)
    mosaic = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan)
    for c in range(channels):
        r, q = divmod(c, cols)
        mosaic[r * (h + gap):r * (h + gap) + h, q * (w + gap):q * (w + gap) + w] = out[c]
    image = ax.imshow(mosaic, cmap=_cmap("viridis"), interpolation="nearest", vmin=float(out.min()),
                      vmax=float(out.max()) if out.max() > out.min() else float(out.min()) + 1)
    _bare(ax)
    size = 8 if channels <= 64 else 6
    for c in range(channels):
        r, q = divmod(c, cols)
        ax.text(q * (w + gap), r * (h + gap), str(c), fontsize=size, color="white", va="top", ha="left",
                bbox=dict(boxstyle="square,pad=0.1", facecolor="black", alpha=0.5, linewidth=0))
    _colorbar(fig, image, ax, "activation (one scale for all channels)")
    dead = int(sum(not out[c].any() for c in range(channels)))
    note = f"; {dead} all zero for this image" if dead else ""
    fig.suptitle(f"Feature maps of {name}: {channels} channels of {h}x{w}{note}")
    return _finish(fig, path, where)


def saliency(model, x, y, path=None, *, class_names=None, figure=None):
    """Saliency maps (Simonyan et al. 2014): |d loss / d input| per pixel (the largest over channels),
    each image's map scaled to its own maximum, under the image with its true and predicted class, for
    the first 8 images of x. Uses model.input_gradients (the C++ backward pass): the model must be
    compiled (the gradient is of its loss)."""
    where = "plot.saliency"
    _check_model(model, where, built=False)
    _require_loss(model, where, "the saliency")
    x = _images(model, x, where)
    probs = _class_scores(model, x[:MAX_IMAGES], where)
    k = probs.shape[1]
    names = _class_names(class_names, k, where)
    labels = _labels(y, len(x), k, where)
    if path is not None:
        as_path(path, where)
    n = min(len(x), MAX_IMAGES)
    y_used = np.asarray(y.numpy() if hasattr(y, "numpy") else y)[:n]
    grads = model.input_gradients(x[:n], y_used)
    sal = np.abs(grads).max(axis=1)
    peak = sal.reshape(n, -1).max(axis=1)
    sal = sal / np.where(peak > 0, peak, 1)[:, None, None]
    shown = _shown(x[:n])
    path, fig = _start("saliency", path, figure, where)
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        _imshow_image(axes[0, i], shown[i])
        wrong = probs[i].argmax() != labels[i]
        axes[0, i].set_title(_title(probs, names, i, labels), fontsize=9, color="tab:red" if wrong else "black")
        image = axes[1, i].imshow(sal[i], cmap="inferno", vmin=0, vmax=1, interpolation="nearest")
        for ax in axes[:, i]:
            _bare(ax)
    axes[0, 0].set_ylabel("image")
    axes[1, 0].set_ylabel("saliency")
    fig.colorbar(image, ax=axes, label="|d loss / d pixel|\n/ its maximum", shrink=0.45, anchor=(0.0, 0.0))
    more = f" (the first {n} of {len(x)})" if n < len(x) else ""
    fig.suptitle(f"Saliency of {model.name}: |d loss / d input|, each map scaled to its maximum{more}; a red title "
                 "is a wrong prediction")
    return _finish(fig, path, where)


def receptive_field(model, layer, path=None, image=None, *, figure=None):
    """The input window one unit of `layer` (a name or a layer) sees, drawn on `image` (one image;
    default a gray canvas of the input size with its pixel grid): for the corner unit (0, 0), where the
    window reaches into the padding (dashed: the part outside the image), the centre unit and its right
    neighbour (one stride away). The size and stride are Model.receptive_field's, the summary's
    "Receptive field" and "Stride" columns. A unit after Flatten, Dense or global pooling sees the whole
    image."""
    where = "plot.receptive_field"
    _check_model(model, where)
    target = _layer(model, layer, where)
    try:
        field = model.receptive_field(target)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    h, w = model.input_shape[-2:]
    shown = _shown(_one_image(model, image, where))[0] if image is not None else None
    path, fig = _start("receptive_field", path, figure, where)
    from matplotlib.patches import Patch, Rectangle
    ax = fig.subplots()
    if shown is None:
        ax.imshow(np.full((h, w), 0.75), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks(np.arange(-0.5, w, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, h, 1), minor=True)
        ax.grid(which="minor", color="white", linewidth=0.5)
    else:
        _imshow_image(ax, shown)
    ax.add_patch(Rectangle((-0.5, -0.5), w, h, fill=False, edgecolor="black", linewidth=1.5))
    name = f"{target.name} ({type(target).__name__})"
    sizes = f"{field.size[0]}x{field.size[1]}"
    handles = []
    if field.is_global:
        ax.add_patch(Rectangle((-0.5, -0.5), w, h, fill=False, edgecolor="tab:red", linewidth=4))
        handles.append(Patch(facecolor="none", edgecolor="tab:red", linewidth=3,
                             label=f"every unit: the whole {h}x{w} image"))
        ax.set_xlim(-1.5, w + 0.5)
        ax.set_ylim(h + 0.5, -1.5)
        fig.suptitle(f"Receptive field of {name}: global\n(each unit sees the whole {h}x{w} input)")
    else:
        out_h, out_w = model._graph.output_shape(model._node_ids_of(target)[-1])[-2:]
        units = [("corner", (0, 0)), ("centre", (out_h // 2, out_w // 2))]
        if out_w > 1:
            units.append(("next to the centre", (out_h // 2, out_w // 2 + 1)))
        seen, low, high = set(), [-0.5, -0.5], [h - 0.5, w - 0.5]
        for (label, unit), colour in zip(units, ("tab:red", "tab:cyan", "tab:orange")):
            if unit in seen:
                continue
            seen.add(unit)
            cy, cx = (field.center[a] + unit[a] * field.stride[a] for a in (0, 1))
            top, left = cy - field.size[0] / 2, cx - field.size[1] / 2
            ax.add_patch(Rectangle((left, top), field.size[1], field.size[0], fill=False, edgecolor=colour,
                                   linestyle="--", linewidth=1.5))
            r0, c0 = max(top, -0.5), max(left, -0.5)
            r1, c1 = min(top + field.size[0], h - 0.5), min(left + field.size[1], w - 0.5)
            ax.add_patch(Rectangle((c0, r0), c1 - c0, r1 - r0, facecolor=colour, alpha=0.3, edgecolor=colour,
                                   linewidth=2.5))
            ax.plot([cx], [cy], "+", color=colour, markersize=10, markeredgewidth=2)
            rows = f"rows {int(r0 + 0.5)}-{int(r1 - 0.5)}, cols {int(c0 + 0.5)}-{int(c1 - 0.5)}"
            handles.append(Patch(facecolor=colour, alpha=0.5, edgecolor=colour,
                                 label=f"{label} unit ({unit[0]}, {unit[1]}): input {rows}"))
            low = [min(low[0], top), min(low[1], left)]
            high = [max(high[0], top + field.size[0]), max(high[1], left + field.size[1])]
        handles.append(Patch(facecolor="none", edgecolor="gray", linestyle="--",
                             label="dashed: the whole window, past the border it is padding"))
        ax.set_xlim(low[1] - 0.5, high[1] + 0.5)
        ax.set_ylim(high[0] + 0.5, low[0] - 0.5)
        fig.suptitle(f"Receptive field of {name}: {sizes}, stride {field.stride[0]}x{field.stride[1]}\n"
                     f"output {out_h}x{out_w}; unit (i, j) sees the {sizes} window centred at "
                     f"({field.center[0]:g} + {field.stride[0]}i, {field.center[1]:g} + {field.stride[1]}j)")
    ax.set_xlabel("input column")
    ax.set_ylabel("input row")
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.1), fontsize=9, frameon=False)
    return _finish(fig, path, where)


def adversarial(model, x, y, path=None, epsilon=0.1, *, class_names=None, figure=None):
    """FGSM adversarial examples (Goodfellow et al. 2015, convnet.attacks.fgsm) for the first 8 images
    of x: each clean image with its prediction, the perturbation (adversarial - clean, at most
    epsilon per pixel, pixels in [0, 1]) and the adversarial image with its new prediction (red where
    the attack changed it). The model must be compiled (the attack follows its loss's gradient)."""
    from . import attacks

    where = "plot.adversarial"
    epsilon = attacks._check_epsilon(epsilon, where)
    _check_model(model, where, built=False)
    _require_loss(model, where, "the attack")
    x = _images(model, x, where)
    n = min(len(x), MAX_IMAGES)
    probs = _class_scores(model, x[:n], where)
    k = probs.shape[1]
    names = _class_names(class_names, k, where)
    labels = _labels(y, len(x), k, where)
    if path is not None:
        as_path(path, where)
    y_used = np.asarray(y.numpy() if hasattr(y, "numpy") else y)[:n]
    adv = attacks.fgsm(model, x[:n], y_used, epsilon)
    clean = x[:n].astype(np.float32) / 255 if x.dtype == np.uint8 else x[:n]
    adv_probs = _class_scores(model, adv, where)
    before, after = probs.argmax(axis=1), adv_probs.argmax(axis=1)
    path, fig = _start("adversarial", path, figure, where)
    axes = fig.subplots(3, n, squeeze=False)
    scale = max(epsilon, 1e-6)
    delta = (adv - clean).max(axis=1) if adv.shape[1] > 1 else (adv - clean)[:, 0]
    for i in range(n):
        _imshow_image(axes[0, i], _shown(clean[i:i + 1])[0])
        axes[0, i].set_title(_title(probs, names, i, labels), fontsize=9,
                             color="tab:red" if before[i] != labels[i] else "black")
        bar = axes[1, i].imshow(delta[i], cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
        _imshow_image(axes[2, i], _shown(adv[i:i + 1])[0])
        axes[2, i].set_title(_title(adv_probs, names, i), fontsize=9,
                             color="tab:red" if after[i] != before[i] else "black")
        for ax in axes[:, i]:
            _bare(ax)
    for ax, label in zip(axes[:, 0], ("clean", "perturbation", "adversarial")):
        ax.set_ylabel(label)
    fig.colorbar(bar, ax=axes, label="adversarial - clean", shrink=0.3, anchor=(0.0, 0.5))
    changed = int((after != before).sum())
    fig.suptitle(f"FGSM on {model.name}, epsilon = {epsilon:g}: {changed} of {n} predictions changed (red); "
                 f"correct {int((before == labels[:n]).sum())} of {n} clean, {int((after == labels[:n]).sum())} "
                 "adversarial")
    return _finish(fig, path, where)
