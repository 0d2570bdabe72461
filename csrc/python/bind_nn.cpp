// Bindings of nn/graph.h (the executor and trainer) and ops/batch.h, as convnet._core.nn.
// Node descriptions arrive as dicts built by python/convnet/layers.py.
#include "nn/graph.h"

#include "ops/batch.h"
#include "python/common.h"

namespace convnet {

using bindings::as_tensor;

namespace {

// A layer description's value as a ParamValue: bool, int, float, str, or a list/tuple of ints or
// of numbers. None values are dropped before (an absent key takes the kind's default).
nn::ParamValue param_value(py::handle v, const std::string& layer, const std::string& key) {
  if (py::isinstance<py::bool_>(v)) return v.cast<bool>();
  if (py::isinstance<py::int_>(v)) return v.cast<int64_t>();
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
    if (all_ints) return v.cast<std::vector<int64_t>>();
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
      else if (key == "inputs") s.inputs = v.cast<std::vector<int>>();
      else if (key == "trainable") s.trainable = v.cast<bool>();
      else if (key == "shares") s.shares = v.cast<int>();
      else s.params[key] = param_value(v, s.name, key);
    } catch (const py::cast_error&) {
      throw TypeError("layer '" + s.name + "': argument '" + key + "' has the wrong type: " + py::repr(v).cast<std::string>());
    }
  }
  return s;
}

py::list info_list(const std::vector<nn::ParamInfo>& infos) {
  py::list out;
  for (const auto& p : infos) out.append(py::make_tuple(p.node, p.name, p.offset, py::tuple(py::cast(p.shape))));
  return out;
}

nn::LossConfig loss_config(const std::string& kind, int output, bool from_logits, float label_smoothing) {
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
  return c;
}

}  // namespace

void bind_nn(py::module_& m) {
  py::module_ nn_mod = m.def_submodule("nn", "The graph executor and trainer");
  using nn::Graph;
  py::class_<Graph>(nn_mod, "Graph", "A model's nodes, flat parameters and buffers, and its training step")
      .def(py::init([](py::list nodes, std::vector<int> outputs, const std::string& device, uint64_t seed) {
             std::vector<nn::NodeSpec> specs;
             for (py::handle n : nodes) specs.push_back(spec_from_dict(n.cast<py::dict>()));
             return std::make_unique<Graph>(std::move(specs), std::move(outputs), Device::parse(device, "Model"), seed);
           }), py::arg("nodes"), py::arg("outputs"), py::arg("device") = "cpu", py::arg("seed") = 0)
      .def("__len__", &Graph::size, "The number of nodes")
      .def("output_shape", [](const Graph& g, int node) {
             const Shape& s = g.output_shape(node);
             return py::tuple(py::cast(s));
           }, py::arg("node"), "The per-sample output shape of a node")
      .def_property_readonly("outputs", &Graph::outputs, "The output nodes, in predict's order")
      .def("params", [](const Graph& g) { return info_list(g.params()); },
           "(node, name, offset, shape) of every parameter in the flat buffer")
      .def("buffers", [](const Graph& g) { return info_list(g.buffers()); },
           "(node, name, offset, shape) of every buffer (batch-norm running statistics) in flat_buffers")
      .def("param", &Graph::param_view, py::arg("index"), "A parameter's window of the flat buffer (shares memory)")
      .def_property_readonly("flat_params", &Graph::flat_params)
      .def_property_readonly("flat_grads", &Graph::flat_grads)
      .def_property_readonly("flat_buffers", &Graph::flat_buffers, "Batch-norm running statistics")
      .def("buffer", &Graph::buffer_view, py::arg("index"), "A buffer's window of flat_buffers (shares memory)")
      .def("running_stats", [](const Graph& g, int node) {
             py::list out;
             for (size_t k = 0; k < g.buffers().size(); ++k)
               if (g.buffers()[k].node == node) out.append(g.buffer_view(static_cast<int>(k)));
             return out;
           }, py::arg("node"), "The buffers a node declared (batch norm: running_mean, running_var)")
      .def_property_readonly("device", [](const Graph& g) { return g.device().str(); })
      .def("set_trainable", &Graph::set_trainable, py::arg("node"), py::arg("trainable"),
           py::call_guard<py::gil_scoped_release>())
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
      .def_property("optimizer_step", &Graph::optimizer_step, &Graph::set_optimizer_step)
      .def_property_readonly("cuda_graph_replays", &Graph::cuda_graph_replays,
                             "Training steps run by replaying the captured CUDA graph (0 on the CPU)")
      .def("optimizer_state", &Graph::optimizer_state, "(name, flat tensor) of each optimizer state buffer")
      .def("set_loss", [](Graph& g, const std::string& kind, int output, bool from_logits, float label_smoothing) {
             g.set_loss(loss_config(kind, output, from_logits, label_smoothing));
           }, py::arg("kind"), py::arg("output") = 0, py::arg("from_logits") = false, py::arg("label_smoothing") = 0.0f,
           "The loss (cross_entropy, binary_cross_entropy, mean_squared_error) and the output it is attached to")
      .def("train_steps", [](Graph& g, py::object x, py::object y, py::object order, int64_t first_batch,
                             int64_t n_batches, int64_t batch_size) {
             Tensor tx = x.cast<Tensor>(), ty = y.cast<Tensor>(), to = as_tensor(order, "fit", "order", DType::Int64);
             py::gil_scoped_release nogil;
             return g.train_steps(tx, ty, to, first_batch, n_batches, batch_size);
           }, py::arg("x"), py::arg("y"), py::arg("order"), py::arg("first_batch"), py::arg("n_batches"),
           py::arg("batch_size"), "Training steps over x[order[...]]: forward, loss, backward, update, all in C++")
      .def("evaluate", [](Graph& g, const Tensor& x, const Tensor& y, int64_t batch_size) {
             py::gil_scoped_release nogil;
             return g.evaluate(x, y, batch_size);
           }, py::arg("x"), py::arg("y"), py::arg("batch_size"))
      .def("predict", [](Graph& g, const Tensor& x, int64_t batch_size) {
             py::gil_scoped_release nogil;
             return g.predict(x, batch_size);
           }, py::arg("x"), py::arg("batch_size"), "Each output for every row of x, in inference mode")
      .def("input_gradients", [](Graph& g, const Tensor& x, const Tensor& y, int64_t batch_size) {
             py::gil_scoped_release nogil;
             return g.input_gradients(x, y, batch_size);
           }, py::arg("x"), py::arg("y"), py::arg("batch_size"),
           "d(loss)/d(x), the loss being the mean over all rows of x, in inference mode");
  py::class_<nn::StepStats>(nn_mod, "StepStats")
      .def_readonly("loss_sum", &nn::StepStats::loss_sum)
      .def_readonly("correct", &nn::StepStats::correct)
      .def_readonly("count", &nn::StepStats::count)
      .def_readonly("steps", &nn::StepStats::steps)
      .def_readonly("nonfinite_step", &nn::StepStats::nonfinite_step);
  nn_mod.def("permutation", [](int64_t n, uint64_t seed, const std::string& device) {
               return ops::permutation(n, seed, Device::parse(device, "permutation"));
             }, py::arg("n"), py::arg("seed"), py::arg("device") = "cpu",
             "A seeded permutation of range(n) as an int64 Tensor, computed on `device` (the same on every device)");
}

}  // namespace convnet
