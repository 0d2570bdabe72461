"""Layers: Keras' names and arguments, PyTorch's layouts (NCHW; conv kernels (out, in/groups,
kh, kw); dense kernels (out, in)).

A layer describes one or more nodes of the C++ graph (csrc/nn/graph.h); the arithmetic runs
there. Layers are called on symbolic tensors to build functional models:

>>> from convnet import layers
>>> x = layers.Input((1, 28, 28))
>>> y = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
>>> y.layer.name.startswith("conv2d")
True
"""
import inspect
import re
import reprlib
import weakref
from collections import defaultdict

import numpy as np

from . import initializers

__all__ = [
    "Layer", "Input", "InputLayer", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "MaxPool2D", "AvgPool2D",
    "MinPool2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
    "GlobalAvgPool2D", "GlobalMaxPool2D", "Flatten", "Dense", "Dropout",
    "RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom", "RandomCrop", "RandomContrast", "RandomErasing",
    "BatchNormalization", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Add",
    "Concatenate", "Reshape", "Rescaling", "ZeroPadding2D", "UpSampling2D", "Conv2DTranspose", "add", "concatenate", "get", "register",
]

DATA_FORMATS = ("channels_first", "channels_last")
ACTIVATIONS = ("relu", "leaky_relu", "elu", "sigmoid", "tanh", "softmax")
_name_counts = defaultdict(int)


def _auto_name(cls):
    base = re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", cls.__name__).lower().replace("2_d", "2d")
    n = _name_counts[base]
    _name_counts[base] += 1
    return base if n == 0 else f"{base}_{n}"


def _pair(value, layer, arg):
    if isinstance(value, bool) or not isinstance(value, (int, tuple, list)):
        raise TypeError(f"{layer}: argument '{arg}' expected an int or a pair of ints, got {value!r}")
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
        raise TypeError(f"{layer}: argument '{arg}' expected an int or a pair of ints, got {value!r}")
    if min(pair) < 1:
        raise ValueError(f"{layer}: argument '{arg}' expected positive values, got {value!r}")
    return pair


def _padding(value, layer):
    if isinstance(value, str):
        if value.lower() not in ("valid", "same"):
            raise ValueError(f"{layer}: argument 'padding' expected 'valid' or 'same', an int or a pair, got {value!r}")
        return "same" if value.lower() == "same" else (0, 0)
    if isinstance(value, bool) or not isinstance(value, (int, tuple, list)):
        raise TypeError(f"{layer}: argument 'padding' expected a string, an int or a pair of ints, got {value!r}")
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair) or min(pair) < 0:
        raise ValueError(f"{layer}: argument 'padding' expected non-negative ints, got {value!r}")
    return pair


