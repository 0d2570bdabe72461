"""Data-parallel training over MPI (convnet.distributed): mpirun -n 2 of tests/distributed/train_ranks.py
against the same training in this process with the global batch."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import convnet
from convnet import _core, layers as L

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "distributed", "train_ranks.py")
MPIRUN = shutil.which("mpirun")
pytestmark = [
    pytest.mark.skipif(not _core.distributed.available(), reason="convnet built without MPI"),
    pytest.mark.skipif(MPIRUN is None, reason="no mpirun"),
    # mpirun's own processes would run under the sanitizer's preload too
    pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""), reason="MPI launcher under the ASan preload"),
]


def mpirun(out, *args, ranks=2, timeout=120):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    return subprocess.run([MPIRUN, "-n", str(ranks), "--oversubscribe", sys.executable, SCRIPT, str(out), *args],
                          env=env, capture_output=True, text=True, timeout=timeout)


def single_process(batch_size):
    """The script's training in one process, with the global batch."""
    rng = np.random.default_rng(0)
    x = rng.random((48, 1, 8, 8), dtype=np.float32)
    y = rng.integers(0, 3, 48)
    convnet.set_random_seed(7)
    model = convnet.Sequential([L.Input((1, 8, 8)), L.Conv2D(4, 3, activation="relu"), L.Flatten(),
                                L.Dense(3, activation="softmax")])
    model.compile(optimizer=convnet.optimizers.SGD(0.1), metrics=["accuracy"], device="cpu")
    history = model.fit(x, y, batch_size=batch_size, epochs=2, verbose=0, seed=3, validation_data=(x[:20], y[:20]))
    return model, history, x, y


def weights_of(npz):
    return [npz[k] for k in sorted((k for k in npz.files if k.startswith("arr_")), key=lambda k: int(k[4:]))]


def test_two_ranks_train_as_one_process_with_the_global_batch(tmp_path):
    run = mpirun(tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in (0, 1)]
    for a, b in zip(weights_of(ranks[0]), weights_of(ranks[1])):
        assert np.array_equal(a, b)  # bit-identical across the ranks
    model, history, x, y = single_process(batch_size=8)  # 2 ranks x 4
    for got, want in zip(weights_of(ranks[0]), model.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for key in ("loss", "accuracy", "val_loss"):  # the global values, on every rank
        np.testing.assert_allclose(ranks[1][f"history_{key}" if key != "val_loss" else key], history.history[key],
                                   rtol=1e-5)
    loss, accuracy = model.evaluate(x, y)
    assert ranks[1]["loss"] == pytest.approx(loss, rel=1e-5) and ranks[1]["accuracy"] == accuracy
    np.testing.assert_allclose(ranks[1]["probs"], model.predict(x[:13]), rtol=1e-5, atol=1e-6)
    assert ranks[0]["allreduce_seconds"] > 0
    assert (tmp_path / "log0.csv").exists() and not (tmp_path / "log1.csv").exists()  # rank 0 alone writes
    assert len((tmp_path / "log0.csv").read_text().splitlines()) == 3


def test_batch_norm_statistics_stay_the_same_on_every_rank(tmp_path):
    run = mpirun(tmp_path, "batch_norm")
    assert run.returncode == 0, run.stderr[-3000:]
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in (0, 1)]
    for a, b in zip(weights_of(ranks[0]), weights_of(ranks[1])):
        assert np.array_equal(a, b)
    np.testing.assert_array_equal(ranks[0]["probs"], ranks[1]["probs"])


def test_a_rank_that_raises_ends_the_job_naming_it(tmp_path):
    run = mpirun(tmp_path, "raise", timeout=60)
    assert run.returncode != 0
    assert "convnet.distributed: rank 1 of 2 failed" in run.stderr
    assert "rank 1 fails on purpose" in run.stderr


def test_without_init_one_process_trains_as_before():
    assert convnet.distributed.size() == 1 and convnet.distributed.rank() == 0 and convnet.distributed.is_main()
    assert not convnet.distributed.active()
    with pytest.raises(ValueError, match=r"call convnet.distributed.init\(\) first"):
        convnet.distributed.barrier()
