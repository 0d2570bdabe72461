// Counter-based randomness shared by the CPU kernels and their CUDA twins: a value is a pure
// function of (seed, counter), so every device and every thread count draws the same numbers.
#pragma once
#include <cstdint>

#include "core/host_device.h"

namespace convnet {

// The splitmix64 finaliser: a bijective 64-bit mix whose output bits each depend on every input bit.
inline CONVNET_HOST_DEVICE uint64_t splitmix64_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

constexpr uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ull;  // splitmix64's counter increment

}  // namespace convnet
