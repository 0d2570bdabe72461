"""Callbacks for Model.fit, with Keras' names and behaviour: EarlyStopping, ModelCheckpoint,
LearningRateScheduler (with step_decay and cosine_decay schedules), ReduceLROnPlateau, CSVLogger,
TerminateOnNaN, LambdaCallback, History."""
import csv
import math
import numbers
import string

import numpy as np

from . import serialization

__all__ = ["Callback", "History", "EarlyStopping", "ModelCheckpoint", "LearningRateScheduler", "step_decay",
           "cosine_decay", "ReduceLROnPlateau", "CSVLogger", "TerminateOnNaN", "LambdaCallback"]

_BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end")


class Callback:
    """The base of fit's callbacks. fit calls set_model and set_params (epochs, batch_size, samples,
    and 'metrics': the keys its epoch logs will hold) before on_train_begin."""
    model = None
    params = None
    writes_files = False  # a data-parallel fit runs a callback that writes files on rank 0 only

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        """After each training step (batch: its index in the epoch), with the epoch's running mean
        loss and accuracy so far, as in Keras. A callback that overrides a batch hook makes fit run one
        step per call into C++ (otherwise it runs about 1/50 epoch per call): slower for small batches."""

    @property
    def watches_batches(self):
        """Whether fit must call this callback's batch hooks."""
        return any(getattr(type(self), hook) is not getattr(Callback, hook) for hook in _BATCH_HOOKS)


class History(Callback):
    """history.history['loss'|'accuracy'|'val_loss'|'val_accuracy'|'learning_rate'] per epoch."""

    def __init__(self):
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.history, self.epoch = {}, []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def get_config(self):
        """The epochs and logs as JSON values (model files keep them; a non-finite value becomes null)."""
        finite = lambda v: float(v) if math.isfinite(v) else None
        return {"epoch": list(self.epoch), "logs": {k: [finite(v) for v in vs] for k, vs in self.history.items()}}

    @classmethod
    def from_config(cls, config, where):
        """The History that get_config described; ValueError naming `where` for anything else."""
        epoch, logs = config.get("epoch") if isinstance(config, dict) else None, \
            config.get("logs") if isinstance(config, dict) else None
        if not isinstance(epoch, list) or not all(isinstance(e, int) and not isinstance(e, bool) for e in epoch):
            raise ValueError(f"{where}: key 'epoch' expected a list of ints, got {epoch!r:.80}")
        if not isinstance(logs, dict):
            raise ValueError(f"{where}: key 'logs' expected an object of metric lists, got {logs!r:.80}")
        number = (lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)))
        for key, values in logs.items():
            if not isinstance(values, list) or len(values) != len(epoch) or not all(map(number, values)):
                raise ValueError(f"{where}: logs[{key!r}] expected {len(epoch)} numbers (one per epoch), "
                                 f"got {values!r:.80}")
        history = cls()
        history.epoch = list(epoch)
        history.history = {k: [math.nan if v is None else float(v) for v in vs] for k, vs in logs.items()}
        return history


def _monitor_mode(monitor, mode, where):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{where}: argument 'mode' expected 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        mode = "max" if "acc" in monitor else "min"
    return mode


def _improved(value, best, mode, min_delta=0.0):
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def _check_logged(monitor, params, where):
    """A ValueError before training unless fit logs the monitored metric."""
    logged = (params or {}).get("metrics")
    if logged is not None and monitor not in logged:
        raise ValueError(f"{where}: monitored metric {monitor!r} is not logged by this fit (it logs "
                         f"{', '.join(logged)}); val_* metrics need validation_data or validation_split")


def _number(value, where, name, low=-math.inf, high=math.inf, integral=False):
    """value checked: a finite number (an int where integral) in [low, high]."""
    kind = numbers.Integral if integral else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value) or not low <= value <= high:
        span = "" if (low, high) == (-math.inf, math.inf) else \
            f" in [{low:g}, {high:g}]" if high < math.inf else f" >= {low:g}"
        raise ValueError(f"{where}: argument '{name}' expected {'an int' if integral else 'a finite number'}{span}, "
                         f"got {value!r}")
    return int(value) if integral else float(value)


