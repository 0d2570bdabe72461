// The graph executor and trainer: a model as a list of nodes in topological order, its
// parameters in one flat buffer (and their gradients in another, llm.c style), activation and
// gradient buffers allocated once for the largest batch, and whole training steps (gather,
// forward, loss, backward, update) run here so that Python crosses into C++ once per chunk of
// steps.
//
// Conventions:
//   - Node 0 is the input; every node's inputs precede it. Buffers are (N, ...out_shape).
//   - A node may end in a fused activation (Keras' `activation=`): z = op(inputs), y = act(z).
//   - Op backward functions write (=) their input gradients; where a node feeds several
//     consumers the executor sums their contributions (scratch buffer + add).
//   - Loss: cross-entropy on logits. When the model ends in softmax (a Softmax node or a fused
//     softmax activation) the pre-softmax values are the logits (the fused, stable form);
//     otherwise the output itself is taken as logits, as PyTorch's CrossEntropyLoss does.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "ops/activation.h"
#include "ops/augment.h"
#include "ops/conv.h"
#include "ops/loss.h"
#include "ops/norm.h"
#include "ops/optim.h"
#include "ops/pool.h"

namespace convnet {
namespace nn {

// One node as described by the Python layer (or a C++ caller).
struct NodeSpec {
  std::string name;                 // the layer's name, used in error messages
  std::string op;                   // input conv2d linear pool2d global_avg_pool2d flatten dropout
                                    // batch_norm activation softmax add random_flip_translate
  std::vector<int> inputs;          // indices of earlier nodes
  Shape shape;                      // input: the per-sample shape, e.g. (1, 28, 28)
  int out_channels = 0, kernel_h = 1, kernel_w = 1;  // conv2d
  ops::Conv2dParams conv;
  int depth_multiplier = 0;         // conv2d: > 0 makes it depthwise (groups = C_in, C_out = C_in * m)
  bool same_padding = false;        // conv2d: resolve 'same' from the kernel
  int units = 0;                    // linear
  bool use_bias = true;             // conv2d, linear
  ops::Pool2dParams pool;           // pool2d
  float rate = 0.0f;                // dropout
  int64_t seed = -1;                // dropout, random_flip_translate: the layer's own seed (else the model's)
  ops::AugmentParams augment;       // random_flip_translate (training only; identity in inference);
  float height_factor[2] = {0, 0};  // its shift ranges as fractions of the height and width (Keras'
  float width_factor[2] = {0, 0};   // RandomTranslation), resolved to whole pixels when built
  float momentum = 0.1f, eps = 1e-5f;  // batch_norm (PyTorch's convention for momentum)
  std::string activation;           // fused after the op, or the op of an "activation" node:
                                    // "", relu, leaky_relu, elu, sigmoid, tanh, softmax
  float alpha = 0.0f;               // leaky_relu slope or elu alpha
  bool trainable = true;
};

// Where a parameter lives in the flat buffer.
struct ParamInfo {
  int node;
  std::string name;  // weight, bias (conv2d/linear); weight, bias (batch_norm: gamma, beta)
  int64_t offset;
  Shape shape;
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
  int64_t count = 0;
  int64_t steps = 0;
  int64_t nonfinite_step = -1;  // index (within the run) of the first step whose loss was NaN/inf
};

class Graph {
 public:
  Graph(std::vector<NodeSpec> specs, Device device = Device::cpu(), uint64_t seed = 0);

  const std::vector<NodeSpec>& specs() const { return specs_; }
  int size() const { return static_cast<int>(nodes_.size()); }
  const Shape& output_shape(int node) const { return nodes_.at(node).out_shape; }
  const std::vector<ParamInfo>& params() const { return param_info_; }
  Tensor param_view(int index) const;  // the parameter's window of the flat buffer
  Tensor& flat_params() { return params_; }
  Tensor& flat_grads() { return grads_; }
  // Batch-norm running statistics: (running_mean, running_var) per batch_norm node, one flat buffer.
  Tensor& flat_buffers() { return buffers_; }
  // A batch_norm node's (running_mean, running_var) windows of flat_buffers().
  std::pair<Tensor, Tensor> running_stats(int node) const;
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
  void set_label_smoothing(float s);

