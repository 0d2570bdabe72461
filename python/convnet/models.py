"""Models: Sequential and the functional Model, with Keras' compile / fit / evaluate / predict /
summary / save. The model is a description; the C++ graph (convnet._core.nn.Graph) holds the
weights in one flat buffer and runs whole training steps, so Python crosses into C++ once per
chunk of steps (for the progress bar), never per layer or per batch.

A model is a layer too: models and custom layers (Layer subclasses with call()) used inside a model
are inlined, so its graph holds only built-in layers' nodes. Layers own their weights (Keras): a
layer's current values live in the graph of one model, its home; a model holding layers whose home
is another model copies their values into its own graph first and becomes their home (see _enter).
Each model's calls are serialised by its lock; a copy between two models holds both locks, taken in
the models' creation order, so two threads never wait for each other."""
import functools
import itertools
import math
import reprlib
import threading
import time
from typing import NamedTuple, Tuple

import numpy as np
from tqdm.auto import tqdm

from . import _core, callbacks as callbacks_mod, initializers, layers as layers_mod, losses as losses_mod
from . import distributed as distributed_mod, optimizers as optimizers_mod
from .layers import InputLayer, Layer, SymbolicTensor, checked_weights, topological

__all__ = ["Model", "Sequential", "load_model", "set_random_seed"]

_seed_source = np.random.default_rng()
_ranks = itertools.count()  # models' creation order: the order in which their locks are taken


def set_random_seed(seed):
    """Seeds weight initialization and the default shuffling/dropout seed of fit: the same seed
    on the same device gives the same result, bit for bit."""
    global _seed_source
    _seed_source = np.random.default_rng(_check_int("seed", seed, 0, "set_random_seed"))


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


class _Leaf:
    """A layer of graph nodes in a model's inlined graph: its inputs (indices of earlier leaves), its
    key in model files ('key/weight') and its label in the summary."""
    __slots__ = ("layer", "inputs", "key", "label")

    def __init__(self, layer, inputs, key, label):
        self.layer, self.inputs, self.key, self.label = layer, inputs, key, label


class ReceptiveField(NamedTuple):
    """The input window one unit of a layer's output sees (Model.receptive_field): its size and the
    stride between units in input pixels (rows, cols), the centre of unit (0, 0) in input coordinates,
    and whether the unit sees the whole input (after Flatten, Dense or global pooling)."""
    size: Tuple[int, int]
    stride: Tuple[int, int]
    center: Tuple[float, float]
    is_global: bool


def _weight_specs(layer):
    return [w for w in layer._weights if layer._has_weight(w[0])]


def _logical(shape, data_format):
    """A per-sample shape of the graph (images (C, H, W)) as a tensor of `data_format` has it."""
    shape = tuple(shape)
    return shape[1:] + shape[:1] if data_format == "channels_last" and len(shape) == 3 else shape


class _Built:
    """A model's C++ graph and where each of its layers' nodes and parameters are in it."""

    def __init__(self, graph, nodes_of, last, formats, specs):
        self.graph = graph
        self.specs = specs  # the graph's node descriptions (dicts: op, name, inputs, parameters)
        self.nodes_of = nodes_of  # id(layer) -> the layer's node indices (of its first call)
        self.last = last  # per leaf of the inlined graph: its last node
        self.formats = formats  # per leaf: the data_format of its output (the model input's)
        self.params = {(node, name): i for i, (node, name, _, _) in enumerate(graph.params())}

    def graph_shape(self, leaf):
        """Leaf `leaf`'s per-sample output as the graph holds it (images (C, H, W))."""
        return tuple(self.graph.output_shape(self.last[leaf]))

    def shape(self, leaf):
        """Leaf `leaf`'s per-sample output shape in its data_format (what the user sees)."""
        return _logical(self.graph_shape(leaf), self.formats[leaf])

    def tensors(self, layer):
        """The layer's weights (then batch-norm statistics) as Tensors sharing the graph's buffers."""
        ids = self.nodes_of[id(layer)]
        tensors = [self.graph.param(self.params[(ids[k], pname)]) for _, k, pname, _ in _weight_specs(layer)]
        if layer._buffers:
            tensors.extend(self.graph.running_stats(ids[0]))
        return tensors


def _copy_values(layer, src, dst, home, where):
    for name, s, d in zip(layer.weight_names, src, dst):
        if tuple(s.shape) != tuple(d.shape):
            raise ValueError(f"{where}: layer {layer.name!r} holds weights (from model {home.name!r}) whose '{name}' "
                             f"has shape {tuple(s.shape)}, but here its inputs need {tuple(d.shape)}; use a new layer")
        d.copy_(s)


def _check_names(where, pairs):
    """Refuses two different layers under one name (model files key weights by it); one layer called
    several times (a shared layer) is fine."""
    named = {}
    for layer, key in pairs:
        if named.setdefault(key, layer) is not layer:
            raise ValueError(f"{where}: two different layers are named {key!r}; layer names must be unique within a "
                             "model (pass name=...)")


def _unique_leaves(flat):
    """The leaves after the input, a shared layer's first call only: each set of weights once."""
    seen = set()
    return [leaf for leaf in flat[1:] if not (id(leaf.layer) in seen or seen.add(id(leaf.layer)))]


def _call_indices(tensors):
    """id(tensor) -> which call of its layer it is (0 for the first), in topological order."""
    calls, index = {}, {}
    for t in tensors:
        index[id(t)] = calls.get(id(t.layer), 0)
        calls[id(t.layer)] = index[id(t)] + 1
    return index


def _synced(method):
    """A Model method run holding the model's lock, after pulling in its layers' current values."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        self._enter()
        try:
            return method(self, *args, **kwargs)
        finally:
            self._lock.release()
    return run


def _flatten(tensors, where):
    """The graph from the top-level `tensors` with models and custom layers inlined: _Leafs, input first."""
    first = tensors[0]
    flat, fed, index = [_Leaf(first.layer, [], first.layer.name, first.layer.name)], [], {id(first): 0}
    _inline(tensors[1:], index, flat, fed, None, "", where)
    _check_names(where, [(leaf.layer, leaf.key) for leaf in flat])
    return flat, fed, index

def _inline(tensors, index, flat, fed, prefix, path, where):
    """Appends `tensors` (their inputs already in `index`: id(tensor) -> leaf) to `flat`, and to `fed`
    (model, leaf feeding it) for each built model inlined. `prefix`: None where leaves are keyed
    by name, else the key of the custom layer being inlined, whose sub-layers are keyed by
    position (their names are not in its config)."""
    for i, t in enumerate(tensors):
        layer = t.layer
        key = layer.name if prefix is None else f"{prefix}/{i}"
        parents = [index[id(p)] for p in t.inputs]
        sub = layer._subgraph()
        if sub is None:
            flat.append(_Leaf(layer, parents, key, path + layer.name))
            index[id(t)] = len(flat) - 1
            continue
        placeholders, inner, out = sub
        if len(placeholders) != len(parents):
            raise ValueError(f"{where}: layer {layer.name!r} takes {len(placeholders)} input(s), "
                             f"got {len(parents)}")
        index.update((id(p), j) for p, j in zip(placeholders, parents))
        if isinstance(layer, Model) and layer.built:
            fed.append((layer, parents[0]))
        inner_prefix = None if prefix is None and isinstance(layer, Model) else key
        _inline(inner, index, flat, fed, inner_prefix, f"{path}{layer.name}/", where)
        index[id(t)] = index[id(out)]


def _node_specs(flat):
    """The C++ graph's node list, each leaf layer's node indices (of its first call), each leaf's last
    node and the data_format of each leaf's output. A layer called again (a shared layer) gets nodes
    that share its first call's parameters. A channels-last input is moved to (C, H, W) by a layout
    node: the graph runs NCHW inside."""
    first = flat[0].layer
    nodes = [{"op": "input", "name": first.name, "shape": list(first.shape)}]
    if first.data_format == "channels_last":  # Keras' conventions: (H, W, C) images, uint8 pixels 0..255 as they are
        nodes[0]["uint8_scale"] = 1.0
        nodes.append(dict(layers_mod._to_layout("channels_first"), name=first.name, inputs=[0]))
    last, nodes_of, formats = [len(nodes) - 1], {}, [first.data_format]
    for leaf in flat[1:]:
        data_format = formats[leaf.inputs[0]]
        _check_data_format(leaf, data_format)
        ids, shared = [], nodes_of.get(id(leaf.layer))
        for k, spec in enumerate(leaf.layer._nodes_for(data_format)):
            inputs = [last[i] for i in leaf.inputs] if k == 0 else [ids[-1]]
            node = dict(spec, name=leaf.layer.name, trainable=leaf.layer.trainable, inputs=inputs)
            if shared is not None:
                node["shares"] = shared[k]
            nodes.append(node)
            ids.append(len(nodes) - 1)
        nodes_of.setdefault(id(leaf.layer), ids)
        last.append(ids[-1])
        formats.append(data_format)
    return nodes, nodes_of, last, formats


def _check_data_format(leaf, data_format):
    wanted = getattr(leaf.layer, "data_format", None)
    if wanted is not None and wanted != data_format:
        raise ValueError(f"layer {leaf.label!r} ({type(leaf.layer).__name__}): data_format={wanted!r}, but the model's "
                         f"input is {data_format} (its Input's data_format); give both the same data_format")


def _graph_of(flat, output_leaves, device, seed):
    """The C++ graph of `flat` whose outputs are the leaves `output_leaves`, and its _Built. An output
    image of a channels-last model gets a layout node back to (H, W, C), so that predict and the loss
    see it as the user does."""
    specs, nodes_of, last, formats = _node_specs(flat)
    outputs = [last[j] for j in output_leaves]
    graph = _core.nn.Graph(specs, outputs, device=device, seed=seed)
    edges = [k for k, j in enumerate(output_leaves)
             if formats[j] == "channels_last" and len(graph.output_shape(outputs[k])) == 3]
    for k in edges:
        specs.append(dict(layers_mod._to_layout("channels_last"), name=flat[output_leaves[k]].layer.name,
                          inputs=[outputs[k]]))
        outputs[k] = len(specs) - 1
    if edges:
        graph = _core.nn.Graph(specs, outputs, device=device, seed=seed)
    return _Built(graph, nodes_of, last, formats, specs)


def symbolic_shape(tensor):
    """(None, ...per-sample shape) of a symbolic tensor in its data_format (SymbolicTensor.shape): the
    shapes the C++ graph infers for the layers from the tensor's Input; None for a tensor inside a
    custom layer's call() (not connected to an Input)."""
    order = topological(tensor)
    if not isinstance(order[0].layer, InputLayer):
        return None
    if len(order) == 1:
        return (None,) + tuple(order[0].layer.shape)
    flat, _, index = _flatten(order, "shape")
    return (None,) + _graph_of(flat, [index[id(tensor)]], "cpu", 0).shape(index[id(tensor)])