def _same_padding(size, extent, stride):
    """padding='same' before the first window along one axis: TensorFlow's split of the total padding
    that gives ceil(size / stride) outputs (ops.conv2d and the pools do the same in C++)."""
    total = max((-(-size // stride) - 1) * stride + extent - size, 0)
    return total // 2


def _window(extent, strides, padding, input_shape):
    """A layer's Layer.receptive tuple for an input (C, H, W): kernel extent, strides, top/left padding."""
    if padding == "same":
        padding = tuple(_same_padding(n, k, s) for n, k, s in zip(input_shape[-2:], extent, strides))
    return (extent[0], extent[1], strides, tuple(padding))


def _data_format(value, layer):
    """None (follow the input), 'channels_first' (NCHW, convnet's default) or 'channels_last' (NHWC, Keras')."""
    if value is None:
        return None
    if not isinstance(value, str) or value.lower() not in DATA_FORMATS:
        raise ValueError(f"{layer}: unknown data_format {value!r}; expected 'channels_first' ((C, H, W) images, "
                         "convnet's default) or 'channels_last' ((H, W, C) images, Keras' default)")
    return value.lower()


def _alpha(activation):
    """The slope of leaky_relu / alpha of elu when named as a string (Keras' defaults)."""
    return {"leaky_relu": 0.2, "elu": 1.0}.get(activation, 0.0)


def _activation(value, layer):
    """'' for none, else the activation's name (checked)."""
    if value is None or value == "linear":
        return ""
    if not isinstance(value, str) or value not in ACTIVATIONS:
        raise ValueError(f"{layer}: unknown activation {value!r}; expected one of None, 'linear', "
                         + ", ".join(repr(a) for a in ACTIVATIONS))
    return value


SUPPORTED = ("a custom layer's call(self, inputs) may only compose convnet layers (e.g. Conv2D, "
             "BatchNormalization, ReLU, Add()([a, b]) for a sum) called on its inputs")


class SymbolicOpError(TypeError):
    """Arithmetic or numpy on a symbolic tensor: the C++ graph runs only convnet layers."""


def _refuse(op):
    def refuse(self, *args, **kwargs):
        raise SymbolicOpError(f"{op} on a symbolic tensor (from {self.layer.name!r}); {SUPPORTED}")
    return refuse


class SymbolicTensor:
    """The (symbolic) output of a layer in a functional model. It has no values: it supports only
    being passed to convnet layers (arithmetic and numpy on it raise a TypeError saying so)."""

    def __init__(self, layer, inputs):
        self.layer = layer
        self.inputs = inputs

    def __repr__(self):
        return f"<SymbolicTensor from {self.layer.name}>"

    @property
    def data_format(self):
        """The layout of the model input this tensor comes from ('channels_first' or 'channels_last'):
        the layout its images have in predict's output; None inside a custom layer's call()."""
        first = topological(self)[0]
        return first.layer.data_format if isinstance(first.layer, InputLayer) else None

    @property
    def shape(self):
        """(None, ...per-sample shape) as Keras' tensors have it, in the tensor's data_format (so
        shape[-1] is the channel count of a channels-last image); None inside a custom layer's call()."""
        from .models import symbolic_shape  # models imports this module
        return symbolic_shape(self)


for _op in ("add", "radd", "sub", "rsub", "mul", "rmul", "truediv", "rtruediv", "floordiv", "rfloordiv", "mod",
            "pow", "rpow", "matmul", "rmatmul", "neg", "pos", "abs", "float", "int"):
    setattr(SymbolicTensor, f"__{_op}__", _refuse(f"arithmetic ('__{_op}__')"))
SymbolicTensor.__getitem__ = _refuse("indexing")
for _op in ("array", "array_ufunc", "array_function"):
    setattr(SymbolicTensor, f"__{_op}__", _refuse("numpy"))
del _op


def topological(outputs):
    """The tensors that `outputs` (a tensor or a list of them) depend on, each after its inputs: a
    depth-first search without recursion (a deep model is not a RecursionError) that refuses a cycle
    (which only editing a tensor's inputs by hand can make)."""
    order, done, path = [], set(), set()
    for output in outputs if isinstance(outputs, (list, tuple)) else [outputs]:
        if id(output) in done:
            continue
        stack = [(output, iter(output.inputs))]
        path.add(id(output))
        while stack:
            tensor, parents = stack[-1]
            parent = next(parents, None)
            if parent is None:
                stack.pop()
                path.discard(id(tensor))
                done.add(id(tensor))
                order.append(tensor)
            elif not isinstance(parent, SymbolicTensor):
                raise TypeError(f"the input of layer {tensor.layer.name!r} is not a layer output: {parent!r}")
            elif id(parent) in path:
                raise ValueError(f"the layers form a cycle: layer {parent.layer.name!r} depends on its own output")
            elif id(parent) not in done:
                path.add(id(parent))
                stack.append((parent, iter(parent.inputs)))
    return order


class Layer:
    """Base class. A built-in layer sets `_nodes()` (its C++ graph nodes) and `_weights` (name, node,
    graph parameter name, initializer) in Keras' get_weights order. A custom layer instead implements
    call(self, inputs) by composing convnet layers made in its __init__: a model traces call() on
    symbolic tensors when it is built, so those layers become nodes of its graph.

    A layer owns its weights (Keras): their current values live in the graph of one model, the
    layer's home; another model holding the same layer copies them in before it computes."""

    def __init__(self, name=None, trainable=True, input_shape=None):
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"{type(self).__name__}: argument 'name' expected a non-empty string, got {name!r}")
        self.name = name or _auto_name(type(self))
        self._trainable = bool(trainable)
        self._input_shape = tuple(input_shape) if input_shape is not None else None
        self._home = None  # the model whose graph holds this layer's current values
        self._models = weakref.WeakSet()  # the built models whose graphs have nodes of this layer
        self._outputs = {}  # its symbolic outputs, one per call (a Sequential's keyed by that model)
        self._call_form = None  # a custom layer: None when called on one tensor, else the list's length
        self._traces = {}  # a custom layer: call form -> (placeholders, tensors, output) of call()

    @property
    def input_shape(self):
        """The per-sample input shape given with input_shape= (None when not given)."""
        return self._input_shape

    # -- description -----------------------------------------------------------------------------
    def _nodes(self):
        raise TypeError(f"{self.name} ({type(self).__name__}): the layer implements neither call(self, inputs) "
                        f"nor graph nodes; {SUPPORTED}")

    def _nodes_for(self, data_format):
        """The layer's nodes for an input of `data_format`; only layers that see the order of an
        image's axes (Flatten, Reshape, Concatenate, BatchNormalization) differ."""
        return self._nodes()

    _weights = ()  # (weight name, node offset within the layer, graph param name, initializer)
    _buffers = ()  # names of non-trainable state read back with get_weights (batch norm)
    # For receptive fields: (kernel extent H, kernel extent W, (stride H, stride W), (top pad, left pad))
    # of a spatial window, "global" for a layer that sees its whole input, None for one that keeps it;
    # or a method of the input's per-sample shape returning one of those (RandomCrop's offset).
    receptive = None

    def get_config(self):
        _require_own_config(self)
        return {"name": self.name, "trainable": self._trainable}

    @classmethod
    def from_config(cls, config):
        """The layer get_config() described. A config from a file may be anything: ValueError naming the
        layer class and the key for an unknown key or a value of the wrong kind (also the layer's own
        TypeErrors and ValueErrors)."""
        _check_config(cls, config)
        try:
            return cls(**config)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{cls.__name__} config: {e}") from None

    def add_weight(self, *args, **kwargs):
        raise TypeError(f"{self.name} ({type(self).__name__}): add_weight() is not supported (weights live in the "
                        f"C++ graph); {SUPPORTED}")

    # -- functional API --------------------------------------------------------------------------
    def __call__(self, inputs):
        items = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        for item in items:
            if not isinstance(item, SymbolicTensor):
                raise TypeError(f"{self.name}: layers are called on the outputs of Input() or other layers, "
                                f"got {type(item).__name__}")
        self._call_form = len(items) if isinstance(inputs, (list, tuple)) else None
        return self._make_output(items)

    def _make_output(self, items, key=None):
        """A new symbolic output of this layer on `items`, recorded under `key` (default: its own)."""
        out = SymbolicTensor(self, items)
        self._outputs[id(out) if key is None else key] = out
        return out

    @property
    def output(self):
        """The symbolic output of this layer's one call (Keras' layer.output)."""
        outputs = list(self._outputs.values())
        if not outputs:
            raise AttributeError(f"{self.name}: the layer has not been called yet, so it has no output (call it on "
                                 "a symbolic tensor or put it in a model)")
        if len(outputs) > 1:
            raise ValueError(f"{self.name}: the layer has been called {len(outputs)} times (in several models or "
                             "branches), so its output is ambiguous; use the tensor returned by the call you want")
        return outputs[0]

    def _subgraph(self):
        """(input placeholders, tensors in topological order, output) of a composite layer, None for a
        layer of graph nodes."""
        if not hasattr(self, "call"):
            return None
        if self._call_form not in self._traces:
            self._traces[self._call_form] = self._trace(self._call_form)
        return self._traces[self._call_form]

    def _trace(self, form):
        """Runs call() on placeholders: its sub-layers' calls record the graph it composes."""
        where = f"{self.name} ({type(self).__name__})"
        if hasattr(self, "build"):
            raise TypeError(f"{where}: build() is not supported (a convnet layer cannot create weights of its "
                            f"own); {SUPPORTED}")
        placeholders = [SymbolicTensor(self, []) for _ in range(form or 1)]
        try:
            out = self.call(placeholders[0] if form is None else list(placeholders))
        except SymbolicOpError as e:
            raise TypeError(f"{where}: call() used {e}") from None
        if not isinstance(out, SymbolicTensor):
            raise TypeError(f"{where}: call() returned {type(out).__name__}, expected the symbolic output of "
                            f"convnet layers; {SUPPORTED}")
        order = topological(out)
        for t in order:
            if not t.inputs and not any(t is p for p in placeholders):
                raise TypeError(f"{where}: call() used a tensor from {t.layer.name!r} that does not come from its "
                                f"inputs; {SUPPORTED}")
        tensors = [t for t in order if not any(t is p for p in placeholders)]
        if not self._trainable:
            for t in tensors:
                t.layer.trainable = False
        return placeholders, tensors, out

    def _leaves(self):
        """The layers of graph nodes this layer consists of, in graph order: itself when it is one."""
        sub = self._subgraph()
        return [self] if sub is None else [leaf for t in sub[1] for leaf in t.layer._leaves()]

    # -- weights ---------------------------------------------------------------------------------
    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        """False freezes the layer's weights (and a composite's layers, as Keras does); a frozen batch
        norm also uses its running statistics while training, and leaves them unchanged."""
        self._trainable = bool(value)
        for child in self._children():
            child.trainable = self._trainable
        for model in list(self._models):
            model._sync_trainable(self)

    def _children(self):
        """The layers a composite layer applies (for a custom layer: once call() is traced)."""
        return [t.layer for _, tensors, _ in self._traces.values() for t in tensors]

    @property
    def _node_ids(self):
        """This layer's node indices in its home model's graph."""
        return self._home._node_ids_of(self) if self._home is not None else []

    def _values(self, fn):
        """fn(this layer's weight tensors in its home model's graph), holding that model's lock."""
        while True:
            home = self._home
            if home is None:
                raise ValueError(f"{self.name}: the layer is not part of a built model yet (give the model an "
                                 "input shape first)")
            with home._lock:
                if self._home is home:  # else it moved while we waited: follow it
                    return fn(home._layer_tensors(self))

    @property
    def weight_names(self):
        if self._subgraph() is not None:
            return [f"{leaf.name}/{name}" for leaf in self._leaves() for name in leaf.weight_names]
        return [w[0] for w in self._weights if self._has_weight(w[0])] + list(self._buffers)

    def _has_weight(self, name):
        return True

    def count_params(self):
        return int(sum(np.prod(shape) for shape in self._shapes()))

    def _shapes(self):
        return [s for leaf in self._leaves() for s in leaf._values(lambda ts: [tuple(t.shape) for t in ts])]

    def get_weights(self):
        """Copies of this layer's weights, PyTorch layouts, Keras order (e.g. [kernel, bias])."""
        def copy(tensors):
            return [np.array(t.numpy(), copy=True) for t in tensors]
        return [w for leaf in self._leaves() for w in leaf._values(copy)]

    def set_weights(self, weights):
        arrays = checked_weights(self.name, self.weight_names, self._shapes(), weights)
        for leaf in self._leaves():  # all checked first: no half-updated layer
            n = len(leaf.weight_names)
            mine, arrays = arrays[:n], arrays[n:]
            leaf._values(lambda tensors: [t.copy_(w) for t, w in zip(tensors, mine)])

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


def checked_weights(where, names, shapes, weights):
    """`weights` as float32 arrays after checking their count, shapes and values against the model's."""
    weights = list(weights)
    if len(weights) != len(shapes):
        raise ValueError(f"{where}: set_weights expected {len(shapes)} arrays {names}, got {len(weights)}")
    arrays = []
    for name, shape, w in zip(names, shapes, weights):
        try:
            w = np.asarray(w)
        except Exception as e:
            raise TypeError(f"{where}: weight '{name}' expected a numpy array, got {type(w).__name__} ({e})") from None
        if w.shape != shape:
            raise ValueError(f"{where}: weight '{name}' expected shape {shape}, got {w.shape}")
        if w.dtype.kind not in "fiu":
            raise TypeError(f"{where}: weight '{name}' expected numbers, got dtype {w.dtype}")
        with np.errstate(over="ignore"):  # beyond float32's range becomes inf: refused below
            w = np.ascontiguousarray(w, dtype=np.float32)
        if not np.all(np.isfinite(w)):
            raise ValueError(f"{where}: weight '{name}' expected finite float32 numbers, got NaN or infinite ones")
        arrays.append(w)
    return arrays


def _init_arguments(cls):
    """{name: default} of the keyword arguments cls(...) takes: its __init__'s, and those of the
    __init__s its **kwargs reach up the MRO (the first default found wins, as in a call)."""
    arguments = {}
    for c in cls.__mro__:
        if "__init__" not in vars(c):
            continue
        params = inspect.signature(c.__init__).parameters.values()
        for p in params:
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                arguments.setdefault(p.name, p.default)
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return arguments


def _flat_value(value):
    """A built-in layer's config value: None, a bool, a number, a string, or a list of numbers; its ints
    fit in int64, the C++ core's integer."""
    if isinstance(value, list):
        return all(isinstance(v, (int, float)) and not isinstance(v, bool) and _flat_value(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return -2**63 <= value < 2**63
    return value is None or isinstance(value, (bool, float, str))


def _check_config(cls, config):
    """ValueError naming the class unless `config` is a dict; for a built-in layer also naming the key
    unless each is an argument the class takes with a flat value (_flat_value; a bool where the default
    is one). A custom layer's config may hold anything its __init__ takes: cls(**config) checks it."""
    where = f"{cls.__name__} config"
    if not isinstance(config, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(config).__name__}")
    if cls.__module__ != __name__:
        return
    arguments = _init_arguments(cls)
    for key, value in config.items():
        if key not in arguments:
            raise ValueError(f"{where}: unknown key {key!r}; expected some of {', '.join(map(repr, sorted(arguments)))}")
        if not _flat_value(value) or (isinstance(arguments[key], bool) and not isinstance(value, bool)):
            raise ValueError(f"{where}: key {key!r} got {reprlib.repr(value)}, not a value the layer takes")


def _require_own_config(layer):
    """Keras' rule: a layer whose __init__ takes arguments of its own defines get_config() returning them."""
    cls = type(layer)
    init_owner = next(c for c in cls.__mro__ if "__init__" in vars(c))
    config_owner = next(c for c in cls.__mro__ if "get_config" in vars(c))
    if issubclass(config_owner, init_owner):
        return
    own = [name for name, p in inspect.signature(init_owner.__init__).parameters.items()
           if name not in ("self", "name", "trainable", "input_shape")
           and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if own:
        raise TypeError(f"{layer.name} ({cls.__name__}): __init__ takes {', '.join(map(repr, own))} but the class "
                        "defines no get_config(); define one returning them (updating super().get_config()) so that "
                        "the layer can be saved and loaded")


class _Spatial(Layer):
    """A layer of images with Keras' `data_format`: None follows the model's Input; 'channels_first' or
    'channels_last' must be the Input's layout (a ValueError when the model is built otherwise). The
    graph runs NCHW inside either way (a channels-last model transposes at its edges), so the layer's
    weights keep PyTorch's layouts whatever the data_format."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(data_format, self.name)

    def get_config(self):
        config = super().get_config()
        config.update(data_format=self.data_format)
        return config


class InputLayer(Layer):
    """A model's input. data_format 'channels_first' (the default): images are (C, H, W) per sample,
    uint8 pixels scaled by 1/255; 'channels_last': (H, W, C) and uint8 pixels taken as they are
    (0..255), both as Keras; (H, W) means one channel either way."""

    def __init__(self, shape, name=None, data_format=None):
        super().__init__(name=name or _auto_name(InputLayer))
        self.data_format = _data_format(data_format, self.name) or "channels_first"
        self.shape = _input_shape(shape, self.name, self.data_format)

    def get_config(self):
        return {"name": self.name, "shape": list(self.shape), "data_format": self.data_format}

    @classmethod
    def from_config(cls, config):
        _check_config(cls, config)
        if not isinstance(config.get("shape"), list):
            raise ValueError(f"InputLayer config: key 'shape' expected a list of ints, got {reprlib.repr(config.get('shape'))}")
        try:
            return cls(tuple(config["shape"]), name=config.get("name"), data_format=config.get("data_format"))
        except (TypeError, ValueError) as e:
            raise ValueError(f"InputLayer config: {e}") from None


def _input_shape(shape, where, data_format):
    if isinstance(shape, int):
        shape = (shape,)
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: argument 'shape' expected a tuple of ints, got {shape!r}") from None
    if not shape or min(shape) < 1:
        raise ValueError(f"{where}: argument 'shape' expected positive sizes, got {shape!r}")
    if len(shape) == 2:  # (H, W) grayscale images: one channel
        shape = (1,) + shape if data_format == "channels_first" else shape + (1,)
    return shape


def Input(shape, name=None, data_format=None):
    """A symbolic model input of per-sample `shape`: (C, H, W) images ((H, W) means one channel) or
    (features,); with data_format='channels_last', (H, W, C) images as Keras has them."""
    return SymbolicTensor(InputLayer(shape, name, data_format), [])


class _Conv(_Spatial):
    def __init__(self, kernel_size, strides=1, padding="valid", dilation_rate=1, activation=None, use_bias=True,
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        where = self.name
        self.kernel_size = _pair(kernel_size, where, "kernel_size")
        self.strides = _pair(strides, where, "strides")
        self.padding = _padding(padding, where)
        self.dilation_rate = _pair(dilation_rate, where, "dilation_rate")
        self.activation = _activation(activation, where)
        self.use_bias = bool(use_bias)
        self.bias_initializer = bias_initializer
        initializers.get(bias_initializer, where)
        self._extent = tuple(d * (k - 1) + 1 for d, k in zip(self.dilation_rate, self.kernel_size))

    def receptive(self, input_shape):
        """The (dilated) kernel's window, stride and top/left padding (Layer.receptive)."""
        return _window(self._extent, self.strides, self.padding, input_shape)

    def _conv_node(self, **extra):
        node = {"op": "conv2d", "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding if self.padding == "same" else tuple(self.padding),
                "dilation_rate": self.dilation_rate, "use_bias": self.use_bias, "activation": self.activation,
                "alpha": _alpha(self.activation)}
        node.update(extra)
        return node

    def _has_weight(self, name):
        return name != "bias" or self.use_bias

    def get_config(self):
        config = super().get_config()
        config.update(kernel_size=list(self.kernel_size), strides=list(self.strides),
                      padding=self.padding if isinstance(self.padding, str) else list(self.padding),
                      dilation_rate=list(self.dilation_rate), activation=self.activation or None,
                      use_bias=self.use_bias, bias_initializer=self.bias_initializer)
        return config


class Conv2D(_Conv):
    """2-D convolution: (N, C, H, W) -> (N, filters, H_out, W_out), H_out = (H + 2P - K) / S + 1 (dilated
    K = D (K - 1) + 1). Kernel (filters, C / groups, kh, kw), PyTorch's layout."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, groups=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(kernel_size, strides, padding, dilation_rate, activation, use_bias, bias_initializer,
                         **kwargs)
        if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
            raise ValueError(f"{self.name}: argument 'filters' expected a positive int, got {filters!r}")
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1 or filters % groups:
            raise ValueError(f"{self.name}: argument 'groups' expected a positive int dividing filters={filters}, "
                             f"got {groups!r}")
        self.filters, self.groups = filters, groups
        self.kernel_initializer = kernel_initializer
        initializers.get(kernel_initializer, self.name)
        self._weights = (("kernel", 0, "weight", kernel_initializer), ("bias", 0, "bias", bias_initializer))

    def _nodes(self):
        return [self._conv_node(out_channels=self.filters, groups=self.groups)]

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, groups=self.groups, kernel_initializer=self.kernel_initializer)
        return config


class DepthwiseConv2D(_Conv):
    """Depthwise convolution: each input channel convolved with its own `depth_multiplier` kernels
    (PyTorch: groups = C_in). Kernel (C_in * depth_multiplier, 1, kh, kw)."""

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, dilation_rate=1, activation=None,
                 use_bias=True, depthwise_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(kernel_size, strides, padding, dilation_rate, activation, use_bias, bias_initializer,
                         **kwargs)
        if isinstance(depth_multiplier, bool) or not isinstance(depth_multiplier, int) or depth_multiplier < 1:
            raise ValueError(f"{self.name}: argument 'depth_multiplier' expected a positive int, "
                             f"got {depth_multiplier!r}")
        self.depth_multiplier = depth_multiplier
        self.depthwise_initializer = depthwise_initializer
        initializers.get(depthwise_initializer, self.name)
        self._weights = (("depthwise_kernel", 0, "weight", depthwise_initializer),
                         ("bias", 0, "bias", bias_initializer))

    def _nodes(self):
        return [self._conv_node(depth_multiplier=self.depth_multiplier)]

    def get_config(self):
        config = super().get_config()
        config.update(depth_multiplier=self.depth_multiplier, depthwise_initializer=self.depthwise_initializer)
        return config


class SeparableConv2D(_Conv):
    """Depthwise separable convolution: a depthwise convolution (no bias) then a 1x1 pointwise
    convolution to `filters` channels (with the bias and activation)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", depth_multiplier=1, dilation_rate=1,
                 activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(kernel_size, strides, padding, dilation_rate, activation, use_bias, bias_initializer,
                         **kwargs)
        if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
            raise ValueError(f"{self.name}: argument 'filters' expected a positive int, got {filters!r}")
        if isinstance(depth_multiplier, bool) or not isinstance(depth_multiplier, int) or depth_multiplier < 1:
            raise ValueError(f"{self.name}: argument 'depth_multiplier' expected a positive int, "
                             f"got {depth_multiplier!r}")
        self.filters, self.depth_multiplier = filters, depth_multiplier
        self.depthwise_initializer, self.pointwise_initializer = depthwise_initializer, pointwise_initializer
        initializers.get(depthwise_initializer, self.name)
        initializers.get(pointwise_initializer, self.name)
        self._weights = (("depthwise_kernel", 0, "weight", depthwise_initializer),
                         ("pointwise_kernel", 1, "weight", pointwise_initializer),
                         ("bias", 1, "bias", bias_initializer))

    def _nodes(self):
        depthwise = self._conv_node(depth_multiplier=self.depth_multiplier, use_bias=False, activation="")
        pointwise = {"op": "conv2d", "out_channels": self.filters, "kernel_size": (1, 1), "use_bias": self.use_bias,
                     "activation": self.activation, "alpha": _alpha(self.activation)}
        return [depthwise, pointwise]

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, depth_multiplier=self.depth_multiplier,
                      depthwise_initializer=self.depthwise_initializer,
                      pointwise_initializer=self.pointwise_initializer)
        return config


class _Pool(_Spatial):
    mode = "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = _pair(pool_size, self.name, "pool_size")
        self.strides = self.pool_size if strides is None else _pair(strides, self.name, "strides")
        self.padding = _padding(padding, self.name)

    def receptive(self, input_shape):
        """The pooling window, stride and top/left padding (Layer.receptive)."""
        return _window(self.pool_size, self.strides, self.padding, input_shape)

    def _nodes(self):
        return [{"op": "pool2d", "mode": self.mode, "pool_size": self.pool_size, "pool_strides": self.strides,
                 "padding": self.padding if self.padding == "same" else tuple(self.padding)}]

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=list(self.pool_size), strides=list(self.strides),
                      padding=self.padding if isinstance(self.padding, str) else list(self.padding))
        return config


class MaxPool2D(_Pool):
    """Max pooling over pool_size windows (strides default to pool_size); PyTorch's floor rule. padding:
    an int or pair (at most half the window, counted as -inf), 'valid' (none) or 'same' (Keras':
    ceil(H / strides) outputs, the odd pad at the bottom/right)."""
    mode = "max"


class AvgPool2D(_Pool):
    """Average pooling. An int or pair padding counts in the average (PyTorch's default); with
    padding='same' (Keras') each mean is over the window's real elements only."""
    mode = "avg"


class MinPool2D(_Pool):
    """Min pooling: the smallest value of each window."""
    mode = "min"


MaxPooling2D, AveragePooling2D = MaxPool2D, AvgPool2D


class GlobalAveragePooling2D(_Spatial):
    """(N, C, H, W) -> (N, C): the mean of each channel."""
    receptive = "global"

    def _nodes(self):
        return [{"op": "global_avg_pool2d"}]


class GlobalMaxPooling2D(_Spatial):
    """(N, C, H, W) -> (N, C): the maximum of each channel (the gradient goes to the first maximum)."""
    receptive = "global"

    def _nodes(self):
        return [{"op": "global_max_pool2d"}]


GlobalAvgPool2D, GlobalMaxPool2D = GlobalAveragePooling2D, GlobalMaxPooling2D


class Flatten(_Spatial):
    """(N, ...) -> (N, features), in the order of the data_format: a channels-last image flattens
    (H, W, C) as Keras does (the graph transposes it first)."""

    def _nodes(self):
        return [{"op": "flatten"}]

    def _nodes_for(self, data_format):
        return ([_to_layout("channels_last")] if data_format == "channels_last" else []) + self._nodes()


def _to_layout(data_format):
    """The node that moves an image to `data_format` (a (features,) tensor passes through)."""
    return {"op": "layout", "to": data_format}


class Reshape(_Spatial):
    """(N, ...) -> (N, *target_shape), the same elements in the order of the data_format; one size
    may be -1 (the rest). A channels-last image is reshaped as (H, W, C), and a 3-D target shape is
    an (H, W, C) image in a channels-last model, as in Keras."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        shape = (target_shape,) if isinstance(target_shape, int) else target_shape
        if not isinstance(shape, (tuple, list)) or not shape or not all(
                isinstance(d, int) and not isinstance(d, bool) and (d > 0 or d == -1) for d in shape) \
                or list(shape).count(-1) > 1:
            raise ValueError(f"{self.name}: argument 'target_shape' expected a tuple of positive ints with at most "
                             f"one -1, got {target_shape!r}")
        self.target_shape = tuple(shape)

    def _nodes(self):
        return [{"op": "reshape", "shape": self.target_shape}]

    def _nodes_for(self, data_format):
        if data_format != "channels_last":
            return self._nodes()
        return [_to_layout("channels_last")] + self._nodes() + [_to_layout("channels_first")]

    def get_config(self):
        config = super().get_config()
        config.update(target_shape=list(self.target_shape))
        return config


class Rescaling(Layer):
    """y = x * scale + offset (Keras' Rescaling: Rescaling(1. / 255) maps 0..255 pixels to [0, 1])."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        for arg, value in (("scale", scale), ("offset", offset)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) \
                    or abs(value) > np.finfo(np.float32).max:
                raise ValueError(f"{self.name}: argument {arg!r} expected a finite number, got {value!r}")
        self.scale, self.offset = float(scale), float(offset)

    def _nodes(self):
        return [{"op": "rescale", "scale": self.scale, "offset": self.offset}]

    def get_config(self):
        config = super().get_config()
        config.update(scale=self.scale, offset=self.offset)
        return config


class Dense(Layer):
    """Fully connected: y = x W^T + b, kernel (units, in_features) as PyTorch's Linear."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"{self.name}: argument 'units' expected a positive int, got {units!r}")
        self.units = units
        self.activation = _activation(activation, self.name)
        self.use_bias = bool(use_bias)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        initializers.get(kernel_initializer, self.name)
        initializers.get(bias_initializer, self.name)
        self._weights = (("kernel", 0, "weight", kernel_initializer), ("bias", 0, "bias", bias_initializer))

    def _has_weight(self, name):
        return name != "bias" or self.use_bias

    def _nodes(self):
        return [{"op": "linear", "units": self.units, "use_bias": self.use_bias, "activation": self.activation,
                 "alpha": _alpha(self.activation)}]

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, activation=self.activation or None, use_bias=self.use_bias,
                      kernel_initializer=self.kernel_initializer, bias_initializer=self.bias_initializer)
        return config


def _layer_seed(seed, layer):
    """A random layer's own seed: None (follow the model's seed) or an int in [0, 2**63)."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{layer}: argument 'seed' expected None or an int, got {seed!r}")
    if not 0 <= seed < 2**63:
        raise ValueError(f"{layer}: argument 'seed' expected an int in [0, 2**63), got {seed!r}")
    return int(seed)


class _RandomLayer(Layer):
    """A layer that draws random numbers while training: from its own `seed` if given, else from
    the model's seed; either way mixed with the step and the layer's position, so masks differ per
    step and per layer."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = _layer_seed(seed, self.name)

    def get_config(self):
        config = super().get_config()
        config.update(seed=self.seed)
        return config


class _RandomImageLayer(_RandomLayer, _Spatial):
    """An augmentation of images: a random layer with a data_format."""


class Dropout(_RandomLayer):
    """Zeroes a fraction `rate` of the inputs while training (scaling the rest by 1 / (1 - rate)). The
    masks come from `seed` if given, else from the model's seed, mixed with the step and the layer."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"{self.name}: argument 'rate' expected a number in [0, 1), got {rate!r}")
        self.rate = float(rate)

    def _nodes(self):
        return [{"op": "dropout", "rate": self.rate, "seed": self.seed}]

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate)
        return config


class RandomFlip(_RandomImageLayer):
    """Mirrors each training image left-right ('horizontal'), upside-down ('vertical') or both
    ('horizontal_and_vertical', Keras' default), each with probability 1/2; the identity in
    evaluate and predict. `seed`: see Dropout."""

    _MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode="horizontal_and_vertical", seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        if mode not in self._MODES:
            raise ValueError(f"{self.name}: argument 'mode' expected one of {', '.join(map(repr, self._MODES))}, "
                             f"got {mode!r}")
        self.mode = mode

    def _nodes(self):
        return [{"op": "random_flip_translate", "flip_horizontal": self.mode != "vertical",
                 "flip_vertical": self.mode != "horizontal", "seed": self.seed}]

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode)
        return config