class EarlyStopping(Callback):
    """Stops training when `monitor` has not improved by min_delta for `patience` epochs."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, mode="auto", restore_best_weights=False):
        patience = _number(patience, "EarlyStopping", "patience", 0, integral=True)
        self.monitor, self.min_delta, self.patience = monitor, abs(_number(min_delta, "EarlyStopping", "min_delta")), patience
        self.mode = _monitor_mode(monitor, mode, "EarlyStopping")
        self.restore_best_weights = restore_best_weights
        self.stopped_epoch = None

    def on_train_begin(self, logs=None):
        _check_logged(self.monitor, self.params, "EarlyStopping")
        self.best, self.wait, self.best_weights, self.stopped_epoch = None, 0, None, None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise ValueError(f"EarlyStopping: monitored metric {self.monitor!r} is not in the logs "
                             f"({', '.join(logs or {})}); pass validation data or monitor another metric")
        if _improved(value, self.best, self.mode, self.min_delta):
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Saves the model (atomically) after each epoch, or only when `monitor` improves. The path may
    contain {epoch} and metric fields, e.g. 'ckpt-{epoch:02d}-{val_accuracy:.3f}.cnet'; a field fit
    does not log, or a monitored metric it does not log, is a ValueError before training starts."""
    writes_files = True

    def __init__(self, filepath, monitor="val_loss", save_best_only=False, mode="auto"):
        self.filepath = serialization.as_path(filepath, "ModelCheckpoint", "filepath")
        self.monitor, self.save_best_only = monitor, bool(save_best_only)
        try:
            self._fields = {field for _, field, _, _ in string.Formatter().parse(self.filepath) if field is not None}
        except ValueError as e:
            raise ValueError(f"ModelCheckpoint: argument 'filepath' {self.filepath!r} is not a valid format "
                             f"string ({e}); write literal braces as {{{{ and }}}}") from None
        if any(not field.isidentifier() for field in self._fields):
            raise ValueError(f"ModelCheckpoint: argument 'filepath' {self.filepath!r} expected named fields "
                             "such as {epoch:02d} or {val_loss:.3f}, got positional or indexed ones")
        self.mode = _monitor_mode(monitor, mode, "ModelCheckpoint")
        self.best = None

    def on_train_begin(self, logs=None):
        logged = ["epoch"] + list((self.params or {}).get("metrics", []))
        missing = sorted(self._fields - set(logged)) + ([self.monitor] if self.save_best_only
                                                         and self.monitor not in logged else [])
        if self.params is not None and missing:
            raise ValueError(f"ModelCheckpoint: {', '.join(map(repr, missing))} is not logged by this fit (it logs "
                             f"{', '.join(logged)}); val_* metrics need validation_data or validation_split")
        try:
            self._path(0, {k: 0.0 for k in logged})
        except (ValueError, TypeError) as e:
            raise ValueError(f"ModelCheckpoint: argument 'filepath' {self.filepath!r} cannot be formatted "
                             f"({e}); epoch is an int, the metrics are floats") from None

    def _path(self, epoch, logs):
        return self.filepath.format(**{**logs, "epoch": epoch + 1})

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None:
                raise ValueError(f"ModelCheckpoint: monitored metric {self.monitor!r} is not in the logs")
            if not _improved(value, self.best, self.mode):
                return
            self.best = value
        self.model.save(self._path(epoch, logs))


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of each epoch to schedule(epoch, lr)."""

    def __init__(self, schedule, verbose=0):
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: argument 'schedule' expected a callable, got {schedule!r}")
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(self.schedule(epoch, self.model.learning_rate))
        if not np.isfinite(lr) or lr < 0:
            raise ValueError(f"LearningRateScheduler: the schedule returned {lr!r} for epoch {epoch}")
        self.model.learning_rate = lr
        if self.verbose:
            print(f"Epoch {epoch + 1}: learning rate {lr:.6g}")


def step_decay(initial_lr, drop=0.5, every=10):
    """A schedule: initial_lr * drop ** (epoch // every)."""
    return lambda epoch, lr=None: initial_lr * drop ** (epoch // every)


def cosine_decay(initial_lr, epochs, min_lr=0.0):
    """A schedule: cosine annealing from initial_lr to min_lr over `epochs`."""
    return lambda epoch, lr=None: min_lr + 0.5 * (initial_lr - min_lr) * (1 + math.cos(math.pi * min(epoch, epochs) / epochs))


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by `factor` (< 1) when `monitor` has not improved by min_delta for
    `patience` epochs, then waits `cooldown` epochs before counting again, never going below min_lr
    (Keras' ReduceLROnPlateau)."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        where = "ReduceLROnPlateau"
        self.monitor, self.verbose = monitor, verbose
        self.factor = _number(factor, where, "factor", 0.0, 1.0)
        if self.factor == 1.0:
            raise ValueError(f"{where}: argument 'factor' expected a number < 1 (a reduction), got {factor!r}")
        self.patience = _number(patience, where, "patience", 0, integral=True)
        self.cooldown = _number(cooldown, where, "cooldown", 0, integral=True)
        self.min_delta = abs(_number(min_delta, where, "min_delta"))
        self.min_lr = _number(min_lr, where, "min_lr", 0.0)
        self.mode = _monitor_mode(monitor, mode, where)

    def on_train_begin(self, logs=None):
        _check_logged(self.monitor, self.params, "ReduceLROnPlateau")
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise ValueError(f"ReduceLROnPlateau: monitored metric {self.monitor!r} is not in the logs")
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if _improved(value, self.best, self.mode, self.min_delta):
            self.best, self.wait = value, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            lr = self.model.learning_rate
            if self.wait >= self.patience and lr > np.float32(self.min_lr):
                self.model.learning_rate = max(lr * self.factor, self.min_lr)
                self.cooldown_counter, self.wait = self.cooldown, 0
                if self.verbose:
                    print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {self.model.learning_rate:.6g}")


class CSVLogger(Callback):
    """Writes one CSV row per epoch: 'epoch' (from 0, as Keras) then the logs' metrics in sorted order,
    flushed each epoch so that a killed run keeps its rows. append=True continues an existing file
    (its header is not repeated)."""
    writes_files = True

    def __init__(self, filename, separator=",", append=False):
        self.filename = serialization.as_path(filename, "CSVLogger", "filename")
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"CSVLogger: argument 'separator' expected one character, got {separator!r}")
        self.separator, self.append = separator, bool(append)
        self._file = self._writer = None

    def on_train_begin(self, logs=None):
        import os

        header = not (self.append and os.path.isfile(self.filename) and os.path.getsize(self.filename) > 0)
        self._file = open(self.filename, "a" if self.append else "w", newline="", encoding="utf-8")
        self._writer, self._header = None, header

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, ["epoch"] + sorted(logs), delimiter=self.separator,
                                          extrasaction="ignore")
            if self._header:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **logs})
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None