class Model(Layer):
    """A functional model: Model(inputs=Input(...), outputs=<last layer's output>). A model is a layer
    too: base(x) inside another model, or Sequential([base, ...]), uses base's layers (and weights)."""

    def __init__(self, inputs=None, outputs=None, name=None):
        super().__init__(name=name)
        if hasattr(self, "call"):
            raise TypeError(f"{self.name} ({type(self).__name__}): a Model subclass with call() is not supported; "
                            "subclass convnet.layers.Layer with call() instead and use it in a Sequential or Model")
        self.stop_training = False
        self.history = None  # the History of the last fit (kept in model files)
        self._lock = threading.RLock()
        self._rank = next(_ranks)
        self._built = None
        self._flat = []  # the inlined graph: _Leaf per layer of graph nodes, the input first
        self._tensors = []  # the top-level symbolic tensors in topological order, the input first
        self._output_tensors = []  # the top-level output tensors, in predict's order
        self._layers = []
        self._device = "cpu"
        self._optimizer = None
        self._loss = None
        self._loss_output = 0  # the index of the output the loss is attached to
        self._top_k = None  # the compiled top-k metric (convnet.metrics.TopKCategoricalAccuracy), if any
        self._seed = _next_seed()
        if inputs is not None or outputs is not None:
            self._build(structure=self._structure(inputs, outputs))

    # -- structure -------------------------------------------------------------------------------
    def _structure(self, inputs, outputs):
        """(the top-level tensors from `inputs` to `outputs` in topological order, the outputs), checked."""
        if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
            inputs = inputs[0]
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        if not isinstance(inputs, SymbolicTensor) or not isinstance(inputs.layer, InputLayer):
            raise TypeError(f"{self.name}: argument 'inputs' expected the output of convnet.layers.Input(), "
                            f"got {inputs!r}")
        if not outputs or not all(isinstance(o, SymbolicTensor) for o in outputs):
            raise TypeError(f"{self.name}: argument 'outputs' expected a layer output or a list of them, "
                            f"got {outputs!r}")
        order = topological(outputs)
        if order[0] is not inputs or any(t.layer is not inputs.layer and isinstance(t.layer, InputLayer) for t in order):
            raise ValueError(f"{self.name}: the outputs do not depend on the given inputs alone "
                             f"(found {order[0].layer.name!r})")
        _check_names(self.name, [(t.layer, t.layer.name) for t in order])
        return order, outputs

    @property
    def layers(self):
        return list(self._layers)

    @property
    def input(self):
        """The model's symbolic input tensor."""
        if not self._tensors:
            raise AttributeError(f"{self.name}: the model has no input yet (start it with convnet.layers.Input)")
        return self._tensors[0]

    @property
    def outputs(self):
        """The model's symbolic output tensors, in the order predict returns them."""
        if not self._tensors:
            raise AttributeError(f"{self.name}: the model has no output yet (start it with convnet.layers.Input)")
        return list(self._output_tensors)

    @property
    def output(self):
        """The model's symbolic output tensor (a list of them for a model of several outputs)."""
        outputs = self.outputs
        return outputs[0] if len(outputs) == 1 else outputs

    @property
    def input_shape(self):
        return self._tensors[0].layer.shape if self.built else None

    @property
    def _input_format(self):
        return self._tensors[0].layer.data_format

    @property
    def output_shape(self):
        """(None, ...per-sample shape) of the output (a list of them for several outputs), Keras'."""
        self._require_built("output_shape")
        shapes = [o.shape for o in self._output_tensors]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def built(self):
        return self._built is not None

    @property
    def _graph(self):
        return self._built.graph

    def _subgraph(self):
        if not self._tensors:
            raise ValueError(f"{self.name}: the model has no layers connected to an input to use as a layer")
        if len(self._output_tensors) != 1:
            raise ValueError(f"{self.name}: a model used as a layer needs one output, this one has "
                             f"{len(self._output_tensors)}")
        return self._tensors[:1], self._tensors[1:], self._output_tensors[0]

    def _flatten(self, tensors):
        return _flatten(tensors, self.name)

    def _build(self, device=None, structure=None):
        """Creates the C++ graph on `device` (the current one by default) for `structure` (the top-level
        tensors; the current ones by default). Each layer starts from its current values, wherever
        they are (this model's previous graph included); a layer that has none is initialised."""
        device = device or self._device
        tensors, outputs = structure or (self._tensors, self._output_tensors)
        flat, fed, index = self._flatten(tensors)
        built = self._new_graph(flat, [index[id(o)] for o in outputs], device)
        self._check_fed(built, flat, fed)
        foreign = self._acquire(flat)
        try:
            self._fill(flat, built)
            self._built, self._flat, self._tensors, self._output_tensors, self._device = built, flat, tensors, outputs, device
            self._layers = [t.layer for t in tensors[1:]]
            for leaf in flat[1:]:
                leaf.layer._home = self
                leaf.layer._models.add(self)
            if self._optimizer is not None:
                self._recompile()
        finally:
            self._release(foreign | {self})

    def _recompile(self):
        """The compiled optimizer and loss on a new graph; where the loss no longer fits the output
        (a layer was added after compile), the model is left uncompiled: compile it again (Keras)."""
        try:
            self._apply_compile()
        except ValueError:
            self._optimizer = self._loss = None

    def _new_graph(self, flat, output_leaves, device):
        """The C++ graph of `flat`, whose outputs are the last nodes of the leaves `output_leaves`."""
        return _graph_of(flat, output_leaves, device, self._seed)

    def _check_fed(self, built, flat, fed):
        """A model used as a layer gets inputs of the shape it was built for."""
        for model, j in fed:
            got = built.shape(j)
            if got != tuple(model.input_shape):
                raise ValueError(f"{self.name}: model {model.name!r} expects inputs of shape {model.input_shape}, "
                                 f"got {tuple(got)} from {flat[j].label!r}")

    def _fill(self, flat, built):
        """Writes each leaf's current values (or, for a layer that has none, fresh ones) into `built`."""
        rng = np.random.default_rng(self._seed)
        for leaf in _unique_leaves(flat):
            layer, dst = leaf.layer, built.tensors(leaf.layer)
            if layer._home is not None:
                _copy_values(layer, layer._home._layer_tensors(layer), dst, layer._home, self.name)
                continue
            for (_, _, _, init), view in zip(_weight_specs(layer), dst):
                view.copy_(np.asarray(initializers.get(init)(view.shape, rng), dtype=np.float32))

    # -- weight ownership and locks ----------------------------------------------------------------
    def _acquire(self, flat):
        """Takes the locks of this model and of the models holding the current values of `flat`'s
        layers, in creation order (no two threads can wait for each other); returns those others."""
        while True:
            homes = {leaf.layer._home for leaf in flat[1:]} - {None, self}
            ordered = sorted(homes | {self}, key=lambda m: m._rank)
            for model in ordered:
                model._lock.acquire()
            # A home changes only under its own lock: once all are held, none can move away.
            if {leaf.layer._home for leaf in flat[1:]} - {None, self} <= homes:
                return homes
            self._release(ordered)

    @staticmethod
    def _release(models):
        for model in models:
            model._lock.release()

    def _enter(self):
        """Takes this model's lock (the caller releases it) after copying into its graph the values
        of its layers whose home is another model, becoming their home. No copy when none is."""
        foreign = self._acquire(self._flat)
        try:
            for leaf in self._flat[1:]:
                home = leaf.layer._home
                if home is not self:
                    _copy_values(leaf.layer, home._layer_tensors(leaf.layer), self._layer_tensors(leaf.layer), home,
                                 self.name)
                    leaf.layer._home = self
        except BaseException:
            self._lock.release()
            raise
        finally:
            self._release(foreign)

    def _layer_tensors(self, layer):
        return self._built.tensors(layer)

    def _node_ids_of(self, layer):
        return self._built.nodes_of[id(layer)]

    def _sync_trainable(self, layer):
        with self._lock:
            for node in self._built.nodes_of.get(id(layer), ()):
                self._graph.set_trainable(node, layer.trainable)

    def _children(self):
        return self.layers

    def _require_built(self, where):
        if not self.built:
            raise ValueError(f"{self.name}.{where}: the model has no input shape yet; start it with "
                             "convnet.layers.Input(shape), or call fit/predict with data first")

    # -- weights ---------------------------------------------------------------------------------
    def _all_tensors(self):
        return [t for leaf in _unique_leaves(self._flat) for t in self._layer_tensors(leaf.layer)]

    @_synced
    def get_weights(self):
        """Every layer's weights, in layer order (copies)."""
        self._require_built("get_weights")
        return [np.array(t.numpy(), copy=True) for t in self._all_tensors()]

    @property
    def weight_names(self):
        """'layer/weight' for each array of get_weights (a model of several outputs included)."""
        if not self.built:
            return super().weight_names
        return [f"{leaf.layer.name}/{name}" for leaf in _unique_leaves(self._flat) for name in leaf.layer.weight_names]

    @_synced
    def set_weights(self, weights):
        self._require_built("set_weights")
        tensors = self._all_tensors()
        arrays = checked_weights(self.name, self.weight_names, [tuple(t.shape) for t in tensors], weights)
        for tensor, w in zip(tensors, arrays):
            tensor.copy_(w)

    def _contains(self, model):
        """Whether `model` is one of this model's layers, or of the models nested in it."""
        return any(layer is model or (isinstance(layer, Model) and layer._contains(model)) for layer in self.layers)

    def get_layer(self, name):
        """The layer called `name`: a layer of this model, or of a model nested in it."""
        found = self._find_layer(name)
        if found is None:
            raise ValueError(f"{self.name}: no layer named {name!r}; layers: {', '.join(l.name for l in self.layers)}")
        return found

    def _find_layer(self, name):
        for layer in self.layers:
            if layer.name == name:
                return layer
        nested = (layer._find_layer(name) for layer in self.layers if isinstance(layer, Model))
        return next((found for found in nested if found is not None), None)

    @_synced
    def count_params(self):
        self._require_built("count_params")
        return int(sum(np.prod(t.shape) for t in self._all_tensors()))

    # -- compile ---------------------------------------------------------------------------------
    @_synced
    def compile(self, optimizer="adam", loss="sparse_categorical_crossentropy", metrics=None, device="auto"):
        """optimizer: 'adam', 'sgd', 'rmsprop', 'adamw' or an Optimizer; loss: a name
        ('sparse_categorical_crossentropy', 'categorical_crossentropy', 'binary_crossentropy',
        'mean_squared_error') or a convnet.losses.Loss, attached to the model's first output, or
        {output layer name: loss} to attach it to another; metrics: None or a list of 'accuracy' (for the
        classification losses; always logged for them), 'top_k_categorical_accuracy' /
        'sparse_top_k_categorical_accuracy' (k=5) or one convnet.metrics.TopKCategoricalAccuracy(k)
        (cross-entropy), logged and returned by evaluate after the loss and accuracy; device: 'auto',
        'cpu', 'cuda' or 'cuda:N'. A loss that does not fit its output (cross-entropy after relu or
        sigmoid, ...) is a ValueError here."""
        from .metrics import compile_metric

        optimizer = optimizers_mod.get(optimizer)
        output, loss = self._loss_target(loss)
        loss = losses_mod.get(loss)
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise TypeError(f"compile: argument 'metrics' expected a list, got {_type_name(metrics)}")
        chosen = [compile_metric(m) for m in metrics or []]
        top_k = [m for m in chosen if m != "accuracy"]
        if chosen and loss.targets == "values":
            raise ValueError(f"compile: metric {metrics[0]!r} needs a classification loss, got {type(loss).__name__}")
        if top_k and loss.kind != "cross_entropy":
            raise ValueError(f"compile: metric {top_k[0].name!r} needs a cross-entropy loss, got {type(loss).__name__}")
        if len(top_k) > 1:
            raise ValueError(f"compile: argument 'metrics' holds {len(top_k)} top-k metrics; one is counted per model")
        device = _resolve_device(device, "compile")
        self.to(device)  # moves the weights (and any previous optimizer's state) first
        previous = self._optimizer, self._loss, self._loss_output, self._top_k
        self._optimizer, self._loss, self._loss_output = optimizer, loss, output
        self._top_k = top_k[0] if top_k else None
        if self.built:
            try:
                self._apply_compile()
            except ValueError:
                self._optimizer, self._loss, self._loss_output, self._top_k = previous
                raise

    def _loss_target(self, loss):
        """(the index of the output the loss attaches to, the loss) from compile's loss argument."""
        if not isinstance(loss, dict) or "class_name" in loss:
            return 0, loss
        names = [o.layer.name for o in self._output_tensors]
        if len(loss) != 1:
            raise ValueError(f"compile: argument 'loss' as a dict expected one {{output name: loss}} entry (the loss "
                             f"trains one output), got {len(loss)}")
        (name, value), = loss.items()
        if name not in names:
            raise ValueError(f"compile: argument 'loss' names no output named {name!r}; outputs: {', '.join(names)}")
        return names.index(name), value

    def _apply_compile(self):
        opt = self._optimizer
        self._graph.set_optimizer(opt.kind, opt.learning_rate, **opt._settings())
        loss = self._loss
        self._graph.set_loss(loss.kind, self._loss_output, loss.from_logits, loss.label_smoothing,
                             0 if self._top_k is None else self._top_k.k)

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
        self._require_compiled("learning_rate")
        return self._graph.learning_rate if self.built else self._optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        """A rejected value leaves the learning rate (the optimizer's and the graph's) as it was."""
        with self._lock:
            self._require_compiled("learning_rate")
            value = optimizers_mod.checked_learning_rate(value, f"{self.name}.learning_rate")
            if self.built:
                self._graph.learning_rate = value
            self._optimizer.learning_rate = value

    @_synced
    def to(self, device):
        """Moves the model (weights, optimizer state) to 'cpu' or 'cuda'."""
        device = _resolve_device(device, "Model.to")
        if not self.built or self._graph.device == device:
            self._device = device
            return self
        optimizer = self._optimizer_state()
        self._build(device)
        self._load_optimizer_state(optimizer, "Model.to")
        return self

    # -- data --------------------------------------------------------------------------------------
    def _images(self, x, where, name="x"):
        """x as a C-contiguous numpy batch of the model's input shape: uint8 (scaled by 1/255 in C++)
        or float32. Other integer images are refused: their scale is not known (0..255? 0..65535?).
        A channels-last model follows Keras instead: uint8 pixels are the values 0..255 (scale them
        with a Rescaling(1. / 255) layer), gathered as such in C++."""
        x = _from_dlpack_array(x)
        if isinstance(x, _core.Tensor):
            x = x.numpy()
        try:
            x = np.asarray(x)
        except Exception as e:
            raise TypeError(f"{where}: argument '{name}' expected a numpy array of images, got {_type_name(x)} "
                            f"({e})") from None
        if x.dtype.kind not in "uif":
            raise TypeError(f"{where}: argument '{name}' expected numeric images (uint8, or floats), got dtype {x.dtype}")
        if x.ndim < 2 or x.shape[0] == 0:
            raise ValueError(f"{where}: argument '{name}' expected a non-empty batch of samples, got shape {x.shape}")
        if x.dtype.kind in "ui" and x.dtype != np.uint8:
            raise TypeError(f"{where}: argument '{name}' expected uint8 (pixels 0..255, scaled by 1/255) or float "
                            f"images, got dtype {x.dtype}: convert with x.astype(np.uint8) for 0..255 pixels, "
                            "or x.astype(np.float32) for values the model should see as they are")
        if not self.built:
            self._build_from_data(x.shape[1:], where)
        want = tuple(self.input_shape)
        if x.shape[1:] != want:
            x = x.reshape((x.shape[0],) + want) if _one_channel(x.shape[1:], want, self._input_format) \
                else _layout_error(x.shape, want, self._input_format, where, name)
        if x.dtype != np.uint8:
            with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf: refused below
                x = np.ascontiguousarray(x, dtype=np.float32)
            if not np.isfinite(x).all():
                bad = int(np.argwhere(~np.isfinite(x.reshape(len(x), -1)))[0][0])
                raise ValueError(f"{where}: argument '{name}' contains NaN or infinite values (as float32; "
                                 f"first in sample {bad})")
        return np.ascontiguousarray(x)

    def _targets(self, y, n, where):
        """The targets of the compiled loss as numpy: int64 labels (N,) or float32 rows (N, K)."""
        y = _from_dlpack_array(y)
        if isinstance(y, _core.Tensor):
            y = y.numpy()
        try:
            y = np.asarray(y)
        except Exception as e:
            raise TypeError(f"{where}: argument 'y' expected a numpy array of targets, got {_type_name(y)} "
                            f"({e})") from None
        if y.ndim == 0 or len(y) != n:
            raise ValueError(f"{where}: x and y have different lengths ({n} samples, "
                             f"{len(y) if y.ndim else 'a scalar'} labels)")
        shape = tuple(self._graph.output_shape(self._graph.outputs[self._loss_output]))
        if self._loss.targets == "values":
            return _value_targets(y, shape, where)
        if self._loss.targets == "binary":
            return _binary_targets(y, where)
        return _class_targets(y, shape[0], where)

    def _tensor(self, array):
        """A numpy batch as a Tensor on the model's device (a view of it on the CPU)."""
        t = _core.from_numpy(array)
        return t.to(self._graph.device) if self._graph.device != "cpu" else t

    def _prepare_x(self, x, where):
        return self._tensor(self._images(x, where))

    def _prepare_y(self, y, n, where):
        return self._tensor(self._targets(y, n, where))

    def _build_from_data(self, sample_shape, where):
        self._require_built(where)  # a functional model always has its Input

    # -- training ----------------------------------------------------------------------------------
    @_synced
    def fit(self, x=None, y=None, batch_size=32, epochs=1, verbose=1, callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, seed=None, initial_epoch=0,
            adversarial=None):
        """Trains for `epochs`; returns a History. x: (N, C, H, W) or (N, H, W) images (uint8 scaled to
        [0, 1] in C++); y: integer labels (N,) or one-hot rows (N, classes).

        class_weight ({class index: weight}) or sample_weight (one number per sample), as Keras: each
        row's loss is multiplied by its weight and the batch's sum divided by the batch size (not by the
        weights' sum); accuracy is not weighted. A row's class is its label, the argmax of a one-hot
        row or a binary target rounded; classes not named weigh 1. validation_split takes the
        sample_weight of its rows along (the validation loss is then weighted); validation_data may
        be (x_val, y_val) or (x_val, y_val, sample_weight_val).

        After convnet.distributed.init() with several ranks, fit is data-parallel (see
        convnet.distributed): batch_size is the batch of each rank (as in PyTorch DDP; the global batch
        is batch_size * ranks), the logs are global, and rank 0 alone shows progress and writes files.

        adversarial: None, or adversarial training (Madry et al. 2018): dict(epsilon=0.1, method="fgsm")
        or dict(epsilon=0.1, method="pgd", alpha=None, steps=10, random_start=True), both with an
        optional clip=(0.0, 1.0) (see convnet.attacks). Each step trains on the attack's examples of
        its batch (the same shuffled batches), made against the current weights; the logged loss and
        accuracy are those of the adversarial batches. One step then costs one (FGSM) or `steps` (PGD)
        extra backward passes, and Python makes each step's call into C++."""
        self._require_compiled("fit")
        from . import attacks as attacks_mod  # attacks imports this module
        adversarial = attacks_mod._training_attack(adversarial, "fit")
        batch_size = _check_int("batch_size", batch_size, 1, "fit")
        epochs = _check_int("epochs", epochs, 0, "fit")
        initial_epoch = _check_int("initial_epoch", initial_epoch, 0, "fit")
        seed = self._seed if seed is None else _check_int("seed", seed, 0, "fit", 2**63 - 1 - epochs)
        if verbose not in (0, 1, 2) or isinstance(verbose, bool):
            raise ValueError(f"fit: argument 'verbose' expected 0 (silent), 1 (progress bar) or 2 (a line per "
                             f"epoch), got {verbose!r}")
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"fit: argument 'shuffle' expected True or False, got {shuffle!r}")
        if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float, np.floating)) \
                or not 0 <= validation_split < 1:
            raise ValueError(f"fit: argument 'validation_split' expected a number in [0, 1), got {validation_split!r}")
        if x is None or y is None:
            raise ValueError("fit: arguments 'x' and 'y' are required")
        cbs = _callback_list(callbacks)
        parallel = distributed_mod.active()
        if parallel and adversarial is not None:
            raise ValueError("fit: adversarial training is not data-parallel yet; train it in one process")
        if parallel and not distributed_mod.is_main():
            verbose = 0
            cbs = [cb for cb in cbs if not cb.writes_files]
        x = self._images(x, "fit")
        y = self._targets(y, len(x), "fit")
        sample_weight = None if sample_weight is None else _sample_weights(sample_weight, len(x), "fit")
        if validation_split and validation_data is None:
            n_val = int(len(x) * validation_split)
            if n_val == 0:
                raise ValueError(f"fit: validation_split={validation_split} leaves no validation data from "
                                 f"{len(x)} samples")
            n_train = len(x) - n_val
            validation_data = (x[n_train:], y[n_train:], None if sample_weight is None else sample_weight[n_train:])
            x, y = x[:n_train], y[:n_train]
            sample_weight = None if sample_weight is None else sample_weight[:n_train]
        weights = _row_weights(y, self._loss_classes, class_weight, sample_weight, "fit")
        if weights is not None and adversarial is not None:
            raise ValueError("fit: class_weight and sample_weight do not apply to adversarial training (its batches "
                             "are the attack's examples); train without them or without 'adversarial'")
        val = self._validation(validation_data) if validation_data is not None else None
        tx, ty = self._tensor(x), self._tensor(y)
        if adversarial is not None:
            train_steps = adversarial.steps_function(self, x, y, seed + initial_epoch)
        elif weights is not None:
            train_steps = functools.partial(self._graph.train_steps, sample_weight=self._tensor(weights))
        else:
            train_steps = self._graph.train_steps
        history = callbacks_mod.History()
        cbs.insert(0, history)
        self.history = history
        logged = ["loss"] + ["accuracy"] * self._has_accuracy + ([] if self._top_k is None else [self._top_k.name])
        params = {"epochs": epochs, "batch_size": batch_size, "samples": len(tx),
                  "metrics": logged + [f"val_{k}" for k in logged if val is not None] + ["learning_rate"]}
        for cb in cbs:
            cb.set_model(self)
            cb.set_params(params)
        n = len(tx)
        rows = math.ceil(n / distributed_mod.size()) if parallel else n  # this rank's share of an epoch
        batch_size = min(batch_size, rows)
        steps = math.ceil(rows / batch_size)
        # ~50 progress updates per epoch; one step per C++ call where a callback watches each batch
        chunk = 1 if any(cb.watches_batches for cb in cbs) else max(1, math.ceil(steps / 50))
        in_order = None if shuffle else _core.from_numpy(np.arange(n, dtype=np.int64)).to(self._graph.device)
        self.stop_training = False
        self._graph.set_data_parallel(parallel)
        try:
            return self._fit_epochs(train_steps, tx, ty, val, n, steps, chunk, batch_size, epochs, initial_epoch,
                                    shuffle, in_order, seed, verbose, cbs, history, parallel)
        finally:
            self._graph.set_data_parallel(False)

    def _fit_epochs(self, train_steps, tx, ty, val, n, steps, chunk, batch_size, epochs, initial_epoch, shuffle,
                    in_order, seed, verbose, cbs, history, parallel):
        for cb in cbs:
            cb.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            for cb in cbs:
                cb.on_epoch_begin(epoch)
            # Shuffled in a kernel on the model's device: a GPU epoch uploads nothing.
            order = _core.nn.permutation(n, seed + epoch, self._graph.device) if shuffle else in_order
            steps_of_epoch = train_steps
            if parallel:  # this rank's rows of the epoch's order (the same permutation on every rank)
                order, mine = self._rank_order(order, n)
                steps_of_epoch = functools.partial(train_steps, order_rows=mine)
            bar = tqdm(total=steps, desc=f"Epoch {epoch + 1}/{epochs}", unit="step", disable=verbose != 1,
                       dynamic_ncols=True, leave=True)
            start = time.perf_counter()
            totals = self._epoch_steps(steps_of_epoch, (tx, ty, order), steps, chunk, batch_size, epoch, bar, cbs)
            logs = self._running_logs(totals)
            if val is not None:
                v = self._evaluate_totals(*val, min(max(batch_size, 256), len(val[0])))
                logs.update({f"val_{k}": value for k, value in self._running_logs(v).items()})
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

    def _rank_order(self, order, n):
        """(this rank's order as a tensor of n entries, how many of them are its rows): the epoch's order
        padded with its first rows to a multiple of the ranks (DistributedSampler), every size()-th from
        this rank's position, so that a global batch is the rows one process with size() times the batch
        would take."""
        ranks = distributed_mod.size()
        order = order.numpy() if isinstance(order, _core.Tensor) else np.asarray(order)
        padded = np.concatenate([order, order[:(-n) % ranks]])
        mine = padded[distributed_mod.rank()::ranks]
        full = np.zeros(n, np.int64)
        full[:len(mine)] = mine
        return self._tensor(full), len(mine)

    def _global_stats(self, s):
        """A data-parallel run's StepStats summed over the ranks (each rank's loss is already the global mean)."""
        loss_sum, correct, top_k, count = distributed_mod.sum_values([s.loss_sum, s.correct, s.top_k_correct,
                                                                      s.count])
        if len(self._graph.buffers()):  # batch-norm statistics: the mean over the ranks
            distributed_mod.average_(self._graph.flat_buffers)
        total = _Totals()
        total.loss_sum, total.correct, total.top_k_correct, total.count = loss_sum, int(correct), int(top_k), int(count)
        total.steps, total.nonfinite_step = s.steps, s.nonfinite_step
        return total

    def _evaluate_totals(self, x, y, weights, batch_size):
        """The _Totals of numpy x, y (prepared) and row weights (or None) in inference mode; with several
        ranks each evaluates its share and the totals are summed over them."""
        totals = _Totals()
        rows = distributed_mod.shard(len(x)) if distributed_mod.active() else slice(0, len(x))
        x, y, weights = x[rows], y[rows], None if weights is None else weights[rows]
        for part in _chunks(len(x), batch_size) if len(x) else []:
            w = None if weights is None else self._tensor(weights[part])
            totals.add(self._graph.evaluate(self._tensor(x[part]), self._tensor(y[part]), batch_size, w))
        if distributed_mod.active():
            totals.loss_sum, totals.correct, totals.top_k_correct, totals.count = distributed_mod.sum_values(
                [totals.loss_sum, totals.correct, totals.top_k_correct, totals.count])
        return totals

    def _validation(self, validation_data):
        """validation_data (x_val, y_val) or (x_val, y_val, sample_weight_val) as prepared numpy arrays (the
        weights None when not given)."""
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("fit: argument 'validation_data' expected a tuple (x_val, y_val) or (x_val, y_val, "
                             "sample_weight_val)")
        where = "fit (validation_data)"
        vx = self._images(validation_data[0], where)
        vy = self._targets(validation_data[1], len(vx), where)
        weights = validation_data[2] if len(validation_data) == 3 else None
        return vx, vy, None if weights is None else _sample_weights(weights, len(vx), where)

    @property
    def _loss_classes(self):
        """The compiled loss's class count (2 for binary cross-entropy), None for a regression loss."""
        if self._loss.targets == "values":
            return None
        if self._loss.targets == "binary":
            return 2
        return tuple(self._graph.output_shape(self._graph.outputs[self._loss_output]))[0]

    def _epoch_steps(self, train_steps, data, steps, chunk, batch_size, epoch, bar, cbs):
        """Runs one epoch's steps in C++ calls of `chunk` steps; returns the _Totals of the steps run.
        Calls the callbacks' batch hooks (then chunk is 1) and stops at a non-finite loss: a
        FloatingPointError, or with TerminateOnNaN the end of training."""
        totals = _Totals()
        start = time.perf_counter()
        for first in range(0, steps, chunk):
            for cb in cbs:
                cb.on_train_batch_begin(first)
            s = train_steps(*data, first, min(chunk, steps - first), batch_size)
            if distributed_mod.active() and self._graph.data_parallel:
                s = self._global_stats(s)
            if s.nonfinite_step >= 0:
                bar.close()
                where = f"epoch {epoch + 1}, step {first + s.nonfinite_step + 1}"
                if not any(isinstance(cb, callbacks_mod.TerminateOnNaN) for cb in cbs):
                    raise FloatingPointError(f"fit: the loss became NaN or infinite at {where} (learning rate "
                                             f"{self.learning_rate:g}); training stopped before that update")
                print(f"TerminateOnNaN: the loss became NaN or infinite at {where}; training stopped before that "
                      "update")
                self.stop_training = True
                return totals.add(s)
            totals.add(s)
            for cb in cbs:
                cb.on_train_batch_end(first, self._running_logs(totals))
            elapsed = time.perf_counter() - start
            bar.update(s.steps)
            shown = " ".join(f"{k}={v:.4f}" for k, v in self._running_logs(totals).items())
            bar.set_postfix_str(f"{shown} {totals.count / max(elapsed, 1e-9):,.0f} img/s", refresh=False)
        return totals

    def _running_logs(self, totals):
        """The logs of the samples summed in `totals`, as Keras reports them: the loss, then each compiled
        metric (accuracy is always there for a classification loss), means over the samples (NaN for none)."""
        mean = (lambda total: total / totals.count if totals.count else math.nan)
        logs = {"loss": mean(totals.loss_sum)}
        if self._has_accuracy:
            logs["accuracy"] = mean(totals.correct)
        if self._top_k is not None:
            logs[self._top_k.name] = mean(totals.top_k_correct)
        return logs

    @_synced
    def evaluate(self, x, y, batch_size=256, verbose=0, return_dict=False, sample_weight=None):
        """(loss, accuracy) in inference mode (dropout off, batch norm on running statistics); the loss
        alone for mean_squared_error; with return_dict=True, {'loss': ..., 'accuracy': ...} as Keras.
        sample_weight: one number per sample weighting its loss (the sum divided by the samples, as in
        fit); accuracy is not weighted."""
        self._require_compiled("evaluate")
        if not isinstance(return_dict, (bool, np.bool_)):
            raise TypeError(f"evaluate: argument 'return_dict' expected True or False, got {return_dict!r}")
        batch_size = _check_int("batch_size", batch_size, 1, "evaluate")
        x = self._images(x, "evaluate")
        y = self._targets(y, len(x), "evaluate")
        weights = None if sample_weight is None else _sample_weights(sample_weight, len(x), "evaluate")
        totals = self._evaluate_totals(x, y, weights, min(batch_size, len(x)))
        logs = self._running_logs(totals)
        if verbose:
            print(f"{totals.count} samples - " + " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        if return_dict:
            return logs
        return tuple(logs.values()) if len(logs) > 1 else logs["loss"]

    @property
    def _has_accuracy(self):
        return self._loss is not None and self._loss.targets != "values"

    @_synced
    def predict(self, x, batch_size=256, verbose=0):
        """The model's output (class probabilities when it ends in softmax) as a numpy array, in
        inference mode; a list of arrays, in the model's order, for a model of several outputs.
        verbose=1: a progress bar over the chunks of about 4096 samples it runs."""
        batch_size = _check_int("batch_size", batch_size, 1, "predict")
        if verbose not in (0, 1) or isinstance(verbose, bool):
            raise ValueError(f"predict: argument 'verbose' expected 0 (silent) or 1 (progress bar), got {verbose!r}")
        x = self._images(x, "predict")
        batch_size = min(batch_size, len(x))
        parallel = distributed_mod.active()  # each rank predicts its share, then every rank gets all rows
        mine = x[distributed_mod.shard(len(x))] if parallel else x
        chunks = tqdm(_chunks(len(mine), batch_size), desc="predict", unit="chunk",
                      disable=verbose != 1 or not distributed_mod.is_main())
        parts = [[y.numpy() for y in self._graph.predict(self._tensor(mine[part]), batch_size)] for part in chunks]
        if not parts:  # a rank with no rows (fewer samples than ranks)
            parts = [[np.empty((0, *self._graph.output_shape(o)), np.float32) for o in self._graph.outputs]]
        outputs = [np.concatenate(arrays) if len(arrays) > 1 else arrays[0] for arrays in zip(*parts)]
        if parallel:
            outputs = [distributed_mod.gather_rows(out) for out in outputs]
        return outputs[0] if len(outputs) == 1 else outputs

    @_synced
    def input_gradients(self, x, y, batch_size=256):
        """d(loss)/d(x): the gradient of the compiled loss, averaged over the rows of x as in a
        training batch, with respect to each input value, as a float32 array shaped like x (for uint8
        images, with respect to the scaled values in [0, 1] the model sees). Computed by the C++
        backward pass on the model's device, in inference mode (batch norm on its running statistics,
        dropout off); nothing is trained. For saliency maps and adversarial examples."""
        self._require_compiled("input_gradients")
        batch_size = _check_int("batch_size", batch_size, 1, "input_gradients")
        shape = np.shape(x)
        x = self._images(x, "input_gradients")
        y = self._targets(y, len(x), "input_gradients")
        batch_size = min(batch_size, len(x))
        parts = []
        for part in _chunks(len(x), batch_size):  # each the gradient of its chunk's mean: weighted to the whole's
            grad = self._graph.input_gradients(self._tensor(x[part]), self._tensor(y[part]), batch_size).numpy()
            rows = part.stop - part.start
            parts.append(grad if rows == len(x) else grad * np.float32(rows / len(x)))
        return np.concatenate(parts).reshape(shape)

    @_synced
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

    @_synced
    def _graph_description(self):
        """The model's C++ graph for exporters (convnet.onnx): a GraphDescription of numpy copies."""
        graph, specs = self._built.graph, self._built.specs
        params, buffers = [dict() for _ in specs], [dict() for _ in specs]
        for i, (node, name, _, _) in enumerate(graph.params()):
            params[node][name] = graph.param(i).numpy().copy()
        for i, (node, name, _, _) in enumerate(graph.buffers()):
            buffers[node][name] = graph.buffer(i).numpy().copy()
        for i, spec in enumerate(specs):  # a shared layer's later calls use its first call's
            if "shares" in spec:
                params[i], buffers[i] = params[spec["shares"]], buffers[spec["shares"]]
        return GraphDescription([dict(s) for s in specs], [tuple(graph.output_shape(i)) for i in range(len(specs))],
                                params, buffers, list(graph.outputs), [t.layer.name for t in self._output_tensors])

    # -- receptive fields --------------------------------------------------------------------------
    def _receptive_fields(self):
        """One ReceptiveField per leaf of the inlined graph, composed layer by layer: a window of extent
        k, stride s and padding p grows the field by (k - 1) * jump, multiplies the jump (the input
        distance between neighbouring units) by s and moves the first unit's centre by
        ((k - 1) / 2 - p) * jump. A merge takes its widest input; a flat output sees everything."""
        shapes = [self._built.graph_shape(0)]  # each leaf's per-sample output shape, images (C, H, W)
        h, w = shapes[0][-2:]
        whole = ReceptiveField((h, w), (h, w), ((h - 1) / 2, (w - 1) / 2), True)
        fields = [ReceptiveField((1, 1), (1, 1), (0.0, 0.0), False)]
        for i, leaf in enumerate(self._flat[1:], 1):
            layer, parents = leaf.layer, [fields[i] for i in leaf.inputs]
            field = max(parents, key=lambda f: (f.is_global, f.size))
            out_shape = self._built.graph_shape(i)
            shapes.append(out_shape)
            window = layer.receptive
            if callable(window):  # of the input's shape
                window = window(shapes[leaf.inputs[0]])
            if field.is_global or window == "global" or len(out_shape) != 3:
                field = whole
            elif window is not None:
                kh, kw, stride, pad = window
                (fh, fw), (jh, jw), (ch, cw) = field.size, field.stride, field.center
                field = ReceptiveField((fh + (kh - 1) * jh, fw + (kw - 1) * jw), (jh * stride[0], jw * stride[1]),
                                       (ch + ((kh - 1) / 2 - pad[0]) * jh, cw + ((kw - 1) / 2 - pad[1]) * jw), False)
            fields.append(field)
        return fields

    @_synced
    def receptive_field(self, layer):
        """How much of the input one unit of `layer`'s output sees (`layer` a name or a layer of this
        model; a shared layer: its first call). Returns ReceptiveField(size, stride, center, is_global):
        unit (i, j) of the output sees the input window of `size` (rows, cols) pixels centred on
        (center[0] + i * stride[0], center[1] + j * stride[1]), clipped to the image where the window
        reaches into padding. The summary's "Receptive field" and "Stride" columns."""
        self._require_built("receptive_field")
        target = self.get_layer(layer) if isinstance(layer, str) else layer
        for leaf, field in zip(self._flat, self._receptive_fields()):
            if leaf.layer is target:
                return field
        raise ValueError(f"{self.name}.receptive_field: argument 'layer' expected a layer of this model or its "
                         f"name, got {target!r}")

    # -- summary -----------------------------------------------------------------------------------
    @_synced
    def summary(self, print_fn=print):
        """Prints each layer's output shape, parameter count, and the receptive field and cumulative
        stride of its outputs, then the totals. Layers of nested models and custom layers are
        listed by their path (outer/inner)."""
        self._require_built("summary")
        rows = [("Layer (type)", "Output shape", "Param #", "Receptive field", "Stride")]
        rows.append((f"{self._flat[0].label} (InputLayer)", str((None,) + tuple(self.input_shape)), "0", "1x1", "1x1"))
        trainable = frozen = 0
        counted = set()
        num = (lambda x: str(int(x)) if float(x).is_integer() else f"{x:.3g}")  # upsampling: fractional strides
        fmt = (lambda field, v: "global" if field.is_global else f"{num(v[0])}x{num(v[1])}")
        for i, (leaf, field) in enumerate(zip(self._flat[1:], self._receptive_fields()[1:]), 1):
            layer = leaf.layer
            out_shape = (None,) + self._built.shape(i)
            sizes = [] if id(layer) in counted else [int(np.prod(t.shape)) for t in self._layer_tensors(layer)]
            counted.add(id(layer))
            n_weights = sum(sizes[:len(_weight_specs(layer))])
            n_buffers = sum(sizes) - n_weights
            if layer.trainable:
                trainable += n_weights
            else:
                frozen += n_weights
            frozen += n_buffers
            rows.append((f"{leaf.label} ({type(layer).__name__})", str(out_shape), f"{n_weights + n_buffers:,}",
                         fmt(field, field.size), fmt(field, field.stride)))
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
        """The architecture: one entry per layer call, in topological order, each naming its inputs as
        [layer name, call index] (a shared layer is called more than once), then the outputs."""
        self._require_built("get_config")
        call = _call_indices(self._tensors)
        ref = lambda t: [t.layer.name, call[id(t)]]
        entries = [dict(_layer_entry(t.layer), inbound=[ref(p) for p in t.inputs]) for t in self._tensors[1:]]
        config = self._config(self._tensors[0].layer.get_config(), entries)
        config["outputs"] = [ref(o) for o in self._output_tensors]
        return config

    def _config(self, input_config, entries):
        return {"class_name": type(self).__name__, "name": self.name, "seed": self._seed,
                "trainable": self._trainable, "input": input_config, "layers": entries}

    def _state(self):
        """Weights, batch-norm statistics and optimizer state as numpy arrays keyed by name."""
        return {**self._weights_state(), **self._optimizer_state()}

    def _weights_state(self):
        """Weights and batch-norm statistics as numpy arrays keyed 'layer key/weight name'."""
        return {f"{leaf.key}/{name}": np.array(tensor.numpy(), copy=True)
                for leaf in _unique_leaves(self._flat)
                for name, tensor in zip(leaf.layer.weight_names, self._layer_tensors(leaf.layer))}

    def _optimizer_state(self):
        if self._optimizer is None:
            return {}
        state = {f"optimizer/{name}": np.array(tensor.numpy(), copy=True)
                 for name, tensor in self._graph.optimizer_state()}
        state["optimizer/step"] = np.array([self._graph.optimizer_step], dtype=np.int64)
        return state

    def _load_state(self, state, where="load"):
        self._load_weights_state(state, where)
        self._load_optimizer_state(state, where)

    def _load_weights_state(self, state, where):
        for leaf in _unique_leaves(self._flat):
            for name, tensor in zip(leaf.layer.weight_names, self._layer_tensors(leaf.layer)):
                _load_array(tensor, state, f"{leaf.key}/{name}", "weight", where)

    def _load_optimizer_state(self, state, where):
        if self._optimizer is not None and "optimizer/step" in state:
            for name, tensor in self._graph.optimizer_state():
                _load_array(tensor, state, f"optimizer/{name}", "optimizer state", where)
            self._graph.optimizer_step = int(state["optimizer/step"][0])

    @_synced
    def save(self, path):
        """Writes the architecture and the last fit's history (JSON), weights and optimizer state
        (safetensors) to one file, atomically: an interrupted save leaves any previous file intact."""
        from .serialization import save_model_file

        self._require_built("save")
        config = self.get_config()
        config["frozen"] = [leaf.key for leaf in self._flat[1:] if not leaf.layer.trainable]
        if self._optimizer is not None:
            config["compile"] = {"optimizer": self._optimizer.get_config(), "loss": self._loss.get_config(),
                                 "metrics": [] if self._top_k is None else [self._top_k.get_config()]}
        if self.history is not None:
            config["history"] = self.history.get_config()
        save_model_file(path, config, self._state(), where="save")

    @_synced
    def save_weights(self, path):
        """Writes the weights and batch-norm statistics alone (no architecture, no optimizer state) to a
        safetensors file, atomically, keyed by layer position and class ('003.Dense/kernel'), so that
        load_weights fills any model of the same architecture, whatever its layers are named."""
        from .serialization import save_model_file

        self._require_built("save_weights")
        save_model_file(path, {"weights_only": True, "model": self.name},
                        {k: v.numpy().copy() for k, v in self._positional_tensors().items()}, where="save_weights")

    @_synced
    def load_weights(self, path):
        """Reads the weights that save_weights wrote (matched by layer position and class) or those of a
        whole model file (matched by layer name) into this model: a missing, extra or misshapen tensor is
        a ValueError naming it, and nothing is changed. The optimizer state is left as it is."""
        from .serialization import as_path, load_model_file

        self._require_built("load_weights")
        path = as_path(path, "load_weights")
        config, tensors, _ = load_model_file(path, where="load_weights")
        if config.get("weights_only") is True:
            targets = self._positional_tensors()
        else:
            targets = {f"{leaf.key}/{name}": tensor for leaf in _unique_leaves(self._flat)
                       for name, tensor in zip(leaf.layer.weight_names, self._layer_tensors(leaf.layer))}
        weights = {k: v for k, v in tensors.items() if not k.startswith("optimizer/")}
        try:
            _check_tensors(weights, {k: t.numpy() for k, t in targets.items()})
        except ValueError as e:
            raise ValueError(f"load_weights: '{path}' does not hold the weights of {self.name!r}: {e}") from None
        for key, tensor in targets.items():
            _load_array(tensor, weights, key, "weight", "load_weights")

    def _positional_tensors(self):
        return {f"{i:03d}.{type(leaf.layer).__name__}/{name}": tensor
                for i, leaf in enumerate(_unique_leaves(self._flat))
                for name, tensor in zip(leaf.layer.weight_names, self._layer_tensors(leaf.layer))}

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} layers={len(self.layers)}>"


