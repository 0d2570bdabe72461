"""ONNX export and import: convnet models leave for onnxruntime and the ecosystem, and CNNs made
elsewhere (PyTorch through torch.onnx.export) come in as convnet models.

    convnet.onnx.export(model, "model.onnx")      # any convnet model; check it with onnx.checker
    model = convnet.onnx.load("model.onnx")       # a convnet Model, weights included, ready to train

Both are Python over the model's graph description (Model._graph_description) and the onnx
package (an optional extra: pip install "convnet[onnx]"); the C++ core knows nothing of ONNX.

Export writes every node kind of the C++ graph: Conv (groups, dilation, padding, depthwise),
ConvTranspose, MaxPool / AveragePool (min pooling as Neg, MaxPool, Neg; padding='same' as explicit
asymmetric pads), GlobalAveragePool / GlobalMaxPool + Flatten, Gemm, BatchNormalization (inference
form), Relu / LeakyRelu / Elu / Sigmoid / Tanh / Softmax, Add / Sum, Concat, Flatten, Reshape, Pad,
Resize (nearest), Mul / Add (Rescaling), Transpose (a channels-last model's edges), and Identity for
Dropout and the training-only augmentation layers. The batch dimension is dynamic ('N'), the input and
outputs are named after the model's input and output layers, the weights are initializers. The
ONNX input takes the float32 values the model sees: uint8 pixels scaled as convnet does (by 1/255
for a channels-first model; channels-last models take 0..255 as they are).

Import reads graphs made of Conv, ConvTranspose (where Keras' size rules give its pads), MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, Relu,
LeakyRelu, Elu, Sigmoid, Tanh, Softmax, Gemm, MatMul (+ Add of a bias), Flatten, Reshape to (N, -1)
or to an image, BatchNormalization, Add, Concat, Dropout, Identity, Pad (zeros; a ZeroPadding2D),
Resize (nearest, integer scales), Mul / Add of a scalar, Neg, Transpose at a channels-last model's
edges, and constants (initializers and Constant nodes). Anything else, or an attribute or value these
cannot express, is a ValueError naming the node, its operator and the attribute. A graph that ends
before a softmax gives a model whose output is logits: train it with
loss=SparseCategoricalCrossentropy(from_logits=True).
"""
import math

import numpy as np

from . import layers as L
from .models import Model
from .serialization import as_path, atomic_write_bytes, open_regular_file

__all__ = ["export", "load", "DEFAULT_OPSET"]

DEFAULT_OPSET = 17
MIN_OPSET = 13  # Resize and Pad with tensor inputs, Softmax over one axis


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError("convnet.onnx needs the onnx package: pip install 'convnet[onnx]' (onnx and onnxruntime)") \
            from None
    return onnx


