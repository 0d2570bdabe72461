// The graph executor and trainer (see graph.h).
#include "nn/graph.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>

#include "core/checks.h"
#include "core/distributed.h"
#include "nn/nodes/shapes.h"
#include "ops/batch.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/activation.h"

namespace convnet {
namespace nn {

namespace {

// splitmix64: decorrelates the random seed (dropout, augmentation) of each (step, node).
uint64_t mix_seed(uint64_t seed, uint64_t step, uint64_t node) {
  return splitmix64_mix(seed + kGoldenGamma * (step * 1315423911ull + node + 1));
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

Graph::Graph(std::vector<NodeSpec> specs, std::vector<int> outputs, Device device, uint64_t seed)
    : specs_(std::move(specs)), outputs_(std::move(outputs)), device_(device), seed_(seed) {
  if (device_.type == DeviceType::CUDA) cuda::require(device_, "Model");
  build();
}

// The seed of a random node (dropout, augmentation) for the current step.
uint64_t Graph::node_seed(int node) const {
  const int64_t own = nodes_[node].kind ? nodes_[node].kind->own_seed() : -1;
  return mix_seed(own >= 0 ? static_cast<uint64_t>(own) : seed_, step_, node);
}

std::string Graph::where(int node) const {
  return "layer '" + specs_[node].name + "' (" + specs_[node].kind + ")";
}

// Runs `f`, its errors (checks, too-large sizes, failed allocations) prefixed with where(node) and
// `context` (what was being sized), keeping their kind.
void Graph::named(int node, const std::string& context, const std::function<void()>& f) const {
  const std::string prefix = where(node) + (context.empty() ? "" : " (" + context + ")") + ": ";
  try {
    f();
  } catch (const TypeError& e) {
    throw TypeError(prefix + e.what());
  } catch (const ValueError& e) {
    throw ValueError(prefix + e.what());
  } catch (const OutOfMemoryError& e) {
    throw OutOfMemoryError(prefix + e.what());
  }
}

// Node i's kind from the table, its parameters parsed, its inputs' shapes checked, and what it
// declares placed: parameters in the flat parameter buffer, buffers in the flat buffer (or, for a
// node that shares an earlier node's, that node's, checked to be the same).
void Graph::build_node(int i, int64_t& n_params, int64_t& n_buffers) {
  const NodeSpec& s = specs_[i];
  NodeState& node = nodes_[i];
  CONVNET_CHECK_VALUE((i == 0) == (s.kind == "input"), "Model", "layers", "one input node, first",
                      "'" + s.kind + "' at " + std::to_string(i));
  const NodeFactory make = find_node_kind(s.kind);
  if (!make) throw ValueError(arg_message("Model", "op", "one of " + node_kind_names(), "'" + s.kind + "'"));
  ParamReader reader(s);
  node.kind = make(reader);
  reader.finish();
  std::vector<Shape> in_shapes;
  for (int in : s.inputs) {
    CONVNET_CHECK_VALUE(in >= 0 && in < i, "Model", "inputs", "indices of earlier nodes", std::to_string(in));
    in_shapes.push_back(nodes_[in].out_shape);
    nodes_[in].consumers.push_back(i);
  }
  NodeDecl decl;
  node.out_shape = node.kind->build(in_shapes, decl);
  node.act = node.kind->activation();
  if (node.act.kind == FusedActivation::Kind::Softmax)
    CONVNET_CHECK_VALUE(node.out_shape.size() == 1, "Softmax", "input", "a flat (classes,) input", shape_str(node.out_shape));
  auto place = [&](const std::vector<NodeDecl::Entry>& declared, std::vector<ParamInfo>& info, int64_t& total,
                   const std::vector<int>& shared, const char* what) {
    std::vector<int> slots;
    for (size_t k = 0; k < declared.size(); ++k) {
      if (s.shares < 0) {
        info.push_back({i, declared[k].name, total, declared[k].shape});
        total = checked_add(total, checked_numel("Model", what, declared[k].shape, sizeof(float)), "Model",
                            std::string(what) + "s in all");
        slots.push_back(static_cast<int>(info.size()) - 1);
        continue;
      }
      const Shape& theirs = info[shared.at(k)].shape;
      CONVNET_CHECK_VALUE(theirs == declared[k].shape, "Model", "shared layer",
                          std::string("the same ") + what + " shapes at each call", shape_str(declared[k].shape) +
                          " here, " + shape_str(theirs) + " at node " + std::to_string(s.shares));
      slots.push_back(shared[k]);
    }
    return slots;
  };
  std::vector<int> shared_params, shared_buffers;
  if (s.shares >= 0) {
    CONVNET_CHECK_VALUE(s.shares < i && specs_[s.shares].kind == s.kind, "Model", "shares",
                        "an earlier node of the same kind", std::to_string(s.shares));
    shared_params = nodes_[s.shares].params;
    shared_buffers = nodes_[s.shares].buffers;
    CONVNET_CHECK_VALUE(shared_params.size() == decl.params.size() && shared_buffers.size() == decl.buffers.size(),
                        "Model", "shares", "a node with the same parameters", std::to_string(s.shares));
  }
  node.params = place(decl.params, param_info_, n_params, shared_params, "parameter");
  node.buffers = place(decl.buffers, buffer_info_, n_buffers, shared_buffers, "buffer");
  node.sample_decl = decl.per_sample;
  for (const NodeDecl::Entry& e : decl.fixed) node.fixed_work.push_back(Tensor::empty(e.shape, e.dtype, device_));
  if (s.shares < 0)
    for (size_t k = 0; k < decl.buffers.size(); ++k) buffer_initial_.push_back(decl.buffers[k].initial);
}

void Graph::build() {
  CONVNET_CHECK_VALUE(!specs_.empty(), "Model", "layers", "an input node first", "no nodes");
  nodes_.resize(specs_.size());
  int64_t n_params = 0, n_buffers = 0;
  for (int i = 0; i < size(); ++i) named(i, "", [&] { build_node(i, n_params, n_buffers); });
  for (int i = 0; i < size(); ++i) {
    nodes_[i].after_params = !nodes_[i].params.empty();
    for (int in : specs_[i].inputs) nodes_[i].after_params |= nodes_[in].after_params;
  }
  CONVNET_CHECK_VALUE(!outputs_.empty(), "Model", "outputs", "at least one output node", "none");
  for (int o : outputs_)
    CONVNET_CHECK_VALUE(o > 0 && o < size(), "Model", "outputs", "indices of nodes after the input", std::to_string(o));
  // Too many parameters to hold: the error names the layer with the most.
  int largest = 0;
  int64_t most = -1;
  std::string shapes;  // the largest layer's parameter shapes
  for (int i = 0; i < size(); ++i) {
    int64_t own = 0;
    std::string own_shapes;
    if (specs_[i].shares < 0)
      for (int p : nodes_[i].params) {
        own += shape_numel(param_info_[p].shape);
        own_shapes += (own_shapes.empty() ? "" : ", ") + param_info_[p].name + " " + shape_str(param_info_[p].shape);
      }
    if (own > most) most = own, largest = i, shapes = own_shapes;
  }
  const std::string share = std::to_string(most) + " of the model's " + std::to_string(n_params) + " parameters";
  named(largest, shapes + ": " + share, [&] {
    params_ = Tensor::zeros({n_params}, DType::Float32, device_);
    grads_ = Tensor::zeros({n_params}, DType::Float32, device_);
  });
  // Room for one node's parameter gradients, where a layer called twice adds its second part (every
  // call of a layer declares the same parameters, so a sharing node's own size is the group's).
  int64_t shared_grads = 0;
  for (int i = 0; i < size(); ++i) {
    if (specs_[i].shares < 0) continue;
    int64_t sum = 0;
    for (int p : nodes_[i].params) sum += shape_numel(param_info_[p].shape);
    shared_grads = std::max(shared_grads, sum);
  }
  if (shared_grads) param_scratch_ = Tensor::empty({shared_grads}, DType::Float32, device_);
  Tensor initial = Tensor::empty({n_buffers});
  for (const ParamInfo& b : buffer_info_)
    std::fill_n(initial.data<float>() + b.offset, shape_numel(b.shape), buffer_initial_[&b - buffer_info_.data()]);
  buffers_ = initial.to(device_);
  loss_ = Tensor::zeros({1}, DType::Float32, device_);
  totals_ = ops::new_loss_totals(device_);
  correct_ = totals_.view(ops::LossTotals::correct_index(), {1});
  top_k_correct_ = totals_.view(ops::LossTotals::top_k_index(), {1});
  host_ints_.assign(size(), 0);
  host_floats_.assign(kMaxOptimizerScalars, 0.0f);
  step_ints_ = Tensor::zeros({int64_t(size())}, DType::Int64, device_);
  step_floats_ = Tensor::zeros({kMaxOptimizerScalars}, DType::Float32, device_);
  attach_loss(LossConfig{}, false);  // until set_loss: for the structure only (no step runs without a loss)
  set_optimizer(OptimizerConfig{});
}

Tensor Graph::param_view(int index) const {
  const ParamInfo& p = param_info_.at(index);
  return params_.view(p.offset, p.shape);
}

Tensor Graph::buffer_view(int index) const {
  const ParamInfo& b = buffer_info_.at(index);
  return buffers_.view(b.offset, b.shape);
}

void Graph::set_trainable(int node, bool trainable) {
  std::lock_guard<std::mutex> lock(mutex_);
  CONVNET_CHECK_VALUE(node >= 0 && node < size(), "Model", "node", "an index in [0, " + std::to_string(size()) + ")",
                      std::to_string(node));
  specs_[node].trainable = trainable;
  update_trainable_ranges();
}

// The optimizer walks maximal runs of the parameters it updates (one fused update when it is all
// of them): those of trainable layers the loss depends on.
void Graph::update_trainable_ranges() {
  std::vector<bool> learned(param_info_.size(), false);
  for (int i = 0; i < size(); ++i)
    for (int p : nodes_[i].params)
      if (nodes_[i].feeds_loss && specs_[param_info_[p].node].trainable) learned[p] = true;
  trainable_ranges_.clear();
  for (size_t p = 0; p < param_info_.size(); ++p) {
    if (!learned[p]) continue;
    const int64_t begin = param_info_[p].offset, end = begin + shape_numel(param_info_[p].shape);
    if (!trainable_ranges_.empty() && trainable_ranges_.back().second == begin)
      trainable_ranges_.back().second = end;
    else
      trainable_ranges_.push_back({begin, end});
  }
  ++config_version_;
}

// Where the loss reads and which nodes it depends on. Cross-entropy reads logits: before the
// output's fused softmax, or the output itself when it is logits (from_logits); binary
// cross-entropy likewise with a sigmoid; mean squared error reads the output.
void Graph::set_loss(const LossConfig& loss) {
  const char* op = "compile";
  CONVNET_CHECK_VALUE(loss.output >= 0 && loss.output < int(outputs_.size()), op, "loss output",
                      "an output index in [0, " + std::to_string(outputs_.size()) + ")", std::to_string(loss.output));
  CONVNET_CHECK_VALUE(loss.label_smoothing >= 0.0f && loss.label_smoothing <= 1.0f, "loss", "label_smoothing",
                      "a value in [0, 1]", std::to_string(loss.label_smoothing));
  CONVNET_CHECK_VALUE(loss.top_k >= 0 && (loss.top_k == 0 || loss.kind == LossConfig::Kind::CrossEntropy), op,
                      "metrics", "top-k accuracy (k >= 1) with a cross-entropy loss only",
                      "k=" + std::to_string(loss.top_k));
  const int node = outputs_[loss.output];
  const NodeState& out = nodes_[node];
  const std::string layer = "the output of layer '" + specs_[node].name + "'";
  bool from_z = false;
  if (loss.kind == LossConfig::Kind::MeanSquaredError) {
    CONVNET_CHECK_VALUE(!loss.from_logits, op, "from_logits", "False for mean_squared_error", "True");
  } else {
    const bool ce = loss.kind == LossConfig::Kind::CrossEntropy;
    const bool fused = ce ? out.act.kind == FusedActivation::Kind::Softmax : out.act.is(ops::Activation::Sigmoid);
    const char* want = ce ? "softmax" : "sigmoid";
    if (loss.from_logits)
      CONVNET_CHECK_VALUE(out.act.none(), op, "from_logits",
                          "logits: " + layer + " without an activation", "an output ending in " + out.act.name());
    else
      CONVNET_CHECK_VALUE(fused, op, "loss", layer + " ending in " + want + " (or from_logits=True for logits)",
                          out.act.none() ? std::string("no activation") : "'" + out.act.name() + "'");
    if (ce)
      CONVNET_CHECK_VALUE(out.out_shape.size() == 1, op, "loss", layer + " of shape (classes,)", shape_str(out.out_shape));
    else
      CONVNET_CHECK_VALUE(out.out_shape == Shape{1}, op, "loss", layer + " of one unit, shape (1,), for binary_crossentropy",
                          shape_str(out.out_shape));
    from_z = fused;
    CONVNET_CHECK_VALUE(!from_z || out.consumers.empty(), op, "loss",
                        layer + " read by no other layer (the loss takes the values before its " + want + ")",
                        std::to_string(out.consumers.size()) + " layers reading it");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  attach_loss(loss, from_z);
  loss_set_ = true;
}

void Graph::attach_loss(const LossConfig& loss, bool from_z) {
  const int node = outputs_[loss.output];
  loss_config_ = loss;
  loss_node_ = node;
  loss_from_z_ = from_z;
  for (NodeState& n : nodes_) n.feeds_loss = false;
  nodes_[node].feeds_loss = true;
  for (int i = node; i >= 0; --i)
    if (nodes_[i].feeds_loss)
      for (int in : specs_[i].inputs) nodes_[in].feeds_loss = true;
  labels_full_ = Tensor();
  batch_ = -1;
  update_trainable_ranges();
}

void Graph::set_optimizer(const OptimizerConfig& config) {
  std::lock_guard<std::mutex> lock(mutex_);
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
  std::lock_guard<std::mutex> lock(mutex_);
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

void Graph::check_data(const char* what, const Tensor& x, const Tensor* y, const Tensor* sample_weight) const {
  CONVNET_CHECK_TYPE(x.dtype() == DType::UInt8 || x.dtype() == DType::Float32, what, "x", "uint8 or float32 data",
                     dtype_name(x.dtype()));
  Shape want = with_batch(x.dim() ? x.size(0) : 0, nodes_[0].out_shape);
  CONVNET_CHECK_VALUE(x.shape() == want && x.size(0) > 0, what, "x",
                      "a non-empty array of shape (N, " + shape_str(nodes_[0].out_shape).substr(1), shape_str(x.shape()));
  check_same_device(what, "x", x, "model", params_);
  if (!y) return;
  const int64_t width = shape_numel(nodes_[loss_node_].out_shape);
  if (y->dtype() == DType::Int64) {
    CONVNET_CHECK_TYPE(loss_config_.kind == LossConfig::Kind::CrossEntropy, what, "y",
                       "float32 targets for this loss", "int64 labels");
    check_shape(what, "y", *y, {x.size(0)});
  } else {
    CONVNET_CHECK_TYPE(y->dtype() == DType::Float32, what, "y", "int64 labels or float32 target rows", dtype_name(y->dtype()));
    check_shape(what, "y", *y, {x.size(0), width});
  }
  check_same_device(what, "y", *y, "model", params_);
  if (!sample_weight) return;
  check_dtype(what, "sample_weight", *sample_weight, DType::Float32);
  check_shape(what, "sample_weight", *sample_weight, {x.size(0)});
  check_same_device(what, "sample_weight", *sample_weight, "model", params_);
}

void Graph::ensure_capacity(int64_t batch) {
  if (batch <= capacity_) return;
  int64_t scratch = 0;
  for (int i = 0; i < size(); ++i) {
    NodeState& node = nodes_[i];
    const Shape shape = with_batch(batch, node.out_shape);
    named(i, "a batch of " + std::to_string(batch) + ": output " + shape_str(shape), [&] {
      scratch = std::max(scratch, checked_numel("Model", "output", shape, sizeof(float)));
      if (!node.kind->aliases_input()) node.z_full = Tensor::empty(shape, DType::Float32, device_);
      if (!node.act.none()) {
        node.y_full = Tensor::empty(shape, DType::Float32, device_);
        node.dz_full = Tensor::empty(shape, DType::Float32, device_);
      }
      node.dy_full = Tensor::empty(shape, DType::Float32, device_);
      node.sample_work_full.clear();
      for (const NodeDecl::Entry& e : node.sample_decl)
        node.sample_work_full.push_back(Tensor::empty(with_batch(batch, e.shape), e.dtype, device_));
    });
  }
  scratch_full_ = Tensor::empty({scratch}, DType::Float32, device_);
  labels_full_ = Tensor();  // reallocated for the label kind by the caller
  weights_full_ = Tensor::empty({batch}, DType::Float32, device_);
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
    NodeState& node = nodes_[i];
    if (node.kind->aliases_input())
      node.z = nodes_[specs_[i].inputs[0]].y.reshape(with_batch(n, node.out_shape));
    else
      node.z = rows(node.z_full, node.out_shape);
    node.y = node.act.none() ? node.z : rows(node.y_full, node.out_shape);
    if (!node.act.none()) node.dz = rows(node.dz_full, node.out_shape);
    node.dy = rows(node.dy_full, node.out_shape);
    node.sample_work.clear();
    for (size_t k = 0; k < node.sample_decl.size(); ++k)
      node.sample_work.push_back(rows(node.sample_work_full[k], node.sample_decl[k].shape));
  }
  if (labels_full_.defined())
    labels_ = label_dtype_ == DType::Int64 ? labels_full_.view(0, {n}) : labels_full_.view(0, {n, label_width_});
  weights_ = weights_full_.view(0, {n});
  batch_ = n;
}

void Graph::forward(bool training) {
  for (int i = 1; i < size(); ++i) {
    const bool trainable = specs_[i].trainable;
    try {
      nodes_[i].kind->forward(NodeRun(*this, i, training, trainable, training && trainable && nodes_[i].feeds_loss));
      activate(i, training);
    } catch (const ValueError& e) {
      throw ValueError(where(i) + ": " + e.what());
    }
  }
}

// y = act(z). A training step skips the activation the loss reads past (the loss takes z).
void Graph::activate(int i, bool training) {
  NodeState& node = nodes_[i];
  if (node.act.none() || (training && i == loss_node_ && loss_from_z_)) return;
  if (node.act.kind == FusedActivation::Kind::Softmax)
    ops::softmax_forward(node.y, node.z, 1);
  else
    ops::activation_forward(node.y, node.z, node.act.elementwise, node.act.alpha);
}

void Graph::require_loss(const char* what) const {
  CONVNET_CHECK_VALUE(loss_set_, what, "loss", "a loss set (compile() first)", "none");
}

const Tensor& Graph::loss_input() const { return loss_from_z_ ? nodes_[loss_node_].z : nodes_[loss_node_].y; }

// The loss's gradient into the loss node: its dz when the loss reads z, else its dy.
void Graph::loss_backward(float grad_scale) {
  NodeState& node = nodes_[loss_node_];
  Tensor& grad = loss_from_z_ ? node.dz : node.dy;
  const LossConfig& c = loss_config_;
  if (c.kind == LossConfig::Kind::CrossEntropy) {
    ops::cross_entropy_backward(grad, grad_scale, loss_input(), labels_, c.label_smoothing, batch_weights());
  } else if (c.kind == LossConfig::Kind::BinaryCrossEntropy) {
    ops::binary_cross_entropy_with_logits_backward(grad, grad_scale, loss_input(), labels_, c.label_smoothing,
                                                   batch_weights());
  } else {
    Tensor rows = grad.reshape(labels_.shape());  // (n, K): the output's values, row by row
    ops::mse_loss_backward(rows, grad_scale, loss_input().reshape(labels_.shape()), labels_, batch_weights());
  }
  grad_written_[loss_node_] = true;
}

// Whether the gradient at node `in`'s output serves anything: a parameter gradient further back
// (a layout node or augmentation right after the input has none behind it), or input_gradients.
bool Graph::gradient_used(int in) const {
  return nodes_[in].feeds_loss && (nodes_[in].after_params || input_grad_wanted_);
}

void Graph::input_grad(int node, int k, const std::function<void(Tensor*)>& write, bool call_without) {
  const int in = specs_[node].inputs[k];
  NodeState& input = nodes_[in];
  if (!gradient_used(in)) {
    if (call_without) write(nullptr);
    return;
  }
  if (!grad_written_[in]) {
    write(&input.dy);
    grad_written_[in] = true;
    return;
  }
  Tensor scratch = scratch_full_.view(0, input.dy.shape());  // a second consumer: its part, then the sum
  write(&scratch);
  ops::add_forward(input.dy, input.dy, scratch);
}

// Node i's backward pass, from the gradient at its output y (dy, or dz directly where the loss
// reads z). Returns false when the node has nothing to compute.
bool Graph::backward_node(int i, bool training, bool learn_params) {
  NodeState& node = nodes_[i];
  const NodeSpec& s = specs_[i];
  if (!grad_written_[i]) return false;  // nothing flows here
  if (!node.act.none() && !(i == loss_node_ && loss_from_z_)) {
    if (node.act.kind == FusedActivation::Kind::Softmax)
      ops::softmax_backward(node.dz, node.dy, node.y, 1);
    else
      ops::activation_backward(node.dz, node.dy, node.z, node.y, node.act.elementwise, node.act.alpha);
  }
  const bool learn = learn_params && s.trainable;
  bool inputs_need = false;
  for (int in : s.inputs) inputs_need |= gradient_used(in);
  if (!inputs_need && !(learn && !node.params.empty())) return false;
  // Where the parameter gradients go: the flat gradient buffer, or for a parameter another node
  // (a second call of the layer) wrote already this step, scratch added to it afterwards.
  node.grad_targets.assign(node.params.size(), Tensor());
  int64_t scratch_used = 0;
  for (size_t k = 0; learn && k < node.params.size(); ++k) {
    const ParamInfo& p = param_info_[node.params[k]];
    if (!param_grad_written_[node.params[k]]) {
      node.grad_targets[k] = grads_.view(p.offset, p.shape);
    } else {
      node.grad_targets[k] = param_scratch_.view(scratch_used, p.shape);
      scratch_used += shape_numel(p.shape);
    }
  }
  node.kind->backward(NodeRun(*this, i, training, s.trainable, learn));
  for (size_t k = 0; learn && k < node.params.size(); ++k) {
    const ParamInfo& p = param_info_[node.params[k]];
    Tensor sum = grads_.view(p.offset, p.shape);
    if (param_grad_written_[node.params[k]]) ops::add_forward(sum, sum, node.grad_targets[k]);
    param_grad_written_[node.params[k]] = true;
  }
  return true;
}

// From the loss (its gradient scaled by grad_scale) back to the input, through the nodes the loss
// depends on; the parameters' gradients when learn_params.
void Graph::backward(bool training, bool learn_params, float grad_scale) {
  grad_written_.assign(size(), false);
  param_grad_written_.assign(param_info_.size(), false);
  loss_backward(grad_scale);
  for (int i = loss_node_; i >= 1; --i) {
    try {
      backward_node(i, training, learn_params);
    } catch (const ValueError& e) {
      throw ValueError(where(i) + ": " + e.what());
    }
  }
}

// NodeRun: a node's tensors for the call (see node.h).
int NodeRun::num_inputs() const { return static_cast<int>(g_.specs_[node_].inputs.size()); }
const Tensor& NodeRun::input(int k) const { return g_.nodes_[g_.specs_[node_].inputs.at(k)].y; }
Tensor& NodeRun::output() const { return g_.nodes_[node_].z; }
const Tensor& NodeRun::grad_output() const {
  const auto& node = g_.nodes_[node_];
  return node.act.none() ? node.dy : node.dz;
}
Tensor NodeRun::param(int k) const { return g_.param_view(g_.nodes_[node_].params.at(k)); }
Tensor* NodeRun::param_grad(int k) const {
  Tensor& target = g_.nodes_[node_].grad_targets.at(k);
  return learn && target.defined() ? &target : nullptr;
}
Tensor NodeRun::buffer(int k) const { return g_.buffer_view(g_.nodes_[node_].buffers.at(k)); }
Tensor& NodeRun::sample_work(int k) const { return g_.nodes_[node_].sample_work.at(k); }
Tensor& NodeRun::fixed_work(int k) const { return g_.nodes_[node_].fixed_work.at(k); }
Tensor NodeRun::seed() const { return g_.seed_of(node_); }
Tensor NodeRun::halt() const { return g_.halt(); }
void NodeRun::input_grad(int k, const std::function<void(Tensor&)>& write) const {
  g_.input_grad(node_, k, [&](Tensor* dx) { write(*dx); }, false);
}
void NodeRun::input_grad_or_null(int k, const std::function<void(Tensor*)>& write) const {
  g_.input_grad(node_, k, write, true);
}

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
  ops::gather_batch(nodes_[0].y, x, order, batch_start(), n, nodes_[0].kind->uint8_scale());
  ops::gather_labels(labels_, y, order, batch_start(), n);
  if (sample_weight_.defined()) ops::gather_labels(weights_, sample_weight_, order, batch_start(), n);
  forward(training);
  loss_forward();
  const bool reduce = training && data_parallel_;
  const int ranks = reduce ? distributed::size() : 1;
  if (reduce) distributed::allreduce_sum(loss_, 1.0f / float(ranks));  // the global batch's mean loss
  ops::track_loss(totals_, loss_, n);
  if (!training) return;
  backward(true, true, 1.0f / float(ranks));  // each rank's share of the global mean
  if (reduce) {
    const auto start = std::chrono::steady_clock::now();
    distributed::allreduce_sum(grads_);
    allreduce_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  update();
}

// The batch's mean loss into loss_, and its correct rows into the totals.
void Graph::loss_forward() {
  const LossConfig& c = loss_config_;
  if (c.kind == LossConfig::Kind::CrossEntropy) {
    ops::cross_entropy_forward(loss_, loss_input(), labels_, c.label_smoothing, batch_weights());
    ops::count_correct(correct_, loss_input(), labels_);
    if (c.top_k > 0) ops::count_in_top_k(top_k_correct_, loss_input(), labels_, c.top_k);
  } else if (c.kind == LossConfig::Kind::BinaryCrossEntropy) {
    ops::binary_cross_entropy_with_logits_forward(loss_, loss_input(), labels_, c.label_smoothing, batch_weights());
    ops::count_correct_binary(correct_, loss_input(), labels_);
  } else {  // no accuracy: the rows' correct count stays 0
    ops::mse_loss_forward(loss_, loss_input().reshape(labels_.shape()), labels_, batch_weights());
  }
}

Graph::CaptureKey Graph::capture_key(const Tensor& x, const Tensor& y, const Tensor& order, int64_t n) const {
  return {n, x.raw_data(), y.raw_data(), order.raw_data(), sample_weight_.raw_data(), config_version_,
          cuda::workspace_generation(), cuda::allow_tf32()};
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
                             int64_t end, int64_t batch_size, bool training, const Tensor* sample_weight) {
  if (device_.type == DeviceType::CUDA) cuda::use_device(device_.index);  // the device a capture records
  ensure_capacity(batch_size);
  ensure_labels(y);
  sample_weight_ = sample_weight ? *sample_weight : Tensor();
  struct ForgetWeights {  // on every way out: a later run without weights must not read these
    Tensor& weights;
    ~ForgetWeights() { weights = Tensor(); }
  } forget{sample_weight_};
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
  ops::check_order(order, x.size(0), totals_);  // a bad index halts the run: reported below
  const int64_t first_step = step_;
  for (int64_t start = begin; start < end; start += batch_size) {
    const int64_t n = std::min(batch_size, end - start);
    bind_batch(n);
    stage_step(start, training);
    // (MPI calls from the host cannot be captured in a CUDA graph: a data-parallel step runs eagerly)
    if (training && device_.type == DeviceType::CUDA && n == batch_size && !cuda::launch_blocking() &&
        !data_parallel_)
      run_captured_step(x, y, order, n);
    else
      run_step(x, y, order, n, training);
    if (training) ++step_;
    if (device_.type == DeviceType::CPU && ops::read_loss_totals(totals_).nonfinite_step >= 0) break;
  }
  const ops::LossTotals t = ops::read_loss_totals(totals_);
  if (training) step_ = first_step + t.steps;  // the updates that were applied
  if (t.bad_order >= 0) report_bad_order(order, x.size(0), t.bad_order);
  StepStats stats;
  stats.loss_sum = t.loss_sum;
  stats.count = t.count;
  stats.steps = t.steps;
  stats.nonfinite_step = t.nonfinite_step;
  stats.correct = t.correct;
  stats.top_k_correct = t.top_k_correct;
  return stats;
}

static Tensor identity_order(int64_t rows, Device device) {
  Tensor order = Tensor::empty({rows}, DType::Int64);
  std::iota(order.data<int64_t>(), order.data<int64_t>() + rows, int64_t{0});
  return order.to(device);
}

// Every index in order must be a row of the data: ops::check_order in run_batches halts a run whose
// order holds another, and the totals read at its end say where (on a GPU, without a wait of its own).
void Graph::report_bad_order(const Tensor& order, int64_t rows, int64_t position) const {
  const int64_t value = order.view(position, {1}).to(Device::cpu()).data<int64_t>()[0];
  throw ValueError(arg_message("fit", "order", "row indices in [0, " + std::to_string(rows) + ")",
                               std::to_string(value) + " at position " + std::to_string(position)));
}

StepStats Graph::train_steps(const Tensor& x, const Tensor& y, const Tensor& order, int64_t first_batch,
                             int64_t n_batches, int64_t batch_size, const Tensor* sample_weight,
                             int64_t order_rows) {
  std::lock_guard<std::mutex> lock(mutex_);
  require_loss("fit");
  check_data("fit", x, &y, sample_weight);
  CONVNET_CHECK_VALUE(batch_size > 0, "fit", "batch_size", "a positive integer", std::to_string(batch_size));
  CONVNET_CHECK_VALUE(first_batch >= 0 && n_batches >= 0, "fit", "first_batch", "non-negative step indices",
                      std::to_string(first_batch) + ", " + std::to_string(n_batches));
  check_dtype("fit", "order", order, DType::Int64);
  check_shape("fit", "order", order, {x.size(0)});
  check_same_device("fit", "order", order, "x", x);
  CONVNET_CHECK_VALUE(order_rows >= -1 && order_rows <= x.size(0), "fit", "order_rows",
                      "-1 (all) or a count in [0, " + std::to_string(x.size(0)) + "]", std::to_string(order_rows));
  const int64_t rows = order_rows < 0 ? x.size(0) : order_rows;
  if (rows == 0) return StepStats{};
  batch_size = std::min(batch_size, rows);  // a batch larger than the data is all of it
  // Batches [first_batch, first_batch + n_batches) clipped to the data; the products are only
  // formed where they cannot pass `rows` (so never overflow).
  const int64_t begin = first_batch > rows / batch_size ? rows : std::min(rows, first_batch * batch_size);
  const int64_t end = n_batches > (rows - begin) / batch_size ? rows : begin + n_batches * batch_size;
  return run_batches(x, y, order, begin, end, batch_size, true, sample_weight);
}

void Graph::set_data_parallel(bool on) {
  CONVNET_CHECK_VALUE(!on || distributed::initialized(), "fit", "distributed", "convnet.distributed.init() first",
                      "no MPI initialisation");
  data_parallel_ = on;
}

StepStats Graph::evaluate(const Tensor& x, const Tensor& y, int64_t batch_size, const Tensor* sample_weight) {
  std::lock_guard<std::mutex> lock(mutex_);
  require_loss("evaluate");
  check_data("evaluate", x, &y, sample_weight);
  CONVNET_CHECK_VALUE(batch_size > 0, "evaluate", "batch_size", "a positive integer", std::to_string(batch_size));
  return run_batches(x, y, identity_order(x.size(0), device_), 0, x.size(0), std::min(batch_size, x.size(0)), false,
                     sample_weight);
}


std::vector<Tensor> Graph::predict(const Tensor& x, int64_t batch_size) {
  std::lock_guard<std::mutex> lock(mutex_);
  check_data("predict", x, nullptr);
  CONVNET_CHECK_VALUE(batch_size > 0, "predict", "batch_size", "a positive integer", std::to_string(batch_size));
  const int64_t rows = x.size(0);
  batch_size = std::min(batch_size, rows);
  const Tensor order = identity_order(rows, device_);
  std::vector<Tensor> out;
  for (int o : outputs_)
    named(o, "the predictions for " + std::to_string(rows) + " rows",
          [&] { out.push_back(Tensor::empty(with_batch(rows, nodes_[o].out_shape), DType::Float32, device_)); });
  ensure_capacity(batch_size);
  for (int64_t start = 0; start < rows; start += batch_size) {
    const int64_t n = std::min(batch_size, rows - start);
    bind_batch(n);
    stage_step(start, false);
    ops::gather_batch(nodes_[0].y, x, order, batch_start(), n, nodes_[0].kind->uint8_scale());
    forward(false);
    for (size_t k = 0; k < outputs_.size(); ++k) {
      const NodeState& node = nodes_[outputs_[k]];
      out[k].view(start * shape_numel(node.out_shape), node.y.shape()).copy_from(node.y);
    }
  }
  return out;
}

Tensor Graph::input_gradients(const Tensor& x, const Tensor& y, int64_t batch_size) {
  std::lock_guard<std::mutex> lock(mutex_);
  require_loss("input_gradients");
  check_data("input_gradients", x, &y);
  CONVNET_CHECK_VALUE(batch_size > 0, "input_gradients", "batch_size", "a positive integer", std::to_string(batch_size));
  const int64_t rows = x.size(0);
  batch_size = std::min(batch_size, rows);
  const Tensor order = identity_order(rows, device_);
  Tensor out = Tensor::empty(with_batch(rows, nodes_[0].out_shape), DType::Float32, device_);
  ensure_capacity(batch_size);
  ensure_labels(y);
  input_grad_wanted_ = true;
  try {
    for (int64_t start = 0; start < rows; start += batch_size) {
      const int64_t n = std::min(batch_size, rows - start);
      bind_batch(n);
      stage_step(start, false);
      ops::gather_batch(nodes_[0].y, x, order, batch_start(), n, nodes_[0].kind->uint8_scale());
      ops::gather_labels(labels_, y, order, batch_start(), n);
      forward(false);
      // The batch's mean times n / rows: together, the gradient of the mean over all rows.
      backward(false, false, static_cast<float>(double(n) / double(rows)));
      out.view(start * shape_numel(nodes_[0].out_shape), nodes_[0].dy.shape()).copy_from(nodes_[0].dy);
    }
  } catch (...) {
    input_grad_wanted_ = false;
    throw;
  }
  input_grad_wanted_ = false;
  return out;
}


}  // namespace nn
}  // namespace convnet