def _load_array(tensor, state, key, what, where):
    if key not in state or state[key].shape != tuple(tensor.shape):
        raise ValueError(f"{where}: {what} {key!r} missing or of the wrong shape")
    tensor.copy_(np.ascontiguousarray(state[key], dtype=np.float32))


def _layer_entry(layer):
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def _stack_format(stack):
    """The data_format of a Sequential's implicit Input: that of its first layer that names one (a
    built model: its Input's), else None (channels_first)."""
    for layer in stack:
        data_format = layer._input_format if isinstance(layer, Model) and layer.built \
            else getattr(layer, "data_format", None)
        if data_format is not None:
            return data_format
    return None


class Sequential(Model):
    """A stack of layers: Sequential([Input((1, 28, 28)), Conv2D(32, 3, activation='relu'), ...]). Without
    an Input (or a first layer's input_shape=), the model is built by the first fit/predict. Its
    layers may be models too: Sequential([base, Flatten(), Dense(5)])."""

    def __init__(self, layers=None, name=None):
        super().__init__(name=name)
        self._input = None
        self._implicit_shape = None  # the input_shape= the Input was made from, if it was
        self._stack = []
        for layer in layers or []:
            self.add(layer, build=False)
        if self._input is not None and self._stack:
            self._connect()

    @property
    def layers(self):
        return list(self._stack)

    def add(self, layer, build=True):
        """Appends a layer; on a built model the other layers keep their weights."""
        if isinstance(layer, SymbolicTensor) and isinstance(layer.layer, InputLayer):
            if self._stack or self._input is not None:
                raise ValueError(f"{self.name}: Input must come first")
            self._input = layer
            return
        if not isinstance(layer, Layer) or isinstance(layer, InputLayer):
            raise TypeError(f"{self.name}: add() expected a convnet layer or model, got {layer!r}")
        if isinstance(layer, layers_mod._Merge):
            raise ValueError(f"{self.name}: {type(layer).__name__} joins branches; use the functional Model for it")
        if isinstance(layer, Model) and (layer is self or layer._contains(self)):
            raise ValueError(f"{self.name}: add() cannot add the model {layer.name!r} to itself (it holds "
                             f"{self.name!r} already, or is it)")
        before = self._input
        if self._input is None and not self._stack and layer.input_shape is not None:
            self._input = layers_mod.Input(layer.input_shape, data_format=_stack_format([layer]))
            self._implicit_shape = layer.input_shape
        self._stack.append(layer)
        if build and self._input is not None:
            try:
                self._connect()
            except BaseException:  # the model stays as it was
                self._stack.pop()
                layer._outputs.pop(self, None)
                self._input = before
                if before is None:
                    self._implicit_shape = None
                raise

    def _connect(self):
        self._follow_stack_format()
        t = self._input
        for layer in self._stack:
            t = layer._make_output([t], key=self)
        self._build(structure=self._structure(self._input, t))

    def _follow_stack_format(self):
        """An Input made from a layer's input_shape takes the data_format of the first layer that names
        one, which may come later than that layer (Dense(..., input_shape=(784,)), then Reshape, Conv2D)."""
        layer = self._input.layer
        data_format = _stack_format(self._stack)
        if self._implicit_shape is not None and data_format not in (None, layer.data_format):
            self._input = layers_mod.Input(self._implicit_shape, name=layer.name, data_format=data_format)

    def _subgraph(self):
        if self._tensors:
            return super()._subgraph()
        if not self._stack:
            raise ValueError(f"{self.name}: the model has no layers to use as a layer")
        t = placeholder = SymbolicTensor(self, [])
        tensors = []
        for layer in self._stack:
            t = SymbolicTensor(layer, [t])
            tensors.append(t)
        return [placeholder], tensors, t

    def _build_from_data(self, sample_shape, where):
        if not self._stack:
            raise ValueError(f"{self.name}.{where}: the model has no layers")
        self._input = layers_mod.Input(tuple(sample_shape), data_format=_stack_format(self._stack))
        try:
            self._connect()
        except BaseException:
            self._input = None
            raise

    def _require_built(self, where):
        if not self._stack:
            raise ValueError(f"{self.name}.{where}: the model has no layers")
        super()._require_built(where)

    def get_config(self):
        config = self._input.layer.get_config() if self._input is not None else None
        return self._config(config, [_layer_entry(layer) for layer in self._stack])


