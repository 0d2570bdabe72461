"""Adversarial examples: inputs changed by at most epsilon per value (the L-infinity ball) in the
direction that raises the model's loss most.

- FGSM, the fast gradient sign method (Goodfellow, Shlens and Szegedy, "Explaining and Harnessing
  Adversarial Examples", ICLR 2015): one step, x_adv = clip(x + epsilon * sign(d loss / d x)).
- PGD, projected gradient descent (Madry et al., "Towards Deep Learning Models Resistant to
  Adversarial Attacks", ICLR 2018): from a random point of the ball, `steps` steps of size alpha
  along the gradient's sign, each projected back into the ball around x and into the input range.
- robustness(): the model's accuracy on the examples of one attack, per epsilon.
- Adversarial training (Madry et al.): `model.fit(..., adversarial=dict(epsilon=0.1, method="fgsm"))`
  trains each step on adversarial examples of its batch, made against the current weights.

>>> import convnet, numpy as np
>>> from convnet import attacks
>>> model = convnet.zoo.seed_cnn()
>>> model.compile(metrics=["accuracy"], device="cpu")
>>> x = np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8)
>>> y = np.array([0, 1, 2, 3])
>>> x_adv = attacks.fgsm(model, x, y, epsilon=0.1)      # float32 in [0, 1], shaped like x
>>> x_adv.shape, x_adv.dtype, bool(np.abs(x_adv - x / np.float32(255)).max() <= 0.1 + 1e-6)
((4, 28, 28), dtype('float32'), True)
>>> sorted(attacks.robustness(model, x, y, [0, 0.1]))   # {epsilon: accuracy}
[0.0, 0.1]

Every value is in the model's input scale: uint8 images are the model's pixels / 255 (what it sees),
so epsilon 0.1 is about 25 grey levels, and the results are float32 arrays in [0, 1], shaped like x;
float images are taken as they are (pass their range as `clip`, or clip=None). The gradients are the
model's `input_gradients` (the C++ backward pass on the model's device, in inference mode: dropout
off, batch norm on its running statistics), one batched call per step over the whole array, each
chunk of `batch_size` rows the gradient of its own mean loss (only the sign is used, and no further
scaling can round a small gradient to 0). Where a value's gradient is exactly 0 its sign is 0 (as
torch.sign): FGSM leaves that value as it is, and a sample whose loss is flat (a saturated output)
keeps its clean value or PGD's random start.
"""
import math
import numbers

import numpy as np

from . import _core
from .models import Model, _Totals, _check_int, _chunks, _next_seed, _type_name

__all__ = ["fgsm", "pgd", "robustness"]

_METHODS = ("fgsm", "pgd")
_FLOAT32_MAX = float(np.finfo(np.float32).max)  # epsilon and alpha are applied in float32


def fgsm(model, x, y, epsilon, clip=(0.0, 1.0), batch_size=256):
    """The fast gradient sign method: clip(x + epsilon * sign(d loss / d x), *clip) for the compiled
    loss of `model`, as a float32 array shaped like x (in the model's input scale: uint8 pixels / 255).
    y: the targets of the compiled loss (the true labels); epsilon: the L-infinity radius, >= 0;
    clip: (low, high), the range of valid inputs, or None (no clipping)."""
    where = "fgsm"
    _check_model(model, where)
    epsilon = _check_epsilon(epsilon, where)
    low, high = _check_clip(clip, where)
    batch_size = _check_int("batch_size", batch_size, 1, where)
    shape, x0, y = _inputs(model, x, y, low, high, where)
    return _perturb(model, x0, y, epsilon, epsilon, 1, None, low, high, batch_size).reshape(shape)


