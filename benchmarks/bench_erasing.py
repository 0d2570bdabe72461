"""What random erasing (Zhong et al. 2017) buys: zoo resnet_small (with its own flip and translation)
trained on Fashion-MNIST with the same recipe and seed, once as it is and once behind a RandomErasing
layer, then each one's test accuracy and training time.

    python benchmarks/bench_erasing.py --epochs 15                      # the recorded run
    python benchmarks/bench_erasing.py --epochs 1 --limit 1000 --out /tmp/erasing.json   # a smoke run

Both models are Sequential([Input, (RandomErasing,) resnet_small]) built from the same seed, so they
start from the same weights and see the same batches (the flips and shifts differ: each node draws
from its own position in the graph). Erasing works on the [0, 1] values the model sees, filled with
random values (value_range (0, 1)), with probability --factor (the paper's p = 0.5) and Keras'
default scale (0.02, 0.33). Writes benchmarks/results/erasing_<device>_<date>.json (or --out).
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convnet  # noqa: E402
from common import record  # noqa: E402
from convnet import layers as L  # noqa: E402
from convnet.datasets import fashion_mnist  # noqa: E402


def cpu_model():
    """The 'model name' line of /proc/cpuinfo (None where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), None)
    except OSError:
        return None


def run(erasing, args, train, test):
    convnet.set_random_seed(args.seed)  # the same initial weights for both runs
    base = convnet.zoo.resnet_small()
    front = [L.RandomErasing(args.factor, value_range=(0, 1))] if erasing else []
    model = convnet.Sequential([L.Input(base.input_shape), *front, base], name="erasing" if erasing else "plain")
    model.compile(metrics=["accuracy"], device=args.device)
    start = time.perf_counter()
    history = model.fit(*train, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose, seed=args.seed)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    loss, accuracy = model.evaluate(*test, verbose=0)
    result = {"test_accuracy": accuracy, "test_loss": loss, "train_s": train_s,
              "epoch_s": train_s / args.epochs, "evaluate_s": time.perf_counter() - start,
              "train_loss": history.history["loss"], "train_accuracy": history.history["accuracy"]}
    print(f"{model.name:8}{accuracy:>10.4f}{loss:>10.4f}{train_s:>10.1f}", flush=True)
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--limit", type=int, default=None, help="train on the first N training images")
    p.add_argument("--factor", type=float, default=0.5, help="RandomErasing's probability of erasing an image")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", type=int, default=0)
    p.add_argument("--out", default=None, help="the JSON's path (default benchmarks/results/erasing_<device>_<date>.json)")
    args = p.parse_args()
    (x_train, y_train), test = fashion_mnist.load_data()
    train = (x_train[:args.limit], y_train[:args.limit])
    print(f"resnet_small, Adam, batch {args.batch_size}, {args.epochs} epoch(s) on {len(train[0])} training images, "
          f"{len(test[0])} test images, device {args.device}, {os.cpu_count()} CPUs, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"{'model':8}{'accuracy':>10}{'loss':>10}{'train s':>10}")
    results = {"plain": run(False, args, train, test), "erasing": run(True, args, train, test)}
    payload = {"benchmark": "bench_erasing", "args": vars(args), "command": " ".join([sys.executable] + sys.argv),
               "cpu_model": cpu_model(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), **results}
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                   f"erasing_{args.device.replace(':', '')}_{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.json")
    record("erasing", payload, out)


if __name__ == "__main__":
    main()
