"""Models: Sequential and the functional Model, with Keras' compile / fit / evaluate / predict /
summary / save. The model is a description; the C++ graph (convnet._core.nn.Graph) holds the
weights in one flat buffer and runs whole training steps, so Python crosses into C++ once per
chunk of steps (for the progress bar), never per layer or per batch."""
import math
import time

import numpy as np
from tqdm.auto import tqdm

from . import _core, callbacks as callbacks_mod, initializers, layers as layers_mod, losses as losses_mod
from . import optimizers as optimizers_mod
from .layers import InputLayer, Layer, SymbolicTensor

__all__ = ["Model", "Sequential", "load_model", "set_random_seed"]

_seed_source = np.random.default_rng()


def set_random_seed(seed):
    """Seeds weight initialization and the default shuffling/dropout seed of fit: the same seed
    on the same device gives the same result, bit for bit."""
    global _seed_source
    _seed_source = np.random.default_rng(seed)


def _next_seed():
    return int(_seed_source.integers(0, 2**63 - 1))


def _resolve_device(device, where):
    if device == "auto":
        return "cuda:0" if _core.cuda.is_available() else "cpu"
    if not isinstance(device, str) or not (device == "cpu" or device == "cuda" or device.startswith("cuda:")):
        raise ValueError(f"{where}: argument 'device' expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if device.startswith("cuda") and not _core.cuda.is_available():
        raise RuntimeError(f"{where}: device {device!r} requested but CUDA is not available "
                           "(no GPU visible, or convnet built without CUDA); use device='cpu' or 'auto'")
    return "cuda:0" if device == "cuda" else device  # the spelling Graph.device reports


class Model:
    """A functional model: Model(inputs=Input(...), outputs=<last layer's output>)."""

    def __init__(self, inputs=None, outputs=None, name=None):
        self.name = name or "model"
        self.stop_training = False
        self._graph = None
        self._device = "cpu"
        self._optimizer = None
        self._loss = None
        self._seed = _next_seed()
        self.layers = []
        if inputs is not None or outputs is not None:
            self._set_structure(inputs, outputs)
            self._build()

    # -- structure -------------------------------------------------------------------------------
    def _set_structure(self, inputs, outputs):
        if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
            inputs = inputs[0]
        if isinstance(outputs, (list, tuple)) and len(outputs) == 1:
            outputs = outputs[0]
        if not isinstance(inputs, SymbolicTensor) or not isinstance(inputs.layer, InputLayer):
            raise TypeError(f"{self.name}: argument 'inputs' expected the output of convnet.layers.Input(), "
                            f"got {inputs!r}")
        if not isinstance(outputs, SymbolicTensor):
            raise TypeError(f"{self.name}: argument 'outputs' expected a layer output, got {outputs!r}")
        order, seen = [], set()

        def visit(t):
            if id(t) in seen:
                return
            seen.add(id(t))
            for parent in t.inputs:
                visit(parent)
            order.append(t)

        visit(outputs)
        if order[0] is not inputs:
            raise ValueError(f"{self.name}: the outputs do not depend on the given inputs "
                             f"(found {order[0].layer.name!r})")
        names = [t.layer.name for t in order]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"{self.name}: layer {name!r} is used twice; each layer needs its own name and "
                                 "a layer can be called once (shared layers are not supported)")
        self._tensors = order
        self.layers = [t.layer for t in order[1:]]

    @property
    def input_shape(self):
        return self._tensors[0].layer.shape if self.built else None

    @property
    def built(self):
        return self._graph is not None

    def _build(self, device=None):
        """Creates the C++ graph on `device` (the current one by default), with fresh weights."""
        device = device or self._device
        nodes = [{"op": "input", "name": self._tensors[0].layer.name, "shape": list(self._tensors[0].layer.shape)}]
        index = {id(self._tensors[0]): 0}
        for t in self._tensors[1:]:
            layer = t.layer
            inputs = [index[id(p)] for p in t.inputs]
            ids = []
            for k, spec in enumerate(layer._nodes()):
                nodes.append(dict(spec, name=layer.name, trainable=layer.trainable,
                                  inputs=inputs if k == 0 else [ids[-1]]))
                ids.append(len(nodes) - 1)
            layer._node_ids = ids
            index[id(t)] = ids[-1]
        self._graph = _core.nn.Graph(nodes, [len(nodes) - 1], device=device, seed=self._seed)
        self._device = device
        self._param_index = {(node, name): i for i, (node, name, _, _) in enumerate(self._graph.params())}
        for layer in self.layers:
            layer._model = self
        rng = np.random.default_rng(self._seed)
        for layer in self.layers:
            for (_, _, _, init), view in zip(self._layer_weight_specs(layer), self._layer_tensors(layer)):
                view.copy_(np.asarray(initializers.get(init)(view.shape, rng), dtype=np.float32))
        if self._optimizer is not None:
            self._apply_compile()

    def _layer_weight_specs(self, layer):
        return [w for w in layer._weights if layer._has_weight(w[0])]

    def _layer_tensors(self, layer):
        """The layer's weights as Tensors sharing the graph's buffers, in get_weights order."""
        tensors = [self._graph.param(self._param_index[(layer._node_ids[k], pname)])
                   for _, k, pname, _ in self._layer_weight_specs(layer)]
        if layer._buffers:
            tensors.extend(self._graph.running_stats(layer._node_ids[0]))
        return tensors

    def _require_built(self, where):
        if not self.built:
            raise ValueError(f"{self.name}.{where}: the model has no input shape yet; start it with "
                             "convnet.layers.Input(shape), or call fit/predict with data first")

    # -- weights ---------------------------------------------------------------------------------
    def get_weights(self):
        """Every layer's weights, in layer order (copies)."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights):
        weights = list(weights)
        expected = sum(len(layer.weight_names) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(f"{self.name}: set_weights expected {expected} arrays, got {len(weights)}")
        for layer in self.layers:
            n = len(layer.weight_names)
            layer.set_weights(weights[:n])
            weights = weights[n:]

    def get_layer(self, name):
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"{self.name}: no layer named {name!r}; layers: {', '.join(l.name for l in self.layers)}")

    def count_params(self):
        self._require_built("count_params")
        return int(sum(layer.count_params() for layer in self.layers))

    # -- compile ---------------------------------------------------------------------------------
    def compile(self, optimizer="adam", loss="sparse_categorical_crossentropy", metrics=None, device="auto"):
        """optimizer: 'adam', 'sgd', 'rmsprop', 'adamw' or an Optimizer; loss: 'sparse_categorical_crossentropy',
        'categorical_crossentropy' or a Loss; metrics: None or ['accuracy'];
        device: 'auto', 'cpu', 'cuda' or 'cuda:N'."""
        optimizer = optimizers_mod.get(optimizer)
        loss = losses_mod.get(loss)
        for metric in metrics or []:
            if metric not in ("accuracy", "acc"):
                raise ValueError(f"compile: unknown metric {metric!r}; expected 'accuracy'")
        device = _resolve_device(device, "compile")
        self.to(device)  # moves the weights (and any previous optimizer's state) first
        self._optimizer, self._loss = optimizer, loss
        if self.built:
            self._apply_compile()

    def _apply_compile(self):
        opt = self._optimizer
        self._graph.set_optimizer(opt.kind, opt.learning_rate, **opt._settings())
        loss = self._loss
        self._graph.set_loss(loss.kind, 0, loss.from_logits, loss.label_smoothing)

    def _require_compiled(self, where):
        if self._optimizer is None:
            raise RuntimeError(f"{self.name}.{where}: call compile() first")

    @property
    def device(self):
        """Where the model's weights live and its steps run: 'cpu' or 'cuda:N'."""
        return self._graph.device if self.built else self._device

    @property
    def optimizer(self):
        return self._optimizer

    @property
    def learning_rate(self):
        return self._graph.learning_rate if self.built else self._optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._optimizer.learning_rate = float(value)
        if self.built:
            self._graph.learning_rate = float(value)

    def to(self, device):
        """Moves the model (weights, optimizer state) to 'cpu' or 'cuda'."""
        device = _resolve_device(device, "Model.to")
        if not self.built or self._graph.device == device:
            self._device = device
            return self
        state = self._state()
        self._build(device)
        self._load_state(state)
        return self

    # -- data --------------------------------------------------------------------------------------
    def _prepare_x(self, x, where):
        if isinstance(x, _core.Tensor):
            x = x.numpy()
        try:
            x = np.asarray(x)
        except Exception:
            raise TypeError(f"{where}: argument 'x' expected a numpy array of images, got {type(x).__name__}") from None
        if x.dtype.kind not in "uif":
            raise TypeError(f"{where}: argument 'x' expected numeric images, got dtype {x.dtype}")
        if x.ndim < 2 or x.shape[0] == 0:
            raise ValueError(f"{where}: argument 'x' expected a non-empty batch of samples, got shape {x.shape}")
        if not self.built:
            self._build_from_data(x.shape[1:], where)
        want = tuple(self.input_shape)
        sample = x.shape[1:]
        if sample != want:
            if len(want) == 3 and want[0] == 1 and sample == want[1:]:
                x = x.reshape((x.shape[0],) + want)  # (N, H, W) grayscale -> (N, 1, H, W)
            else:
                raise ValueError(f"{where}: argument 'x' expected samples of shape {want} (NCHW) "
                                 f"or {want[1:]} for one channel, got array of shape {x.shape}")
        if x.dtype != np.uint8:
            x = np.ascontiguousarray(x, dtype=np.float32)
            if not np.isfinite(x).all():
                bad = int(np.argwhere(~np.isfinite(x.reshape(len(x), -1)))[0][0])
                raise ValueError(f"{where}: argument 'x' contains NaN or infinite values (first in sample {bad})")
        x = _core.from_numpy(np.ascontiguousarray(x))
        return x.to(self._graph.device) if self._graph.device != "cpu" else x

    def _prepare_y(self, y, n, where):
        if isinstance(y, _core.Tensor):
            y = y.numpy()
        y = np.asarray(y)
        classes = self._graph.output_shape(len(self._graph) - 1)[0]
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if len(y) != n:
            raise ValueError(f"{where}: x and y have different lengths ({n} samples, {len(y)} labels)")
        if y.ndim == 1:
            if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
                y = y.astype(np.int64)
            if y.dtype.kind not in "iu":
                raise TypeError(f"{where}: argument 'y' expected integer class labels or one-hot rows, "
                                f"got dtype {y.dtype}")
            if y.size and (y.min() < 0 or y.max() >= classes):
                bad = int(np.argmax((y < 0) | (y >= classes)))
                raise ValueError(f"{where}: argument 'y' expected labels in [0, {classes}), got {y[bad]} "
                                 f"at index {bad}")
            y = np.ascontiguousarray(y, dtype=np.int64)
        elif y.ndim == 2:
            if y.shape[1] != classes:
                raise ValueError(f"{where}: argument 'y' expected one-hot rows of width {classes} (the model's "
                                 f"classes), got width {y.shape[1]}")
            y = np.ascontiguousarray(y, dtype=np.float32)
            if not np.isfinite(y).all() or (y < 0).any():
                raise ValueError(f"{where}: argument 'y' expected finite, non-negative target probabilities")
        else:
            raise ValueError(f"{where}: argument 'y' expected labels (N,) or one-hot rows (N, classes), "
                             f"got shape {y.shape}")
        y = _core.from_numpy(y)
        return y.to(self._graph.device) if self._graph.device != "cpu" else y

    def _build_from_data(self, sample_shape, where):
        self._require_built(where)  # a functional model always has its Input

    # -- training ----------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=32, epochs=1, verbose=1, callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, seed=None, initial_epoch=0):
        """Trains for `epochs`; returns a History. x: (N, C, H, W) or (N, H, W) images (uint8 scaled to
        [0, 1] in C++); y: integer labels (N,) or one-hot rows (N, classes)."""
        self._require_compiled("fit")
        _check_int("batch_size", batch_size, 1, "fit")
        _check_int("epochs", epochs, 0, "fit")
        _check_int("initial_epoch", initial_epoch, 0, "fit")
        if not 0 <= validation_split < 1:
            raise ValueError(f"fit: argument 'validation_split' expected a number in [0, 1), got {validation_split!r}")
        if x is None or y is None:
            raise ValueError("fit: arguments 'x' and 'y' are required")
        n_total = len(x)
        if validation_split and validation_data is None:
            n_val = int(n_total * validation_split)
            if n_val == 0 or n_val == n_total:
                raise ValueError(f"fit: validation_split={validation_split} leaves no training or validation data "
                                 f"from {n_total} samples")
            x, y = np.asarray(x), np.asarray(y)
            validation_data = (x[n_total - n_val:], y[n_total - n_val:])
            x, y = x[:n_total - n_val], y[:n_total - n_val]
        tx = self._prepare_x(x, "fit")
        ty = self._prepare_y(y, len(tx), "fit")
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("fit: argument 'validation_data' expected a tuple (x_val, y_val)")
            vx = self._prepare_x(validation_data[0], "fit (validation_data)")
            val = (vx, self._prepare_y(validation_data[1], len(vx), "fit (validation_data)"))
        cbs = list(callbacks or [])
        for cb in cbs:
            if not isinstance(cb, callbacks_mod.Callback):
                raise TypeError(f"fit: argument 'callbacks' expected Callback objects, got {cb!r}")
        history = callbacks_mod.History()
        cbs.insert(0, history)
        for cb in cbs:
            cb.set_model(self)
        self.history = history
        seed = self._seed if seed is None else int(seed)
        n = len(tx)
        steps = math.ceil(n / batch_size)
        chunk = max(1, math.ceil(steps / 50))  # ~50 progress updates per epoch
        in_order = None if shuffle else _core.from_numpy(np.arange(n, dtype=np.int64)).to(self._graph.device)
        self.stop_training = False
        for cb in cbs:
            cb.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            for cb in cbs:
                cb.on_epoch_begin(epoch)
            # Shuffled in a kernel on the model's device: a GPU epoch uploads nothing.
            order = _core.nn.permutation(n, seed + epoch, self._graph.device) if shuffle else in_order
            bar = tqdm(total=steps, desc=f"Epoch {epoch + 1}/{epochs}", unit="step", disable=verbose != 1,
                       dynamic_ncols=True, leave=True)
            loss_sum = correct = count = 0
            start = time.perf_counter()
            for first in range(0, steps, chunk):
                s = self._graph.train_steps(tx, ty, order, first, min(chunk, steps - first), batch_size)
                if s.nonfinite_step >= 0:
                    bar.close()
                    raise FloatingPointError(
                        f"fit: the loss became NaN or infinite at epoch {epoch + 1}, step {first + s.nonfinite_step + 1}"
                        f" (learning rate {self.learning_rate:g}); training stopped before that update")
                loss_sum += s.loss_sum
                correct += s.correct
                count += s.count
                elapsed = time.perf_counter() - start
                bar.update(s.steps)
                bar.set_postfix_str(f"loss={loss_sum / count:.4f} accuracy={correct / count:.4f} "
                                    f"{count / max(elapsed, 1e-9):,.0f} img/s", refresh=False)
            logs = {"loss": loss_sum / count, "accuracy": correct / count}
            if val is not None:
                v = self._graph.evaluate(val[0], val[1], max(batch_size, 256))
                logs["val_loss"], logs["val_accuracy"] = v.loss_sum / v.count, v.correct / v.count
            logs["learning_rate"] = self.learning_rate
            elapsed = time.perf_counter() - start
            summary = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items() if k != "learning_rate")
            if verbose == 1:
                bar.set_postfix_str(f"{summary} - {elapsed:.1f}s", refresh=True)
                bar.close()
            elif verbose == 2:
                print(f"Epoch {epoch + 1}/{epochs} - {elapsed:.1f}s - {summary}")
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        for cb in cbs:
            cb.on_train_end()
        return history

    def evaluate(self, x, y, batch_size=256, verbose=0):
        """(loss, accuracy) in inference mode (dropout off, batch norm on running statistics)."""
        self._require_compiled("evaluate")
        _check_int("batch_size", batch_size, 1, "evaluate")
        tx = self._prepare_x(x, "evaluate")
        ty = self._prepare_y(y, len(tx), "evaluate")
        s = self._graph.evaluate(tx, ty, batch_size)
        loss, acc = s.loss_sum / s.count, s.correct / s.count
        if verbose:
            print(f"{s.count} samples - loss: {loss:.4f} - accuracy: {acc:.4f}")
        return loss, acc

    def predict(self, x, batch_size=256):
        """The model's outputs (class probabilities when it ends in softmax) as a numpy array."""
        _check_int("batch_size", batch_size, 1, "predict")
        tx = self._prepare_x(x, "predict")
        return self._graph.predict(tx, batch_size)[0].numpy()

    def train_on_batch(self, x, y):
        """One training step on (x, y); returns the loss before the update."""
        self._require_compiled("train_on_batch")
        tx = self._prepare_x(x, "train_on_batch")
        ty = self._prepare_y(y, len(tx), "train_on_batch")
        order = _core.from_numpy(np.arange(len(tx), dtype=np.int64))
        if self._graph.device != "cpu":
            order = order.to(self._graph.device)
        s = self._graph.train_steps(tx, ty, order, 0, 1, len(tx))
        if s.nonfinite_step >= 0:
            raise FloatingPointError("train_on_batch: the loss became NaN or infinite; the weights were not updated")
        return s.loss_sum / s.count

    # -- summary -----------------------------------------------------------------------------------
    def summary(self, print_fn=print):
        """Prints each layer's output shape, parameter count, and the receptive field and cumulative
        stride of its outputs, then the totals."""
        self._require_built("summary")
        rows = [("Layer (type)", "Output shape", "Param #", "Receptive field", "Stride")]
        field = {id(self._tensors[0]): ((1, 1), (1, 1))}
        rows.append((f"{self._tensors[0].layer.name} (InputLayer)", str((None,) + tuple(self.input_shape)), "0",
                     "1x1", "1x1"))
        trainable = frozen = 0
        for t in self._tensors[1:]:
            layer = t.layer
            parents = [field[id(p)] for p in t.inputs]
            rf = max((p[0] for p in parents if p[0] != "global"), default=(1, 1))
            jump = max((p[1] for p in parents if p[1] != "global"), default=(1, 1))
            if any(p[0] == "global" for p in parents) or layer.receptive == "global":
                rf = jump = "global"
            elif layer.receptive is not None:
                kh, kw, (sh, sw) = layer.receptive
                rf = (rf[0] + (kh - 1) * jump[0], rf[1] + (kw - 1) * jump[1])
                jump = (jump[0] * sh, jump[1] * sw)
            out_shape = (None,) + tuple(self._graph.output_shape(layer._node_ids[-1]))
            if len(out_shape) != 4 and rf != "global":
                rf = jump = "global"  # a flat output has seen the whole input
            field[id(t)] = (rf, jump)
            n_weights = sum(int(np.prod(v.shape)) for v in self._layer_tensors(layer)[:len(self._layer_weight_specs(layer))])
            n_buffers = layer.count_params() - n_weights
            if layer.trainable:
                trainable += n_weights
            else:
                frozen += n_weights
            frozen += n_buffers
            fmt = (lambda v: "global" if v == "global" else f"{v[0]}x{v[1]}")
            rows.append((f"{layer.name} ({type(layer).__name__})", str(out_shape), f"{n_weights + n_buffers:,}",
                         fmt(rf), fmt(jump)))
        widths = [max(len(r[i]) for r in rows) + 2 for i in range(5)]
        line = "-" * sum(widths)
        print_fn(f'Model: "{self.name}"')
        print_fn(line)
        for i, row in enumerate(rows):
            print_fn("".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
            if i == 0:
                print_fn("=" * sum(widths))
        print_fn(line)
        print_fn(f"Total params: {trainable + frozen:,}")
        print_fn(f"Trainable params: {trainable:,}")
        print_fn(f"Non-trainable params: {frozen:,}")

    # -- saving ------------------------------------------------------------------------------------
    def get_config(self):
        self._require_built("get_config")
        layer_configs = []
        for t in self._tensors[1:]:
            layer_configs.append({"class_name": type(t.layer).__name__, "config": t.layer.get_config(),
                                  "inbound": [p.layer.name for p in t.inputs]})
        return {"class_name": type(self).__name__, "name": self.name, "seed": self._seed,
                "input": self._tensors[0].layer.get_config(), "layers": layer_configs}

    def _state(self):
        """Weights, batch-norm statistics and optimizer state as numpy arrays keyed by name."""
        state = {}
        for layer in self.layers:
            for name, tensor in zip(layer.weight_names, self._layer_tensors(layer)):
                state[f"{layer.name}/{name}"] = np.array(tensor.numpy(), copy=True)
        if self._optimizer is not None:
            for name, tensor in self._graph.optimizer_state():
                state[f"optimizer/{name}"] = np.array(tensor.numpy(), copy=True)
            state["optimizer/step"] = np.array([self._graph.optimizer_step], dtype=np.int64)
        return state

    def _load_state(self, state, where="load"):
        for layer in self.layers:
            for name, tensor in zip(layer.weight_names, self._layer_tensors(layer)):
                key = f"{layer.name}/{name}"
                if key not in state or state[key].shape != tuple(tensor.shape):
                    raise ValueError(f"{where}: weight {key!r} missing or of the wrong shape")
                tensor.copy_(np.ascontiguousarray(state[key], dtype=np.float32))
        if self._optimizer is not None and "optimizer/step" in state:
            for name, tensor in self._graph.optimizer_state():
                key = f"optimizer/{name}"
                if key not in state or state[key].shape != tuple(tensor.shape):
                    raise ValueError(f"{where}: optimizer state {key!r} missing or of the wrong shape")
                tensor.copy_(np.ascontiguousarray(state[key], dtype=np.float32))
            self._graph.optimizer_step = int(state["optimizer/step"][0])

    def save(self, path):
        """Writes the architecture (JSON), weights and optimizer state (safetensors) to one file,
        atomically: an interrupted save leaves any previous file intact."""
        from .serialization import save_model_file

        config = self.get_config()
        if self._optimizer is not None:
            config["compile"] = {"optimizer": self._optimizer.get_config(), "loss": self._loss.get_config()}
        save_model_file(str(path), config, self._state())

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} layers={len(self.layers)}>"


