// The one place that picks a kernel from the tensor's device. Every op family declares its
// kernels twice with identical signatures, in namespace cpu_kernels (NAME.cpp) and
// cuda_kernels (NAME.cu); the op's dispatching function calls
//   CONVNET_DISPATCH(x, add_forward, y, a, b);
// No global mode: the device of the tensor decides, down to which GPU runs the kernel.
#pragma once

#ifdef CONVNET_WITH_CUDA
#define CONVNET_DISPATCH(tensor, fn, ...)                                                   \
  ((tensor).is_cuda()                                                                     \
       ? (::convnet::cuda::use_device((tensor).device().index), ::convnet::cuda_kernels::fn(__VA_ARGS__)) \
       : ::convnet::cpu_kernels::fn(__VA_ARGS__))
#else
#define CONVNET_DISPATCH(tensor, fn, ...) ::convnet::cpu_kernels::fn(__VA_ARGS__)
#endif
