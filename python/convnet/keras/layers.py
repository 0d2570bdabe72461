"""keras.layers: convnet's layers with Keras' defaults. Every layer that takes a data_format defaults
to 'channels_last' here; Concatenate and BatchNormalization to axis=-1; Input to (H, W, C) images.
The classes are subclasses of convnet.layers' own (isinstance holds, model files name the base
class and record the data_format, so either namespace loads them)."""
from .. import layers as _native
from ..layers import *  # noqa: F401,F403  (the layers without a layout default are convnet's own)
from ..layers import __all__ as _names


def _keras_default(cls, **defaults):
    """cls with other keyword defaults: the same class name, config and weights."""
    def __init__(self, *args, **kwargs):
        for key, value in defaults.items():
            kwargs.setdefault(key, value)
        cls.__init__(self, *args, **kwargs)

    doc = f"{cls.__doc__ or ''}\n\n    convnet.keras: defaults {defaults}."
    return type(cls.__name__, (cls,), {"__init__": __init__, "__doc__": doc, "__module__": __name__,
                                       "__qualname__": cls.__name__})


def _channels_last(cls):
    return _keras_default(cls, data_format="channels_last")


_defaults = {}
for _name in _names:
    _cls = getattr(_native, _name)
    if isinstance(_cls, type) and issubclass(_cls, _native._Spatial) and _cls.__name__ == _name:
        _defaults[_name] = _channels_last(_cls)
_defaults["Concatenate"] = _keras_default(_native.Concatenate, axis=-1)
_defaults["BatchNormalization"] = _keras_default(_native.BatchNormalization, axis=-1)
_defaults["InputLayer"] = _channels_last(_native.InputLayer)
globals().update(_defaults)
# Aliases of a class share its Keras version (MaxPool2D is MaxPooling2D).
for _name in _names:
    _cls = getattr(_native, _name)
    if isinstance(_cls, type) and _cls.__name__ in _defaults and _name not in _defaults:
        globals()[_name] = _defaults[_cls.__name__]


def Input(shape=None, batch_size=None, dtype=None, name=None):
    """keras.Input: a symbolic input of per-sample `shape`, (H, W, C) for images (channels-last).
    batch_size is accepted and ignored (every convnet model takes any batch size); dtype float32 only."""
    if shape is None:
        raise ValueError("Input: argument 'shape' expected the per-sample shape, e.g. (28, 28, 1), got None")
    if dtype not in (None, "float32"):
        raise ValueError(f"Input: argument 'dtype' expected None or 'float32' (convnet computes in float32), got "
                         f"{dtype!r}")
    return _native.Input(shape, name=name, data_format="channels_last")


def concatenate(inputs, axis=-1, **kwargs):
    """keras.layers.concatenate: Concatenate(axis=-1, the channel axis of channels-last images)."""
    return _defaults["Concatenate"](axis=axis, **kwargs)(inputs)


__all__ = list(_names)
del _name, _cls