def _one_channel(got, want, data_format):
    """(H, W) grayscale samples for a one-channel (1, H, W) or (H, W, 1) input."""
    if len(want) != 3:
        return False
    return (want[0] == 1 and got == want[1:]) if data_format == "channels_first" else (want[2] == 1 and got == want[:2])


def _layout_error(shape, want, data_format, where, name):
    """The ValueError for samples of the wrong shape, saying which layout the model expects."""
    layout = {"channels_first": "channels_first: (C, H, W)", "channels_last": "channels_last: (H, W, C)"}[data_format]
    hint = ""
    if len(want) == 3 and len(shape) == 4:
        other = (want[2], want[0], want[1]) if data_format == "channels_last" else (want[1], want[2], want[0])
        if tuple(shape[1:]) == other:
            axes = "(0, 2, 3, 1)" if data_format == "channels_last" else "(0, 3, 1, 2)"
            hint = (f"; these look like {'channels_first' if data_format == 'channels_last' else 'channels_last'} "
                    f"images: convert them with x.transpose{axes}")
    raise ValueError(f"{where}: argument '{name}' expected samples of shape {want} ({layout}), got array of shape "
                     f"{tuple(shape)}{hint}")


def _class_targets(y, classes, where):
    """Integer class labels (N,) (or (N, 1), or whole floats) in [0, classes), or probability rows (N, classes)."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 1:
        if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        if y.dtype.kind not in "iu":
            raise TypeError(f"{where}: argument 'y' expected integer class labels or one-hot rows, got dtype {y.dtype}")
        if y.size and (y.min() < 0 or y.max() >= classes):
            bad = int(np.argmax((y < 0) | (y >= classes)))
            raise ValueError(f"{where}: argument 'y' expected labels in [0, {classes}), got {y[bad]} at index {bad}")
        return np.ascontiguousarray(y, dtype=np.int64)
    if y.ndim != 2:
        raise ValueError(f"{where}: argument 'y' expected labels (N,) or one-hot rows (N, classes), got shape {y.shape}")
    if y.shape[1] != classes:
        raise ValueError(f"{where}: argument 'y' expected one-hot rows of width {classes} (the model's classes), "
                         f"got width {y.shape[1]}")
    y = np.ascontiguousarray(y, dtype=np.float32)
    if not np.isfinite(y).all() or (y < 0).any():
        raise ValueError(f"{where}: argument 'y' expected finite, non-negative target probabilities")
    return y


def _binary_targets(y, where):
    """Labels 0/1 (or probabilities) (N,) or (N, 1), as float32 rows (N, 1)."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.dtype.kind not in "biuf":
        raise ValueError(f"{where}: argument 'y' expected binary labels (N,) or (N, 1), got shape {y.shape} "
                         f"of dtype {y.dtype}")
    y = np.ascontiguousarray(y, dtype=np.float32).reshape(-1, 1)
    if not np.all((y >= 0) & (y <= 1)):
        bad = int(np.argmax(~((y >= 0) & (y <= 1))))
        raise ValueError(f"{where}: argument 'y' expected values in [0, 1] for binary_crossentropy, got {y[bad, 0]} "
                         f"at index {bad}")
    return y