  // `n_batches` training steps over x[order[first*batch_size ...]]; the last batch of the data
  // may be short. x: (N, ...input shape) uint8 or float32; y: (N,) int64 or (N, K) float32.
  StepStats train_steps(const Tensor& x, const Tensor& y, const Tensor& order, int64_t first_batch,
                        int64_t n_batches, int64_t batch_size);
  // Loss and accuracy of the model in inference mode.
  StepStats evaluate(const Tensor& x, const Tensor& y, int64_t batch_size);
  // The model's output for every row of x, (N, ...output shape), in inference mode.
  Tensor predict(const Tensor& x, int64_t batch_size);

 private:
  struct Node {
    Shape out_shape;                // per sample
    int64_t weight = -1, bias = -1;  // indices into param_info_
    int64_t stats_offset = -1;      // batch_norm: running mean at offset, running var at offset + C
    // Per-batch buffers (views of the max-batch allocations, rebound when the batch size changes)
    Tensor z, y, dy, dz, index, saved_mean, saved_invstd;
    Tensor z_full, y_full, dy_full, dz_full, index_full;  // max-batch allocations
  };

  void build();
  void check_data(const char* what, const Tensor& x, const Tensor* y) const;
  void ensure_capacity(int64_t batch);
  void bind_batch(int64_t n);
  void forward(bool training);
  void backward();
  void update();
  void ensure_labels(const Tensor& y);
  // One step's per-step values into step_ints_ / step_floats_ (see below).
  void stage_step(int64_t start, bool training);
  // The device work of one batch of n rows: gather, forward, loss and totals, and when training
  // backward and update. Nothing in it reads device memory back on the host.
  void run_step(const Tensor& x, const Tensor& y, const Tensor& order, int64_t n, bool training);
  // run_step as a CUDA graph: the first step of a configuration runs eagerly (it sizes the
  // workspaces), the second is captured, later ones replay the capture.
  void run_captured_step(const Tensor& x, const Tensor& y, const Tensor& order, int64_t n);
  StepStats run_batches(const Tensor& x, const Tensor& y, const Tensor& order, int64_t begin, int64_t end,
                        int64_t batch_size, bool training);
  Tensor* begin_input_grad(int input);
  void end_input_grad(int input);
  Tensor weight(const Node& node) const;
  Tensor bias(const Node& node) const;
  Tensor weight_grad(const Node& node) const;
  Tensor bias_grad(const Node& node) const;
  std::string where(int node) const;
  uint64_t node_seed(int node) const;
  Tensor seed_of(int node) const { return step_ints_.view(node, {1}); }  // node >= 1
  Tensor batch_start() const { return step_ints_.view(0, {1}); }

  std::vector<NodeSpec> specs_;
  std::vector<Node> nodes_;
  std::vector<ParamInfo> param_info_;
  Device device_;
  uint64_t seed_;
  Tensor params_, grads_, buffers_;
  std::vector<std::pair<int64_t, int64_t>> trainable_ranges_;  // [begin, end) of the flat buffer
  OptimizerConfig optimizer_;
  Tensor opt_state_a_, opt_state_b_, opt_state_c_;  // momentum / exp_avg / square_avg, etc.
  int64_t step_ = 0;          // optimizer steps taken
  float label_smoothing_ = 0.0f;
  int logits_node_ = 0;
  bool logits_is_z_ = false;  // the logits are the final node's pre-softmax z
  // Batch state
  int64_t capacity_ = 0, batch_ = -1;
  Tensor labels_full_, labels_, dlogits_full_, dlogits_, loss_, scratch_full_, scratch_;
  std::vector<bool> grad_written_;
  std::vector<bool> grad_via_scratch_;
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
  // totals_'s non-finite step, which stops the optimizer and the batch-norm statistics (>= 0)
  Tensor halt() const { return totals_.view(ops::LossTotals::nonfinite_index(), {1}); }
  // The captured training step and what it was captured for: the step reads and writes these
  // addresses and sizes, so any change means capturing again.
  struct CaptureKey {
    int64_t batch = -1;
    const void *x = nullptr, *y = nullptr, *order = nullptr;
    uint64_t config = 0;
    unsigned long long workspace = 0;
    bool tf32 = false;
    bool operator==(const CaptureKey& o) const {
      return batch == o.batch && x == o.x && y == o.y && order == o.order && config == o.config &&
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
