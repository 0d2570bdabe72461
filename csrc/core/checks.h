// Argument checks shared by every op's contract. Each throws ValueError/TypeError with a
// message naming the op, the argument, what was expected and what was given.
#pragma once
#include <string>

#include "core/tensor.h"

namespace convnet {

// Checked size arithmetic: every element count and byte size in the core (tensors, ops' output
// shapes, node kinds, file loaders) is computed by these, so no product of sizes wraps around.
// `op` names the caller and `what` the quantity in the ValueError, e.g. "conv2d", "output shape".
int64_t checked_mul(int64_t a, int64_t b, const std::string& op, const std::string& what);
int64_t checked_add(int64_t a, int64_t b, const std::string& op, const std::string& what);
// The product of the sizes of `shape`: each >= 0, the product and its bytes at `elem_size` bytes
// per element within int64 (ValueError naming op, what and the shape otherwise).
int64_t checked_numel(const std::string& op, const std::string& what, const Shape& shape, size_t elem_size = 1);
// checked_numel * dtype_size(dtype), in bytes.
int64_t checked_nbytes(const std::string& op, const std::string& what, const Shape& shape, DType dtype);
// An op's output shape, checked to fit in memory as float32 (or `dtype`): ValueError naming op,
// the shape and `from` (the arguments it came from) otherwise. Returns the shape.
const Shape& checked_output_shape(const std::string& op, const Shape& shape, const std::string& from,
                                  DType dtype = DType::Float32);
// A Python-sized integer narrowed to int (32 bits) for the kernels' parameters.
int checked_int(int64_t v, const std::string& op, const std::string& arg);

// Memory that is written by an op (in-place updates, outputs) must be writable: a tensor viewing a
// read-only numpy array or memory map is a ValueError ("... is read-only").
void check_writable(const std::string& op, const std::string& arg, const Tensor& t);

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
// An output buffer given by the caller: defined, float32, exactly `want`, on ref's device, writable.
void check_output(const std::string& op, const std::string& arg, const Tensor& t, const Shape& want,
                  const Tensor& ref, DType dtype = DType::Float32);

}  // namespace convnet