def _factor(value, layer, arg):
    """Keras' translation factor: f means [-f, f], (lo, hi) means [lo, hi], fractions of the size in [-1, 1]."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        lo, hi = -float(value), float(value)
    else:
        try:
            lo, hi = (float(v) for v in value)
        except (TypeError, ValueError):
            raise TypeError(f"{layer}: argument {arg!r} expected a number or a pair (lo, hi), got {value!r}") from None
    if not -1 <= lo <= hi <= 1:
        raise ValueError(f"{layer}: argument {arg!r} expected fractions -1 <= lo <= hi <= 1, got {value!r}")
    return (lo, hi)


class RandomTranslation(_RandomImageLayer):
    """Moves each training image by a whole number of pixels, drawn uniformly from
    [lo * size, hi * size] (rounded) for each axis; a factor f means (-f, f). Uncovered pixels are
    filled with 0 (fill_mode='constant', the only mode; whole-pixel moves make interpolation
    'nearest'). The identity in evaluate and predict. `seed`: see Dropout."""

    def __init__(self, height_factor, width_factor, fill_mode="constant", interpolation="nearest", seed=None,
                 **kwargs):
        super().__init__(seed, **kwargs)
        self.height_factor = _factor(height_factor, self.name, "height_factor")
        self.width_factor = _factor(width_factor, self.name, "width_factor")
        if fill_mode != "constant":
            raise ValueError(f"{self.name}: argument 'fill_mode' expected 'constant' (zero fill), got {fill_mode!r}")
        if interpolation != "nearest":
            raise ValueError(f"{self.name}: argument 'interpolation' expected 'nearest' (whole-pixel moves), "
                             f"got {interpolation!r}")

    def _nodes(self):
        return [{"op": "random_flip_translate", "height_factor": self.height_factor,
                 "width_factor": self.width_factor, "seed": self.seed}]

    def get_config(self):
        config = super().get_config()
        config.update(height_factor=list(self.height_factor), width_factor=list(self.width_factor))
        return config


_FILL_MODES = ("reflect", "wrap", "nearest", "constant")
_INTERPOLATIONS = ("bilinear", "nearest")


def _choice(value, choices, layer, arg):
    if value not in choices:
        raise ValueError(f"{layer}: argument {arg!r} expected one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def _number(value, layer, arg):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not np.isfinite(value):
        raise TypeError(f"{layer}: argument {arg!r} expected a finite number, got {value!r}")
    return float(value)


def _pair_of_numbers(value, layer, arg, what):
    try:
        a, b = (_number(v, layer, arg) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{layer}: argument {arg!r} expected a pair of {what}, got {value!r}") from None
    return a, b


def _range(value, layer, arg, what, check):
    """A pair (lo, hi) of numbers with lo <= hi and check(lo) and check(hi) ('what' says what they are)."""
    lo, hi = _pair_of_numbers(value, layer, arg, what)
    if not (lo <= hi and check(lo) and check(hi)):
        raise ValueError(f"{layer}: argument {arg!r} expected a pair lo <= hi of {what}, got {value!r}")
    return (lo, hi)


def _twice(value):
    """A number f as (f, f); anything else as it is."""
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    return (value, value) if number else value


def _bounds(value, layer, arg, what, check):
    """Two independent bounds (a, b), each passing check; a number f means (f, f)."""
    a, b = _pair_of_numbers(_twice(value), layer, arg, what)
    if not (check(a) and check(b)):
        raise ValueError(f"{layer}: argument {arg!r} expected {what}, got {value!r}")
    return (a, b)


class _Resampling(_RandomImageLayer):
    """RandomRotation and RandomZoom: each training image resampled about its centre (ops.random_affine:
    pixel centres at integers, the centre at ((W - 1) / 2, (H - 1) / 2)); positions outside the image
    read by fill_mode: 'reflect' (d c b a | a b c d | d c b a, the edge pixel mirrored too), 'wrap'
    (a b c d | a b c d), 'nearest' (a a | a b c d | d d) or 'constant' (fill_value); interpolation
    'bilinear' or 'nearest'. The identity in evaluate and predict. `seed`: see Dropout."""

    def __init__(self, fill_mode, interpolation, seed, fill_value, **kwargs):
        super().__init__(seed, **kwargs)
        self.fill_mode = _choice(fill_mode, _FILL_MODES, self.name, "fill_mode")
        self.interpolation = _choice(interpolation, _INTERPOLATIONS, self.name, "interpolation")
        self.fill_value = _number(fill_value, self.name, "fill_value")

    def _sampling(self):
        return {"op": "random_affine", "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "fill_value": self.fill_value, "seed": self.seed}

    def get_config(self):
        config = super().get_config()
        config.update(fill_mode=self.fill_mode, interpolation=self.interpolation, fill_value=self.fill_value)
        return config


class RandomRotation(_Resampling):
    """Rotates each training image about its centre by an angle uniform in [lo, hi] * 2 pi (Keras
    3): `factor` f means (-f, f), a pair (lo, hi) fractions of a full turn in [-1, 1]; a positive
    angle turns the picture counter-clockwise. Sampling and fill: see _Resampling."""

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.factor = _factor(factor, self.name, "factor")

    def _nodes(self):
        return [{**self._sampling(), "rotation": self.factor}]

    def get_config(self):
        config = super().get_config()
        config.update(factor=list(self.factor))
        return config


class RandomZoom(_Resampling):
    """Zooms each training image about its centre by 1 + U(height_factor) vertically and 1 +
    U(width_factor) horizontally (Keras 3: a positive factor zooms out, a negative one zooms in; f
    means (-f, f), values in [-1, 1]); width_factor None keeps the aspect ratio (one draw for
    both). Sampling and fill: see _Resampling."""

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_factor = _factor(height_factor, self.name, "height_factor")
        self.width_factor = None if width_factor is None else _factor(width_factor, self.name, "width_factor")

    def _nodes(self):
        return [{**self._sampling(), "zoom_height": self.height_factor, "zoom_width": self.width_factor}]

    def get_config(self):
        config = super().get_config()
        config.update(height_factor=list(self.height_factor),
                      width_factor=None if self.width_factor is None else list(self.width_factor))
        return config


class RandomCrop(_RandomImageLayer):
    """(C, H, W) -> (C, height, width): a window of each training image at an offset uniform over
    the positions that fit, the central window (offset floor((H - height) / 2), ...) in evaluate and
    predict (Keras 3; where Keras resizes an input smaller than the crop, this refuses it when the
    model is built). `seed`: see Dropout."""

    def __init__(self, height, width, seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        for arg, value in (("height", height), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{self.name}: argument {arg!r} expected a positive int, got {value!r}")
        self.height, self.width = int(height), int(width)

    def receptive(self, input_shape):
        """A 1x1 window at the central crop's offset (Layer.receptive)."""
        return (1, 1, (1, 1), (-((input_shape[-2] - self.height) // 2), -((input_shape[-1] - self.width) // 2)))

    def _nodes(self):
        return [{"op": "random_crop", "height": self.height, "width": self.width, "seed": self.seed}]

    def get_config(self):
        config = super().get_config()
        config.update(height=self.height, width=self.width)
        return config


def _value_range(value, layer):
    return _range(value, layer, "value_range", "numbers (low < high)", lambda v: True)


class RandomContrast(_RandomImageLayer):
    """Keras 3's RandomContrast: each training image draws c uniform in [1 - lower, 1 + upper]
    (`factor` f means lower = upper = f; a pair (lower, upper), each in [0, 1]) and each channel
    becomes (x - mean) * c + mean, the mean over its H x W pixels, clipped to value_range. The
    identity in evaluate and predict. `seed`: see Dropout."""

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        self.factor = _bounds(factor, self.name, "factor", "(lower, upper) each in [0, 1]", lambda v: 0 <= v <= 1)
        self.value_range = _value_range(value_range, self.name)
        if self.value_range[0] == self.value_range[1]:
            raise ValueError(f"{self.name}: argument 'value_range' expected low < high, got {value_range!r}")

    def _nodes(self):
        return [{"op": "random_contrast", "factor": self.factor, "value_range": self.value_range, "seed": self.seed}]

    def get_config(self):
        config = super().get_config()
        config.update(factor=list(self.factor), value_range=list(self.value_range))
        return config


class RandomErasing(_RandomImageLayer):
    """Random erasing (Zhong et al. 2017), with keras.layers.RandomErasing's arguments and defaults
    plus torchvision's `ratio`: each training image, with probability `factor` (a pair (lo, hi): a
    probability drawn uniformly in it per image), has one rectangle replaced in every channel: its
    area a fraction of the image uniform in `scale`, its aspect ratio height / width log-uniform in
    `ratio` (torchvision's geometry, up to 10 tries for a rectangle that fits, else the image is
    kept), its position uniform. Filled with `fill_value`, or with None values uniform in
    `value_range` per pixel (Keras draws scaled normal values; its code also draws a single float's
    probability from [0, factor], where this takes `factor` itself, as its documentation says). The
    identity in evaluate and predict. `seed`: see Dropout."""

    def __init__(self, factor=1.0, scale=(0.02, 0.33), fill_value=None, value_range=(0, 255), seed=None,
                 ratio=(0.3, 3.3), **kwargs):
        super().__init__(seed, **kwargs)
        self.factor = _range(_twice(factor), self.name, "factor", "probabilities in [0, 1]", lambda v: 0 <= v <= 1)
        self.scale = _range(scale, self.name, "scale", "area fractions in (0, 1]", lambda v: 0 < v <= 1)
        self.ratio = _range(ratio, self.name, "ratio", "positive aspect ratios", lambda v: v > 0)
        self.fill_value = None if fill_value is None else _number(fill_value, self.name, "fill_value")
        self.value_range = _value_range(value_range, self.name)
        if self.value_range[0] == self.value_range[1]:
            raise ValueError(f"{self.name}: argument 'value_range' expected low < high, got {value_range!r}")

    def _nodes(self):
        return [{"op": "random_erasing", "factor": self.factor, "scale": self.scale, "ratio": self.ratio,
                 "fill_value": self.fill_value, "value_range": self.value_range, "seed": self.seed}]

    def get_config(self):
        config = super().get_config()
        factor = self.factor[0] if self.factor[0] == self.factor[1] else list(self.factor)
        config.update(factor=factor, scale=list(self.scale), fill_value=self.fill_value,
                      value_range=list(self.value_range), ratio=list(self.ratio))
        return config


def _axis(value, layer):
    """None (the channel axis of the input's layout) or an int."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{layer}: argument 'axis' expected None or an int, got {value!r}")
    return int(value)


class BatchNormalization(Layer):
    """Batch normalization over channels: `axis` is the channel axis, the only one supported (None: that
    of the input's layout; 1 in NCHW, -1 in a channels-last model as Keras' default). Keras' momentum: moving = momentum * moving +
    (1 - momentum) * batch statistic. Weights: [gamma, beta, moving_mean, moving_variance]."""

    _buffers = ("moving_mean", "moving_variance")

    def __init__(self, momentum=0.99, epsilon=1e-3, axis=None, **kwargs):
        super().__init__(**kwargs)
        self.axis = _axis(axis, self.name)
        if not 0 <= momentum <= 1:
            raise ValueError(f"{self.name}: argument 'momentum' expected a number in [0, 1], got {momentum!r}")
        if not epsilon > 0:
            raise ValueError(f"{self.name}: argument 'epsilon' expected a positive number, got {epsilon!r}")
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self._weights = (("gamma", 0, "weight", "ones"), ("beta", 0, "bias", "zeros"))

    def _nodes(self):
        return [{"op": "batch_norm", "momentum": 1.0 - self.momentum, "epsilon": self.epsilon, "axis": self.axis}]

    def _nodes_for(self, data_format):
        return [dict(self._nodes()[0], channels_last=data_format == "channels_last")]

    def get_config(self):
        config = super().get_config()
        config.update(momentum=self.momentum, epsilon=self.epsilon, axis=self.axis)
        return config


class Activation(Layer):
    """Applies an activation by name: relu, leaky_relu, elu, sigmoid, tanh, softmax."""

    def __init__(self, activation, alpha=None, **kwargs):
        super().__init__(**kwargs)
        self.activation = _activation(activation, self.name)
        if not self.activation:
            raise ValueError(f"{self.name}: argument 'activation' expected a non-linear activation, got {activation!r}")
        self.alpha = float(_alpha(self.activation) if alpha is None else alpha)

    def _nodes(self):
        return [{"op": "activation", "activation": self.activation, "alpha": self.alpha}]

    def get_config(self):
        config = super().get_config()
        config.update(activation=self.activation, alpha=self.alpha)
        return config


class ReLU(Activation):
    def __init__(self, **kwargs):
        kwargs.pop("activation", None)
        super().__init__("relu", **kwargs)

    def get_config(self):
        return Layer.get_config(self)


class LeakyReLU(Activation):
    """max(x, negative_slope * x); Keras' default slope 0.3."""

    def __init__(self, negative_slope=0.3, **kwargs):
        kwargs.pop("activation", None)
        kwargs.pop("alpha", None)
        super().__init__("leaky_relu", alpha=negative_slope, **kwargs)

    def get_config(self):
        config = Layer.get_config(self)
        config.update(negative_slope=self.alpha)
        return config


class ELU(Activation):
    def __init__(self, alpha=1.0, **kwargs):
        kwargs.pop("activation", None)
        super().__init__("elu", alpha=alpha, **kwargs)

    def get_config(self):
        config = Layer.get_config(self)
        config.update(alpha=self.alpha)
        return config


class Softmax(Activation):
    """Softmax over the class axis of a (N, classes) input."""

    def __init__(self, axis=-1, **kwargs):
        if axis not in (-1, 1):
            raise ValueError(f"Softmax: argument 'axis' expected -1 or 1 (the class axis), got {axis!r}")
        kwargs.pop("activation", None)
        super().__init__("softmax", **kwargs)

    def get_config(self):
        return Layer.get_config(self)


class _Merge(Layer):
    """A layer of 2 or more inputs, called on a list: Add()([a, b, c])."""

    def __call__(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError(f"{self.name}: {type(self).__name__} is called on a list of 2 or more tensors, "
                             f"got {inputs!r}")
        return super().__call__(inputs)


class Add(_Merge):
    """The sum of 2 or more inputs of the same shape: residual connections."""

    def _nodes(self):
        return [{"op": "add"}]


class Concatenate(_Merge):
    """Joins 2 or more inputs along the channel axis: (C_i, H, W) feature maps of the same H and W, or
    (F_i,) features. `axis` names the channel axis, the only one supported: 1 (or -3) in NCHW
    (PyTorch's torch.cat(x, dim=1)), -1 (or 3) in a channels-last model (Keras' default); 1 or -1 for
    features; None (the default) is the channel axis of either layout. Another axis is a ValueError
    when the model is built."""

    def __init__(self, axis=None, **kwargs):
        super().__init__(**kwargs)
        self.axis = _axis(axis, self.name)

    def _nodes(self):
        return [{"op": "concat", "axis": self.axis}]

    def _nodes_for(self, data_format):
        return [dict(self._nodes()[0], channels_last=data_format == "channels_last")]

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis)
        return config


def _pad_sides(value, layer):
    """Keras' ZeroPadding2D padding: an int, (h, w) or ((top, bottom), (left, right)) -> (top, bottom, left, right);
    also the flat [top, bottom, left, right] that get_config records."""
    def ints(v, n=2):
        return isinstance(v, (tuple, list)) and len(v) == n and all(
            isinstance(u, (int, np.integer)) and not isinstance(u, bool) for u in v)
    expected = "an int, a pair (h, w) or a pair of pairs ((top, bottom), (left, right)) of non-negative ints"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        sides = (value,) * 4
    elif ints(value):
        sides = (value[0], value[0], value[1], value[1])
    elif isinstance(value, (tuple, list)) and len(value) == 2 and ints(value[0]) and ints(value[1]):
        sides = tuple(value[0]) + tuple(value[1])
    elif ints(value, 4):
        sides = tuple(value)
    else:
        raise ValueError(f"{layer}: argument 'padding' expected {expected}, got {value!r}")
    if min(sides) < 0:
        raise ValueError(f"{layer}: argument 'padding' expected {expected}, got {value!r}")
    return tuple(int(v) for v in sides)


class ZeroPadding2D(_Spatial):
    """Zero rows and columns around each image (Keras' ZeroPadding2D): (C, H, W) ->
    (C, top + H + bottom, left + W + right). `padding`: an int (every side), (h, w) (h rows above and
    below, w columns left and right) or ((top, bottom), (left, right)); in either data_format it pads
    the two spatial axes. ops.zero_pad2d."""

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pad_sides(padding, self.name)
        top, _, left, _ = self.padding
        self.receptive = (1, 1, (1, 1), (top, left))  # a shift of the window by the top-left padding

    def _nodes(self):
        return [{"op": "zero_pad2d", "padding": list(self.padding)}]

    def get_config(self):
        config = super().get_config()
        top, bottom, left, right = self.padding
        config.update(padding=[top, bottom, left, right])
        return config


class UpSampling2D(_Spatial):
    """Nearest-neighbour upsampling (Keras' UpSampling2D): (C, H, W) -> (C, H * sh, W * sw), each
    pixel repeated over an sh x sw block. `size`: an int or (sh, sw) of positive ints;
    `interpolation`: 'nearest' only (Keras' 'bilinear' and others are not implemented: a ValueError).
    ops.upsample_nearest2d."""

    def __init__(self, size=2, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = _pair(size, self.name, "size")
        if interpolation != "nearest":
            raise ValueError(f"{self.name}: argument 'interpolation' expected 'nearest' (the only interpolation "
                             f"convnet implements), got {interpolation!r}")
        self.interpolation = interpolation
        sh, sw = self.size
        # unit i sees input pixel i // s: a 1x1 window moving 1/s input pixels per output unit
        self.receptive = (1, 1, (1 / sh, 1 / sw), ((sh - 1) / (2 * sh), (sw - 1) / (2 * sw)))

    def _nodes(self):
        return [{"op": "upsample_nearest2d", "size": self.size}]

    def get_config(self):
        config = super().get_config()
        config.update(size=list(self.size), interpolation=self.interpolation)
        return config


class Conv2DTranspose(_Spatial):
    """Transposed convolution ("deconvolution", Keras' Conv2DTranspose): (C, H, W) ->
    (filters, H_out, W_out), the adjoint of a Conv2D with the same kernel_size, strides and
    dilation_rate. Output sizes follow Keras (keras' deconv_output_length, k = dilation*(kernel-1)+1):
    output_padding None: 'valid' H*s + max(k - s, 0), 'same' H*s; output_padding given (each < the
    stride): (H-1)*s + k - 2*pad + output_padding, pad = k // 2 for 'same', 0 for 'valid'. 'same'
    crops as tf.nn.conv2d_transpose does (the odd row of max(k - s, 0) at the bottom / right).

    The kernel has PyTorch's ConvTranspose2d layout (C_in, filters, kh, kw), not Keras' (kh, kw,
    filters, C_in): torch.nn.ConvTranspose2d's weight loads as it is. ops.conv_transpose2d."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, dilation_rate=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(**kwargs)
        where = self.name
        if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
            raise ValueError(f"{where}: argument 'filters' expected a positive int, got {filters!r}")
        self.filters = filters
        self.kernel_size = _pair(kernel_size, where, "kernel_size")
        self.strides = _pair(strides, where, "strides")
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(f"{where}: argument 'padding' expected 'valid' or 'same', got {padding!r}")
        self.padding = padding.lower()
        if output_padding is None:
            self.output_padding = None
        else:
            if isinstance(output_padding, bool) or not isinstance(output_padding, (int, tuple, list)):
                raise ValueError(f"{where}: argument 'output_padding' expected None, an int or a pair of ints, "
                                 f"got {output_padding!r}")
            pair = (output_padding,) * 2 if isinstance(output_padding, int) else tuple(output_padding)
            if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
                raise ValueError(f"{where}: argument 'output_padding' expected None, an int or a pair of ints, "
                                 f"got {output_padding!r}")
            if min(pair) < 0 or pair[0] >= self.strides[0] or pair[1] >= self.strides[1]:
                raise ValueError(f"{where}: argument 'output_padding' expected values >= 0 smaller than the strides "
                                 f"{self.strides}, got {output_padding!r}")
            self.output_padding = pair
        self.dilation_rate = _pair(dilation_rate, where, "dilation_rate")
        self.activation = _activation(activation, where)
        self.use_bias = bool(use_bias)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        initializers.get(kernel_initializer, where)
        initializers.get(bias_initializer, where)
        self._weights = (("kernel", 0, "weight", kernel_initializer), ("bias", 0, "bias", bias_initializer))
        self.receptive = tuple(self._window(axis) for axis in range(2))
        self.receptive = (self.receptive[0][0], self.receptive[1][0], (1 / self.strides[0], 1 / self.strides[1]),
                          (self.receptive[0][1], self.receptive[1][1]))

    def _window(self, axis):
        """(extent in input units, padding) of one axis for the receptive field: an output unit sees
        at most ceil(k / s) input units; its centre sits at (h + pad_begin - (k - 1) / 2) / s input pixels."""
        k = self.dilation_rate[axis] * (self.kernel_size[axis] - 1) + 1
        s = self.strides[axis]
        if self.output_padding is None:
            total = max(k - s, 0) if self.padding == "same" else 0
        else:
            total = max(2 * (k // 2) - self.output_padding[axis], 0) if self.padding == "same" else 0
        extent = -(-k // s)
        # centre of unit 0 in input units is (total // 2 - (k - 1) / 2) / s = ((extent - 1) / 2 - pad)
        pad = (extent - 1) / 2 - (total // 2 - (k - 1) / 2) / s
        return extent, pad

    def _nodes(self):
        node = {"op": "conv_transpose2d", "out_channels": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "dilation_rate": self.dilation_rate,
                "use_bias": self.use_bias, "activation": self.activation, "alpha": _alpha(self.activation)}
        if self.output_padding is not None:
            node["output_padding"] = self.output_padding
        return [node]

    def _has_weight(self, name):
        return name != "bias" or self.use_bias

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=list(self.kernel_size), strides=list(self.strides),
                      padding=self.padding,
                      output_padding=None if self.output_padding is None else list(self.output_padding),
                      dilation_rate=list(self.dilation_rate), activation=self.activation or None,
                      use_bias=self.use_bias, kernel_initializer=self.kernel_initializer,
                      bias_initializer=self.bias_initializer)
        return config


_LAYERS = {cls.__name__: cls for cls in (
    InputLayer, Conv2D, DepthwiseConv2D, SeparableConv2D, MaxPool2D, AvgPool2D, MinPool2D, GlobalAveragePooling2D,
    GlobalMaxPooling2D, Flatten, Dense, Dropout, RandomFlip, RandomTranslation, RandomRotation, RandomZoom, RandomCrop, RandomContrast,
    RandomErasing, BatchNormalization, Activation, ReLU, LeakyReLU, ELU, Softmax, Add,
    Concatenate, Reshape, Rescaling, ZeroPadding2D, UpSampling2D, Conv2DTranspose)}

_REGISTERED = {}


def add(inputs, **kwargs):
    """Keras' functional form: add([a, b]) is Add(**kwargs)([a, b])."""
    return Add(**kwargs)(inputs)


def concatenate(inputs, axis=None, **kwargs):
    """Keras' functional form: concatenate([a, b], axis) is Concatenate(axis, **kwargs)([a, b])."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def register(cls):
    """Class decorator (keras.saving.register_keras_serializable): load_model finds a registered custom
    layer by its class name without custom_objects."""
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise TypeError(f"register: expected a convnet.layers.Layer subclass, got {cls!r}")
    _REGISTERED[cls.__name__] = cls
    return cls


def get(class_name, custom_objects=None):
    """The layer class called `class_name` (for model files): from custom_objects, the registered
    classes, or the built-in layers."""
    for table in (custom_objects or {}, _REGISTERED, _LAYERS):
        if class_name in table:
            return table[class_name]
    raise ValueError(f"unknown layer {class_name!r}; expected one of {', '.join(sorted(_LAYERS))}, or a custom layer "
                     f"given to load_model(..., custom_objects={{{class_name!r}: {class_name}}}) or decorated with "
                     "@convnet.layers.register")
