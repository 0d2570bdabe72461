"""Optimizers: Keras' names and defaults, PyTorch's update rules (torch.optim), run by the fused
update kernels of the C++ core over the model's flat parameter buffer."""

import math
import numbers

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "get"]


def _check(name, value, low=0.0, high=None, low_open=False, where="optimizer"):
    """`value` as a float after checking it is a finite number in the range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: argument '{name}' expected a number, got {value!r}")
    value = float(value)
    ok = math.isfinite(value) and (value > low if low_open else value >= low) and (high is None or value < high)
    if not ok:
        bound = f"{'>' if low_open else '>='} {low}" + (f" and < {high}" if high is not None else "")
        raise ValueError(f"{where}: argument '{name}' expected a finite value {bound}, got {value!r}")
    return value


def checked_learning_rate(value, where):
    return _check("learning_rate", value, where=where)


class Optimizer:
    kind = None

    def __init__(self, learning_rate):
        self.learning_rate = checked_learning_rate(learning_rate, type(self).__name__)

    def _settings(self):
        """Keyword arguments of the C++ Graph.set_optimizer."""
        raise NotImplementedError

    def get_config(self):
        return {"class_name": type(self).__name__, "config": dict(self.__dict__)}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay."""
    kind = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(learning_rate)
        self.momentum = _check("momentum", momentum, where="SGD")
        self.nesterov = bool(nesterov)
        self.weight_decay = _check("weight_decay", weight_decay, where="SGD")
        if self.nesterov and self.momentum == 0:
            raise ValueError("SGD: argument 'nesterov' needs momentum > 0, got momentum=0")

    def _settings(self):
        return dict(momentum=self.momentum, nesterov=self.nesterov, weight_decay=self.weight_decay)


class Adam(Optimizer):
    kind = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=0.0):
        super().__init__(learning_rate)
        where = type(self).__name__
        self.beta_1 = _check("beta_1", beta_1, 0.0, 1.0, where=where)
        self.beta_2 = _check("beta_2", beta_2, 0.0, 1.0, where=where)
        self.epsilon = _check("epsilon", epsilon, low_open=True, where=where)
        self.weight_decay = _check("weight_decay", weight_decay, where=where)

    def _settings(self):
        return dict(beta1=self.beta_1, beta2=self.beta_2, eps=self.epsilon, weight_decay=self.weight_decay)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), PyTorch's AdamW."""
    kind = "adamw"

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay)


class RMSprop(Optimizer):
    kind = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, weight_decay=0.0):
        super().__init__(learning_rate)
        self.rho = _check("rho", rho, 0.0, 1.0, where="RMSprop")
        self.momentum = _check("momentum", momentum, where="RMSprop")
        self.epsilon = _check("epsilon", epsilon, low_open=True, where="RMSprop")
        self.centered = bool(centered)
        self.weight_decay = _check("weight_decay", weight_decay, where="RMSprop")

    def _settings(self):
        return dict(rho=self.rho, momentum=self.momentum, eps=self.epsilon, centered=self.centered,
                    weight_decay=self.weight_decay)


_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}


def get(optimizer):
    """An optimizer from a name ('adam', 'sgd', 'rmsprop', 'adamw'), an Optimizer, or a saved config."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, dict):
        cls = {c.__name__: c for c in _BY_NAME.values()}.get(optimizer.get("class_name"))
        if cls is None:
            raise ValueError(f"unknown optimizer {optimizer.get('class_name')!r}")
        return cls(**optimizer.get("config", {}))  # as losses.get: a config without one takes the defaults
    if isinstance(optimizer, str) and optimizer.lower() in _BY_NAME:
        return _BY_NAME[optimizer.lower()]()
    raise ValueError(f"compile: unknown optimizer {optimizer!r}; expected one of "
                     f"{', '.join(map(repr, _BY_NAME))} or a convnet.optimizers.Optimizer")
