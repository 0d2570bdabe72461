"""A trained model's report as one self-contained HTML page with its PNGs beside it (DIR/index.html):
the summary with receptive fields, the training curves, test accuracy, the confusion matrix and
classification report, the first convolution's filters, feature maps, saliency, a receptive field, and
an FGSM/PGD robustness table. `convnet report MODEL --out DIR` and `convnet train --report DIR` write it.

>>> report.write(model, x_test, y_test, "report")      # doctest: +SKIP
'report/index.html'
"""
import datetime
import html
import os

import numpy as np

from . import attacks, layers as L, metrics, plot
from .datasets import fashion_mnist
from .serialization import as_path, atomic_write_bytes

__all__ = ["write", "robustness_table"]

_STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.85em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .8em;text-align:right}
img{max-width:100%;display:block;margin:.6em 0}.note{color:#666;font-size:.9em}"""


def robustness_table(model, x, y, epsilons, methods=("fgsm", "pgd"), steps=10, seed=0):
    """{method: {epsilon: accuracy}} on (x, y), and its text table (one row per epsilon)."""
    table = {m: attacks.robustness(model, x, y, epsilons, method=m, **({"steps": steps, "seed": seed}
                                                                        if m == "pgd" else {}))
             for m in methods}
    head = f"{'epsilon':>8}" + "".join(f"{m.upper() + ' accuracy':>16}" for m in methods)
    rows = [f"{eps:>8g}" + "".join(f"{table[m][eps]:>16.4f}" for m in methods) for eps in epsilons]
    return table, "\n".join([head] + rows)


def _spatial_layers(model):
    """The model's top-level layers whose units see part of the image (conv and pool outputs)."""
    return [layer for layer in model.layers if not model.receptive_field(layer).is_global
            and layer.receptive is not None]


def _section(title, *parts):
    return f"<h2>{html.escape(title)}</h2>\n" + "\n".join(parts)


def _image(name, alt):
    return f'<img src="{html.escape(name)}" alt="{html.escape(alt)}">'


def _pre(text):
    return f"<pre>{html.escape(text)}</pre>"


def write(model, x, y, out, class_names=None, images=4, epsilons=(0.05, 0.1), attack_limit=1000, pgd_steps=10,
          title=None):
    """Writes out/index.html and its PNGs for `model` (compiled, a classifier) on the test set (x, y) and
    returns the page's path. images: how many test images the saliency and feature-map figures show;
    epsilons, attack_limit, pgd_steps: the robustness table's attacks, on the first attack_limit images."""
    out = as_path(out, "report.write", "out")
    os.makedirs(out, exist_ok=True)
    names = list(class_names) if class_names is not None else list(fashion_mnist.CLASS_NAMES)
    summary = []
    model.summary(print_fn=summary.append)
    loss, accuracy = model.evaluate(x, y)
    predicted = np.argmax(model.predict(x), axis=1)
    sections = [_section("Summary", _pre("\n".join(summary)),
                         '<p class="note">Receptive field: the input window one unit of the layer sees; stride: '
                         "the input distance between neighbouring units.</p>")]
    if model.history is not None and model.history.epoch:
        plot.history(model.history, os.path.join(out, "history.png"))
        sections.append(_section("Training curves", _image("history.png", "loss and accuracy per epoch")))
    sections.append(_section(
        "Test set", f"<p>{len(x)} images: loss {loss:.4f}, accuracy <b>{accuracy:.4f}</b>.</p>",
        _image("confusion_matrix.png", "confusion matrix"),
        _pre(metrics.classification_report(y, predicted, names[:int(max(np.max(y), predicted.max())) + 1]))))
    plot.confusion_matrix(model, x, y, os.path.join(out, "confusion_matrix.png"), class_names=names)
    sections += _inside(model, x, y, out, images)
    sections.append(_robustness(model, x[:attack_limit], y[:attack_limit], out, epsilons, pgd_steps))
    heading = title or f"convnet report: {model.name}"
    page = (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(heading)}</title>"
            f"<style>{_STYLE}</style></head><body>\n<h1>{html.escape(heading)}</h1>\n"
            f'<p class="note">Written {datetime.datetime.now().isoformat(timespec="seconds")} by convnet.</p>\n'
            + "\n".join(sections) + "\n</body></html>\n")
    path = os.path.join(out, "index.html")
    atomic_write_bytes(path, page.encode(), where="report.write")
    return path


def _inside(model, x, y, out, images):
    """Filters, feature maps, a receptive field and saliency maps."""
    sections = []
    convs = [layer for layer in model.layers if isinstance(layer, L.Conv2D)]
    if convs:
        plot.filters(convs[0], os.path.join(out, "filters.png"))
        sections.append(_section(f"Filters of {convs[0].name}", _image("filters.png", "first conv filters")))
    spatial = _spatial_layers(model)
    if spatial:
        parts = []
        for layer in spatial[:2]:
            name = f"feature_maps_{layer.name}.png"
            plot.feature_maps(model, x[0], layer, os.path.join(out, name))
            parts.append(_image(name, f"feature maps of {layer.name}"))
        field = model.receptive_field(spatial[-1])
        plot.receptive_field(model, spatial[-1], os.path.join(out, "receptive_field.png"), image=x[0])
        parts.append(_section(f"Receptive field of {spatial[-1].name}",
                              f"<p>Each unit sees {field.size[0]}x{field.size[1]} input pixels; neighbouring "
                              f"units are {field.stride[0]}x{field.stride[1]} pixels apart.</p>",
                              _image("receptive_field.png", "receptive field")))
        sections.append(_section("Feature maps (test image 0)", *parts))
    plot.saliency(model, x[:images], y[:images], os.path.join(out, "saliency.png"))
    sections.append(_section("Saliency", "<p>|d loss / d input| for the first test images: the pixels whose "
                             "change moves the loss most.</p>", _image("saliency.png", "saliency maps")))
    return sections


def _robustness(model, x, y, out, epsilons, pgd_steps):
    table, _ = robustness_table(model, x, y, epsilons, steps=pgd_steps)
    rows = "".join(f"<tr><td>{eps:g}</td>" + "".join(f"<td>{table[m][eps]:.4f}</td>" for m in table) + "</tr>"
                   for eps in epsilons)
    plot.adversarial(model, x[:4], y[:4], os.path.join(out, "adversarial.png"), max(epsilons))
    return _section(
        "Adversarial robustness",
        f"<p>Accuracy on the first {len(x)} test images under L-infinity attacks of size epsilon (pixels in "
        f"[0, 1]): FGSM (one signed-gradient step) and PGD ({pgd_steps} steps, random start).</p>",
        "<table><tr><th>epsilon</th>" + "".join(f"<th>{m.upper()}</th>" for m in table) + f"</tr>{rows}</table>",
        _image("adversarial.png", f"FGSM examples at epsilon {max(epsilons):g}"))
