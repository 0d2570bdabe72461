// MPI behind core/distributed.h; stubs that explain themselves when convnet was built without MPI.
#include "core/distributed.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/errors.h"

#ifdef CONVNET_WITH_MPI
#include <mpi.h>
#endif

namespace convnet {
namespace distributed {

#ifdef CONVNET_WITH_MPI

static bool g_initialized = false;

// A DeviceError naming the MPI call and MPI's own words for the error.
static void check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw DeviceError(std::string("distributed: ") + call + " failed: " + std::string(text, length));
}

static void require_init(const char* what) {
  if (!g_initialized)
    throw ValueError(std::string("distributed.") + what + ": call convnet.distributed.init() first");
}

bool available() { return true; }

void init() {
  if (g_initialized) return;
  int already = 0;
  MPI_Initialized(&already);
  if (!already) {
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  }
  check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  g_initialized = true;
}

bool initialized() { return g_initialized; }

int rank() {
  if (!g_initialized) return 0;
  int r = 0;
  check(MPI_Comm_rank(MPI_COMM_WORLD, &r), "MPI_Comm_rank");
  return r;
}

int size() {
  if (!g_initialized) return 1;
  int n = 1;
  check(MPI_Comm_size(MPI_COMM_WORLD, &n), "MPI_Comm_size");
  return n;
}

void barrier() {
  require_init("barrier");
  check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

static MPI_Datatype mpi_type(DType dtype) {
  switch (dtype) {
    case DType::Float32: return MPI_FLOAT;
    case DType::Int64: return MPI_INT64_T;
    default: throw TypeError("distributed.allreduce_sum: argument 't' expected float32 or int64, got " +
                             std::string(dtype_name(dtype)));
  }
}

void allreduce_sum(Tensor& t, float scale) {
  require_init("allreduce_sum");
  if (t.numel() == 0) return;
  const MPI_Datatype type = mpi_type(t.dtype());
  Tensor host = t.is_cuda() ? t.to(Device::cpu()) : t;  // host staging: MPI need not be CUDA-aware
  // MPI counts are int: reduce in pieces of at most 2**30 elements.
  constexpr int64_t kPiece = int64_t{1} << 30;
  char* data = static_cast<char*>(host.raw_data());
  for (int64_t done = 0; done < host.numel(); done += kPiece) {
    const int count = static_cast<int>(std::min(kPiece, host.numel() - done));
    check(MPI_Allreduce(MPI_IN_PLACE, data + done * dtype_size(host.dtype()), count, type, MPI_SUM, MPI_COMM_WORLD),
          "MPI_Allreduce");
  }
  if (scale != 1.0f && host.dtype() == DType::Float32) {
    float* v = host.data<float>();
    for (int64_t i = 0; i < host.numel(); ++i) v[i] *= scale;
  }
  if (t.is_cuda()) t.copy_from(host);
}

void allreduce_sum(std::vector<double>& values) {
  require_init("allreduce_sum");
  if (values.empty() || size() == 1) return;
  check(MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE, MPI_SUM,
                      MPI_COMM_WORLD),
        "MPI_Allreduce");
}

Tensor allgather_rows(const Tensor& t) {
  require_init("allgather_rows");
  if (t.dtype() != DType::Float32 || t.is_cuda() || t.dim() < 1)
    throw TypeError("distributed.allgather_rows: argument 't' expected a float32 CPU tensor (n, ...)");
  const int ranks = size();
  const int64_t row = t.size(0) ? t.numel() / t.size(0) : shape_numel(Shape(t.shape().begin() + 1, t.shape().end()));
  std::vector<int64_t> rows(ranks);
  int64_t mine = t.size(0);
  check(MPI_Allgather(&mine, 1, MPI_INT64_T, rows.data(), 1, MPI_INT64_T, MPI_COMM_WORLD), "MPI_Allgather");
  std::vector<int> counts(ranks), displs(ranks);
  int64_t total = 0;
  for (int r = 0; r < ranks; ++r) {
    if ((total + rows[r]) * row > INT32_MAX)
      throw ValueError("distributed.allgather_rows: more than 2**31 - 1 elements in all; gather in parts");
    counts[r] = static_cast<int>(rows[r] * row);
    displs[r] = static_cast<int>(total * row);
    total += rows[r];
  }
  Shape shape = t.shape();
  shape[0] = total;
  Tensor out = Tensor::empty(shape, DType::Float32);
  check(MPI_Allgatherv(t.raw_data(), counts[rank()], MPI_FLOAT, out.raw_data(), counts.data(), displs.data(),
                       MPI_FLOAT, MPI_COMM_WORLD),
        "MPI_Allgatherv");
  return out;
}

void abort(int code) {
  if (g_initialized) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

void finalize() {
  if (!g_initialized) return;
  g_initialized = false;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

#else  // built without MPI

static const char* kNoMpi =
    "convnet was built without MPI: install an MPI library and rebuild (Debian: apt-get install libopenmpi-dev "
    "openmpi-bin, then pip install again; CMake option CONVNET_MPI=ON makes a missing MPI an error)";

bool available() { return false; }
void init() { throw DeviceError(std::string("distributed.init: ") + kNoMpi); }
bool initialized() { return false; }
int rank() { return 0; }
int size() { return 1; }
void barrier() { throw DeviceError(std::string("distributed.barrier: ") + kNoMpi); }
void allreduce_sum(Tensor&, float) { throw DeviceError(std::string("distributed.allreduce_sum: ") + kNoMpi); }
void allreduce_sum(std::vector<double>&) { throw DeviceError(std::string("distributed.allreduce_sum: ") + kNoMpi); }
Tensor allgather_rows(const Tensor&) { throw DeviceError(std::string("distributed.allgather_rows: ") + kNoMpi); }
void abort(int code) { std::_Exit(code); }
void finalize() {}

#endif

}  // namespace distributed
}  // namespace convnet
