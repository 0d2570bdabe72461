// The interface of a node kind: what one kind of graph node (a convolution, a pooling, a dense
// layer, batch norm, ...) tells the executor (nn/graph.h) and what it gets from it. Each kind is
// one unit under nn/nodes/, registered once in nn/nodes/registry.cpp; the executor steps through
// the nodes by calling this interface and never looks at a kind's name.
//
// A kind's life: made from its NodeSpec by the table's factory, which parses and validates its
// parameters (ParamReader: an unknown or ill-typed key is an error naming the layer and the key);
// build() checks the inputs' per-sample shapes, returns the output's and declares its parameters,
// buffers and work tensors (NodeDecl); forward() and backward() call the ops on the tensors a
// NodeRun hands out. Backward writes input gradients through NodeRun::input_grad (the executor sums
// them where an output feeds several nodes) and parameter gradients into NodeRun::param_grad.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/tensor.h"
#include "ops/activation.h"
#include "ops/batch.h"

namespace convnet {
namespace nn {

// A parameter value as a layer description holds it (the bindings drop None values).
using ParamValue = std::variant<bool, int64_t, double, std::string, std::vector<int64_t>, std::vector<double>>;
using NodeParams = std::map<std::string, ParamValue>;

// One node as described by the Python layer (or a C++ caller).
struct NodeSpec {
  std::string name;         // the layer's name, used in error messages
  std::string kind;         // a kind of the table in nodes/registry.cpp: conv2d, linear, pool2d, ...
  std::vector<int> inputs;  // indices of earlier nodes
  bool trainable = true;
  int shares = -1;          // >= 0: uses the parameters and buffers of that earlier node (a layer called again)
  NodeParams params;        // the kind's own keys
};

// Reads a node's parameters once, with the checks: a missing key gives the default, a value of
// the wrong type is a TypeError and finish() reports any key nobody read as a ValueError, each
// naming the layer, the key, what was expected and what came.
class ParamReader {
 public:
  ParamReader(const NodeSpec& spec);
  bool has(const std::string& key) const { return params_.count(key) > 0; }
  bool holds_text(const std::string& key) const;
  bool boolean(const std::string& key, bool fallback);
  int64_t integer(const std::string& key, int64_t fallback);
  double number(const std::string& key, double fallback);  // an int is accepted
  std::string text(const std::string& key, const std::string& fallback);
  // An int n (meaning (n, n)) or a pair of ints.
  std::pair<int, int> int_pair(const std::string& key, std::pair<int, int> fallback);
  std::pair<double, double> number_pair(const std::string& key, std::pair<double, double> fallback);
  std::vector<int64_t> ints(const std::string& key);  // required
  void finish() const;

 private:
  const ParamValue* find(const std::string& key);
  [[noreturn]] void wrong_type(const std::string& key, const std::string& expected) const;
  std::string where_;
  const NodeParams& params_;
  std::set<std::string> read_;
};

// The activation a node applies to its op's output z (Keras' `activation=`): y = act(z). Softmax
// is over the (classes,) axis.
struct FusedActivation {
  enum class Kind { None, Elementwise, Softmax } kind = Kind::None;
  ops::Activation elementwise = ops::Activation::ReLU;
  float alpha = 0.0f;  // leaky_relu slope, elu alpha
  bool none() const { return kind == Kind::None; }
  bool is(ops::Activation a) const { return kind == Kind::Elementwise && elementwise == a; }
  std::string name() const;  // "", "softmax", "relu", ...
};
// The keys "activation" ("" or absent: none) and "alpha".
FusedActivation read_activation(ParamReader& r);

// What a node kind declares at build time; the executor allocates it. Indices returned are the
// kind's handles for NodeRun.
struct NodeDecl {
  struct Entry {
    std::string name;
    Shape shape;
    DType dtype = DType::Float32;
    float initial = 0.0f;
  };
  std::vector<Entry> params;      // learned: windows of the flat parameter buffer
  std::vector<Entry> buffers;     // state kept across steps, not learned (batch-norm running statistics)
  std::vector<Entry> per_sample;  // work tensors of (N, ...shape) for the batch (max-pool argmax)
  std::vector<Entry> fixed;       // work tensors of a fixed shape (batch-norm saved statistics)
  int param(const std::string& name, const Shape& shape) { return add(params, {name, shape}); }
  int buffer(const std::string& name, const Shape& shape, float initial) {
    return add(buffers, {name, shape, DType::Float32, initial});
  }
  int sample_work(const Shape& shape, DType dtype) { return add(per_sample, {"", shape, dtype}); }
  int fixed_work(const Shape& shape) { return add(fixed, {"", shape}); }

