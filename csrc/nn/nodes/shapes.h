// Small helpers the node kinds share: per-sample shapes in and out of the ops' contracts (which
// take batched tensors), and the check of a node's number of inputs.
#pragma once
#include <string>
#include <vector>

#include "core/checks.h"
#include "core/errors.h"
#include "core/tensor.h"
#include "nn/node.h"

namespace convnet {
namespace nn {

inline Shape with_batch(int64_t n, const Shape& shape) {
  Shape s{n};
  s.insert(s.end(), shape.begin(), shape.end());
  return s;
}
// A float32 tensor with a shape and no memory, to ask an op's contract (which reads shapes, never
// data) for an output shape without allocating what a layer's shapes would take.
inline Tensor shape_only(const Shape& shape) {
  return Tensor::from_blob(nullptr, shape, DType::Float32, Device::cpu(), nullptr);
}
// A batch of one sample of `shape`, likewise.
inline Tensor one_sample(const Shape& shape) { return shape_only(with_batch(1, shape)); }
inline Shape drop_batch(const Shape& batched) { return Shape(batched.begin() + 1, batched.end()); }

inline void expect_inputs(const char* layer, const std::vector<Shape>& inputs, size_t n) {
  CONVNET_CHECK_VALUE(inputs.size() == n, layer, "inputs", std::to_string(n) + " input" + (n == 1 ? "" : "s"),
                      std::to_string(inputs.size()));
}
inline void expect_image(const char* layer, const Shape& input) {
  CONVNET_CHECK_VALUE(input.size() == 3, layer, "input", "a (C, H, W) input", shape_str(input));
}

// The keys "axis" and "channels_last" of a layer that works along the channel axis (Concatenate,
// BatchNormalization): the graph keeps images as (C, H, W), so the only axis it supports is the
// channel axis as the layer's data_format names it (1 or -3 channels-first, 3 or -1 channels-last)
// or, for (features,) inputs, the feature axis (1 or -1). Without "axis": the channel axis.
struct ChannelAxis {
  bool channels_last = false;
  int64_t axis = 1;
  explicit ChannelAxis(ParamReader& r)
      : channels_last(r.boolean("channels_last", false)), axis(r.integer("axis", channels_last ? -1 : 1)) {}
  void check(const char* layer, const Shape& input) const {
    const bool image = input.size() == 3;
    const bool ok = !image ? axis == 1 || axis == -1 : channels_last ? axis == 3 || axis == -1 : axis == 1 || axis == -3;
    CONVNET_CHECK_VALUE(ok, layer, "axis",
                        !image ? std::string("1 or -1 (the feature axis of a (features,) input)")
                               : channels_last ? std::string("3 or -1 (the channel axis of channels_last (H, W, C) inputs)")
                                               : std::string("1 or -3 (the channel axis of channels_first (C, H, W) inputs)"),
                        std::to_string(axis));
  }
};

// A random layer's "seed": absent (-1, the model's seed) or an int >= 0.
inline int64_t read_seed(ParamReader& r) {
  const int64_t seed = r.integer("seed", -1);
  CONVNET_CHECK_VALUE(seed >= -1, "layer", "seed", "None or an int >= 0", std::to_string(seed));
  return seed;
}

}  // namespace nn
}  // namespace convnet
