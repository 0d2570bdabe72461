"""Classification metrics on labels, in numpy, with scikit-learn's conventions and output.

>>> import numpy as np
>>> from convnet import metrics
>>> metrics.confusion_matrix(np.array([0, 1, 1]), np.array([0, 1, 0]))
array([[1, 0],
       [1, 1]])
>>> metrics.top_k_accuracy(np.array([0, 1]), np.array([[0.5, 0.3, 0.2], [0.6, 0.1, 0.3]]), k=2)
0.5
"""
import numbers

import numpy as np

__all__ = ["confusion_matrix", "classification_report", "precision_recall_f1", "top_k_accuracy",
           "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy"]


def _labels(values, where, name):
    """A 1-D array of non-negative integer class labels."""
    array = np.asarray(values)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{where}: argument '{name}' expected a non-empty 1-D array of class labels, got shape "
                         f"{array.shape}")
    if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
        array = array.astype(np.int64)  # whole-number floats, as labels read from a file may be
    if array.dtype.kind not in "iu":
        raise TypeError(f"{where}: argument '{name}' expected integer class labels, got dtype {array.dtype}")
    if array.min() < 0:
        raise ValueError(f"{where}: argument '{name}' expected labels >= 0, got {array.min()}")
    return array.astype(np.int64)


def _pair(y_true, y_pred, where):
    y_true, y_pred = _labels(y_true, where, "y_true"), _labels(y_pred, where, "y_pred")
    if len(y_true) != len(y_pred):
        raise ValueError(f"{where}: 'y_true' and 'y_pred' expected the same length, got {len(y_true)} and "
                         f"{len(y_pred)}")
    return y_true, y_pred


def confusion_matrix(y_true, y_pred, num_classes=None):
    """Counts (classes, classes) int64: row i, column j = samples of true class i predicted as j
    (scikit-learn's layout). num_classes: the matrix's size (default: the largest label + 1)."""
    y_true, y_pred = _pair(y_true, y_pred, "confusion_matrix")
    needed = int(max(y_true.max(), y_pred.max())) + 1
    if num_classes is None:
        num_classes = needed
    elif isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < needed:
        raise ValueError(f"confusion_matrix: argument 'num_classes' expected an int >= {needed} (the largest "
                         f"label + 1), got {num_classes!r}")
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes)


def precision_recall_f1(y_true, y_pred, num_classes=None):
    """Per class: precision = TP / predicted, recall = TP / true (support), F1 = their harmonic mean
    2 TP / (predicted + true); 0 where a denominator is 0 (scikit-learn's zero_division=0). Returns
    (precision, recall, f1, support)."""
    counts = confusion_matrix(y_true, y_pred, num_classes)
    tp, predicted, support = np.diag(counts), counts.sum(axis=0), counts.sum(axis=1)
    ratio = (lambda a, b: np.divide(a, b, out=np.zeros(len(a)), where=b > 0))
    return ratio(tp, predicted), ratio(tp, support), ratio(2 * tp, predicted + support), support


def classification_report(y_true, y_pred, class_names=None, digits=2):
    """Precision, recall, F1 and support per class, then accuracy and the macro and support-weighted
    averages: the text scikit-learn's classification_report prints for the classes present in
    y_true or y_pred. class_names: one name per class label (Fashion-MNIST's: datasets.fashion_mnist.CLASS_NAMES)."""
    y_true, y_pred = _pair(y_true, y_pred, "classification_report")
    present = np.union1d(y_true, y_pred)
    if class_names is not None:
        class_names = [str(n) for n in class_names]
        if len(class_names) <= present.max():
            raise ValueError(f"classification_report: argument 'class_names' expected a name for each label up "
                             f"to {present.max()}, got {len(class_names)} names")
    names = [class_names[c] if class_names is not None else str(c) for c in present]
    precision, recall, f1, support = (v[present] for v in precision_recall_f1(y_true, y_pred))
    width = max(len("weighted avg"), max(len(n) for n in names), digits)
    head = " " * (width + 1) + "".join(f" {h:>9}" for h in ("precision", "recall", "f1-score", "support"))
    row = (lambda name, p, r, f, s: f"{name:>{width}} " + "".join(f" {v:>9.{digits}f}" for v in (p, r, f))
           + f" {s:>9}")
    lines = [head, ""] + [row(n, p, r, f, s) for n, p, r, f, s in zip(names, precision, recall, f1, support)]
    total = int(support.sum())
    accuracy = float(np.mean(y_true == y_pred))
    lines += ["", f"{'accuracy':>{width}} " + " " * 20 + f" {accuracy:>9.{digits}f} {total:>9}"]
    lines.append(row("macro avg", precision.mean(), recall.mean(), f1.mean(), total))
    weighted = (lambda v: np.average(v, weights=support))
    lines.append(row("weighted avg", weighted(precision), weighted(recall), weighted(f1), total))
    return "\n".join(lines) + "\n"


