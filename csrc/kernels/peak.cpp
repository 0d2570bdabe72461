// A 10-chain FMA loop per thread: the FP32 peak the GEMM micro-kernels are measured against.
#include "kernels/peak.h"

#include "kernels/gemm.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <omp.h>

#include <chrono>
#include <cstdint>
#include <cstring>

namespace convnet {
namespace cpu_kernels {
namespace {
constexpr int CHAINS = 10;

// rounds x CHAINS x lanes FMAs; returns a value that depends on every chain (kept from the optimiser).
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx512f"))) float chains_avx512(int64_t rounds) {
  __m512 c[CHAINS];
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < CHAINS; ++i) c[i] = _mm512_set1_ps(float(i));
  for (int64_t r = 0; r < rounds; ++r)
#pragma GCC unroll 10
    for (int i = 0; i < CHAINS; ++i) c[i] = _mm512_fmadd_ps(c[i], a, b);
  __m512 s = c[0];
  for (int i = 1; i < CHAINS; ++i) s = _mm512_add_ps(s, c[i]);
  return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) float chains_avx2(int64_t rounds) {
  __m256 c[CHAINS];
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < CHAINS; ++i) c[i] = _mm256_set1_ps(float(i));
  for (int64_t r = 0; r < rounds; ++r)
#pragma GCC unroll 10
    for (int i = 0; i < CHAINS; ++i) c[i] = _mm256_fmadd_ps(c[i], a, b);
  __m256 s = c[0];
  for (int i = 1; i < CHAINS; ++i) s = _mm256_add_ps(s, c[i]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, s);
  float total = 0;
  for (float v : lanes) total += v;
  return total;
}
#endif

float chains_scalar(int64_t rounds) {
  float c[CHAINS];
  for (int i = 0; i < CHAINS; ++i) c[i] = float(i);
  for (int64_t r = 0; r < rounds; ++r)
    for (int i = 0; i < CHAINS; ++i) c[i] = c[i] * 0.999999f + 1e-7f;
  float total = 0;
  for (float v : c) total += v;
  return total;
}

int lanes_of(const char* isa) {
  if (std::strcmp(isa, "avx512") == 0) return 16;
  if (std::strcmp(isa, "avx2") == 0) return 8;
  return 1;
}

float run_chains(const char* isa, int64_t rounds) {
#if defined(__x86_64__) || defined(__i386__)
  if (std::strcmp(isa, "avx512") == 0) return chains_avx512(rounds);
  if (std::strcmp(isa, "avx2") == 0) return chains_avx2(rounds);
#endif
  return chains_scalar(rounds);
}
}  // namespace

double measured_fma_peak_gflops(int threads, double seconds) {
  const char* isa = sgemm_isa();
  const int64_t rounds = 1 << 20;  // 10 M FMAs per thread and call: a few ms
  using clock = std::chrono::steady_clock;
  volatile float sink = 0;  // the chains' results, so that the loops are not optimised away
  int64_t thread_calls = 0;
  const auto t0 = clock::now();
  double elapsed = 0;
  while (elapsed < seconds) {
    float total = 0;
    int team = 1;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
      total += run_chains(isa, rounds);
#pragma omp single
      team = omp_get_num_threads();
    }
    sink = sink + total;
    thread_calls += team;
    elapsed = std::chrono::duration<double>(clock::now() - t0).count();
  }
  return 2.0 * CHAINS * lanes_of(isa) * double(rounds) * double(thread_calls) / elapsed * 1e-9;
}

}  // namespace cpu_kernels
}  // namespace convnet