class Sequential(Model):
    """A stack of layers: Sequential([Input((1, 28, 28)), Conv2D(32, 3, activation='relu'), ...]). Without
    an Input (or a first layer's input_shape=), the model is built by the first fit/predict."""

    def __init__(self, layers=None, name=None):
        super().__init__(name=name or "sequential")
        self._input = None
        self._stack = []
        for layer in layers or []:
            self.add(layer, build=False)
        if self._input is not None and self._stack:
            self._connect()

    def add(self, layer, build=True):
        if isinstance(layer, SymbolicTensor) and isinstance(layer.layer, InputLayer):
            if self._stack or self._input is not None:
                raise ValueError(f"{self.name}: Input must come first")
            self._input = layer
            return
        if not isinstance(layer, Layer) or isinstance(layer, InputLayer):
            raise TypeError(f"{self.name}: add() expected a convnet layer, got {layer!r}")
        if isinstance(layer, layers_mod.Add):
            raise ValueError(f"{self.name}: Add joins two branches; use the functional Model for it")
        if self._input is None and not self._stack and layer.input_shape is not None:
            self._input = layers_mod.Input(layer.input_shape)
        self._stack.append(layer)
        self._graph = None
        if build and self._input is not None:
            self._connect()

    def _connect(self):
        t = self._input
        for layer in self._stack:
            t = SymbolicTensor(layer, [t])
        self._set_structure(self._input, t)
        self._build()

    def _build_from_data(self, sample_shape, where):
        if not self._stack:
            raise ValueError(f"{self.name}.{where}: the model has no layers")
        self._input = layers_mod.Input(tuple(sample_shape))
        self._connect()

    def _require_built(self, where):
        if not self._stack:
            raise ValueError(f"{self.name}.{where}: the model has no layers")
        super()._require_built(where)


