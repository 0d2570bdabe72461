// Elementwise ops.
//   add:  y = a + b, for residual sums. Same shapes, no broadcasting.
//         Backward: da = dy, db = dy.
// Conventions of every op (see README, "Adding an op"):
//   NAME_output_shape(...)  the contract: checks every argument, returns the output shape
//   NAME_forward(outputs..., saved..., inputs..., params)  caller-owned outputs, dispatched by device
//   NAME_backward(grad_inputs..., grad_out, saved/inputs..., params)  a null grad pointer means
//                            "not needed"; gradients are written (=), never accumulated
//   NAME(inputs..., params)  convenience that allocates and returns the outputs
#pragma once
#include "core/tensor.h"

namespace convnet {
namespace ops {

Shape add_output_shape(const Tensor& a, const Tensor& b);
void add_forward(Tensor& y, const Tensor& a, const Tensor& b);
void add_backward(Tensor* da, Tensor* db, const Tensor& dy);
Tensor add(const Tensor& a, const Tensor& b);

}  // namespace ops

// Kernels: valid arguments assumed (the contract above checked them).
namespace cpu_kernels {
void add_forward(float* y, const float* a, const float* b, int64_t n);
}
namespace cuda_kernels {
void add_forward(float* y, const float* a, const float* b, int64_t n);
}

}  // namespace convnet
