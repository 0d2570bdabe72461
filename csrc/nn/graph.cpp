// The graph executor and trainer (see graph.h).
#include "nn/graph.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "core/checks.h"
#include "ops/augment.h"
#include "ops/batch.h"
#include "ops/elementwise.h"
#include "ops/linear.h"
#include "ops/loss.h"

namespace convnet {
namespace nn {

namespace {

bool is_identity_op(const std::string& op) { return op == "flatten" || op == "activation"; }

// splitmix64: decorrelates the random seed (dropout, augmentation) of each (step, node).
uint64_t mix_seed(uint64_t seed, uint64_t step, uint64_t node) {
  return splitmix64_mix(seed + kGoldenGamma * (step * 1315423911ull + node + 1));
}

Shape with_batch(int64_t n, const Shape& shape) {
  Shape s{n};
  s.insert(s.end(), shape.begin(), shape.end());
  return s;
}

// Host memory into a tensor of the graph's device, without waiting for the device.
void upload(Tensor& dst, const void* src) {
  if (dst.is_cuda())
    cuda::upload(dst.raw_data(), src, dst.nbytes(), dst.device().index);
  else
    std::memcpy(dst.raw_data(), src, dst.nbytes());
}

constexpr int64_t kMaxOptimizerScalars = 8;  // floats in the largest ops::*Scalars

}  // namespace

Graph::Graph(std::vector<NodeSpec> specs, Device device, uint64_t seed)
    : specs_(std::move(specs)), device_(device), seed_(seed) {
  if (device_.type == DeviceType::CUDA) cuda::require(device_, "Model");
  build();
}

// The seed of a random node (dropout, augmentation) for the current step.
uint64_t Graph::node_seed(int node) const {
  const int64_t own = specs_[node].seed;
  return mix_seed(own >= 0 ? static_cast<uint64_t>(own) : seed_, step_, node);
}

std::string Graph::where(int node) const {
  return "layer '" + specs_[node].name + "' (" + specs_[node].op + ")";
}

void Graph::build() {
  CONVNET_CHECK_VALUE(!specs_.empty() && specs_[0].op == "input", "Model", "layers",
                      "an input node first", specs_.empty() ? "no nodes" : "'" + specs_[0].op + "'");
  nodes_.assign(specs_.size(), Node{});
  int64_t n_params = 0, n_stats = 0;
  auto add_param = [&](int node, const std::string& name, const Shape& shape) {
    param_info_.push_back({node, name, n_params, shape});
    n_params += shape_numel(shape);
    return static_cast<int64_t>(param_info_.size()) - 1;
  };
  for (int i = 0; i < size(); ++i) {
    NodeSpec& s = specs_[i];
    Node& node = nodes_[i];
    try {
      if (i == 0) {
        CONVNET_CHECK_VALUE(!s.shape.empty() && shape_numel(s.shape) > 0, "Input", "shape",
                            "positive sizes", shape_str(s.shape));
        node.out_shape = s.shape;
        continue;
      }
      CONVNET_CHECK_VALUE(s.op != "input", "Model", "layers", "a single input node", "another one at " + std::to_string(i));
      CONVNET_CHECK_VALUE(!s.inputs.empty(), "Model", "inputs", "at least one input", "none");
      for (int in : s.inputs)
        CONVNET_CHECK_VALUE(in >= 0 && in < i, "Model", "inputs", "indices of earlier nodes", std::to_string(in));
      const Shape& in_shape = nodes_[s.inputs[0]].out_shape;
      auto dummy = [](const Shape& shape) { return Tensor::empty(with_batch(1, shape)); };
      auto drop_batch = [](const Shape& shape) { return Shape(shape.begin() + 1, shape.end()); };
      if (s.op == "conv2d") {
        CONVNET_CHECK_VALUE(in_shape.size() == 3, "Conv2D", "input", "a (C, H, W) input", shape_str(in_shape));
        if (s.depth_multiplier > 0) {
          s.conv.groups = static_cast<int>(in_shape[0]);
          s.out_channels = static_cast<int>(in_shape[0]) * s.depth_multiplier;
        }
        CONVNET_CHECK_VALUE(s.out_channels > 0 && s.conv.groups > 0 && in_shape[0] % s.conv.groups == 0, "Conv2D",
                            "filters/groups", "positive filters and groups dividing the " + std::to_string(in_shape[0]) + " input channels",
                            std::to_string(s.out_channels) + " filters, groups=" + std::to_string(s.conv.groups));
        if (s.same_padding) s.conv = ops::conv2d_same_padding(s.conv, s.kernel_h, s.kernel_w);
        Shape w_shape{s.out_channels, in_shape[0] / s.conv.groups, s.kernel_h, s.kernel_w};
        Tensor w = Tensor::empty(w_shape), b = Tensor::empty({s.out_channels});
        node.out_shape = drop_batch(ops::conv2d_output_shape(dummy(in_shape), w, s.use_bias ? &b : nullptr, s.conv));
        node.weight = add_param(i, "weight", w_shape);
        if (s.use_bias) node.bias = add_param(i, "bias", {s.out_channels});
      } else if (s.op == "linear") {
        CONVNET_CHECK_VALUE(in_shape.size() == 1, "Dense", "input", "a flat (features,) input (add Flatten first)",
                            shape_str(in_shape));
        CONVNET_CHECK_VALUE(s.units > 0, "Dense", "units", "a positive number", std::to_string(s.units));
        node.out_shape = {s.units};
        node.weight = add_param(i, "weight", {s.units, in_shape[0]});
        if (s.use_bias) node.bias = add_param(i, "bias", {s.units});
      } else if (s.op == "pool2d") {
        CONVNET_CHECK_VALUE(in_shape.size() == 3, "Pool2D", "input", "a (C, H, W) input", shape_str(in_shape));
        node.out_shape = drop_batch(ops::pool2d_output_shape(dummy(in_shape), s.pool));
      } else if (s.op == "global_avg_pool2d") {
        node.out_shape = drop_batch(ops::global_avg_pool2d_output_shape(dummy(in_shape)));
      } else if (s.op == "flatten") {
        node.out_shape = {shape_numel(in_shape)};
      } else if (s.op == "dropout") {
        CONVNET_CHECK_VALUE(s.rate >= 0.0f && s.rate < 1.0f, "Dropout", "rate", "a value in [0, 1)", std::to_string(s.rate));
        node.out_shape = in_shape;
      } else if (s.op == "random_flip_translate") {
        CONVNET_CHECK_VALUE(in_shape.size() == 3, "RandomFlip/RandomTranslation", "input", "a (C, H, W) input",
                            shape_str(in_shape));
        auto pixels = [](float factor, int64_t size) { return static_cast<int>(std::lround(factor * size)); };
        s.augment.min_shift_h = pixels(s.height_factor[0], in_shape[1]);
        s.augment.max_shift_h = pixels(s.height_factor[1], in_shape[1]);
        s.augment.min_shift_w = pixels(s.width_factor[0], in_shape[2]);
        s.augment.max_shift_w = pixels(s.width_factor[1], in_shape[2]);
        node.out_shape = drop_batch(ops::random_flip_translate_output_shape(dummy(in_shape), s.augment));
      } else if (s.op == "batch_norm") {
        CONVNET_CHECK_VALUE(in_shape.size() == 3 || in_shape.size() == 1, "BatchNormalization", "input",
                            "a (C, H, W) or (features,) input", shape_str(in_shape));
        CONVNET_CHECK_VALUE(s.eps > 0.0f && s.momentum >= 0.0f && s.momentum <= 1.0f, "BatchNormalization",
                            "momentum/epsilon", "momentum in [0, 1] and epsilon > 0",
                            std::to_string(s.momentum) + ", " + std::to_string(s.eps));
        node.out_shape = in_shape;
        node.weight = add_param(i, "weight", {in_shape[0]});
        node.bias = add_param(i, "bias", {in_shape[0]});
        node.stats_offset = n_stats;
        n_stats += 2 * in_shape[0];
        node.saved_mean = Tensor::empty({in_shape[0]}, DType::Float32, device_);
        node.saved_invstd = Tensor::empty({in_shape[0]}, DType::Float32, device_);
      } else if (s.op == "activation") {
        CONVNET_CHECK_VALUE(!s.activation.empty(), "Activation", "activation", "a name", "none");
        node.out_shape = in_shape;
      } else if (s.op == "add") {
        CONVNET_CHECK_VALUE(s.inputs.size() == 2, "Add", "inputs", "exactly 2 inputs", std::to_string(s.inputs.size()));
        const Shape& other = nodes_[s.inputs[1]].out_shape;
        CONVNET_CHECK_VALUE(other == in_shape, "Add", "inputs", "two inputs of the same shape",
                            shape_str(in_shape) + " and " + shape_str(other));
        node.out_shape = in_shape;
      } else {
        throw ValueError(arg_message("Model", "op", "one of conv2d, linear, pool2d, global_avg_pool2d, flatten, "
                                     "dropout, batch_norm, activation, add, random_flip_translate", "'" + s.op + "'"));
      }
      if (!s.activation.empty() && s.activation != "softmax") ops::parse_activation(s.activation);
      if (s.activation == "softmax")
        CONVNET_CHECK_VALUE(node.out_shape.size() == 1, "Softmax", "input", "a flat (classes,) input", shape_str(node.out_shape));
    } catch (const TypeError& e) {
      throw TypeError(where(i) + ": " + e.what());
    } catch (const ValueError& e) {
      throw ValueError(where(i) + ": " + e.what());
    }
  }
  CONVNET_CHECK_VALUE(nodes_.back().out_shape.size() == 1, "Model", "output",
                      "a flat (classes,) output", shape_str(nodes_.back().out_shape));
  // The logits: before a final softmax, if there is one.
  logits_node_ = size() - 1;
  const NodeSpec& last = specs_.back();
  if (last.activation == "softmax") {
    if (last.op == "activation") logits_node_ = last.inputs[0];  // a Softmax layer: its input
    else logits_is_z_ = true;                                     // Dense(..., activation='softmax')
  }
  params_ = Tensor::zeros({n_params}, DType::Float32, device_);
  grads_ = Tensor::zeros({n_params}, DType::Float32, device_);
  // Running statistics start at mean 0, variance 1 (PyTorch, Keras).
  Tensor stats = Tensor::zeros({n_stats});
  for (int i = 0; i < size(); ++i)
    if (specs_[i].op == "batch_norm") {
      int64_t c = nodes_[i].out_shape[0];
      for (int64_t k = 0; k < c; ++k) stats.data<float>()[nodes_[i].stats_offset + c + k] = 1.0f;
    }
  buffers_ = stats.to(device_);
  for (int i = 0; i < size(); ++i) set_trainable(i, specs_[i].trainable);
  loss_ = Tensor::zeros({1}, DType::Float32, device_);
  totals_ = ops::new_loss_totals(device_);
  correct_ = totals_.view(ops::LossTotals::correct_index(), {1});
  host_ints_.assign(size(), 0);
  host_floats_.assign(kMaxOptimizerScalars, 0.0f);
  step_ints_ = Tensor::zeros({int64_t(size())}, DType::Int64, device_);
  step_floats_ = Tensor::zeros({kMaxOptimizerScalars}, DType::Float32, device_);
  set_optimizer(OptimizerConfig{});
}

Tensor Graph::param_view(int index) const {
  const ParamInfo& p = param_info_.at(index);
  return params_.view(p.offset, p.shape);
}
std::pair<Tensor, Tensor> Graph::running_stats(int node) const {
  CONVNET_CHECK_VALUE(node >= 0 && node < size() && specs_[node].op == "batch_norm", "Model", "node",
                      "the index of a batch_norm node", std::to_string(node));
  const int64_t c = nodes_[node].out_shape[0];
  return {buffers_.view(nodes_[node].stats_offset, {c}), buffers_.view(nodes_[node].stats_offset + c, {c})};
}

Tensor Graph::weight(const Node& node) const { return param_view(node.weight); }
Tensor Graph::bias(const Node& node) const { return param_view(node.bias); }
Tensor Graph::weight_grad(const Node& node) const {
  const ParamInfo& p = param_info_[node.weight];
  return grads_.view(p.offset, p.shape);
}
Tensor Graph::bias_grad(const Node& node) const {
  const ParamInfo& p = param_info_[node.bias];
  return grads_.view(p.offset, p.shape);
}

void Graph::set_trainable(int node, bool trainable) {
  CONVNET_CHECK_VALUE(node >= 0 && node < size(), "Model", "node", "an index in [0, " + std::to_string(size()) + ")",
                      std::to_string(node));
  specs_[node].trainable = trainable;
  ++config_version_;
  // The optimizer walks maximal runs of trainable parameters: one fused update when all are.
  trainable_ranges_.clear();
  for (const ParamInfo& p : param_info_) {
    if (!specs_[p.node].trainable) continue;
    int64_t end = p.offset + shape_numel(p.shape);
    if (!trainable_ranges_.empty() && trainable_ranges_.back().second == p.offset)
      trainable_ranges_.back().second = end;
    else
      trainable_ranges_.push_back({p.offset, end});
  }
}

void Graph::set_optimizer(const OptimizerConfig& config) {
  const std::string& k = config.kind;
  CONVNET_CHECK_VALUE(k == "sgd" || k == "adam" || k == "adamw" || k == "rmsprop", "compile", "optimizer",
                      "'sgd', 'adam', 'adamw' or 'rmsprop'", "'" + k + "'");
  optimizer_ = config;
  optimizer_.adam.decoupled_weight_decay = (k == "adamw");
  const Shape shape = params_.shape();
  auto state = [&](bool needed) { return needed ? Tensor::zeros(shape, DType::Float32, device_) : Tensor(); };
  opt_state_a_ = state(k != "sgd" || config.sgd.momentum > 0);
  opt_state_b_ = state(k == "adam" || k == "adamw" || (k == "rmsprop" && config.rmsprop.momentum > 0));
  opt_state_c_ = state(k == "rmsprop" && config.rmsprop.centered);
  step_ = 0;
  ++config_version_;
}

void Graph::set_learning_rate(double lr) {
  CONVNET_CHECK_VALUE(lr >= 0.0 && std::isfinite(lr), "optimizer", "learning_rate", "a finite value >= 0",
                      std::to_string(lr));
  optimizer_.sgd.lr = optimizer_.adam.lr = optimizer_.rmsprop.lr = lr;
}

double Graph::learning_rate() const {
  if (optimizer_.kind == "sgd") return optimizer_.sgd.lr;
  if (optimizer_.kind == "rmsprop") return optimizer_.rmsprop.lr;
  return optimizer_.adam.lr;
}

std::vector<std::pair<std::string, Tensor>> Graph::optimizer_state() {
  std::vector<std::pair<std::string, Tensor>> out;
  const std::string& k = optimizer_.kind;
  const char* names_a = k == "sgd" ? "momentum_buffer" : k == "rmsprop" ? "square_avg" : "exp_avg";
  const char* names_b = k == "rmsprop" ? "momentum_buffer" : "exp_avg_sq";
  if (opt_state_a_.defined()) out.push_back({names_a, opt_state_a_});
  if (opt_state_b_.defined()) out.push_back({names_b, opt_state_b_});
  if (opt_state_c_.defined()) out.push_back({"grad_avg", opt_state_c_});
  return out;
}

void Graph::set_label_smoothing(float s) {
  CONVNET_CHECK_VALUE(s >= 0.0f && s <= 1.0f, "loss", "label_smoothing", "a value in [0, 1]", std::to_string(s));
  label_smoothing_ = s;
  ++config_version_;
}

void Graph::check_data(const char* what, const Tensor& x, const Tensor* y) const {
  CONVNET_CHECK_TYPE(x.dtype() == DType::UInt8 || x.dtype() == DType::Float32, what, "x", "uint8 or float32 data",
                     dtype_name(x.dtype()));
  Shape want = with_batch(x.dim() ? x.size(0) : 0, nodes_[0].out_shape);
  CONVNET_CHECK_VALUE(x.shape() == want && x.size(0) > 0, what, "x",
                      "a non-empty array of shape (N, " + shape_str(nodes_[0].out_shape).substr(1), shape_str(x.shape()));
  check_same_device(what, "x", x, "model", params_);
  if (!y) return;
  const int64_t classes = nodes_.back().out_shape[0];
  if (y->dtype() == DType::Int64) {
    check_shape(what, "y", *y, {x.size(0)});
  } else {
    CONVNET_CHECK_TYPE(y->dtype() == DType::Float32, what, "y", "int64 labels or float32 one-hot rows", dtype_name(y->dtype()));
    check_shape(what, "y", *y, {x.size(0), classes});
  }
  check_same_device(what, "y", *y, "model", params_);
}

void Graph::ensure_capacity(int64_t batch) {
  if (batch <= capacity_) return;
  int64_t scratch = 0;
  for (int i = 0; i < size(); ++i) {
    Node& node = nodes_[i];
    const NodeSpec& s = specs_[i];
    const Shape shape = with_batch(batch, node.out_shape);
    scratch = std::max(scratch, shape_numel(shape));
    if (!is_identity_op(s.op)) node.z_full = Tensor::empty(shape, DType::Float32, device_);
    if (!s.activation.empty()) {
      node.y_full = Tensor::empty(shape, DType::Float32, device_);
      node.dz_full = Tensor::empty(shape, DType::Float32, device_);
    }
    if (i > 0) node.dy_full = Tensor::empty(shape, DType::Float32, device_);
    if (s.op == "pool2d" && s.pool.mode != ops::PoolMode::Avg)
      node.index_full = Tensor::empty(shape, DType::Int64, device_);
  }
  scratch_full_ = Tensor::empty({scratch}, DType::Float32, device_);
  dlogits_full_ = Tensor::empty(with_batch(batch, nodes_[logits_node_].out_shape), DType::Float32, device_);
  labels_full_ = Tensor();  // reallocated for the label kind by the caller
  capacity_ = batch;
  batch_ = -1;
  ++config_version_;
}

// The label buffer follows the kind of labels given: int64 classes (N,) or float32 rows (N, K).
void Graph::ensure_labels(const Tensor& y) {
  const int64_t width = y.dim() == 2 ? y.size(1) : 0;
  if (labels_full_.defined() && label_dtype_ == y.dtype() && label_width_ == width) return;
  label_dtype_ = y.dtype();
  label_width_ = width;
  labels_full_ = Tensor::empty(width ? Shape{capacity_, width} : Shape{capacity_}, y.dtype(), device_);
  batch_ = -1;
  ++config_version_;
}

void Graph::bind_batch(int64_t n) {
  if (n == batch_) return;
  auto rows = [n](const Tensor& full, const Shape& shape) { return full.view(0, with_batch(n, shape)); };
  for (int i = 0; i < size(); ++i) {
    Node& node = nodes_[i];
    const NodeSpec& s = specs_[i];
    if (is_identity_op(s.op))
      node.z = nodes_[s.inputs[0]].y.reshape(with_batch(n, node.out_shape));  // aliases the input
    else
      node.z = rows(node.z_full, node.out_shape);
    node.y = s.activation.empty() ? node.z : rows(node.y_full, node.out_shape);
    if (!s.activation.empty()) node.dz = rows(node.dz_full, node.out_shape);
    if (i > 0) node.dy = rows(node.dy_full, node.out_shape);
    if (node.index_full.defined()) node.index = node.index_full.view(0, with_batch(n, node.out_shape));
  }
  dlogits_ = rows(dlogits_full_, nodes_[logits_node_].out_shape);
  if (labels_full_.defined())
    labels_ = label_dtype_ == DType::Int64 ? labels_full_.view(0, {n}) : labels_full_.view(0, {n, label_width_});
  batch_ = n;
}

void Graph::forward(bool training) {
  for (int i = 1; i < size(); ++i) {
    Node& node = nodes_[i];
    const NodeSpec& s = specs_[i];
    const Tensor& x = nodes_[s.inputs[0]].y;
    try {
      if (s.op == "conv2d") {
        Tensor w = weight(node), b = s.use_bias ? bias(node) : Tensor();
        ops::conv2d_forward(node.z, x, w, s.use_bias ? &b : nullptr, s.conv);
      } else if (s.op == "linear") {
        Tensor w = weight(node), b = s.use_bias ? bias(node) : Tensor();
        ops::linear_forward(node.z, x, w, s.use_bias ? &b : nullptr);
      } else if (s.op == "pool2d") {
        ops::pool2d_forward(node.z, node.index.defined() ? &node.index : nullptr, x, s.pool);
      } else if (s.op == "global_avg_pool2d") {
        ops::global_avg_pool2d_forward(node.z, x);
      } else if (s.op == "dropout") {
        if (training && s.rate > 0.0f)
          ops::dropout_forward(node.z, x, s.rate, seed_of(i));
        else
          node.z.copy_from(x);
      } else if (s.op == "random_flip_translate") {
        if (training)
          ops::random_flip_translate_forward(node.z, x, s.augment, seed_of(i));
        else
          node.z.copy_from(x);
      } else if (s.op == "batch_norm") {
        auto [mean, var] = running_stats(i);
        Tensor gamma = weight(node), beta = bias(node);
        const Tensor halt = this->halt();
        // A frozen batch norm (trainable=False) runs in inference mode even while training (Keras).
        const bool batch_stats = training && s.trainable;
        ops::batch_norm_forward(node.z, node.saved_mean, node.saved_invstd, x, gamma, beta, mean, var,
                                ops::BatchNormParams{batch_stats, s.momentum, s.eps}, batch_stats ? &halt : nullptr);
      } else if (s.op == "add") {
        ops::add_forward(node.z, x, nodes_[s.inputs[1]].y);
      }  // flatten, activation: z aliases the input
      if (s.activation == "softmax") {
        // A fused final softmax is not needed while training: the loss takes its input, the logits.
        if (!(training && i == logits_node_ && logits_is_z_)) ops::softmax_forward(node.y, node.z, 1);
      }
      else if (!s.activation.empty())
        ops::activation_forward(node.y, node.z, ops::parse_activation(s.activation), s.alpha);
    } catch (const ValueError& e) {
      throw ValueError(where(i) + ": " + e.what());
    }
  }
}

Tensor* Graph::begin_input_grad(int input) {
  if (input == 0) return nullptr;  // no gradient for the data
  Node& node = nodes_[input];
  if (!grad_written_[input]) {
    grad_via_scratch_[input] = false;
    return &node.dy;
  }
  // A second consumer: write into scratch, then add (end_input_grad).
  grad_via_scratch_[input] = true;
  scratch_ = scratch_full_.view(0, node.dy.shape());
  return &scratch_;
}

void Graph::end_input_grad(int input) {
  if (input == 0) return;
  if (grad_via_scratch_[input]) ops::add_forward(nodes_[input].dy, nodes_[input].dy, scratch_);
  grad_written_[input] = true;
}

void Graph::backward() {
  grad_written_.assign(size(), false);
  grad_via_scratch_.assign(size(), false);
  for (int i = logits_node_; i >= 1; --i) {
    Node& node = nodes_[i];
    const NodeSpec& s = specs_[i];
    const bool at_logits = i == logits_node_;
    if (!at_logits && !grad_written_[i]) continue;  // nothing flows here
    // dz: the gradient at the op's output, before the fused activation.
    Tensor dz;
    if (at_logits && logits_is_z_) {
      dz = dlogits_;
    } else {
      const Tensor& gy = at_logits ? dlogits_ : node.dy;
      if (s.activation.empty()) {
        dz = gy;
      } else if (s.activation == "softmax") {
        ops::softmax_backward(node.dz, gy, node.y, 1);
        dz = node.dz;
      } else {
        ops::activation_backward(node.dz, gy, node.z, node.y, ops::parse_activation(s.activation), s.alpha);
        dz = node.dz;
      }
    }
    const int in0 = s.inputs[0];
    const Tensor& x = nodes_[in0].y;
    const bool learn = s.trainable;
    try {
      if (s.op == "conv2d" || s.op == "linear") {
        Tensor w = weight(node), dw = weight_grad(node), db = s.use_bias ? bias_grad(node) : Tensor();
        Tensor* dx = begin_input_grad(in0);
        if (s.op == "conv2d")
          ops::conv2d_backward(dx, learn ? &dw : nullptr, learn && s.use_bias ? &db : nullptr, dz, x, w, s.conv);
        else
          ops::linear_backward(dx, learn ? &dw : nullptr, learn && s.use_bias ? &db : nullptr, dz, x, w);
        end_input_grad(in0);
      } else if (s.op == "batch_norm") {
        Tensor gamma = weight(node), dgamma = weight_grad(node), dbeta = bias_grad(node);
        Tensor* dx = begin_input_grad(in0);
        ops::batch_norm_backward(dx, learn ? &dgamma : nullptr, learn ? &dbeta : nullptr, dz, x, gamma,
                                 node.saved_mean, node.saved_invstd, learn);
        end_input_grad(in0);
      } else if (Tensor* dx = begin_input_grad(in0)) {
        if (s.op == "pool2d")
          ops::pool2d_backward(*dx, dz, node.index.defined() ? &node.index : nullptr, s.pool);
        else if (s.op == "global_avg_pool2d")
          ops::global_avg_pool2d_backward(*dx, dz);
        else if (s.op == "dropout" && s.rate > 0.0f)
          ops::dropout_backward(*dx, dz, s.rate, seed_of(i));
        else if (s.op == "random_flip_translate")
          ops::random_flip_translate_backward(*dx, dz, s.augment, seed_of(i));
        else  // flatten, activation, add, dropout(0): the gradient passes through
          dx->copy_from(dz);
        end_input_grad(in0);
      }
      if (s.op == "add") {  // the second operand receives the same gradient
        if (Tensor* dx = begin_input_grad(s.inputs[1])) {
          dx->copy_from(dz);
          end_input_grad(s.inputs[1]);
        }
      }
    } catch (const ValueError& e) {
      throw ValueError(where(i) + ": " + e.what());
    }
  }
}

// The optimizer over every run of trainable parameters, with the step's constants staged in
// step_floats_; it skips itself once the run's totals saw a non-finite loss.
void Graph::update() {
  const std::string& k = optimizer_.kind;
  const Tensor halt = this->halt();
  auto scalars = [&](size_t bytes) { return step_floats_.view(0, {int64_t(bytes / sizeof(float))}); };
  for (const auto& [begin, end] : trainable_ranges_) {
    const Shape shape{end - begin};
    Tensor p = params_.view(begin, shape), g = grads_.view(begin, shape);
    Tensor a = opt_state_a_.defined() ? opt_state_a_.view(begin, shape) : Tensor();
    Tensor b = opt_state_b_.defined() ? opt_state_b_.view(begin, shape) : Tensor();
    Tensor c = opt_state_c_.defined() ? opt_state_c_.view(begin, shape) : Tensor();
    if (k == "sgd")
      ops::sgd_step(p, g, a.defined() ? &a : nullptr, scalars(sizeof(ops::SGDScalars)), optimizer_.sgd, &halt);
    else if (k == "rmsprop")
      ops::rmsprop_step(p, g, a, b.defined() ? &b : nullptr, c.defined() ? &c : nullptr,
                        scalars(sizeof(ops::RMSpropScalars)), optimizer_.rmsprop, &halt);
    else
      ops::adam_step(p, g, a, b, scalars(sizeof(ops::AdamScalars)), optimizer_.adam, &halt);
  }
}

void Graph::stage_step(int64_t start, bool training) {
  host_ints_[0] = start;
  for (int i = 1; i < size(); ++i) host_ints_[i] = static_cast<int64_t>(node_seed(i));
  upload(step_ints_, host_ints_.data());
  if (!training) return;
  // The constants of update number step_ + 1 (the hyper-parameters are checked here, on the host).
  std::vector<float> c;
  if (optimizer_.kind == "sgd")
    c = ops::scalar_floats(ops::sgd_scalars(step_ + 1, optimizer_.sgd));
  else if (optimizer_.kind == "rmsprop")
    c = ops::scalar_floats(ops::rmsprop_scalars(step_ + 1, optimizer_.rmsprop));
  else
    c = ops::scalar_floats(ops::adam_scalars(step_ + 1, optimizer_.adam));
  std::copy(c.begin(), c.end(), host_floats_.begin());
  upload(step_floats_, host_floats_.data());
}

void Graph::run_step(const Tensor& x, const Tensor& y, const Tensor& order, int64_t n, bool training) {
  ops::gather_batch(nodes_[0].y, x, order, batch_start(), n);
  ops::gather_labels(labels_, y, order, batch_start(), n);
  forward(training);
  const Tensor& logits = logits_is_z_ ? nodes_[logits_node_].z : nodes_[logits_node_].y;
  ops::cross_entropy_forward(loss_, logits, labels_, label_smoothing_);
  ops::count_correct(correct_, logits, labels_);
  ops::track_loss(totals_, loss_, n);
  if (!training) return;
  ops::cross_entropy_backward(dlogits_, 1.0f, logits, labels_, label_smoothing_);
  backward();
  update();
}

Graph::CaptureKey Graph::capture_key(const Tensor& x, const Tensor& y, const Tensor& order, int64_t n) const {
  return {n, x.raw_data(), y.raw_data(), order.raw_data(), config_version_, cuda::workspace_generation(),
          cuda::allow_tf32()};
}

void Graph::run_captured_step(const Tensor& x, const Tensor& y, const Tensor& order, int64_t n) {
  const CaptureKey key = capture_key(x, y, order, n);
  if (captured_.ready() && key == captured_key_) {
    captured_.launch();
    ++graph_replays_;
    return;
  }
  if (!(key == warm_key_)) {  // a new configuration: one eager step first
    captured_.reset();
    run_step(x, y, order, n, true);
    warm_key_ = capture_key(x, y, order, n);  // the step may have grown the workspace
    return;
  }
  captured_.capture([&] { run_step(x, y, order, n, true); });
  captured_key_ = key;
  captured_.launch();
  ++graph_replays_;
}

// Runs batches of rows [begin, end) of x taken through `order`: training steps (forward, loss,
// backward, update) or inference (forward, loss). On the GPU the host never waits inside the
// run: the totals are read once at its end (on the CPU, after each step, to stop at once when a
// loss is not finite).
StepStats Graph::run_batches(const Tensor& x, const Tensor& y, const Tensor& given_order, int64_t begin,
                             int64_t end, int64_t batch_size, bool training) {
  if (device_.type == DeviceType::CUDA) cuda::use_device(device_.index);  // the device a capture records
  ensure_capacity(std::min(batch_size, x.size(0)));
  ensure_labels(y);
  if (training) {  // into the graph's own buffer: a captured step holds its address
    if (!order_.defined() || order_.numel() != given_order.numel()) {
      order_ = Tensor::empty({given_order.numel()}, DType::Int64, device_);
      ++config_version_;
    }
    order_.copy_from(given_order);
  }
  const Tensor& order = training ? order_ : given_order;
  const ops::LossTotals before_any_batch = ops::LossTotals::start();
  upload(totals_, &before_any_batch);
  const int64_t first_step = step_;
  for (int64_t start = begin; start < end; start += batch_size) {
    const int64_t n = std::min(batch_size, end - start);
    bind_batch(n);
    stage_step(start, training);
    if (training && device_.type == DeviceType::CUDA && n == batch_size && !cuda::launch_blocking())
      run_captured_step(x, y, order, n);
    else
      run_step(x, y, order, n, training);
    if (training) ++step_;
    if (device_.type == DeviceType::CPU && ops::read_loss_totals(totals_).nonfinite_step >= 0) break;
  }
  const ops::LossTotals t = ops::read_loss_totals(totals_);
  if (training) step_ = first_step + t.steps;  // the updates that were applied
  StepStats stats;
  stats.loss_sum = t.loss_sum;
  stats.count = t.count;
  stats.steps = t.steps;
  stats.nonfinite_step = t.nonfinite_step;
  stats.correct = t.correct;
  return stats;
}

static Tensor identity_order(int64_t rows, Device device) {
  Tensor order = Tensor::empty({rows}, DType::Int64);
  std::iota(order.data<int64_t>(), order.data<int64_t>() + rows, int64_t{0});
  return order.to(device);
}

StepStats Graph::train_steps(const Tensor& x, const Tensor& y, const Tensor& order, int64_t first_batch,
                             int64_t n_batches, int64_t batch_size) {
  check_data("fit", x, &y);
  CONVNET_CHECK_VALUE(batch_size > 0, "fit", "batch_size", "a positive integer", std::to_string(batch_size));
  CONVNET_CHECK_VALUE(first_batch >= 0 && n_batches >= 0, "fit", "first_batch", "non-negative step indices",
                      std::to_string(first_batch) + ", " + std::to_string(n_batches));
  check_dtype("fit", "order", order, DType::Int64);
  check_shape("fit", "order", order, {x.size(0)});
  check_same_device("fit", "order", order, "x", x);
  const int64_t rows = x.size(0);
  const int64_t begin = std::min(rows, first_batch * batch_size);
  return run_batches(x, y, order, begin, std::min(rows, begin + n_batches * batch_size), batch_size, true);
}

StepStats Graph::evaluate(const Tensor& x, const Tensor& y, int64_t batch_size) {
  check_data("evaluate", x, &y);
  CONVNET_CHECK_VALUE(batch_size > 0, "evaluate", "batch_size", "a positive integer", std::to_string(batch_size));
  return run_batches(x, y, identity_order(x.size(0), device_), 0, x.size(0), batch_size, false);
}

Tensor Graph::predict(const Tensor& x, int64_t batch_size) {
  check_data("predict", x, nullptr);
  CONVNET_CHECK_VALUE(batch_size > 0, "predict", "batch_size", "a positive integer", std::to_string(batch_size));
  const int64_t rows = x.size(0);
  const Tensor order = identity_order(rows, device_);
  const Shape& out_shape = nodes_.back().out_shape;
  const int64_t per_row = shape_numel(out_shape);
  Tensor out = Tensor::empty(with_batch(rows, out_shape), DType::Float32, device_);
  ensure_capacity(std::min(batch_size, rows));
  for (int64_t start = 0; start < rows; start += batch_size) {
    const int64_t n = std::min(batch_size, rows - start);
    bind_batch(n);
    stage_step(start, false);
    ops::gather_batch(nodes_[0].y, x, order, batch_start(), n);
    forward(false);
    out.view(start * per_row, with_batch(n, out_shape)).copy_from(nodes_.back().y);
  }
  return out;
}

}  // namespace nn
}  // namespace convnet