def _same_pads(size, extent, stride):
    """padding='same' along one axis (TensorFlow's split, as the C++ ops): (before, after)."""
    total = max((-(-size // stride) - 1) * stride + extent - size, 0)
    return total // 2, total - total // 2


# -- export -------------------------------------------------------------------------------------------

def export(model, path, opset=None):
    """Writes `model` as an ONNX file at `path` (atomically) and returns the onnx.ModelProto. opset:
    the ONNX opset (default DEFAULT_OPSET, at least 13). The file passes
    onnx.checker.check_model(full_check=True)."""
    onnx = _onnx()
    if not isinstance(model, Model):
        raise TypeError(f"convnet.onnx.export: argument 'model' expected a convnet Model, got {type(model).__name__}")
    path = as_path(path, "convnet.onnx.export")
    newest = onnx.defs.onnx_opset_version()
    opset = DEFAULT_OPSET if opset is None else opset
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"convnet.onnx.export: argument 'opset' expected an int in [{MIN_OPSET}, {newest}], got "
                         f"{opset!r}")
    if not model.built:
        raise ValueError(f"convnet.onnx.export: model {model.name!r} is not built (give it an Input first)")
    proto = _Exporter(onnx, model._graph_description(), model.name, opset).model()
    onnx.checker.check_model(proto, full_check=True)
    atomic_write_bytes(path, proto.SerializeToString(), where="convnet.onnx.export")
    return proto


ACTIVATIONS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "leaky_relu": "LeakyRelu", "elu": "Elu",
               "softmax": "Softmax"}
IDENTITIES = ("dropout", "random_flip_translate", "random_affine", "random_crop", "random_contrast", "random_erasing")


class _Exporter:
    """Emits one ONNX node (or a few) per node of the C++ graph, in its (topological) order."""

    def __init__(self, onnx, desc, name, opset):
        self.onnx, self.desc, self.name, self.opset = onnx, desc, name, opset
        self.nodes, self.initializers, self.used = [], [], set()
        self.out = []  # per graph node: the ONNX name of its output

    def fresh(self, base):
        name, k = base, 1
        while name in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return name

    def const(self, base, array):
        name = self.fresh(base)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def emit(self, op, inputs, base, **attrs):
        out = self.fresh(base)
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def model(self):
        helper, TensorProto = self.onnx.helper, self.onnx.TensorProto
        desc = self.desc
        self.used.update(desc.output_names)  # the graph's output names are the output layers' own
        graph_input = None
        for i, spec in enumerate(desc.specs):
            if spec["op"] == "input":
                graph_input = self.fresh(spec["name"])
                self.out.append(graph_input)
                continue
            handler = getattr(self, "_" + spec["op"], None)
            if handler is None:
                raise ValueError(f"convnet.onnx.export: layer {spec['name']!r}: node kind {spec['op']!r} has no ONNX "
                                 "form yet")
            y = handler(i, spec, [self.out[j] for j in spec["inputs"]])
            if spec["op"] != "activation":  # a fused activation follows the node's own work
                y = self._apply_activation(spec, y, spec.get("activation"), spec.get("alpha", 0.0))
            self.out.append(y)
        outputs, named = [], set()
        for node, name in zip(desc.outputs, desc.output_names):
            if name in named:  # one layer given twice as an output
                name = self.fresh(name)
            named.add(name)
            self.nodes.append(helper.make_node("Identity", [self.out[node]], [name], name=self.fresh(name + "/output")))
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", *desc.shapes[node]]))
        inputs = [helper.make_tensor_value_info(graph_input, TensorProto.FLOAT, ["N", *desc.shapes[0]])]
        graph = helper.make_graph(self.nodes, self.name, inputs, outputs, self.initializers)
        opsets = [helper.make_opsetid("", self.opset)]
        from . import __version__
        return helper.make_model(graph, opset_imports=opsets, producer_name="convnet", producer_version=__version__,
                                 ir_version=helper.find_min_ir_version_for(opsets))

    def _apply_activation(self, spec, x, kind, alpha):
        if not kind:
            return x
        attrs = {"alpha": float(alpha)} if kind in ("leaky_relu", "elu") else {"axis": 1} if kind == "softmax" else {}
        return self.emit(ACTIVATIONS[kind], [x], f"{spec['name']}_{kind}", **attrs)

    def _in_hw(self, spec):
        return self.desc.shapes[spec["inputs"][0]][-2:]

    def _pads(self, spec, extent, strides, padding):
        """ONNX pads [top, left, bottom, right] of a node's 'same' or (h, w) padding."""
        if padding == "same":
            (t, b), (left, r) = (_same_pads(n, k, s) for n, k, s in zip(self._in_hw(spec), extent, strides))
            return [t, left, b, r]
        return [padding[0], padding[1], padding[0], padding[1]]

    # one method per node kind: (node index, spec, ONNX input names) -> the ONNX output name
    def _conv2d(self, i, spec, x):
        p = self.desc.params[i]
        w = p["weight"]
        c_in = self.desc.shapes[spec["inputs"][0]][0]
        group = c_in if spec.get("depth_multiplier", 0) > 0 else spec.get("groups", 1)
        strides, dilations = spec.get("strides", (1, 1)), spec.get("dilation_rate", (1, 1))
        extent = [d * (k - 1) + 1 for d, k in zip(dilations, w.shape[2:])]
        inputs = x + [self.const(f"{spec['name']}.weight", w)] + \
            ([self.const(f"{spec['name']}.bias", p["bias"])] if "bias" in p else [])
        return self.emit("Conv", inputs, spec["name"], kernel_shape=list(w.shape[2:]), strides=list(strides),
                         dilations=list(dilations), group=int(group),
                         pads=self._pads(spec, extent, strides, spec.get("padding", (0, 0))))

    def _conv_transpose2d(self, i, spec, x):
        p = self.desc.params[i]
        w = p["weight"]  # (C_in, C_out, kh, kw), ONNX's layout too
        pads, output_padding = [0, 0, 0, 0], []
        for axis, (size, out, k, s, d) in enumerate(zip(self._in_hw(spec), self.desc.shapes[i][-2:], w.shape[2:],
                                                        spec["strides"], spec["dilation_rate"])):
            full = (size - 1) * s + d * (k - 1) + 1  # the output without padding; the C++ node crops it to `out`
            total = max(full - out, 0)
            pads[axis], pads[axis + 2] = total // 2, total - total // 2
            output_padding.append(max(out - full, 0))
        inputs = x + [self.const(f"{spec['name']}.weight", w)] + \
            ([self.const(f"{spec['name']}.bias", p["bias"])] if "bias" in p else [])
        return self.emit("ConvTranspose", inputs, spec["name"], kernel_shape=list(w.shape[2:]),
                         strides=list(spec["strides"]), dilations=list(spec["dilation_rate"]), pads=pads,
                         output_padding=output_padding)

    def _linear(self, i, spec, x):
        p = self.desc.params[i]
        inputs = x + [self.const(f"{spec['name']}.weight", p["weight"])] + \
            ([self.const(f"{spec['name']}.bias", p["bias"])] if "bias" in p else [])
        return self.emit("Gemm", inputs, spec["name"], transB=1)

    def _pool2d(self, i, spec, x):
        kernel, strides = list(spec["pool_size"]), list(spec["pool_strides"])
        pads = self._pads(spec, kernel, strides, spec["padding"])
        name = spec["name"]
        if spec["mode"] == "avg":
            return self.emit("AveragePool", x, name, kernel_shape=kernel, strides=strides, pads=pads,
                             count_include_pad=int(spec["padding"] != "same"))
        if spec["mode"] == "max":
            return self.emit("MaxPool", x, name, kernel_shape=kernel, strides=strides, pads=pads)
        negated = self.emit("Neg", x, f"{name}_neg")  # min(x) = -max(-x)
        pooled = self.emit("MaxPool", [negated], f"{name}_max", kernel_shape=kernel, strides=strides, pads=pads)
        return self.emit("Neg", [pooled], name)

    def _global_avg_pool2d(self, i, spec, x):
        return self.emit("Flatten", [self.emit("GlobalAveragePool", x, f"{spec['name']}_pool")], spec["name"], axis=1)

    def _global_max_pool2d(self, i, spec, x):
        return self.emit("Flatten", [self.emit("GlobalMaxPool", x, f"{spec['name']}_pool")], spec["name"], axis=1)

    def _flatten(self, i, spec, x):
        return self.emit("Flatten", x, spec["name"], axis=1)

    def _reshape(self, i, spec, x):
        shape = self.const(f"{spec['name']}.shape", np.array([0, *self.desc.shapes[i]], np.int64))
        return self.emit("Reshape", x + [shape], spec["name"])

    def _batch_norm(self, i, spec, x):
        p, b, name = self.desc.params[i], self.desc.buffers[i], spec["name"]
        inputs = x + [self.const(f"{name}.{k}", v) for k, v in (("weight", p["weight"]), ("bias", p["bias"]),
                                                                ("running_mean", b["running_mean"]),
                                                                ("running_var", b["running_var"]))]
        return self.emit("BatchNormalization", inputs, name, epsilon=float(spec["epsilon"]))

    def _activation(self, i, spec, x):
        return self._apply_activation(spec, x[0], spec["activation"], spec.get("alpha", 0.0))

    def _add(self, i, spec, x):
        return self.emit("Add" if len(x) == 2 else "Sum", x, spec["name"])

    def _concat(self, i, spec, x):
        return self.emit("Concat", x, spec["name"], axis=self._graph_axis(i, spec))

    def _graph_axis(self, i, spec):
        """A concat node's axis in the graph's NCHW tensors (the spec's axis is the user's layout's)."""
        rank = len(self.desc.shapes[i]) + 1
        axis = spec.get("axis")
        if axis is None:
            return 1
        axis = axis % rank
        if spec.get("channels_last") and rank == 4:
            return {1: 2, 2: 3, 3: 1}[axis]
        return axis

    def _layout(self, i, spec, x):
        if len(self.desc.shapes[i]) != 3:
            return self.emit("Identity", x, spec["name"])  # a non-image passes through
        perm = [0, 3, 1, 2] if spec["to"] == "channels_first" else [0, 2, 3, 1]
        return self.emit("Transpose", x, f"{spec['name']}_to_{spec['to']}", perm=perm)

    def _rescale(self, i, spec, x):
        y = self.emit("Mul", x + [self.const(f"{spec['name']}.scale", np.float32(spec["scale"]))], spec["name"])
        if spec.get("offset", 0.0):
            y = self.emit("Add", [y, self.const(f"{spec['name']}.offset", np.float32(spec["offset"]))], spec["name"])
        return y

    def _zero_pad2d(self, i, spec, x):
        top, bottom, left, right = spec["padding"]
        pads = self.const(f"{spec['name']}.pads", np.array([0, 0, top, left, 0, 0, bottom, right], np.int64))
        return self.emit("Pad", x + [pads], spec["name"], mode="constant")

    def _upsample_nearest2d(self, i, spec, x):
        scales = self.const(f"{spec['name']}.scales", np.array([1, 1, *spec["size"]], np.float32))
        return self.emit("Resize", x + ["", scales], spec["name"], mode="nearest",
                         coordinate_transformation_mode="asymmetric", nearest_mode="floor")


for _kind in IDENTITIES:
    setattr(_Exporter, "_" + _kind, lambda self, i, spec, x: self.emit("Identity", x, spec["name"]))
del _kind


# -- import -------------------------------------------------------------------------------------------

def load(path):
    """A convnet Model from the ONNX file at `path` (see the module docstring for the operators),
    uncompiled, with the file's weights. Its output is logits when the graph ends before a softmax."""
    onnx = _onnx()
    path = as_path(path, "convnet.onnx.load")
    with open_regular_file(path, "convnet.onnx.load") as f:
        data = f.read()
    try:
        proto = onnx.load_model_from_string(data)
        onnx.checker.check_model(proto)
    except Exception as e:  # a truncated or foreign file: protobuf's DecodeError, onnx's ValidationError, ...
        raise ValueError(f"convnet.onnx.load: '{path}' is not a valid ONNX model ({type(e).__name__}: "
                         f"{str(e).strip().splitlines()[0] if str(e).strip() else 'no details'})") from None
    return _Importer(onnx, proto, path).model()


class _Image:
    """How an ONNX tensor maps onto a convnet tensor: `tensor` (a SymbolicTensor) and `kind`: 'image'
    (N, C, H, W), 'flat' (N, F), 'pooled' (a global pooling's (N, C) standing for ONNX's (N, C, 1, 1)) or
    'last' (a channels-last model's image seen in ONNX as (N, H, W, C))."""

    def __init__(self, tensor, kind):
        self.tensor, self.kind = tensor, kind


class _Importer:
    def __init__(self, onnx, proto, path):
        self.onnx, self.proto, self.path = onnx, proto, path
        graph = proto.graph
        self.consts = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
        self.values = {}  # ONNX tensor name -> _Image
        self.weights = []  # (layer, weights) to set once the model is built
        self.consumers = {}
        for node in graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.skip = set()  # nodes folded into an earlier one (the bias Add of a MatMul)
        self.channels_last = False

    def fail(self, node, what):
        raise ValueError(f"convnet.onnx.load: '{self.path}': node {node.name or '(unnamed)'!r} ({node.op_type}): {what}")

    def model(self):
        graph = self.proto.graph
        inputs = [i for i in graph.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise ValueError(f"convnet.onnx.load: '{self.path}': expected one graph input (the images), got "
                             f"{len(inputs)}: {', '.join(i.name for i in inputs)}")
        first = inputs[0]
        dims = [d.dim_value if d.HasField("dim_value") else None for d in first.type.tensor_type.shape.dim]
        if len(dims) not in (2, 4) or None in dims[1:] or first.type.tensor_type.elem_type != self.onnx.TensorProto.FLOAT:
            raise ValueError(f"convnet.onnx.load: '{self.path}': input {first.name!r} expected float32 (N, C, H, W) or "
                             f"(N, features) with fixed sizes after the batch, got shape {dims}")
        self.input_dims, self.input_name = tuple(dims[1:]), first.name
        self.start = None  # the Input, made when the first node shows the layout
        for node in graph.node:
            if id(node) not in self.skip:
                self.import_node(node)
        outputs = []
        for out in graph.output:
            value = self.value_of(out.name, None)
            if value.kind == "pooled":
                value = _Image(L.Reshape((value.tensor.shape[1], 1, 1))(value.tensor), "image")
            if value.kind == "image" and self.channels_last:
                raise ValueError(f"convnet.onnx.load: '{self.path}': graph output {out.name!r} is an (N, C, H, W) "
                                 "image of a channels-last model (convnet returns (N, H, W, C) there)")
            outputs.append(value.tensor)
        model = Model(self.input_tensor(), outputs[0] if len(outputs) == 1 else outputs, name=graph.name or None)
        for layer, weights in self.weights:
            layer.set_weights([np.ascontiguousarray(w, np.float32) for w in weights])
        return model

    def input_tensor(self):
        if self.start is None:
            self.start = L.Input(self.input_dims, name=_layer_name(self.input_name),
                                 data_format="channels_last" if self.channels_last else None)
        return self.start

    def value_of(self, name, node):
        if name == self.input_name:
            return _Image(self.input_tensor(), "image" if len(self.input_dims) == 3 else "flat")
        if name not in self.values:
            what = "a constant where a tensor computed from the input is expected" if name in self.consts else \
                f"its input {name!r} is not computed by any supported node"
            if node is None:
                raise ValueError(f"convnet.onnx.load: '{self.path}': graph output {name!r}: {what}")
            self.fail(node, what)
        return self.values[name]

    def const_of(self, node, k, what):
        name = node.input[k] if k < len(node.input) else ""
        if name not in self.consts:
            self.fail(node, f"input {k} ({what}) expected a constant initializer, got "
                            f"{'nothing' if not name else 'the computed tensor ' + repr(name)} (a dynamic {what})")
        return self.consts[name]

    def attrs(self, node, known):
        """The node's attributes; an attribute not in `known` (name -> default) is an error."""
        got = {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}
        for name in got:
            if name not in known:
                self.fail(node, f"attribute {name!r} is not supported (supported: {', '.join(known) or 'none'})")
        return {**known, **{k: (v.decode() if isinstance(v, bytes) else v) for k, v in got.items()}}

    def layer(self, node, layer, x, weights=None, kind=None):
        """Calls `layer` on _Image x and records node's output."""
        y = _Image(layer(x.tensor), kind or x.kind)
        if weights is not None:
            self.weights.append((layer, weights))
        self.values[node.output[0]] = y
        return y

    def image(self, node, k=0):
        """Input k of node as an image (a pooled (N, C) is made (N, C, 1, 1) again)."""
        x = self.value_of(node.input[k], node)
        if x.kind == "pooled":
            return _Image(L.Reshape((x.tensor.shape[1], 1, 1))(x.tensor), "image")
        if x.kind != "image":
            self.fail(node, f"expected a 4-D image input, got a {'flat (N, features)' if x.kind == 'flat' else x.kind} "
                            "tensor")
        return x

    def flat(self, node, k=0):
        x = self.value_of(node.input[k], node)
        if x.kind not in ("flat", "pooled"):
            self.fail(node, "expected a 2-D (N, features) input, got a 4-D image (Flatten it first)")
        return _Image(x.tensor, "flat")

    def chw(self, x):
        """The per-sample (C, H, W) of an image _Image, whatever the model's layout."""
        shape = x.tensor.shape[1:]
        return (shape[2], shape[0], shape[1]) if self.channels_last else shape

    def import_node(self, node):
        handler = getattr(self, "_" + node.op_type, None)
        if handler is None:
            hint = " (a dynamic reshape such as x.view(x.size(0), -1): export torch.flatten(x, 1) or nn.Flatten " \
                   "instead)" if node.op_type in ("Shape", "Gather", "Unsqueeze") else ""
            self.fail(node, f"operator {node.op_type} is not supported{hint}")
        handler(node)

    # -- one method per operator ----------------------------------------------------------------------
    def _Constant(self, node):
        a = self.attrs(node, {"value": None})
        if a["value"] is None:
            self.fail(node, "only the 'value' form of Constant is supported")
        self.consts[node.output[0]] = self.onnx.numpy_helper.to_array(a["value"])

    def _Identity(self, node):
        if node.input[0] in self.consts:
            self.consts[node.output[0]] = self.consts[node.input[0]]
        else:
            self.values[node.output[0]] = self.value_of(node.input[0], node)

    def _Dropout(self, node):
        self.attrs(node, {"seed": 0})
        self.values[node.output[0]] = self.value_of(node.input[0], node)  # inference: the identity

    def _Conv(self, node):
        w = self.const_of(node, 1, "weight")
        b = self.const_of(node, 2, "bias") if len(node.input) > 2 and node.input[2] else None
        a = self.attrs(node, {"auto_pad": "NOTSET", "kernel_shape": list(w.shape[2:]), "strides": [1, 1],
                              "pads": [0, 0, 0, 0], "dilations": [1, 1], "group": 1})
        if w.ndim != 4 or list(a["kernel_shape"]) != list(w.shape[2:]):
            self.fail(node, f"attribute 'kernel_shape' {a['kernel_shape']} does not match the weight {w.shape}")
        x = self.image(node)
        padding = self.padding(node, a, [d * (k - 1) + 1 for d, k in zip(a["dilations"], w.shape[2:])], x)
        if isinstance(padding, list):  # asymmetric: zeros first, then a valid convolution
            x = _Image(L.ZeroPadding2D(((padding[0], padding[2]), (padding[1], padding[3])))(x.tensor), "image")
            padding = 0
        layer = L.Conv2D(w.shape[0], tuple(w.shape[2:]), strides=tuple(a["strides"]), padding=padding,
                         dilation_rate=tuple(a["dilations"]), groups=int(a["group"]), use_bias=b is not None,
                         name=_layer_name(node.name or node.output[0]))
        self.layer(node, layer, x, [w] + ([b] if b is not None else []))

    def padding(self, node, a, extent, x):
        """Conv / pooling pads as a convnet padding: (h, w) when symmetric, 'same' when they are Keras'
        'same' for this input, else the list [top, left, bottom, right]."""
        if a["auto_pad"] not in ("NOTSET", "VALID", "SAME_UPPER"):
            self.fail(node, f"attribute 'auto_pad' {a['auto_pad']!r} is not supported (NOTSET, VALID, SAME_UPPER)")
        if a["auto_pad"] == "VALID":
            return (0, 0)
        hw = self.chw(x)[1:]
        same = [p for n, k, s in zip(hw, extent, a["strides"]) for p in _same_pads(n, k, s)]
        same = [same[0], same[2], same[1], same[3]]
        if a["auto_pad"] == "SAME_UPPER":
            return "same"
        pads = list(a["pads"])
        if len(pads) != 4 or min(pads) < 0:
            self.fail(node, f"attribute 'pads' expected 4 non-negative values, got {pads}")
        if pads[0] == pads[2] and pads[1] == pads[3]:
            return (pads[0], pads[1])
        return "same" if pads == same else pads

    def pool_attrs(self, node, extra):
        a = self.attrs(node, {"auto_pad": "NOTSET", "kernel_shape": None, "strides": None, "pads": [0, 0, 0, 0],
                              "dilations": [1, 1], "ceil_mode": 0, "storage_order": 0, **extra})
        if a["kernel_shape"] is None or len(a["kernel_shape"]) != 2:
            self.fail(node, f"attribute 'kernel_shape' expected 2 sizes, got {a['kernel_shape']}")
        a["strides"] = a["strides"] or [1, 1]
        if list(a["dilations"]) != [1, 1]:
            self.fail(node, f"attribute 'dilations' {a['dilations']} is not supported (only 1)")
        return a

    def check_ceil(self, node, a, x, padding):
        """ceil_mode=1 is only accepted where it gives the floor's sizes."""
        if not a["ceil_mode"]:
            return
        pads = [0, 0, 0, 0] if padding == "same" else list(a["pads"])
        for n, k, s, p in zip(self.chw(x)[1:], a["kernel_shape"], a["strides"], (pads[0] + pads[2], pads[1] + pads[3])):
            if (n + p - k) % s:
                self.fail(node, "attribute 'ceil_mode' 1 changes the output size here (convnet pools with the floor)")

    def _MaxPool(self, node):
        if len(node.output) > 1 and node.output[1]:
            self.fail(node, "the Indices output is not supported")
        a = self.pool_attrs(node, {})
        x = self.image(node)
        padding = self.padding(node, a, a["kernel_shape"], x)
        if isinstance(padding, list):
            self.fail(node, f"attribute 'pads' {padding} is neither symmetric nor Keras' 'same' for this input")
        self.check_ceil(node, a, x, padding)
        layer = L.MaxPool2D(tuple(a["kernel_shape"]), strides=tuple(a["strides"]), padding=padding,
                            name=_layer_name(node.name or node.output[0]))
        self.layer(node, layer, x)

    def _AveragePool(self, node):
        a = self.pool_attrs(node, {"count_include_pad": 0})
        x = self.image(node)
        padding = self.padding(node, a, a["kernel_shape"], x)
        no_pads = padding in ((0, 0), [0, 0, 0, 0])
        if a["count_include_pad"] and padding == "same" and a["auto_pad"] == "NOTSET":
            padding = list(a["pads"])  # zeros counted in the mean: explicit zero padding
        if a["count_include_pad"] and isinstance(padding, list):
            x = _Image(L.ZeroPadding2D(((padding[0], padding[2]), (padding[1], padding[3])))(x.tensor), "image")
            padding = (0, 0)
        elif not a["count_include_pad"] and not no_pads and padding != "same":
            self.fail(node, f"attribute 'count_include_pad' 0 with pads {list(a['pads'])}: convnet leaves padding out "
                            "of the mean only for Keras' 'same' padding")
        self.check_ceil(node, a, x, padding)
        layer = L.AvgPool2D(tuple(a["kernel_shape"]), strides=tuple(a["strides"]), padding=padding,
                            name=_layer_name(node.name or node.output[0]))
        self.layer(node, layer, x)

    def _GlobalAveragePool(self, node):
        self.attrs(node, {})
        self.layer(node, L.GlobalAveragePooling2D(name=_layer_name(node.name or node.output[0])), self.image(node),
                   kind="pooled")

    def _GlobalMaxPool(self, node):
        self.attrs(node, {})
        self.layer(node, L.GlobalMaxPooling2D(name=_layer_name(node.name or node.output[0])), self.image(node),
                   kind="pooled")

    def activation(self, node, layer):
        self.layer(node, layer, self.value_of(node.input[0], node))

    def _Relu(self, node):
        self.attrs(node, {})
        self.activation(node, L.ReLU(name=_layer_name(node.name or node.output[0])))

    def _LeakyRelu(self, node):
        a = self.attrs(node, {"alpha": 0.01})
        self.activation(node, L.LeakyReLU(a["alpha"], name=_layer_name(node.name or node.output[0])))

    def _Elu(self, node):
        a = self.attrs(node, {"alpha": 1.0})
        self.activation(node, L.ELU(a["alpha"], name=_layer_name(node.name or node.output[0])))

    def _Sigmoid(self, node):
        self.attrs(node, {})
        self.activation(node, L.Activation("sigmoid", name=_layer_name(node.name or node.output[0])))

    def _Tanh(self, node):
        self.attrs(node, {})
        self.activation(node, L.Activation("tanh", name=_layer_name(node.name or node.output[0])))

    def _Softmax(self, node):
        opset = next((o.version for o in self.proto.opset_import if o.domain in ("", "ai.onnx")), 13)
        a = self.attrs(node, {"axis": -1 if opset >= 13 else 1})
        x = self.flat(node)
        if a["axis"] not in (1, -1):
            self.fail(node, f"attribute 'axis' {a['axis']}: convnet's Softmax is over the features of (N, features)")
        self.layer(node, L.Softmax(name=_layer_name(node.name or node.output[0])), x)

    def dense(self, node, x, kernel, bias):
        layer = L.Dense(kernel.shape[0], use_bias=bias is not None, name=_layer_name(node.name or node.output[0]))
        self.layer(node, layer, x, [kernel] + ([bias] if bias is not None else []))

    def _Gemm(self, node):
        a = self.attrs(node, {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0})
        if a["transA"]:
            self.fail(node, "attribute 'transA' 1 is not supported (the input is (N, features))")
        x = self.flat(node)
        b = self.const_of(node, 1, "weight")
        kernel = (b if a["transB"] else b.T) * a["alpha"]
        bias = None
        if len(node.input) > 2 and node.input[2]:
            c = self.const_of(node, 2, "bias")
            bias = np.broadcast_to(c * a["beta"], (kernel.shape[0],)) if c.size in (1, kernel.shape[0]) else \
                self.fail(node, f"a bias of shape {c.shape} for {kernel.shape[0]} units")
        self.dense(node, x, kernel, bias)

    def _MatMul(self, node):
        self.attrs(node, {})
        x = self.flat(node)
        w = self.const_of(node, 1, "weight")
        if w.ndim != 2:
            self.fail(node, f"expected a 2-D weight (features, units), got shape {w.shape}")
        users = self.consumers.get(node.output[0], [])
        bias = None
        if len(users) == 1 and users[0].op_type == "Add":  # MatMul + Add of a bias: one Dense
            add = users[0]
            other = add.input[1] if add.input[0] == node.output[0] else add.input[0]
            if other in self.consts and self.consts[other].shape in ((w.shape[1],), (1, w.shape[1])):
                bias = self.consts[other].reshape(-1)
                self.skip.add(id(add))
                node = add
        self.dense(node, x, w.T, bias)

    def scalar(self, node, name):
        value = self.consts.get(name)
        return float(np.asarray(value).reshape(-1)[0]) if value is not None and np.size(value) == 1 else None

    def _Add(self, node):
        self.attrs(node, {})
        a_const, b_const = (self.scalar(node, n) for n in node.input)
        if a_const is not None or b_const is not None:
            x = self.value_of(node.input[1] if a_const is not None else node.input[0], node)
            offset = a_const if a_const is not None else b_const
            return self.layer(node, L.Rescaling(1.0, offset, name=_layer_name(node.name or node.output[0])), x)
        xs = [self.value_of(n, node) for n in node.input]
        if any(n in self.consts for n in node.input):
            self.fail(node, "an Add of a constant tensor is supported only as the bias of a MatMul or a scalar")
        kinds = {x.kind for x in xs}
        if len(kinds) != 1 or xs[0].tensor.shape != xs[1].tensor.shape:
            self.fail(node, f"inputs of shapes {xs[0].tensor.shape} and {xs[1].tensor.shape}: broadcasting is not "
                            "supported")
        y = L.Add(name=_layer_name(node.name or node.output[0]))([x.tensor for x in xs])
        self.values[node.output[0]] = _Image(y, xs[0].kind)

    def _Mul(self, node):
        self.attrs(node, {})
        scales = [self.scalar(node, n) for n in node.input]
        if scales.count(None) != 1:
            self.fail(node, "only a product with a scalar constant is supported (a Rescaling)")
        x = self.value_of(node.input[scales.index(None)], node)
        scale = next(s for s in scales if s is not None)
        self.layer(node, L.Rescaling(scale, name=_layer_name(node.name or node.output[0])), x)

    def _Neg(self, node):
        self.attrs(node, {})
        self.layer(node, L.Rescaling(-1.0, name=_layer_name(node.name or node.output[0])),
                   self.value_of(node.input[0], node))

    def _Concat(self, node):
        a = self.attrs(node, {"axis": None})
        xs = [self.value_of(n, node) for n in node.input]
        kind = xs[0].kind
        rank = 4 if kind == "image" else 2
        if any(x.kind != kind for x in xs) or kind not in ("image", "flat") or a["axis"] % rank != 1:
            self.fail(node, f"attribute 'axis' {a['axis']}: convnet concatenates images on the channel axis (1) or "
                            "flat tensors on the features")
        y = L.Concatenate(name=_layer_name(node.name or node.output[0]))([x.tensor for x in xs])
        self.values[node.output[0]] = _Image(y, kind)

    def _Flatten(self, node):
        a = self.attrs(node, {"axis": 1})
        if a["axis"] != 1:
            self.fail(node, f"attribute 'axis' {a['axis']} is not supported (only 1: (N, features))")
        self.flatten_value(node, self.value_of(node.input[0], node))

    def _Reshape(self, node):
        self.attrs(node, {"allowzero": 0})
        shape = [int(v) for v in self.const_of(node, 1, "shape")]
        x = self.value_of(node.input[0], node)
        features = math.prod(x.tensor.shape[1:])
        if len(shape) == 2 and shape[1] in (-1, features) and shape[0] in (0, -1) + (() if shape[1] == -1 else (1,)):
            return self.flatten_value(node, x)
        if len(shape) == 4 and shape[0] in (0, -1) and x.kind in ("flat", "pooled") and math.prod(shape[1:]) == features:
            # in a channels-last model the target is (H, W, C), as the ONNX graph holds it until its Transpose
            return self.layer(node, L.Reshape(tuple(shape[1:]), name=_layer_name(node.name or node.output[0])),
                              _Image(x.tensor, "flat"), kind="last" if self.channels_last else "image")
        self.fail(node, f"a reshape to {shape} is not supported (only to (N, -1) or an image from (N, features))")

    def flatten_value(self, node, x):
        """(N, features) of x in ONNX's order: an NCHW image's (C, H, W), a channels-last one's (H, W, C)."""
        if x.kind == "image" and self.channels_last:
            self.fail(node, "a channels-last model flattens (H, W, C) (after a Transpose to NHWC), not (C, H, W)")
        if x.kind in ("flat", "pooled"):
            self.values[node.output[0]] = _Image(x.tensor, "flat")
        else:
            self.layer(node, L.Flatten(name=_layer_name(node.name or node.output[0])), x, kind="flat")

    def _Pad(self, node):
        a = self.attrs(node, {"mode": "constant"})
        pads = [int(v) for v in self.const_of(node, 1, "pads")]
        value = self.scalar(node, node.input[2]) if len(node.input) > 2 and node.input[2] else 0.0
        if a["mode"] != "constant" or value != 0.0:
            self.fail(node, f"only zero padding is supported (mode {a['mode']!r}, value {value})")
        if len(node.input) > 3 and node.input[3]:
            self.fail(node, "the 'axes' input is not supported")
        if len(pads) != 8 or pads[:2] != [0, 0] or pads[4:6] != [0, 0] or min(pads) < 0:
            self.fail(node, f"pads {pads}: only non-negative padding of H and W is supported")
        top, left, bottom, right = pads[2], pads[3], pads[6], pads[7]
        layer = L.ZeroPadding2D(((top, bottom), (left, right)), name=_layer_name(node.name or node.output[0]))
        self.layer(node, layer, self.image(node))

    def _Resize(self, node):
        a = self.attrs(node, {"mode": "nearest", "coordinate_transformation_mode": "half_pixel",
                              "nearest_mode": "round_prefer_floor", "cubic_coeff_a": -0.75, "exclude_outside": 0,
                              "extrapolation_value": 0.0, "antialias": 0, "keep_aspect_ratio_policy": "stretch"})
        x = self.image(node)
        c, h, w = self.chw(x)
        if len(node.input) > 3 and node.input[3]:
            sizes = self.const_of(node, 3, "sizes")
            scales = [sizes[2] / h, sizes[3] / w] if len(sizes) == 4 else None
        else:
            scales = list(self.const_of(node, 2, "scales"))[2:]
        if a["mode"] != "nearest" or not scales or any(s != int(s) or s < 1 for s in scales):
            self.fail(node, f"only nearest resizing by integer factors is supported (mode {a['mode']!r}, "
                            f"scales {scales})")
        if a["coordinate_transformation_mode"] not in ("asymmetric",) and a["nearest_mode"] != "floor" and \
                not all(s == 1 for s in scales):
            self.fail(node, f"attribute 'coordinate_transformation_mode' {a['coordinate_transformation_mode']!r} with "
                            f"nearest_mode {a['nearest_mode']!r}: convnet copies each pixel to its s x s block "
                            "(asymmetric, floor)")
        layer = L.UpSampling2D((int(scales[0]), int(scales[1])), name=_layer_name(node.name or node.output[0]))
        self.layer(node, layer, x)

    def _ConvTranspose(self, node):
        w = self.const_of(node, 1, "weight")
        b = self.const_of(node, 2, "bias") if len(node.input) > 2 and node.input[2] else None
        a = self.attrs(node, {"auto_pad": "NOTSET", "kernel_shape": list(w.shape[2:]), "strides": [1, 1],
                              "pads": [0, 0, 0, 0], "dilations": [1, 1], "group": 1, "output_padding": [0, 0],
                              "output_shape": None})
        if a["group"] != 1 or a["auto_pad"] != "NOTSET" or a["output_shape"] is not None or w.ndim != 4:
            self.fail(node, "only group 1 and explicit pads (auto_pad NOTSET, no output_shape) are supported")
        x = self.image(node)
        padding, output_padding = _keras_transpose(self.chw(x)[1:], w.shape[2:], a["strides"], a["dilations"],
                                                   list(a["pads"]), list(a["output_padding"]))
        if padding is None:
            self.fail(node, f"attribute 'pads' {list(a['pads'])} with output_padding {list(a['output_padding'])}: not "
                            "expressible with Keras' Conv2DTranspose sizes (padding 'valid' / 'same', output_padding)")
        layer = L.Conv2DTranspose(w.shape[1], tuple(w.shape[2:]), strides=tuple(a["strides"]), padding=padding,
                                  output_padding=output_padding, dilation_rate=tuple(a["dilations"]),
                                  use_bias=b is not None, name=_layer_name(node.name or node.output[0]))
        self.layer(node, layer, x, [w] + ([b] if b is not None else []))

    def _BatchNormalization(self, node):
        a = self.attrs(node, {"epsilon": 1e-5, "momentum": 0.9, "training_mode": 0, "spatial": 1})
        if a["training_mode"] or len([o for o in node.output if o]) > 1:
            self.fail(node, "training_mode 1 is not supported (an inference graph is expected)")
        weights = [self.const_of(node, k, what) for k, what in
                   ((1, "scale"), (2, "bias"), (3, "running mean"), (4, "running variance"))]
        layer = L.BatchNormalization(epsilon=a["epsilon"], name=_layer_name(node.name or node.output[0]))
        self.layer(node, layer, self.value_of(node.input[0], node), weights)

    def _Transpose(self, node):
        a = self.attrs(node, {"perm": None})
        perm = list(a["perm"] or [])
        if node.input[0] == self.input_name and perm == [0, 3, 1, 2] and self.start is None:
            self.channels_last = True  # a channels-last model's input edge: (N, H, W, C) in
            self.values[node.output[0]] = _Image(self.input_tensor(), "image")
            return
        x = self.value_of(node.input[0], node)
        if self.channels_last and (perm, x.kind) in (([0, 2, 3, 1], "image"), ([0, 3, 1, 2], "last")):
            # the same convnet tensor: the image as the user sees it (N, H, W, C), or back as the graph's
            self.values[node.output[0]] = _Image(x.tensor, "last" if x.kind == "image" else "image")
            return
        self.fail(node, f"attribute 'perm' {perm}: only a channels-last model's edges are supported")


def _transpose_axis(size, k, s, d, padding, keras_output_padding):
    """The C++ Conv2DTranspose node's rule along one axis (nodes/conv_transpose.cpp): Keras' output size
    for padding and output_padding (None: -1), as ONNX's (pad begin, pad end, output_padding)."""
    k_eff = d * (k - 1) + 1
    if keras_output_padding < 0:
        out = size * s if padding == "same" else size * s + max(k_eff - s, 0)
    else:
        out = (size - 1) * s + k_eff - 2 * (k_eff // 2 if padding == "same" else 0) + keras_output_padding
    full = (size - 1) * s + k_eff
    total = max(full - out, 0)
    return total // 2, total - total // 2, max(out - full, 0)


def _keras_transpose(hw, kernel, strides, dilations, pads, output_padding):
    """(padding, output_padding) of a Conv2DTranspose giving ONNX's pads and output_padding, or (None, None)."""
    for padding in ("valid", "same"):
        for op in [None] + [(i, j) for i in range(strides[0]) for j in range(strides[1])]:
            got = [_transpose_axis(n, k, s, d, padding, -1 if op is None else op[axis])
                   for axis, (n, k, s, d) in enumerate(zip(hw, kernel, strides, dilations))]
            if [got[0][0], got[1][0], got[0][1], got[1][1]] == pads and [got[0][2], got[1][2]] == output_padding:
                return padding, op
    return None, None


def _layer_name(name):
    """A convnet layer name from an ONNX node or tensor name ('/layer1/conv/Conv' -> 'layer1_conv_Conv')."""
    cleaned = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name).strip("_")
    return cleaned or None
