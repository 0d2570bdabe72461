"""Losses. Both are the softmax cross-entropy computed by the C++ core from the logits (the
values before a final softmax), the stable fused form; they differ in the labels they take."""

__all__ = ["SparseCategoricalCrossentropy", "CategoricalCrossentropy", "get"]


class Loss:
    def __init__(self, label_smoothing=0.0):
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) or \
                not 0 <= label_smoothing <= 1:
            raise ValueError(f"{type(self).__name__}: argument 'label_smoothing' expected a number in [0, 1], "
                             f"got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)

    def get_config(self):
        return {"class_name": type(self).__name__, "config": {"label_smoothing": self.label_smoothing}}

    def __repr__(self):
        return f"{type(self).__name__}(label_smoothing={self.label_smoothing})"


class SparseCategoricalCrossentropy(Loss):
    """Integer class labels (N,)."""
    one_hot = False


class CategoricalCrossentropy(Loss):
    """One-hot or probability labels (N, classes), as Keras' to_categorical gives."""
    one_hot = True


_BY_NAME = {"sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
            "categorical_crossentropy": CategoricalCrossentropy}


def get(loss):
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, dict):
        cls = {c.__name__: c for c in _BY_NAME.values()}.get(loss.get("class_name"))
        if cls is None:
            raise ValueError(f"unknown loss {loss.get('class_name')!r}")
        return cls(**loss["config"])
    if isinstance(loss, str) and loss in _BY_NAME:
        return _BY_NAME[loss]()
    raise ValueError(f"compile: unknown loss {loss!r}; expected one of {', '.join(map(repr, _BY_NAME))} "
                     "or a convnet.losses.Loss")
