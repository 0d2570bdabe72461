"""Data-parallel training on this machine: images per second of 1 rank with 2 threads against 2 ranks of
1 thread each (mpirun), the same global batch, and the time of the gradient all-reduce per step.

    python benchmarks/bench_distributed.py --model seed_cnn --batch-size 64 --limit 6400

The parent runs both configurations as child processes (this file with --worker) and records
benchmarks/results/distributed-<date>.json. One host only: across hosts the all-reduce moves the
gradient buffer over the network (see the README's model of it).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def worker(args):
    import numpy as np

    import convnet
    from convnet.datasets import fashion_mnist

    if args.ranks > 1:
        convnet.distributed.init()
    ranks = convnet.distributed.size()
    (x, y), _ = fashion_mnist.load_data()
    x, y = x[:args.limit], y[:args.limit]
    convnet.set_random_seed(0)
    model = convnet.zoo.get(args.model)
    model.compile(device="cpu")
    per_rank = args.batch_size // ranks  # the same global batch
    model.fit(x[:per_rank * ranks * 4], y[:per_rank * ranks * 4], batch_size=per_rank, epochs=1, verbose=0)  # warm-up
    before = model._graph.allreduce_seconds
    start = time.perf_counter()
    model.fit(x, y, batch_size=per_rank, epochs=args.epochs, verbose=0)
    elapsed = time.perf_counter() - start
    steps = args.epochs * int(np.ceil(np.ceil(len(x) / ranks) / per_rank))
    result = {"ranks": ranks, "threads": convnet.get_num_threads(), "images_per_s": args.epochs * len(x) / elapsed,
              "seconds": elapsed, "steps": steps, "allreduce_ms_per_step": 1e3 * (model._graph.allreduce_seconds - before)
              / steps, "params": int(sum(w.size for w in model.get_weights()))}
    if convnet.distributed.is_main():
        print(json.dumps(result))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="seed_cnn")
    p.add_argument("--batch-size", type=int, default=64, help="the global batch")
    p.add_argument("--limit", type=int, default=6400)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--worker", action="store_true")
    p.add_argument("--ranks", type=int, default=1)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    common = [__file__, "--worker", "--model", args.model, "--batch-size", str(args.batch_size), "--limit",
              str(args.limit), "--epochs", str(args.epochs)]
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    single = subprocess.run([sys.executable, *common], env=dict(env, OMP_NUM_THREADS="2"), capture_output=True,
                            text=True, check=True)
    mpirun = shutil.which("mpirun")
    double = subprocess.run([mpirun, "-n", "2", "--oversubscribe", "--bind-to", "none", sys.executable, *common,
                             "--ranks", "2"], env=dict(env, OMP_NUM_THREADS="1"), capture_output=True, text=True,
                            check=True)
    results = {"one_rank_two_threads": json.loads(single.stdout.strip().splitlines()[-1]),
               "two_ranks_one_thread": json.loads(double.stdout.strip().splitlines()[-1])}
    ratio = results["two_ranks_one_thread"]["images_per_s"] / results["one_rank_two_threads"]["images_per_s"]
    for name, r in results.items():
        print(f"{name:24}{r['images_per_s']:>10.0f} img/s  all-reduce {r['allreduce_ms_per_step']:.3f} ms/step")
    print(f"2 ranks / 1 rank throughput: {ratio:.3f}")
    from common import record
    record("distributed", {"benchmark": "bench_distributed", "args": vars(args), "command": " ".join(sys.argv),
                           "throughput_ratio": ratio, **results}, args.out)


if __name__ == "__main__":
    main()
