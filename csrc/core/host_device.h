// CONVNET_HOST_DEVICE marks small inline functions shared by a CPU kernel (.cpp) and its CUDA twin
// (.cu), so both compute the same float operations in the same order.
#pragma once

#ifdef __CUDACC__
#define CONVNET_HOST_DEVICE __host__ __device__
#else
#define CONVNET_HOST_DEVICE
#endif
