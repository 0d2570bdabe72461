// The graph executor and trainer: a model as a list of nodes in topological order (a DAG: any
// node may be an output, a node may have several inputs), its parameters in one flat buffer (and
// their gradients in another, llm.c style), activation and gradient buffers allocated once for the
// largest batch, and whole training steps (gather, forward, loss, backward, update) run here so
// that Python crosses into C++ once per chunk of steps.
//
// Conventions:
//   - Node 0 is the input; every node's inputs precede it. Buffers are (N, ...out_shape).
//   - What a node computes is its kind's business (nn/node.h, one unit per kind in nn/nodes/);
//     the executor only allocates, binds and steps through them.
//   - A node may end in a fused activation (Keras' `activation=`): z = op(inputs), y = act(z).
//   - Backward functions write (=) their gradients; where a node feeds several consumers (or a
//     layer's parameters serve several nodes) the executor sums the contributions (scratch + add).
//   - The loss is attached to one output (LossConfig). Cross-entropy reads logits: the values
//     before the output's fused softmax (the stable fused form) or, with from_logits, the output
//     itself; binary cross-entropy likewise before a fused sigmoid. Parameters of nodes the loss
//     does not depend on are not updated.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "nn/node.h"
#include "ops/loss.h"
#include "ops/optim.h"

namespace convnet {
namespace nn {

// Where a parameter (in the flat parameter buffer) or a buffer (in the flat buffer of running
// statistics) lives. `node` is the node that declared it; nodes sharing it (NodeSpec::shares) use it too.
struct ParamInfo {
  int node;
  std::string name;  // weight, bias (conv2d/linear: the kernel and bias; batch_norm: gamma, beta); running_mean, ...
  int64_t offset;
  Shape shape;
};

struct LossConfig {
  enum class Kind { CrossEntropy, BinaryCrossEntropy, MeanSquaredError } kind = Kind::CrossEntropy;
  int output = 0;            // the index of the model output the loss is attached to
  bool from_logits = false;  // the output is logits (no fused softmax / sigmoid of its own)
  float label_smoothing = 0.0f;
  int64_t top_k = 0;  // > 0 (cross-entropy only): also count the rows whose class is in the top k logits
};

struct OptimizerConfig {
  std::string kind = "sgd";  // sgd adam adamw rmsprop
  ops::SGDParams sgd;
  ops::AdamParams adam;
  ops::RMSpropParams rmsprop;
};

// Sums over a run of steps (or an evaluation): mean loss = loss_sum / count.
struct StepStats {
  double loss_sum = 0.0;
  int64_t correct = 0;
  int64_t top_k_correct = 0;  // rows whose class is among the top LossConfig::top_k outputs
  int64_t count = 0;
  int64_t steps = 0;
  int64_t nonfinite_step = -1;  // index (within the run) of the first step whose loss was NaN/inf
};

class Graph {
 public:
  // `outputs`: the model's output nodes, in the order predict returns them.
  Graph(std::vector<NodeSpec> specs, std::vector<int> outputs, Device device = Device::cpu(), uint64_t seed = 0);

  const std::vector<NodeSpec>& specs() const { return specs_; }
  int size() const { return static_cast<int>(nodes_.size()); }
  const Shape& output_shape(int node) const { return nodes_.at(node).out_shape; }
  const std::vector<int>& outputs() const { return outputs_; }
  const std::vector<ParamInfo>& params() const { return param_info_; }
  Tensor param_view(int index) const;  // the parameter's window of the flat buffer
  Tensor& flat_params() { return params_; }
  Tensor& flat_grads() { return grads_; }
  // Non-learned state (batch-norm running statistics), one flat buffer.
  const std::vector<ParamInfo>& buffers() const { return buffer_info_; }
  Tensor buffer_view(int index) const;
  Tensor& flat_buffers() { return buffers_; }
  Device device() const { return device_; }

  void set_trainable(int node, bool trainable);
  void set_optimizer(const OptimizerConfig& config);
  void set_learning_rate(double lr);
  double learning_rate() const;
  int64_t optimizer_step() const { return step_; }
  // Training steps run by replaying a captured CUDA graph (the others ran op by op).
  int64_t cuda_graph_replays() const { return graph_replays_; }
  void set_optimizer_step(int64_t step) { step_ = step; }
  // Optimizer state buffers (names and flat tensors of the parameter count), for checkpoints.
  std::vector<std::pair<std::string, Tensor>> optimizer_state();
  void set_loss(const LossConfig& loss);
  const LossConfig& loss() const { return loss_config_; }