def pgd(model, x, y, epsilon, alpha=None, steps=10, random_start=True, seed=None, clip=(0.0, 1.0), batch_size=256):
    """Projected gradient descent (Madry et al. 2018) in the L-infinity ball of radius epsilon around x:
    from x plus uniform noise in [-epsilon, epsilon] (random_start=True; x itself otherwise), `steps`
    times x_adv = project(x_adv + alpha * sign(d loss / d x_adv)), where project clips to
    [x - epsilon, x + epsilon] and to `clip`. alpha: the step, > 0; None gives Madry et al.'s
    2.5 * epsilon / steps. seed: the random start's seed (an int >= 0); None draws one from convnet's
    seed source, so convnet.set_random_seed makes runs repeat. Returns a float32 array shaped like x,
    in the model's input scale."""
    where = "pgd"
    _check_model(model, where)
    epsilon = _check_epsilon(epsilon, where)
    alpha, steps, random_start = _pgd_options(alpha, steps, random_start, where)
    seed = _seed(seed, random_start, where)
    low, high = _check_clip(clip, where)
    batch_size = _check_int("batch_size", batch_size, 1, where)
    shape, x0, y = _inputs(model, x, y, low, high, where)
    rng = np.random.default_rng(seed) if random_start else None
    alpha = _step(alpha, epsilon, steps)
    return _perturb(model, x0, y, epsilon, alpha, steps, rng, low, high, batch_size).reshape(shape)


def robustness(model, x, y, epsilons, method="fgsm", batch_size=256, **kwargs):
    """{epsilon: accuracy}: model.evaluate's accuracy on the examples that `method` ('fgsm' or 'pgd')
    makes from (x, y) at each epsilon, in the order given (a repeated epsilon is one entry; keys are
    floats). Epsilon 0 is the clean accuracy (no attack run). kwargs go to the attack (fgsm: clip;
    pgd: alpha, steps, random_start, seed, clip), with the same defaults; PGD starts from the same
    random draw (one seed) at every epsilon. The model needs a classification loss (the accuracy
    metric's)."""
    where = "robustness"
    _check_model(model, where)
    if not model._has_accuracy:
        raise ValueError(f"robustness: the model's loss ({type(model._loss).__name__}) has no accuracy; "
                         "robustness needs a classification loss")
    if method not in _METHODS:
        raise ValueError(f"robustness: argument 'method' expected 'fgsm' or 'pgd', got {method!r}")
    allowed = ("clip",) if method == "fgsm" else ("alpha", "steps", "random_start", "seed", "clip")
    for key in kwargs:
        if key not in allowed:
            raise TypeError(f"robustness: unknown argument {key!r} for method {method!r}; it takes "
                            f"{', '.join(allowed)}")
    if isinstance(epsilons, (str, bytes)) or not hasattr(epsilons, "__iter__"):
        raise TypeError(f"robustness: argument 'epsilons' expected a list of numbers, got {_type_name(epsilons)}")
    epsilons = [_check_epsilon(e, where, "argument 'epsilons'") for e in epsilons]
    if not epsilons:
        raise ValueError("robustness: argument 'epsilons' expected at least one epsilon, got none")
    alpha, steps, random_start = None, 1, False
    if method == "pgd":
        alpha, steps, random_start = _pgd_options(kwargs.get("alpha"), kwargs.get("steps", 10),
                                                  kwargs.get("random_start", True), where)
    seed = _seed(kwargs.get("seed"), random_start, where)
    low, high = _check_clip(kwargs.get("clip", (0.0, 1.0)), where)
    batch_size = _check_int("batch_size", batch_size, 1, where)
    _, x0, y = _inputs(model, x, y, low, high, where)
    result = {}
    for epsilon in epsilons:
        if epsilon not in result:
            rng = np.random.default_rng(seed) if random_start else None
            adv = _perturb(model, x0, y, epsilon, _step(alpha, epsilon, steps, method), steps, rng, low, high,
                           batch_size)
            result[epsilon] = float(model.evaluate(adv, y, batch_size=batch_size)[1])
    return result


# -- adversarial training (Model.fit(..., adversarial=...)) ---------------------------------------------
_TRAINING_KEYS = {"fgsm": ("epsilon", "method", "clip"),
                  "pgd": ("epsilon", "method", "alpha", "steps", "random_start", "clip")}


