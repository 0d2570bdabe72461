// Division by a number fixed before a kernel starts (a kernel size, a plane's width), as a
// multiply-high, an add and a shift: a GPU has no integer divide instruction, and its division
// routine costs about 20 instructions in 32 bits and 70 in 64, which dominated the index
// arithmetic of the convolution GEMMs' inner loops. The method of Granlund and Montgomery,
// "Division by invariant integers using multiplication" (1994), as PyTorch's IntDivider uses it:
//   shift = ceil(log2(d)),  magic = floor(2^32 * (2^shift - d) / d) + 1   (fits in 32 bits)
//   n / d = (umulhi(n, magic) + n) >> shift          exact for 0 <= n < 2^31 and 1 <= d < 2^31
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

#include "core/host_device.h"

namespace convnet {

// Whether n is a valid dividend or divisor of IntDivider: 0 <= n < 2^31.
inline bool fits_int32(int64_t n) { return n >= 0 && n < (int64_t(1) << 31); }

struct IntDivider {
  uint32_t divisor = 1, magic = 1, shift = 0;

  IntDivider() = default;
  // d in [1, 2^31): the ops' contracts (non-empty tensors) and their fits_int32 checks see to it; a
  // divisor outside is a bug, raised here rather than divided by on the host.
  explicit IntDivider(int64_t d) : divisor(static_cast<uint32_t>(d)) {
    if (d < 1 || !fits_int32(d))
      throw std::logic_error("IntDivider: divisor " + std::to_string(d) + " outside [1, 2^31)");
    while ((uint64_t(1) << shift) < divisor) ++shift;
    magic = static_cast<uint32_t>(((uint64_t(1) << 32) * ((uint64_t(1) << shift) - divisor)) / divisor + 1);
  }

  CONVNET_HOST_DEVICE uint32_t div(uint32_t n) const {
#ifdef __CUDA_ARCH__
    const uint32_t high = __umulhi(n, magic);
#else
    const uint32_t high = static_cast<uint32_t>((uint64_t(n) * magic) >> 32);
#endif
    return (high + n) >> shift;
  }
  // quotient and remainder of n
  CONVNET_HOST_DEVICE void divmod(uint32_t n, uint32_t& quotient, uint32_t& remainder) const {
    quotient = div(n);
    remainder = n - quotient * divisor;
  }
};

// The flat offset of the j-th value (0 <= j < N * plane < 2^31) of channel c of an (N, C, plane)
// tensor, j running over the batch's planes of that channel: what a per-channel reduction (batch
// norm's statistics, a bias gradient) walks through.
struct ChannelValues {
  IntDivider plane;
  int64_t channels;
  ChannelValues(int64_t plane_size, int64_t channels) : plane(plane_size), channels(channels) {}
  CONVNET_HOST_DEVICE int64_t offset(int64_t c, int64_t j) const {
    uint32_t n, q;
    plane.divmod(static_cast<uint32_t>(j), n, q);
    return (int64_t(n) * channels + c) * plane.divisor + q;
  }
};

}  // namespace convnet