  // `n_batches` training steps over x[order[first*batch_size ...]]; the last batch of the data
  // may be short. x: (N, ...input shape) uint8 or float32; y: (N,) int64 or (N, K) float32;
  // sample_weight: float32 (N,), each row's weight in the loss (ops/loss.h), or nullptr (all 1).
  // order_rows: how many leading entries of order are rows to train on (-1: all of them).
  StepStats train_steps(const Tensor& x, const Tensor& y, const Tensor& order, int64_t first_batch,
                        int64_t n_batches, int64_t batch_size, const Tensor* sample_weight = nullptr,
                        int64_t order_rows = -1);
  // Data-parallel training (core/distributed.h, after distributed::init()): each training step takes the
  // mean over the ranks of the batch loss (so every rank takes the same decision on a non-finite one)
  // and of the parameter gradients (one all-reduce of the flat gradient buffer), before the update.
  void set_data_parallel(bool on);
  bool data_parallel() const { return data_parallel_; }
  double allreduce_seconds() const { return allreduce_seconds_; }  // spent in the gradient all-reduces
  // Loss (weighted by sample_weight where given) and accuracy of the model in inference mode.
  StepStats evaluate(const Tensor& x, const Tensor& y, int64_t batch_size, const Tensor* sample_weight = nullptr);
  // Each output for every row of x, (N, ...output shape), in inference mode.
  std::vector<Tensor> predict(const Tensor& x, int64_t batch_size);
  // d(loss)/d(x) of the loss over all N rows of x (the mean, as a training batch of N rows), with
  // the model in inference mode; float32 (N, ...input shape), with respect to the values the model
  // sees (uint8 images scaled to [0, 1]).
  Tensor input_gradients(const Tensor& x, const Tensor& y, int64_t batch_size);

 private:
  friend class NodeRun;
  struct NodeState {
    std::unique_ptr<Node> kind;
    FusedActivation act;
    Shape out_shape;                   // per sample
    std::vector<int> params, buffers;  // indices into param_info_ / buffer_info_, in declaration order
    std::vector<NodeDecl::Entry> sample_decl;
    std::vector<int> consumers;        // nodes that read this one
    bool feeds_loss = false;           // the loss depends on this node
    bool after_params = false;         // it or a node it depends on has parameters: its gradient can be used
    // Per-batch buffers (views of the max-batch allocations, rebound when the batch size changes)
    Tensor z, y, dy, dz;
    Tensor z_full, y_full, dy_full, dz_full;
    std::vector<Tensor> sample_work, sample_work_full, fixed_work;
    std::vector<Tensor> grad_targets;  // backward: where each parameter's gradient goes (undefined: none)
  };

  void build();
  void build_node(int i, int64_t& n_params, int64_t& n_buffers);
  void check_data(const char* what, const Tensor& x, const Tensor* y, const Tensor* sample_weight = nullptr) const;
  bool gradient_used(int node) const;
  void ensure_capacity(int64_t batch);
  void bind_batch(int64_t n);
  void forward(bool training);
  void activate(int i, bool training);
  void backward(bool training, bool learn_params, float grad_scale);
  bool backward_node(int i, bool training, bool learn_params);
  void update_trainable_ranges();
  void update();
  void ensure_labels(const Tensor& y);
  void attach_loss(const LossConfig& loss, bool from_z);
  void require_loss(const char* what) const;
  const Tensor& loss_input() const;
  void loss_forward();
  void loss_backward(float grad_scale);
  // One step's per-step values into step_ints_ / step_floats_ (see below).
  void stage_step(int64_t start, bool training);
  // The device work of one batch of n rows: gather, forward, loss and totals, and when training
  // backward and update. Nothing in it reads device memory back on the host.
  void run_step(const Tensor& x, const Tensor& y, const Tensor& order, int64_t n, bool training);
  // run_step as a CUDA graph: the first step of a configuration runs eagerly (it sizes the
  // workspaces), the second is captured, later ones replay the capture.
  void run_captured_step(const Tensor& x, const Tensor& y, const Tensor& order, int64_t n);
  StepStats run_batches(const Tensor& x, const Tensor& y, const Tensor& order, int64_t begin, int64_t end,
                        int64_t batch_size, bool training, const Tensor* sample_weight);
  const Tensor* batch_weights() const { return sample_weight_.defined() ? &weights_ : nullptr; }
  void input_grad(int node, int k, const std::function<void(Tensor*)>& write, bool call_without);
  std::string where(int node) const;
  // Runs f with its errors prefixed by where(node) and `context`.
  void named(int node, const std::string& context, const std::function<void()>& f) const;
  // Every value of a CPU `order` indexes one of `rows` rows (ValueError naming `what` otherwise).
  [[noreturn]] void report_bad_order(const Tensor& order, int64_t rows, int64_t position) const;
  uint64_t node_seed(int node) const;
  Tensor seed_of(int node) const { return step_ints_.view(node, {1}); }  // node >= 1
  Tensor batch_start() const { return step_ints_.view(0, {1}); }