class GraphDescription(NamedTuple):
    """A model's inlined C++ graph (Model._graph_description): node i is specs[i] (op, name, inputs and
    the node's parameters), shapes[i] its per-sample output shape as the graph holds it (images (C, H, W)),
    params[i] / buffers[i] its weights and batch-norm statistics by name; outputs: the output nodes, named
    output_names (the output layers)."""
    specs: list
    shapes: list
    params: list
    buffers: list
    outputs: list
    output_names: list


class _Totals:
    """Sums of the StepStats of a run of C++ calls (an epoch, an evaluation)."""

    def __init__(self):
        self.loss_sum, self.correct, self.top_k_correct, self.count, self.steps = 0.0, 0, 0, 0, 0
        self.nonfinite_step = -1

    def add(self, stats):
        self.loss_sum += stats.loss_sum
        self.correct += stats.correct
        self.top_k_correct += stats.top_k_correct
        self.count += stats.count
        self.steps += stats.steps
        return self


def _row_weights(y, classes, class_weight, sample_weight, where):
    """Each row's weight in the loss as float32 (N,), or None for all 1: Keras' sample_weight (one
    number per row), or class_weight ({class: weight}; a row's class is its label, the argmax of a
    one-hot row, or a binary target rounded; classes not named weigh 1). y: the prepared targets;
    classes: the loss's class count (None for a regression loss)."""
    if class_weight is not None and sample_weight is not None:
        raise ValueError(f"{where}: give class_weight or sample_weight, not both (as in Keras)")
    if sample_weight is not None:
        return _sample_weights(sample_weight, len(y), where)
    if class_weight is None:
        return None
    if not isinstance(class_weight, dict):
        raise TypeError(f"{where}: argument 'class_weight' expected a dict {{class index: weight}}, got "
                        f"{_type_name(class_weight)}")
    if classes is None:
        raise ValueError(f"{where}: argument 'class_weight' needs a classification loss (cross-entropy), the model "
                         "is compiled with mean_squared_error; give sample_weight instead")
    lookup = np.ones(classes, np.float32)
    for key, weight in class_weight.items():
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or not 0 <= key < classes:
            raise ValueError(f"{where}: argument 'class_weight' names class {key!r}, which does not exist: the "
                             f"model's classes are 0 .. {classes - 1}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float, np.integer, np.floating)) \
                or not math.isfinite(weight):
            raise ValueError(f"{where}: argument 'class_weight' expected a finite number for class {key}, got "
                             f"{weight!r}")
        lookup[int(key)] = weight
    if y.ndim == 1:  # int64 labels, already checked against the classes
        return lookup[y]
    if y.shape[1] == 1:  # binary targets in [0, 1]
        return lookup[np.round(y[:, 0]).astype(np.int64)]
    return lookup[np.argmax(y, axis=1)]


def _sample_weights(sample_weight, n, where):
    """Keras' sample_weight: n finite numbers, (n,) or (n, 1), as float32 (n,)."""
    w = sample_weight.numpy() if isinstance(sample_weight, _core.Tensor) else sample_weight
    try:
        w = np.asarray(w)
    except Exception as e:
        raise TypeError(f"{where}: argument 'sample_weight' expected an array of numbers, got "
                        f"{_type_name(sample_weight)} ({e})") from None
    if w.ndim == 2 and w.shape[1] == 1:
        w = w[:, 0]
    if w.dtype.kind not in "biuf" or w.shape != (n,):
        raise ValueError(f"{where}: argument 'sample_weight' expected one number per sample, shape ({n},), got "
                         f"shape {w.shape} of dtype {w.dtype}")
    w = np.ascontiguousarray(w, dtype=np.float32)
    if not np.isfinite(w).all():
        bad = int(np.argmax(~np.isfinite(w)))
        raise ValueError(f"{where}: argument 'sample_weight' expected finite numbers, got {w[bad]} at index {bad}")
    return w


def _value_targets(y, shape, where):
    """Float targets shaped like the output, (N,) + shape, as float32 rows (N, K)."""
    if y.dtype.kind not in "iuf" or y.shape[1:] != shape:
        raise ValueError(f"{where}: argument 'y' expected numbers of shape (N,) + {shape} (the output's), "
                         f"got shape {y.shape} of dtype {y.dtype}")
    y = np.ascontiguousarray(y, dtype=np.float32).reshape(len(y), -1)
    if not np.isfinite(y).all():
        raise ValueError(f"{where}: argument 'y' contains NaN or infinite values")
    return y


def _check_int(name, value, low, where, high=2**63 - 1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{where}: argument '{name}' expected an int, got {value!r}")
    if not low <= value <= high:
        bound = f">= {low}" if value < low else f"<= {high}"
        raise ValueError(f"{where}: argument '{name}' expected an int {bound}, got {value}")
    return int(value)


def _from_dlpack_array(x):
    """A DLPack-capable array other than numpy's or convnet's (a torch tensor, a cupy or jax array)
    as numpy, so that the checks of numpy input apply to it unchanged: np.from_dlpack shares a CPU
    array's memory (no host copy); an array on a GPU comes to the host through convnet.from_dlpack
    (one copy, as np.asarray would make). Anything else is returned as it came."""
    if isinstance(x, (np.ndarray, _core.Tensor)) or not hasattr(x, "__dlpack__"):
        return x
    device = x.__dlpack_device__()[0] if hasattr(x, "__dlpack_device__") else 1
    try:
        return np.from_dlpack(x) if device == 1 else _core.from_dlpack(x).numpy()  # 1: kDLCPU
    except BufferError:  # the producer refuses (a torch tensor that requires grad): numpy's conversion says why
        return x


def _type_name(value):
    """'torch.Tensor', 'int': the type of `value` as a user would spell it."""
    cls = type(value)
    package = cls.__module__.split(".")[0]
    return cls.__qualname__ if package in ("builtins", "convnet") else f"{package}.{cls.__qualname__}"


def _callback_list(callbacks):
    """fit's callbacks argument as a new list of Callback objects."""
    if isinstance(callbacks, callbacks_mod.Callback) or not isinstance(callbacks, (list, tuple, type(None))):
        raise TypeError(f"fit: argument 'callbacks' expected a list of Callback objects, got {_type_name(callbacks)}"
                        + (" (pass [callback])" if isinstance(callbacks, callbacks_mod.Callback) else ""))
    for cb in callbacks or []:
        if not isinstance(cb, callbacks_mod.Callback):
            raise TypeError(f"fit: argument 'callbacks' expected Callback objects, got {cb!r}")
    return list(callbacks or [])


_CHUNK_SAMPLES = 4096  # about this many samples per call into C++ in predict, evaluate and input_gradients


def _chunks(n, batch_size):
    """Slices of whole batches, about _CHUNK_SAMPLES samples each: between these calls into C++
    Python handles signals, so that Ctrl-C stops a long predict or evaluate."""
    step = max(1, _CHUNK_SAMPLES // batch_size) * batch_size
    return [slice(first, min(first + step, n)) for first in range(0, n, step)]


_MODELS = {"Model": Model, "Sequential": Sequential}
_REQUIRED = object()


def _get(config, key, kinds, where, default=_REQUIRED):
    """config[key] (`default` when absent), of one of the types `kinds`: a config read from a file may
    hold anything, so ValueError naming `where` and the key otherwise (bool is no int here)."""
    if key not in config:
        if default is _REQUIRED:
            raise ValueError(f"{where}: missing key {key!r}")
        return default
    value = config[key]
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
        raise ValueError(f"{where}: key {key!r} expected {names}, got {reprlib.repr(value)}")
    return value


def _entry_parts(entry, where):
    """(class name, config) of a layer entry of a model config."""
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a layer entry (a JSON object), got {reprlib.repr(entry)}")
    return _get(entry, "class_name", (str,), where), _get(entry, "config", (dict,), where)


def _layer_from_entry(entry, custom_objects, where):
    class_name, config = _entry_parts(entry, where)
    if class_name in _MODELS:
        return model_from_config(config, custom_objects, f"{where} ({class_name})")
    try:
        return layers_mod.get(class_name, custom_objects).from_config(config)
    except (TypeError, ValueError, KeyError, IndexError) as e:  # (a custom layer's from_config may raise more)
        raise ValueError(f"{where} ({config.get('name')!r}): {e}") from None


def _functional_from_config(config, input_layer, input_tensor, custom_objects, where):
    """A functional Model from its config: each entry calls its layer (made at its first call) on the
    outputs it names as [layer name, call index] (a bare name, in files before shared layers, is call 0)."""
    tensors, made = {(input_layer.name, 0): input_tensor}, {}
    calls = {}

    def tensor(ref, at):
        valid = isinstance(ref, str) or (isinstance(ref, list) and len(ref) == 2 and isinstance(ref[0], str)
                                         and isinstance(ref[1], int) and not isinstance(ref[1], bool))
        key = (ref, 0) if isinstance(ref, str) else tuple(ref) if valid else None
        if key not in tensors:
            raise ValueError(f"{at}: expected the output of an earlier layer as [layer name, call index], got "
                             f"{reprlib.repr(ref)}")
        return tensors[key]

    for i, entry in enumerate(config["layers"]):
        at = f"{where}: layers[{i}]"
        name = _get(_entry_parts(entry, at)[1], "name", (str,), at)
        if name not in made:
            made[name] = _layer_from_entry(entry, custom_objects, at)
        inbound = _get(entry, "inbound", (list,), at)
        parents = [tensor(ref, f"{at} ({name!r}) inbound") for ref in inbound]
        if not parents:
            raise ValueError(f"{at} ({name!r}): key 'inbound' expected at least one input, got []")
        k = calls.get(name, 0)
        calls[name] = k + 1
        try:
            tensors[(name, k)] = made[name](parents if len(parents) > 1 else parents[0])
        except (TypeError, ValueError) as e:
            raise ValueError(f"{at} ({name!r}): {e}") from None
    last = config["layers"][-1]["config"]["name"]
    refs = _get(config, "outputs", (list,), where, [[last, calls[last] - 1]])
    if not refs:
        raise ValueError(f"{where}: key 'outputs' expected at least one output, got []")
    outputs = [tensor(ref, f"{where}: outputs") for ref in refs]
    return Model(input_tensor, outputs, name=config.get("name"))


def model_from_config(config, custom_objects=None, where="model_from_config"):
    """Rebuilds a model (fresh weights) from Model.get_config(). custom_objects: {class name: class}
    for custom layers (registered ones are found without it). A config that is not one raises
    ValueError naming `where`, the entry (layers[i]) and the key."""
    if not isinstance(config, dict):
        raise ValueError(f"{where}: model config expected a JSON object, got {reprlib.repr(config)}")
    class_name = _get(config, "class_name", (str,), where, "Model")
    if class_name not in _MODELS:
        raise ValueError(f"{where}: key 'class_name' expected 'Model' or 'Sequential', got {class_name!r}")
    name = _get(config, "name", (str, type(None)), where, None)
    entries = _get(config, "layers", (list,), where)
    input_config = _get(config, "input", (dict, type(None)), where, None)
    trainable = _get(config, "trainable", (bool,), where, True)
    try:
        input_layer = InputLayer.from_config(input_config) if input_config is not None else None
    except ValueError as e:
        raise ValueError(f"{where}: input: {e}") from None
    inputs = [input_layer._make_output([])] if input_layer is not None else []
    try:
        if class_name == "Sequential":
            stack = [_layer_from_entry(entry, custom_objects, f"{where}: layers[{i}]") for i, entry in enumerate(entries)]
            model = Sequential(inputs + stack, name=name)
        elif input_layer is None or not entries:
            raise ValueError("a functional Model expected an 'input' and at least one layer, got "
                             f"{'no input' if input_layer is None else 'no layers'}")
        else:
            model = _functional_from_config(config, input_layer, inputs[0], custom_objects, where)
    except (TypeError, ValueError) as e:
        raise ValueError(e if str(e).startswith(where) else f"{where}: {e}") from None
    model._trainable = trainable
    return model


def clone_model(model, custom_objects=None):
    """A new model of the same architecture and layer names with freshly initialised weights, uncompiled
    (Keras' clone_model): built from model.get_config(), so custom layers need @register or custom_objects."""
    if not isinstance(model, Model):
        raise TypeError(f"clone_model: argument 'model' expected a convnet Model, got {_type_name(model)}")
    return model_from_config(model.get_config(), custom_objects, "clone_model")


def load_model(path, device="auto", custom_objects=None):
    """Loads a model saved by Model.save: architecture, weights, and (when compiled) optimizer state,
    so that training resumes exactly. path: str, bytes or os.PathLike; device: where to put it ('auto',
    'cpu', 'cuda' or 'cuda:N'); custom_objects: {class name: class} for custom layers not decorated with
    @convnet.layers.register. A file that does not hold a valid model raises ValueError naming the path
    and what is wrong (OSError when it cannot be read)."""
    from .serialization import as_path, load_model_file

    path = as_path(path, "load_model")
    device = _resolve_device(device, "load_model")
    config, tensors, _ = load_model_file(path, where="load_model")
    where = "model config"
    try:
        model = model_from_config(config, custom_objects, where)
        if not model.built:
            raise ValueError(f"{where}: the saved model has no input or no layers")
        seed = _get(config, "seed", (int,), where, model._seed)
        if not 0 <= seed < 2**63:
            raise ValueError(f"{where}: key 'seed' expected an int in [0, 2**63), got {seed}")
        frozen = _get(config, "frozen", (list,), where, None)
        compiled = _get(config, "compile", (dict,), where, None)
        history = _get(config, "history", (dict,), where, None)
        if history is not None:
            model.history = callbacks_mod.History.from_config(history, f"{where}: history")
        model._seed = seed  # dropout masks continue as they would have
        model._device = device
        model._build(device)
        if frozen is not None:
            for leaf in model._flat[1:]:
                leaf.layer.trainable = leaf.key not in frozen
        if compiled is not None:
            at = f"{where}: compile"
            try:
                optimizer = optimizers_mod.get(_get(compiled, "optimizer", (dict, str), at))
                loss = losses_mod.get(_get(compiled, "loss", (dict, str), at))
                metrics = _get(compiled, "metrics", (list,), at, [])
                model.compile(optimizer, loss, metrics=metrics or None, device=device)
            except (TypeError, ValueError) as e:
                raise ValueError(f"{at}: {str(e).removeprefix(at + ': ').removeprefix('compile: ')}") from None
        _check_tensors(tensors, model._state())
        model._load_state(tensors, "tensors")
    except (TypeError, ValueError) as e:
        raise ValueError(f"load_model: convnet model file '{path}': {e}") from None
    except RecursionError:
        raise ValueError(f"load_model: convnet model file '{path}': {where} is nested too deeply") from None
    except MemoryError as e:  # a model too large for this machine (convnet.OutOfMemoryError names the layer)
        raise type(e)(f"load_model: convnet model file '{path}': {e}") from None
    return model


def _check_tensors(found, expected):
    """ValueError naming the tensor unless the file's tensors are the model's (names, dtypes, shapes); a
    file without optimizer state loads into a compiled model with fresh optimizer state."""
    if not any(name.startswith("optimizer/") for name in found):
        expected = {k: v for k, v in expected.items() if not k.startswith("optimizer/")}
    for name in sorted(set(found) | set(expected)):
        if name not in found or name not in expected:
            raise ValueError(f"tensors: {'missing' if name not in found else 'unexpected'} tensor {name!r} "
                             f"(the model config's weights: {', '.join(sorted(expected))})")
        a, b = found[name], expected[name]
        if a.dtype != b.dtype or a.shape != b.shape:
            raise ValueError(f"tensors: tensor {name!r} expected {b.dtype} of shape {b.shape}, got {a.dtype} "
                             f"of shape {a.shape}")
