"""Weight initializers (Keras' names and formulas), drawn with numpy from a seeded generator.

fan_in / fan_out follow Keras for PyTorch's layouts: a conv kernel (out, in/groups, kh, kw) has
fan_in = in/groups * kh * kw and fan_out = out * kh * kw; a dense kernel (out, in) has fan_in = in
and fan_out = out.
"""
import numpy as np

__all__ = ["get", "he_uniform", "he_normal", "glorot_uniform", "glorot_normal", "zeros", "ones", "NAMES"]


def _fans(shape):
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def he_uniform(shape, rng):
    limit = np.sqrt(6.0 / _fans(shape)[0])
    return rng.uniform(-limit, limit, size=shape)


def he_normal(shape, rng):
    # Keras: a normal truncated at two standard deviations, stddev sqrt(2 / fan_in)
    return _truncated_normal(shape, np.sqrt(2.0 / _fans(shape)[0]), rng)


def glorot_uniform(shape, rng):
    fan_in, fan_out = _fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def glorot_normal(shape, rng):
    fan_in, fan_out = _fans(shape)
    return _truncated_normal(shape, np.sqrt(2.0 / (fan_in + fan_out)), rng)


def zeros(shape, rng):
    return np.zeros(shape)


def ones(shape, rng):
    return np.ones(shape)


def _truncated_normal(shape, stddev, rng):
    # The standard deviation of N(0, 1) truncated to [-2, 2] is 0.87962566; rescale so the draw has `stddev`.
    values = rng.standard_normal(size=shape)
    bad = np.abs(values) > 2
    while bad.any():
        values[bad] = rng.standard_normal(size=int(bad.sum()))
        bad = np.abs(values) > 2
    return values * (stddev / 0.87962566103423978)


_BY_NAME = {f.__name__: f for f in (he_uniform, he_normal, glorot_uniform, glorot_normal, zeros, ones)}
NAMES = tuple(_BY_NAME)


def get(name, where="initializer"):
    """The initializer called `name` (or a callable(shape, rng) returned as is)."""
    if callable(name):
        return name
    if not isinstance(name, str) or name not in _BY_NAME:
        raise ValueError(f"{where}: unknown initializer {name!r}; expected one of {', '.join(NAMES)}")
    return _BY_NAME[name]
