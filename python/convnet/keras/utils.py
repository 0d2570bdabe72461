"""keras.utils: to_categorical."""
import numpy as np

__all__ = ["to_categorical"]


def to_categorical(x, num_classes=None):
    """One-hot float32 rows of integer class labels (Keras'): (N,) or (N, 1) -> (N, num_classes),
    num_classes defaulting to max(x) + 1."""
    labels = np.asarray(x)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or labels.dtype.kind not in "iuf" or (labels.dtype.kind == "f" and
                                                              not np.all(labels == np.round(labels))):
        raise ValueError(f"to_categorical: argument 'x' expected integer class labels of shape (N,) or (N, 1), got "
                         f"dtype {labels.dtype} and shape {labels.shape}")
    labels = labels.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(f"to_categorical: argument 'x' expected labels >= 0, got {labels.min()}")
    top = int(labels.max()) + 1 if labels.size else 0
    if num_classes is None:
        num_classes = top
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < top:
        raise ValueError(f"to_categorical: argument 'num_classes' expected an int > the largest label {top - 1}, got "
                         f"{num_classes!r}")
    out = np.zeros((len(labels), int(num_classes)), dtype=np.float32)
    out[np.arange(len(labels)), labels] = 1.0
    return out