 private:
  static int add(std::vector<Entry>& list, Entry e) {
    list.push_back(std::move(e));
    return static_cast<int>(list.size()) - 1;
  }
};

class Graph;

// A node's view of the executor while it runs: its inputs, output, gradients, parameters and
// work tensors for the current batch. Made by the executor for each call.
class NodeRun {
 public:
  NodeRun(Graph& graph, int node, bool training, bool trainable, bool learn)
      : training(training), trainable(trainable), learn(learn), g_(graph), node_(node) {}
  const bool training;   // a training step (dropout, augmentation and batch statistics active)
  const bool trainable;  // the layer is not frozen
  const bool learn;      // parameter gradients wanted (trainable, and on the path to the loss)

  int num_inputs() const;
  const Tensor& input(int k) const;  // the y of input k: (N, ...its shape)
  Tensor& output() const;            // z: (N, ...output shape), before the fused activation
  const Tensor& grad_output() const; // dL/dz (backward)
  Tensor param(int k) const;
  Tensor* param_grad(int k) const;   // nullptr when !learn; written (=)
  Tensor buffer(int k) const;
  Tensor& sample_work(int k) const;
  Tensor& fixed_work(int k) const;
  Tensor seed() const;  // this step's seed for the node, a (1,) int64 tensor on the device
  Tensor halt() const;  // the run's non-finite mark (ops::LossTotals), a (1,) int64 tensor
  // Calls write(dx) with where input k's gradient goes (written, =) when that input needs one;
  // the executor adds it to what other consumers of the input wrote.
  void input_grad(int k, const std::function<void(Tensor&)>& write) const;
  // The same, for ops that compute the input's and the parameters' gradients in one call: write is
  // always called, with nullptr when the input needs no gradient.
  void input_grad_or_null(int k, const std::function<void(Tensor*)>& write) const;

 private:
  Graph& g_;
  int node_;
};

// The interface each node kind implements.
class Node {
 public:
  virtual ~Node() = default;
  // Checks the inputs' per-sample shapes (without the batch axis), declares what the node needs
  // and returns its per-sample output shape.
  virtual Shape build(const std::vector<Shape>& inputs, NodeDecl& decl) = 0;
  virtual void forward(const NodeRun& run) = 0;
  virtual void backward(const NodeRun& run) = 0;
  // The output is input 0's y seen in the output's shape (flatten, activation): no copy forward.
  virtual bool aliases_input() const { return false; }
  virtual FusedActivation activation() const { return {}; }
  // A random node's own seed (>= 0), or -1 to draw from the model's seed (NodeRun::seed mixes in
  // the step and the node either way).
  virtual int64_t own_seed() const { return -1; }
  // The input node: the factor uint8 data is multiplied by as batches are gathered (ops::gather_batch).
  virtual float uint8_scale() const { return ops::kPixelScale; }
  // The node's parameter shapes depend only on its own description and its inputs' shapes, so a
  // second call of the same layer (NodeSpec::shares) must declare the same: the executor checks.
};

using NodeFactory = std::unique_ptr<Node> (*)(ParamReader& params);
// The node kinds' table (nodes/registry.cpp): the kind's name -> its factory; nullptr if unknown.
NodeFactory find_node_kind(const std::string& kind);
std::string node_kind_names();  // "add, batch_norm, ..." for error messages

}  // namespace nn
}  // namespace convnet