def _check_int(name, value, low, where):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{where}: argument '{name}' expected an int, got {value!r}")
    if value < low:
        raise ValueError(f"{where}: argument '{name}' expected an int >= {low}, got {value}")


def model_from_config(config):
    """Rebuilds a model (fresh weights) from Model.get_config()."""
    try:
        input_layer = InputLayer.from_config(config["input"])
        tensors = {input_layer.name: SymbolicTensor(input_layer, [])}
        for entry in config["layers"]:
            layer = layers_mod.get(entry["class_name"]).from_config(entry["config"])
            parents = [tensors[name] for name in entry["inbound"]]
            tensors[layer.name] = SymbolicTensor(layer, parents)
        outputs = tensors[config["layers"][-1]["config"]["name"]] if config["layers"] else None
    except (KeyError, TypeError, IndexError) as e:
        raise ValueError(f"model config is incomplete or malformed ({type(e).__name__}: {e})") from None
    if config.get("class_name") == "Sequential":
        stack = [tensors[entry["config"]["name"]].layer for entry in config["layers"]]
        model = Sequential([tensors[input_layer.name]] + stack, name=config.get("name"))
    else:
        model = Model(tensors[input_layer.name], outputs, name=config.get("name"))
    return model


def load_model(path, device="auto"):
    """Loads a model saved by Model.save: architecture, weights, and (when compiled) optimizer state,
    so that training resumes exactly. device: where to put it ('auto', 'cpu', 'cuda' or 'cuda:N')."""
    from .serialization import load_model_file

    config, tensors, _ = load_model_file(str(path))
    model = model_from_config(config)
    model._seed = int(config.get("seed", model._seed))  # dropout masks continue as they would have
    model._device = _resolve_device(device, "load_model")
    model._build(model._device)
    if "compile" in config:
        model.compile(optimizers_mod.get(config["compile"]["optimizer"]), losses_mod.get(config["compile"]["loss"]),
                      device=model._device)
    model._load_state(tensors, f"load_model({path!r})")
    return model
