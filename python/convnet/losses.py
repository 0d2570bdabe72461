"""Losses, computed by the C++ core inside the training step (Keras' names and semantics).

- SparseCategoricalCrossentropy (integer labels) and CategoricalCrossentropy (one-hot or probability
  rows): softmax cross-entropy. The output must end in softmax (the loss then reads the values
  before it, the stable fused form) or, with from_logits=True, be the logits itself (no activation).
- BinaryCrossentropy: labels 0/1 (or probabilities) for one output unit that ends in sigmoid, or
  that is a logit (from_logits=True).
- MeanSquaredError: float targets shaped like the output (any activation, any shape).

An output the loss does not fit (cross-entropy after relu or sigmoid, from_logits=True after softmax)
is an error at compile. A Loss subclass with arithmetic of its own cannot run in C++ and is refused
at compile too; a subclass that only changes the defaults of a built-in loss is fine.

>>> from convnet import losses
>>> losses.get("binary_crossentropy")
BinaryCrossentropy(from_logits=False, label_smoothing=0.0)
"""

__all__ = ["Loss", "SparseCategoricalCrossentropy", "CategoricalCrossentropy", "BinaryCrossentropy",
           "MeanSquaredError", "get"]


def _check_smoothing(value, where):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{where}: argument 'label_smoothing' expected a number in [0, 1], got {value!r}")
    return float(value)


class Loss:
    """The base of the built-in losses. `kind` names the C++ loss; `targets` the label format:
    'classes' (N,) ints, 'one_hot' (N, classes) rows, 'binary' (N,) or (N, 1) values in [0, 1],
    'values' floats shaped like the output."""
    kind = None
    targets = None

    def __init__(self, from_logits=False, label_smoothing=0.0):
        if not isinstance(from_logits, bool):
            raise TypeError(f"{type(self).__name__}: argument 'from_logits' expected True or False, got {from_logits!r}")
        self.from_logits = from_logits
        self.label_smoothing = _check_smoothing(label_smoothing, type(self).__name__)

    def get_config(self):
        return {"class_name": self._builtin().__name__,
                "config": {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing}}

    @classmethod
    def _builtin(cls):
        """The built-in loss class this one is (itself or the built-in it derives from)."""
        return next(c for c in cls.__mro__ if c in _BUILTIN)

    def __repr__(self):
        return f"{type(self).__name__}(from_logits={self.from_logits}, label_smoothing={self.label_smoothing})"


class SparseCategoricalCrossentropy(Loss):
    """Integer class labels (N,)."""
    kind, targets = "cross_entropy", "classes"


class CategoricalCrossentropy(Loss):
    """One-hot or probability labels (N, classes), as Keras' to_categorical gives."""
    kind, targets = "cross_entropy", "one_hot"


class BinaryCrossentropy(Loss):
    """Labels in [0, 1] for a single output unit; label smoothing pulls them towards 1/2 (Keras)."""
    kind, targets = "binary_cross_entropy", "binary"


class MeanSquaredError(Loss):
    """The mean of (output - target)^2 over every value of the batch."""
    kind, targets = "mean_squared_error", "values"

    def __init__(self):
        super().__init__()

    def get_config(self):
        return {"class_name": "MeanSquaredError", "config": {}}

    def __repr__(self):
        return "MeanSquaredError()"


_BUILTIN = (SparseCategoricalCrossentropy, CategoricalCrossentropy, BinaryCrossentropy, MeanSquaredError)
_BY_NAME = {"sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
            "categorical_crossentropy": CategoricalCrossentropy,
            "binary_crossentropy": BinaryCrossentropy,
            "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError}


def _check_runnable(loss):
    """A Loss the C++ core runs: a built-in, or a subclass that adds no arithmetic of its own."""
    cls = type(loss)
    custom = [name for name in ("call", "__call__") if any(name in vars(c) for c in cls.__mro__[:-1])]
    if not issubclass(cls, _BUILTIN) or custom:
        what = f"defines {custom[0]}()" if custom else "is not one of the built-in losses"
        raise TypeError(f"compile: loss {cls.__name__} {what}; convnet computes its losses in C++ inside the "
                        "training step, so a loss must be one of " + ", ".join(c.__name__ for c in _BUILTIN)
                        + " (or a subclass that only sets their arguments: from_logits, label_smoothing)")
    return loss


def get(loss):
    """A Loss from a Loss, its name, or its saved config."""
    if isinstance(loss, Loss):
        return _check_runnable(loss)
    if isinstance(loss, type) and issubclass(loss, Loss):
        raise TypeError(f"compile: argument 'loss' expected a loss object or name, got the class {loss.__name__} "
                        f"(write {loss.__name__}())")
    if isinstance(loss, dict):
        cls = {c.__name__: c for c in _BUILTIN}.get(loss.get("class_name"))
        if cls is None:
            raise ValueError(f"unknown loss {loss.get('class_name')!r}")
        return cls(**loss.get("config", {}))
    if isinstance(loss, str) and loss in _BY_NAME:
        return _BY_NAME[loss]()
    raise ValueError(f"compile: unknown loss {loss!r}; expected one of {', '.join(map(repr, _BY_NAME))} "
                     "or a convnet.losses.Loss")