class _TrainingAttack:
    """A checked `adversarial` argument of fit: the attack that replaces each training batch."""

    def __init__(self, spec, where):
        if not isinstance(spec, dict):
            raise TypeError(f"{where}: argument 'adversarial' expected a dict such as dict(epsilon=0.1, "
                            f"method='fgsm'), got {_type_name(spec)}")
        method = spec.get("method", "fgsm")
        if method not in _METHODS:
            raise ValueError(f"{where}: argument 'adversarial' entry 'method' expected 'fgsm' or 'pgd', got {method!r}")
        for key in spec:
            if key not in _TRAINING_KEYS[method]:
                raise ValueError(f"{where}: argument 'adversarial' has an unknown key {key!r} for method {method!r}; "
                                 f"expected {', '.join(_TRAINING_KEYS[method])}")
        if "epsilon" not in spec:
            raise ValueError(f"{where}: argument 'adversarial' expected an 'epsilon' entry, got keys {sorted(spec)}")

        def arg(key):
            return f"argument 'adversarial' entry '{key}'"
        self.method = method
        self.epsilon = _check_epsilon(spec["epsilon"], where, arg("epsilon"))
        alpha, self.steps, self.random_start = None, 1, False
        if method == "pgd":
            alpha, self.steps, self.random_start = _pgd_options(spec.get("alpha"), spec.get("steps", 10),
                                                                spec.get("random_start", True), where, arg)
        self.alpha = _step(alpha, self.epsilon, self.steps, method)
        self.low, self.high = _check_clip(spec.get("clip", (0.0, 1.0)), where, arg("clip"))
        self.where = where

    def steps_function(self, model, x, y, seed):
        """A function with Graph.train_steps' arguments and result fields that trains each step on the
        attack's examples of its batch (x, y: fit's checked numpy arrays; the batches follow `order`)."""
        _check_range(x, self.low, self.high, self.where, "x", "argument 'adversarial' entry 'clip'")
        rng = np.random.default_rng(seed)
        rows = {}  # the order tensor of the current epoch, as numpy (read once per epoch)
        buffers = {}  # rows -> (x, y, order) on the model's device, reused: a GPU step keeps its CUDA graph

        def train_steps(tx, ty, order, first, count, batch_size):
            if rows.get("order") is not order:
                rows["order"], rows["rows"] = order, order.numpy()
            total = _Totals()
            for step in range(first, first + count):
                idx = rows["rows"][step * batch_size:(step + 1) * batch_size]
                adv = _perturb(model, _scaled(x[idx]), y[idx], self.epsilon, self.alpha, self.steps,
                               rng if self.random_start else None, self.low, self.high, batch_size)
                n = len(idx)
                if n not in buffers:
                    host = np.zeros_like(adv), np.zeros_like(y[idx]), np.arange(n, dtype=np.int64)
                    buffers[n] = tuple(model._tensor(a) for a in host) + (host,)  # (on the CPU: views of host)
                bx, by, in_order, _ = buffers[n]
                bx.copy_(adv)
                by.copy_(y[idx])
                s = model._graph.train_steps(bx, by, in_order, 0, 1, n)
                if s.nonfinite_step >= 0:
                    total.nonfinite_step = step - first
                    return total
                total.add(s)
            return total
        return train_steps


def _training_attack(adversarial, where="fit"):
    """fit's `adversarial` argument checked: None or a _TrainingAttack."""
    return None if adversarial is None else _TrainingAttack(adversarial, where)


# -- the attack itself ----------------------------------------------------------------------------------
def _perturb(model, x0, y, epsilon, alpha, steps, rng, low, high, batch_size):
    """`steps` signed-gradient steps of size alpha from x0 (float32, the model's input shape) or, with
    an rng, from a uniform random point of the epsilon ball, each projected into the ball and [low, high]."""
    if epsilon == 0:
        return x0.copy()
    ball_low = x0 - np.float32(epsilon)
    ball_high = x0 + np.float32(epsilon)
    if low is not None:
        np.maximum(ball_low, np.float32(low), out=ball_low)
        np.minimum(ball_high, np.float32(high), out=ball_high)
    x = x0.copy()
    if rng is not None:
        x += rng.uniform(-epsilon, epsilon, x0.shape).astype(np.float32)
        np.clip(x, ball_low, ball_high, out=x)
    for _ in range(steps):
        x += np.float32(alpha) * np.sign(_gradients(model, x, y, batch_size))
        np.clip(x, ball_low, ball_high, out=x)
    return x


def _step(alpha, epsilon, steps, method="pgd"):
    """The step size: alpha, or by default epsilon for FGSM (its one step) and 2.5 * epsilon / steps
    for PGD (Madry et al.: enough to cross the ball and back)."""
    if alpha is not None:
        return alpha
    return epsilon if method == "fgsm" else 2.5 * epsilon / steps


def _gradients(model, x, y, batch_size):
    """d(loss)/d(x), each chunk of rows the gradient of its own mean (so only 1/batch_size scales it)."""
    if len(x) <= batch_size:
        return model.input_gradients(x, y, batch_size)
    return np.concatenate([model.input_gradients(x[part], y[part], batch_size)
                           for part in _chunks(len(x), batch_size)])


