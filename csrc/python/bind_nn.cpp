// Bindings of nn/graph.h (the executor and trainer) and ops/batch.h, as convnet._core.nn.
// Node descriptions arrive as dicts built by python/convnet/layers.py.
#include "nn/graph.h"

#include "core/checks.h"
#include "ops/batch.h"
#include "python/common.h"

namespace convnet {

using bindings::as_int;
using bindings::as_optional_tensor;
using bindings::as_seed;
using bindings::as_tensor;

namespace {

std::string layer_op(const std::string& layer) { return "layer '" + layer + "'"; }

// Node indices (inputs, outputs): ints that fit the executor's int (it checks which nodes they name).
std::vector<int> node_indices(py::handle v, const std::string& op, const char* arg) {
  std::vector<int> out;
  for (int64_t i : bindings::as_int_list(v, op.c_str(), arg)) out.push_back(checked_int(i, op, arg));
  return out;
}

// A layer description's value as a ParamValue: bool, int, float, str, or a list/tuple of ints or
// of numbers. None values are dropped before (an absent key takes the kind's default).
nn::ParamValue param_value(py::handle v, const std::string& layer, const std::string& key) {
  if (py::isinstance<py::bool_>(v)) return v.cast<bool>();
  if (py::isinstance<py::int_>(v)) return as_int(v, layer_op(layer).c_str(), key.c_str());
  if (py::isinstance<py::float_>(v)) return v.cast<double>();
  if (py::isinstance<py::str>(v)) return v.cast<std::string>();
  if (py::isinstance<py::list>(v) || py::isinstance<py::tuple>(v)) {
    bool all_ints = true;
    for (py::handle item : v) {
      if (py::isinstance<py::bool_>(item) || !(py::isinstance<py::int_>(item) || py::isinstance<py::float_>(item)))
        throw TypeError("layer '" + layer + "': argument '" + key + "' expected numbers, got " +
                        py::repr(v).cast<std::string>());
      all_ints &= py::isinstance<py::int_>(item);
    }
    if (all_ints) return bindings::as_int_list(v, layer_op(layer).c_str(), key.c_str());
    return v.cast<std::vector<double>>();
  }
  throw TypeError("layer '" + layer + "': argument '" + key + "' expected a bool, number, string or list of numbers, got " +
                  py::repr(v).cast<std::string>());
}

// A node from its dict: "op" (the kind), "name", "inputs", "trainable" and "shares" are the
// executor's keys; every other one is the kind's, checked by the kind.
nn::NodeSpec spec_from_dict(const py::dict& d) {
  nn::NodeSpec s;
  s.name = d.contains("name") ? py::str(d["name"]).cast<std::string>() : "?";
  for (auto item : d) {
    const std::string key = py::str(item.first);
    py::handle v = item.second;
    if (key == "name" || v.is_none()) continue;
    try {
      if (key == "op") s.kind = v.cast<std::string>();
      else if (key == "inputs") s.inputs = node_indices(v, layer_op(s.name), "inputs");
      else if (key == "trainable") s.trainable = v.cast<bool>();
      else if (key == "shares") s.shares = static_cast<int>(as_int(v, layer_op(s.name).c_str(), "shares", -1, INT_MAX));
      else s.params[key] = param_value(v, s.name, key);
    } catch (const py::cast_error&) {
      throw TypeError("layer '" + s.name + "': argument '" + key + "' has the wrong type: " + py::repr(v).cast<std::string>());
    }
  }
  return s;
}

// The executor's data: a Tensor (of any dtype; the executor checks which), as the model passes it.
Tensor data_tensor(py::handle obj, const char* op, const char* arg) {
  if (!py::isinstance<Tensor>(obj))
    throw TypeError(arg_message(op, arg, "a Tensor", std::string("an object of type ") + Py_TYPE(obj.ptr())->tp_name));
  return obj.cast<Tensor>();
}

py::list info_list(const std::vector<nn::ParamInfo>& infos) {
  py::list out;
  for (const auto& p : infos) out.append(py::make_tuple(p.node, p.name, p.offset, py::tuple(py::cast(p.shape))));
  return out;
}

nn::LossConfig loss_config(const std::string& kind, int output, bool from_logits, float label_smoothing,
                           int64_t top_k) {
  nn::LossConfig c;
  using K = nn::LossConfig::Kind;
  if (kind == "cross_entropy") c.kind = K::CrossEntropy;
  else if (kind == "binary_cross_entropy") c.kind = K::BinaryCrossEntropy;
  else if (kind == "mean_squared_error") c.kind = K::MeanSquaredError;
  else throw ValueError("compile: argument 'loss' expected 'cross_entropy', 'binary_cross_entropy' or "
                        "'mean_squared_error', got '" + kind + "'");
  c.output = output;
  c.from_logits = from_logits;
  c.label_smoothing = label_smoothing;
  c.top_k = top_k;
  return c;
}

}  // namespace

void bind_nn(py::module_& m) {
  py::module_ nn_mod = m.def_submodule("nn", "The graph executor and trainer");
  using nn::Graph;
  py::class_<Graph>(nn_mod, "Graph", "A model's nodes, flat parameters and buffers, and its training step")
      .def(py::init([](py::object nodes, py::object outputs, const std::string& device, py::object seed) {
             if (!py::isinstance<py::list>(nodes) && !py::isinstance<py::tuple>(nodes))
               throw TypeError(arg_message("Model", "nodes", "a list of dicts",
                                           std::string("an object of type ") + Py_TYPE(nodes.ptr())->tp_name));
             std::vector<nn::NodeSpec> specs;
             for (py::handle n : nodes) {
               if (!py::isinstance<py::dict>(n))
                 throw TypeError(arg_message("Model", "nodes", "a list of dicts", py::repr(n).cast<std::string>()));
               specs.push_back(spec_from_dict(n.cast<py::dict>()));
             }
             return std::make_unique<Graph>(std::move(specs), node_indices(outputs, "Model", "outputs"),
                                            Device::parse(device, "Model"), as_seed(seed, "Model"));
           }), py::arg("nodes"), py::arg("outputs"), py::arg("device") = "cpu", py::arg("seed") = 0)
      .def("__len__", &Graph::size, "The number of nodes")
      .def("output_shape", [](const Graph& g, py::object node) {
             const Shape& s = g.output_shape(static_cast<int>(as_int(node, "output_shape", "node", 0, g.size() - 1)));
             return py::tuple(py::cast(s));
           }, py::arg("node"), "The per-sample output shape of a node")
      .def_property_readonly("outputs", &Graph::outputs, "The output nodes, in predict's order")
      .def("params", [](const Graph& g) { return info_list(g.params()); },
           "(node, name, offset, shape) of every parameter in the flat buffer")
      .def("buffers", [](const Graph& g) { return info_list(g.buffers()); },
           "(node, name, offset, shape) of every buffer (batch-norm running statistics) in flat_buffers")
      .def("param", [](const Graph& g, py::object index) {
             return g.param_view(static_cast<int>(as_int(index, "param", "index", 0, int64_t(g.params().size()) - 1)));
           }, py::arg("index"), "A parameter's window of the flat buffer (shares memory)")
      .def_property_readonly("flat_params", &Graph::flat_params)
      .def_property_readonly("flat_grads", &Graph::flat_grads)
      .def_property_readonly("flat_buffers", &Graph::flat_buffers, "Batch-norm running statistics")
      .def("buffer", [](const Graph& g, py::object index) {
             const int64_t last = int64_t(g.buffers().size()) - 1;
             return g.buffer_view(static_cast<int>(as_int(index, "buffer", "index", 0, last)));
           }, py::arg("index"), "A buffer's window of flat_buffers (shares memory)")
      .def("running_stats", [](const Graph& g, py::object node_index) {
             const int64_t node = as_int(node_index, "running_stats", "node");
             py::list out;
             for (size_t k = 0; k < g.buffers().size(); ++k)
               if (g.buffers()[k].node == node) out.append(g.buffer_view(static_cast<int>(k)));
             return out;
           }, py::arg("node"), "The buffers a node declared (batch norm: running_mean, running_var)")
      .def_property_readonly("device", [](const Graph& g) { return g.device().str(); })
      .def("set_trainable", [](Graph& g, py::object node, bool trainable) {
             const int i = static_cast<int>(as_int(node, "set_trainable", "node", 0, g.size() - 1));
             py::gil_scoped_release nogil;
             g.set_trainable(i, trainable);
           }, py::arg("node"), py::arg("trainable"))
      .def("set_optimizer", [](Graph& g, const std::string& kind, double lr, double momentum, double dampening,
                               bool nesterov, double weight_decay, double beta1, double beta2, double eps, double rho,
                               bool centered) {
             nn::OptimizerConfig c;
             c.kind = kind;
             c.sgd = {lr, momentum, dampening, weight_decay, nesterov};
             c.adam = {lr, beta1, beta2, eps, weight_decay, kind == "adamw"};
             c.rmsprop = {lr, rho, eps, weight_decay, momentum, centered};
             g.set_optimizer(c);
           }, py::arg("kind"), py::arg("lr"), py::arg("momentum") = 0.0, py::arg("dampening") = 0.0,
           py::arg("nesterov") = false, py::arg("weight_decay") = 0.0, py::arg("beta1") = 0.9,
           py::arg("beta2") = 0.999, py::arg("eps") = 1e-8, py::arg("rho") = 0.99, py::arg("centered") = false)
      .def_property("learning_rate", &Graph::learning_rate, &Graph::set_learning_rate)
      .def_property("optimizer_step", &Graph::optimizer_step, [](Graph& g, py::object step) {
             g.set_optimizer_step(as_int(step, "optimizer_step", "step", 0, int64_t{1} << 62));
           })
      .def_property_readonly("cuda_graph_replays", &Graph::cuda_graph_replays,
                             "Training steps run by replaying the captured CUDA graph (0 on the CPU)")
      .def("set_data_parallel", &Graph::set_data_parallel, py::arg("on"),
           "Training steps average the loss and the gradients over the MPI ranks (convnet.distributed)")
      .def_property_readonly("data_parallel", &Graph::data_parallel)
      .def_property_readonly("allreduce_seconds", &Graph::allreduce_seconds,
                             "Seconds spent in the gradient all-reduces of data-parallel steps")
      .def("optimizer_state", &Graph::optimizer_state, "(name, flat tensor) of each optimizer state buffer")
      .def("set_loss", [](Graph& g, const std::string& kind, py::object output, bool from_logits,
                          float label_smoothing, py::object top_k) {
             const int64_t last = int64_t(g.outputs().size()) - 1;
             const int o = static_cast<int>(as_int(output, "compile", "loss output", 0, last));
             const int64_t k = as_int(top_k, "compile", "top_k", 0);
             g.set_loss(loss_config(kind, o, from_logits, label_smoothing, k));
           }, py::arg("kind"), py::arg("output") = 0, py::arg("from_logits") = false, py::arg("label_smoothing") = 0.0f,
           py::arg("top_k") = 0,
           "The loss (cross_entropy, binary_cross_entropy, mean_squared_error), the output it is attached to, and\n"
           "top_k > 0: count the rows whose class is among the top_k outputs too (StepStats.top_k_correct)")
      .def("train_steps", [](Graph& g, py::object x, py::object y, py::object order, py::object first_batch,
                             py::object n_batches, py::object batch_size, py::object sample_weight,
                             py::object order_rows) {
             Tensor tx = data_tensor(x, "fit", "x"), ty = data_tensor(y, "fit", "y");
             auto w = as_optional_tensor(sample_weight, "fit", "sample_weight");
             Tensor to = as_tensor(order, "fit", "order", DType::Int64);
             const int64_t first = as_int(first_batch, "fit", "first_batch", 0);
             const int64_t n = as_int(n_batches, "fit", "n_batches", 0);
             const int64_t batch = as_int(batch_size, "fit", "batch_size", 1);
             const int64_t rows = order_rows.is_none() ? -1 : as_int(order_rows, "fit", "order_rows", 0);
             py::gil_scoped_release nogil;
             return g.train_steps(tx, ty, to, first, n, batch, w ? &*w : nullptr, rows);
           }, py::arg("x"), py::arg("y"), py::arg("order"), py::arg("first_batch"), py::arg("n_batches"),
           py::arg("batch_size"), py::arg("sample_weight") = py::none(), py::arg("order_rows") = py::none(),
           "Training steps over x[order[...]]: forward, loss (rows weighted by sample_weight (N,) where given),\n"
           "backward, update, all in C++")
      .def("evaluate", [](Graph& g, py::object x, py::object y, py::object batch_size, py::object sample_weight) {
             Tensor tx = data_tensor(x, "evaluate", "x"), ty = data_tensor(y, "evaluate", "y");
             const int64_t batch = as_int(batch_size, "evaluate", "batch_size", 1);
             auto w = as_optional_tensor(sample_weight, "evaluate", "sample_weight");
             py::gil_scoped_release nogil;
             return g.evaluate(tx, ty, batch, w ? &*w : nullptr);
           }, py::arg("x"), py::arg("y"), py::arg("batch_size"), py::arg("sample_weight") = py::none())
      .def("predict", [](Graph& g, py::object x, py::object batch_size) {
             Tensor tx = data_tensor(x, "predict", "x");
             const int64_t batch = as_int(batch_size, "predict", "batch_size", 1);
             py::gil_scoped_release nogil;
             return g.predict(tx, batch);
           }, py::arg("x"), py::arg("batch_size"), "Each output for every row of x, in inference mode")
      .def("input_gradients", [](Graph& g, py::object x, py::object y, py::object batch_size) {
             Tensor tx = data_tensor(x, "input_gradients", "x"), ty = data_tensor(y, "input_gradients", "y");
             const int64_t batch = as_int(batch_size, "input_gradients", "batch_size", 1);
             py::gil_scoped_release nogil;
             return g.input_gradients(tx, ty, batch);
           }, py::arg("x"), py::arg("y"), py::arg("batch_size"),
           "d(loss)/d(x), the loss being the mean over all rows of x, in inference mode");
  py::class_<nn::StepStats>(nn_mod, "StepStats")
      .def_readonly("loss_sum", &nn::StepStats::loss_sum)
      .def_readonly("correct", &nn::StepStats::correct)
      .def_readonly("top_k_correct", &nn::StepStats::top_k_correct)
      .def_readonly("count", &nn::StepStats::count)
      .def_readonly("steps", &nn::StepStats::steps)
      .def_readonly("nonfinite_step", &nn::StepStats::nonfinite_step);
  nn_mod.def("permutation", [](py::object n, py::object seed, const std::string& device) {
               return ops::permutation(as_int(n, "permutation", "n"), as_seed(seed, "permutation"),
                                       Device::parse(device, "permutation"));
             }, py::arg("n"), py::arg("seed"), py::arg("device") = "cpu",
             "A seeded permutation of range(n) as an int64 Tensor, computed on `device` (the same on every device)");
}

}  // namespace convnet
