// Argument checks shared by every op's contract. Each throws ValueError/TypeError with a
// message naming the op, the argument, what was expected and what was given.
#pragma once
#include <string>

#include "core/tensor.h"

namespace convnet {

// dtype must be `want` (TypeError otherwise).
void check_dtype(const std::string& op, const std::string& arg, const Tensor& t, DType want);
// Rank must be `rank`; `layout` names the axes, e.g. "(N, C, H, W)".
void check_rank(const std::string& op, const std::string& arg, const Tensor& t, int64_t rank,
                const std::string& layout);
// At least one element.
void check_nonempty(const std::string& op, const std::string& arg, const Tensor& t);
// A float32 tensor of the given rank with at least one element: the usual op input.
void check_float_input(const std::string& op, const std::string& arg, const Tensor& t, int64_t rank,
                       const std::string& layout);
void check_same_shape(const std::string& op, const std::string& arg, const Tensor& t,
                      const std::string& other_arg, const Tensor& other);
void check_shape(const std::string& op, const std::string& arg, const Tensor& t, const Shape& want);
// All tensors on the same device as `ref`.
// A per-step value passed in memory (a seed, a batch offset, optimizer constants): `numel`
// elements of `dtype` on the device of `like`. Kernels read such values where they run, so a
// captured CUDA graph sees new values at each replay.
void check_step_value(const std::string& op, const std::string& arg, const Tensor& t, DType dtype, int64_t numel,
                      const Tensor& like);
void check_same_device(const std::string& op, const std::string& arg, const Tensor& t,
                       const std::string& ref_arg, const Tensor& ref);
// An output buffer given by the caller: defined, float32, exactly `want`, on ref's device.
void check_output(const std::string& op, const std::string& arg, const Tensor& t, const Shape& want,
                  const Tensor& ref, DType dtype = DType::Float32);

}  // namespace convnet
