// Bindings of nn/graph.h (the executor and trainer) and ops/batch.h, as convnet._core.nn.
// Node descriptions arrive as dicts built by python/convnet/layers.py.
#include "nn/graph.h"

#include "ops/batch.h"
#include "python/common.h"

namespace convnet {

using bindings::as_tensor;
using bindings::int_pair;

namespace {

template <typename T>
T get(const py::dict& d, const char* key, T fallback) {
  return d.contains(key) ? d[key].cast<T>() : fallback;
}

nn::NodeSpec spec_from_dict(const py::dict& d) {
  nn::NodeSpec s;
  s.name = get<std::string>(d, "name", "?");
  s.op = get<std::string>(d, "op", "");
  s.inputs = get<std::vector<int>>(d, "inputs", {});
  s.shape = get<std::vector<int64_t>>(d, "shape", {});
  const char* layer = s.name.c_str();
  s.out_channels = get<int>(d, "out_channels", 0);
  s.depth_multiplier = get<int>(d, "depth_multiplier", 0);
  if (d.contains("kernel_size")) std::tie(s.kernel_h, s.kernel_w) = int_pair(d["kernel_size"], layer, "kernel_size");
  if (d.contains("strides")) std::tie(s.conv.stride_h, s.conv.stride_w) = int_pair(d["strides"], layer, "strides");
  if (d.contains("dilation_rate"))
    std::tie(s.conv.dilation_h, s.conv.dilation_w) = int_pair(d["dilation_rate"], layer, "dilation_rate");
  s.conv.groups = get<int>(d, "groups", 1);
  if (d.contains("padding")) {
    py::handle p = d["padding"];
    if (py::isinstance<py::str>(p)) {
      std::string mode = p.cast<std::string>();
      if (mode != "same" && mode != "valid")
        throw ValueError(std::string(layer) + ": argument 'padding' expected 'same', 'valid', an int or a pair, got '" + mode + "'");
      s.same_padding = mode == "same";
    } else {
      auto [ph, pw] = int_pair(p, layer, "padding");
      s.conv.pad_top = s.conv.pad_bottom = ph;
      s.conv.pad_left = s.conv.pad_right = pw;
      s.pool.pad_h = ph;
      s.pool.pad_w = pw;
    }
  }
  s.units = get<int>(d, "units", 0);
  s.use_bias = get<bool>(d, "use_bias", true);
  std::string mode = get<std::string>(d, "mode", "max");
  s.pool.mode = mode == "avg" ? ops::PoolMode::Avg : mode == "min" ? ops::PoolMode::Min : ops::PoolMode::Max;
  if (d.contains("pool_size")) std::tie(s.pool.kernel_h, s.pool.kernel_w) = int_pair(d["pool_size"], layer, "pool_size");
  if (d.contains("pool_strides"))
    std::tie(s.pool.stride_h, s.pool.stride_w) = int_pair(d["pool_strides"], layer, "strides");
  s.rate = get<float>(d, "rate", 0.0f);
  if (d.contains("seed") && !d["seed"].is_none()) s.seed = d["seed"].cast<int64_t>();
  s.momentum = get<float>(d, "momentum", 0.1f);
  s.eps = get<float>(d, "epsilon", 1e-5f);
  s.activation = get<std::string>(d, "activation", "");
  s.alpha = get<float>(d, "alpha", 0.0f);
  s.trainable = get<bool>(d, "trainable", true);
  s.augment.flip_horizontal = get<bool>(d, "flip_horizontal", false);
  s.augment.flip_vertical = get<bool>(d, "flip_vertical", false);
  if (d.contains("height_factor")) {
    auto f = d["height_factor"].cast<std::pair<float, float>>();
    s.height_factor[0] = f.first, s.height_factor[1] = f.second;
  }
  if (d.contains("width_factor")) {
    auto f = d["width_factor"].cast<std::pair<float, float>>();
    s.width_factor[0] = f.first, s.width_factor[1] = f.second;
  }
  return s;
}

}  // namespace

void bind_nn(py::module_& m) {
  py::module_ nn_mod = m.def_submodule("nn", "The graph executor and trainer");
  using nn::Graph;
  py::class_<Graph>(nn_mod, "Graph", "A model's nodes, flat parameters and buffers, and its training step")
      .def(py::init([](py::list nodes, const std::string& device, uint64_t seed) {
             std::vector<nn::NodeSpec> specs;
             for (py::handle n : nodes) specs.push_back(spec_from_dict(n.cast<py::dict>()));
             return std::make_unique<Graph>(std::move(specs), Device::parse(device, "Model"), seed);
           }), py::arg("nodes"), py::arg("device") = "cpu", py::arg("seed") = 0)
      .def("__len__", &Graph::size, "The number of nodes")
      .def("output_shape", [](const Graph& g, int node) {
             const Shape& s = g.output_shape(node);
             return py::tuple(py::cast(s));
           }, py::arg("node"), "The per-sample output shape of a node")
      .def("params", [](const Graph& g) {
             py::list out;
             for (const auto& p : g.params())
               out.append(py::make_tuple(p.node, p.name, p.offset, py::tuple(py::cast(p.shape))));
             return out;
           }, "(node, name, offset, shape) of every parameter in the flat buffer")
      .def("param", &Graph::param_view, py::arg("index"), "A parameter's window of the flat buffer (shares memory)")
      .def_property_readonly("flat_params", &Graph::flat_params)
      .def_property_readonly("flat_grads", &Graph::flat_grads)
      .def_property_readonly("flat_buffers", &Graph::flat_buffers, "Batch-norm running statistics")
      .def("running_stats", &Graph::running_stats, py::arg("node"), "(running_mean, running_var) of a batch_norm node")
      .def_property_readonly("device", [](const Graph& g) { return g.device().str(); })
      .def("set_trainable", &Graph::set_trainable, py::arg("node"), py::arg("trainable"))
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
      .def("set_label_smoothing", &Graph::set_label_smoothing)
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
           }, py::arg("x"), py::arg("batch_size"));
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
