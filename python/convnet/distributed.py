"""Data-parallel training on MPI: the same script on every rank, one added line.

    import convnet
    convnet.distributed.init()          # mpirun -n 4 python train.py   (or srun, or convnet train --distributed)
    model.fit(x, y, batch_size=32)      # 32 per rank: a global batch of 32 * size()

After init(), fit gives each rank its share of every epoch's shuffled order (the same permutation on
every rank, from the shared seed; padded by repeating its first rows to a multiple of the ranks, as
PyTorch's DistributedSampler), and each training step averages the loss and the parameter gradients
over the ranks in C++ (one MPI_Allreduce of the flat gradient buffer), so every rank applies the same
update and the weights stay identical. The loss and metrics shown and returned are the global ones;
batch-norm running statistics are averaged over the ranks after each call into C++ (per-rank batch
statistics in the step itself). evaluate and predict split the data over the ranks and combine the
results on every rank. Only rank 0 shows a progress bar and runs the callbacks that write files
(ModelCheckpoint, CSVLogger). A rank that raises an uncaught exception prints it with its rank and
ends the whole job (MPI_Abort), so the others do not wait forever in the next all-reduce.
"""
import atexit
import sys
import traceback

from . import _core

__all__ = ["init", "is_initialized", "rank", "size", "is_main", "barrier", "available"]

_mpi = _core.distributed


def available():
    """Whether convnet was built with MPI (CMake found an MPI library; CONVNET_MPI)."""
    return _mpi.available()


def init():
    """Joins the MPI job (MPI_Init_thread; idempotent). Without MPI in the build: a RuntimeError that says
    how to install it. Installs the hook that ends the job when this rank raises, and MPI_Finalize at exit."""
    if _mpi.initialized():
        return
    _mpi.init()
    atexit.register(_mpi.finalize)
    previous = sys.excepthook

    def abort_job(kind, value, tb):
        sys.stderr.write(f"convnet.distributed: rank {rank()} of {size()} failed:\n"
                         + "".join(traceback.format_exception(kind, value, tb)))
        sys.stderr.flush()
        if kind is KeyboardInterrupt:
            previous(kind, value, tb)
        _mpi.abort(1)

    sys.excepthook = abort_job


def is_initialized():
    return _mpi.initialized()


def rank():
    """This process's rank, 0 .. size() - 1 (0 without init())."""
    return _mpi.rank()


def size():
    """The number of ranks (1 without init())."""
    return _mpi.size()


def is_main():
    """Whether this is rank 0, the one that prints and writes files."""
    return rank() == 0


def barrier():
    """Waits until every rank has called barrier()."""
    _mpi.barrier()


def active():
    """Whether fit, evaluate and predict run data-parallel: init() was called and there are several ranks."""
    return _mpi.initialized() and _mpi.size() > 1


def sum_values(values):
    """The sum over the ranks of a list of numbers (every rank passes as many)."""
    return _mpi.allreduce_values([float(v) for v in values])


def average_(tensor):
    """In place: the mean over the ranks of a float32 Tensor."""
    _mpi.allreduce_sum(tensor, 1.0 / size())


def gather_rows(array):
    """Every rank's rows of a float32 numpy array (n_r, ...), concatenated in rank order, on every rank."""
    import numpy as np

    return _mpi.allgather_rows(_core.from_numpy(np.ascontiguousarray(array, np.float32))).numpy()


def shard(n):
    """The slice of n rows this rank handles in evaluate and predict (numpy's array_split of range(n))."""
    per, extra = divmod(n, size())
    start = rank() * per + min(rank(), extra)
    return slice(start, start + per + (rank() < extra))