def _scaled(x):
    """Images as the model sees them: uint8 pixels * (1/255) in float32, as the C++ batch gather scales them."""
    return x.astype(np.float32) * np.float32(1.0 / 255.0) if x.dtype == np.uint8 else np.array(x, np.float32)


# -- argument checks ------------------------------------------------------------------------------------
def _check_model(model, where):
    if not isinstance(model, Model):
        raise TypeError(f"{where}: argument 'model' expected a convnet Model, got {_type_name(model)}")
    if model._loss is None:
        raise RuntimeError(f"{where}: model {model.name!r} is not compiled; call model.compile() first "
                           "(the attack follows the gradient of its loss)")


def _inputs(model, x, y, low, high, where):
    """(x's shape, x as float32 in the model's input scale and shape, y as the loss's targets), checked."""
    shape = tuple(x.shape) if isinstance(x, _core.Tensor) else None
    images = model._images(x, where)
    shape = np.shape(x) if shape is None else shape
    targets = model._targets(y, len(images), where)
    _check_range(images, low, high, where, "x", "argument 'clip'")
    return shape, _scaled(images), targets


def _check_range(images, low, high, where, name, clip_name):
    """Refuses images outside [low, high], where the result could not be both clipped and within epsilon."""
    if low is None or images.dtype == np.uint8 and low <= 0 and high >= 1:
        return
    lo, hi = (float(images.min()), float(images.max())) if images.dtype != np.uint8 else \
        (float(images.min()) / 255, float(images.max()) / 255)
    if lo < low or hi > high:
        raise ValueError(f"{where}: argument '{name}' expected values in [{low:g}, {high:g}] ({clip_name}), got "
                         f"values in [{lo:g}, {hi:g}]; pass the inputs' range as clip, or clip=None")


def _argument(key):
    return f"argument '{key}'"


def _pgd_options(alpha, steps, random_start, where, arg=_argument):
    """PGD's (alpha or None, steps, random_start), checked; arg(key) names an entry in the messages."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise TypeError(f"{where}: {arg('steps')} expected an int >= 1, got {steps!r}")
    if steps < 1:
        raise ValueError(f"{where}: {arg('steps')} expected an int >= 1, got {steps!r}")
    alpha = None if alpha is None else _check_alpha(alpha, where, arg("alpha"))
    return alpha, int(steps), _check_bool(random_start, where, arg("random_start"))


def _seed(seed, random_start, where):
    """The random start's seed, checked; None draws one from convnet's seed source only where it is used."""
    if seed is not None:
        return _check_int("seed", seed, 0, where)
    return _next_seed() if random_start else None


def _check_number(value, where, arg):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {arg} expected a finite number, got {value!r} ({_type_name(value)})")
    return float(value)


def _check_epsilon(value, where, arg="argument 'epsilon'"):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {arg} expected a finite number >= 0, got {value!r} ({_type_name(value)})")
    if not math.isfinite(value) or not 0 <= value <= _FLOAT32_MAX:
        raise ValueError(f"{where}: {arg} expected a finite number >= 0, got {value!r}"
                         + (" (beyond float32's range)" if math.isfinite(value) and value > 0 else ""))
    return float(value)


def _check_alpha(value, where, arg="argument 'alpha'"):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {arg} expected a finite number > 0 (or None), got {value!r} ({_type_name(value)})")
    if not math.isfinite(value) or not 0 < value <= _FLOAT32_MAX:
        raise ValueError(f"{where}: {arg} expected a finite number > 0 (or None), got {value!r}"
                         + (" (beyond float32's range)" if math.isfinite(value) and value > 0 else ""))
    return float(value)


def _check_bool(value, where, arg):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {arg} expected True or False, got {value!r}")
    return bool(value)


def _check_clip(clip, where, arg="argument 'clip'"):
    """(low, high) or (None, None) for clip=None."""
    if clip is None:
        return None, None
    if not isinstance(clip, (tuple, list)) or len(clip) != 2:
        raise TypeError(f"{where}: {arg} expected a (low, high) pair or None, got {clip!r}")
    low, high = (_check_number(v, where, arg) for v in clip)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"{where}: {arg} expected finite low < high, got {clip!r}")
    return low, high