  std::vector<NodeSpec> specs_;
  std::vector<int> outputs_;
  std::vector<NodeState> nodes_;
  std::vector<ParamInfo> param_info_, buffer_info_;
  std::vector<float> buffer_initial_;  // each buffer's starting value (running mean 0, variance 1)
  Device device_;
  uint64_t seed_;
  std::mutex mutex_;  // one call at a time on a graph (its buffers are shared by all its calls)
  Tensor params_, grads_, buffers_;
  std::vector<std::pair<int64_t, int64_t>> trainable_ranges_;  // [begin, end) of the flat buffer
  OptimizerConfig optimizer_;
  Tensor opt_state_a_, opt_state_b_, opt_state_c_;  // momentum / exp_avg / square_avg, etc.
  int64_t step_ = 0;          // optimizer steps taken
  LossConfig loss_config_;
  int loss_node_ = 0;
  bool loss_from_z_ = false;  // the loss reads the loss node's z, before its fused activation
  bool loss_set_ = false;     // set_loss was called (until then the loss node is output 0, for the structure)
  bool data_parallel_ = false;
  double allreduce_seconds_ = 0.0;
  // Batch state
  int64_t capacity_ = 0, batch_ = -1;
  Tensor labels_full_, labels_, loss_, scratch_full_, param_scratch_;
  Tensor sample_weight_;          // the run's row weights (N,), undefined when it has none
  Tensor weights_full_, weights_;  // the batch's rows of them
  std::vector<bool> grad_written_, param_grad_written_;  // backward: gradients written this step
  bool input_grad_wanted_ = false;                       // backward: the input's gradient too
  DType label_dtype_ = DType::Int64;
  int64_t label_width_ = 0;
  // Per-step values, written by the host before each step and read by the kernels on the device
  // (so a captured step stays valid): step_ints_ = [batch start, then node i's seed at i],
  // step_floats_ = the optimizer's constants of the step (ops::*Scalars).
  Tensor step_ints_, step_floats_;
  std::vector<int64_t> host_ints_;
  std::vector<float> host_floats_;
  Tensor totals_;   // ops::LossTotals of the current run
  Tensor correct_;  // its count of correct rows (a view), which count_correct adds to
  Tensor top_k_correct_;  // its count of rows in the top k (a view), which count_in_top_k adds to
  // totals_'s non-finite step, which stops the optimizer and the batch-norm statistics (>= 0)
  Tensor halt() const { return totals_.view(ops::LossTotals::nonfinite_index(), {1}); }
  // The captured training step and what it was captured for: the step reads and writes these
  // addresses and sizes, so any change means capturing again.
  struct CaptureKey {
    int64_t batch = -1;
    const void *x = nullptr, *y = nullptr, *order = nullptr, *weight = nullptr;
    uint64_t config = 0;
    unsigned long long workspace = 0;
    bool tf32 = false;
    bool operator==(const CaptureKey& o) const {
      return batch == o.batch && x == o.x && y == o.y && order == o.order && weight == o.weight && config == o.config &&
             workspace == o.workspace && tf32 == o.tf32;
    }
  };
  CaptureKey capture_key(const Tensor& x, const Tensor& y, const Tensor& order, int64_t n) const;
  cuda::CapturedGraph captured_;
  CaptureKey captured_key_, warm_key_;
  uint64_t config_version_ = 0;  // bumped by whatever changes the step's kernels or buffers
  int64_t graph_replays_ = 0;
  Tensor order_;  // the training run's row order, copied here so that its address (held by a capture) stays
};

}  // namespace nn
}  // namespace convnet
