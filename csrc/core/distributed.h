// Data-parallel training across processes: the MPI calls the trainer makes (Open MPI, MPICH, any
// MPI-3 library; CMake's CONVNET_MPI). One process per rank, launched by mpirun or srun; the world
// communicator only. Without MPI at build time every call but available() throws a DeviceError that
// says how to build with it.
//
// Errors: MPI_ERRORS_RETURN on the world communicator, so a failed call is a DeviceError naming it
// (not an abort inside MPI); abort() ends the whole job (every rank), which is how a rank that raises
// stops the others instead of leaving them waiting in a collective.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace convnet {
namespace distributed {

bool available();     // convnet was built with MPI
void init();          // MPI_Init_thread (funneled) unless MPI is initialised already; idempotent
bool initialized();   // init() has run (and finalize() has not)
int rank();           // 0 .. size() - 1 (0 before init)
int size();           // the number of ranks (1 before init)
void barrier();
// In place, the sum over the ranks of a float32 or int64 tensor (every rank passes one of the same
// shape and dtype). A CUDA tensor goes through a host copy (the MPI library is not assumed to be
// CUDA-aware).
// scale multiplies the float32 result (1 / size() gives the mean).
void allreduce_sum(Tensor& t, float scale = 1.0f);
// The same for a few host numbers in double precision (loss sums and counts of a run).
void allreduce_sum(std::vector<double>& values);
// The concatenation over the ranks of each rank's rows (a float32 CPU tensor (n_r, ...), the same
// trailing shape everywhere), in rank order, on every rank.
Tensor allgather_rows(const Tensor& t);
[[noreturn]] void abort(int code);
void finalize();

}  // namespace distributed
}  // namespace convnet