def top_k_accuracy(y_true, scores, k=5):
    """The fraction of samples whose true class is among the k highest scores of its row (scores
    (N, classes): probabilities or logits). Equal scores rank the higher class index first, as
    scikit-learn's top_k_accuracy_score does."""
    y_true = _labels(y_true, "top_k_accuracy", "y_true")
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[0] != len(y_true) or scores.dtype.kind not in "iuf":
        raise ValueError(f"top_k_accuracy: argument 'scores' expected numbers of shape ({len(y_true)}, classes), "
                         f"got shape {scores.shape} of dtype {scores.dtype}")
    if y_true.max() >= scores.shape[1]:
        raise ValueError(f"top_k_accuracy: argument 'y_true' holds label {y_true.max()} but 'scores' has "
                         f"{scores.shape[1]} classes")
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"top_k_accuracy: argument 'k' expected an int >= 1, got {k!r}")
    true_scores = scores[np.arange(len(y_true)), y_true]
    index = np.arange(scores.shape[1])
    better = (scores > true_scores[:, None]).sum(axis=1) + (
        (scores == true_scores[:, None]) & (index > y_true[:, None])).sum(axis=1)
    return float(np.mean(better < k))


class TopKCategoricalAccuracy:
    """A compile metric (Keras'): the fraction of samples whose class is among the k highest outputs,
    ties at the k-th place counting as in; counted in the C++ step with the loss. For one-hot labels;
    SparseTopKCategoricalAccuracy is the same count for integer labels (either works with either
    here). compile(metrics=["top_k_categorical_accuracy"]) is this with k=5."""
    default_name = "top_k_categorical_accuracy"

    def __init__(self, k=5, name=None):
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"{type(self).__name__}: argument 'k' expected a positive int, got {k!r}")
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"{type(self).__name__}: argument 'name' expected a non-empty string, got {name!r}")
        self.k, self.name = int(k), name or self.default_name

    def get_config(self):
        return {"class_name": type(self).__name__, "config": {"k": self.k, "name": self.name}}

    def __repr__(self):
        return f"{type(self).__name__}(k={self.k}, name={self.name!r})"


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    """TopKCategoricalAccuracy for integer labels, logged as 'sparse_top_k_categorical_accuracy'."""
    default_name = "sparse_top_k_categorical_accuracy"


def compile_metric(metric, where="compile"):
    """compile's metric: 'accuracy' (or 'acc'), a top-k metric's name (k=5) or instance, or its config."""
    if isinstance(metric, str):
        if metric in ("accuracy", "acc"):
            return "accuracy"
        for cls in (TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy):
            if metric == cls.default_name:
                return cls()
    elif isinstance(metric, TopKCategoricalAccuracy):
        return metric
    elif isinstance(metric, dict) and metric.get("class_name") in ("TopKCategoricalAccuracy",
                                                                    "SparseTopKCategoricalAccuracy"):
        cls = TopKCategoricalAccuracy if metric["class_name"] == "TopKCategoricalAccuracy" else \
            SparseTopKCategoricalAccuracy
        return cls(**metric.get("config", {}))
    raise ValueError(f"{where}: unknown metric {metric!r}; expected 'accuracy', 'top_k_categorical_accuracy', "
                     "'sparse_top_k_categorical_accuracy' or a convnet.metrics.TopKCategoricalAccuracy(k)")