class TerminateOnNaN(Callback):
    """With it in fit's callbacks, a NaN or infinite loss ends training (the weights as they were
    before that step, the epoch's logs from the steps before it) instead of raising FloatingPointError."""


class LambdaCallback(Callback):
    """A callback from functions: on_epoch_begin(epoch, logs), on_epoch_end(epoch, logs),
    on_train_begin(logs), on_train_end(logs), on_train_batch_begin(batch, logs),
    on_train_batch_end(batch, logs), as Keras' LambdaCallback."""

    _HOOKS = ("on_epoch_begin", "on_epoch_end", "on_train_begin", "on_train_end") + _BATCH_HOOKS

    def __init__(self, **hooks):
        for name, function in hooks.items():
            if name not in self._HOOKS:
                raise TypeError(f"LambdaCallback: unknown hook {name!r}; expected {', '.join(self._HOOKS)}")
            if function is not None and not callable(function):
                raise TypeError(f"LambdaCallback: argument {name!r} expected a callable, got {function!r}")
        self._hooks = {k: f for k, f in hooks.items() if f is not None}

    @property
    def watches_batches(self):
        return any(hook in self._hooks for hook in _BATCH_HOOKS)

    def _call(self, name, *args):
        if name in self._hooks:
            self._hooks[name](*args)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs)
