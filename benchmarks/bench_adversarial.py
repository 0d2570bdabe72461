"""What adversarial training (Madry et al. 2018) buys and costs: seed_cnn trained on Fashion-MNIST
normally, with FGSM adversarial training and with PGD adversarial training (the same initial weights,
seed and batches), then its clean test accuracy, its accuracy under FGSM and PGD attacks at each
epsilon, and the training seconds per epoch (the median epoch).

    python benchmarks/bench_adversarial.py --epochs 3 --record
    python benchmarks/bench_adversarial.py --limit 6000 --epochs 2          # a quick look

The attacks of the table: FGSM, and PGD with --attack-steps steps of 2.5 * epsilon / steps from a
random start (seed 0), on the first --test-limit test images. Training: FGSM at --epsilon, and PGD at
--epsilon with --pgd-steps steps (default alpha 2.5 * epsilon / steps, random start).
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convnet  # noqa: E402
from common import record  # noqa: E402
from convnet import attacks  # noqa: E402
from convnet.datasets import fashion_mnist  # noqa: E402


class EpochTimes(convnet.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def run(name, adversarial, args, train, test):
    convnet.set_random_seed(args.seed)  # the same initial weights and batches for every run
    model = convnet.zoo.seed_cnn()
    model.compile(metrics=["accuracy"], device=args.device)
    timer = EpochTimes()
    history = model.fit(*train, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose, seed=args.seed,
                        callbacks=[timer], adversarial=adversarial)
    x, y = test
    result = {"adversarial": adversarial, "epoch_times_s": timer.times, "epoch_s": statistics.median(timer.times),
              "train_loss": history.history["loss"], "train_accuracy": history.history["accuracy"],
              "clean_accuracy": model.evaluate(x, y)[1]}
    for eps in args.epsilons:
        result[f"fgsm_{eps:g}"] = attacks.robustness(model, x, y, [eps])[eps]
        result[f"pgd_{eps:g}"] = attacks.robustness(model, x, y, [eps], method="pgd", steps=args.attack_steps,
                                                    seed=0)[eps]
    print(f"{name:10}" + "".join(f"{result[k]:>10.4f}" for k in columns(args)) + f"{result['epoch_s']:>10.2f}",
          flush=True)
    return result


def columns(args):
    return ["clean_accuracy"] + [f"{m}_{e:g}" for e in args.epsilons for m in ("fgsm", "pgd")]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--limit", type=int, default=None, help="train on the first N training images")
    p.add_argument("--test-limit", type=int, default=2000, help="attack the first N test images")
    p.add_argument("--epsilon", type=float, default=0.1, help="adversarial training's epsilon")
    p.add_argument("--pgd-steps", type=int, default=5, help="PGD adversarial training's steps")
    p.add_argument("--attack-steps", type=int, default=10, help="the PGD attack's steps")
    p.add_argument("--epsilons", type=float, nargs="+", default=[0.05, 0.1], help="the attacks' epsilons")
    p.add_argument("--runs", default="normal,fgsm,pgd", help="comma-separated: normal, fgsm, pgd")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", type=int, default=0)
    p.add_argument("--note", default="", help="recorded beside the machine description (e.g. the load)")
    p.add_argument("--record", action="store_true", help="write benchmarks/results/adversarial_<device>_<date>.json")
    args = p.parse_args()
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    train = (x_train[:args.limit], y_train[:args.limit])
    test = (x_test[:args.test_limit], y_test[:args.test_limit])
    print(f"seed_cnn, Adam, batch {args.batch_size}, {args.epochs} epoch(s) on {len(train[0])} training images, "
          f"attacks on {len(test[0])} test images, device {args.device}, {os.cpu_count()} CPUs, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"{'training':10}" + "".join(f"{c.replace('_accuracy', ''):>10}" for c in columns(args)) + f"{'epoch s':>10}")
    runs = {"normal": None, "fgsm": dict(epsilon=args.epsilon, method="fgsm"),
            "pgd": dict(epsilon=args.epsilon, method="pgd", steps=args.pgd_steps)}
    results = {name: run(name, runs[name], args, train, test) for name in args.runs.split(",")}
    if args.record:
        payload = {"benchmark": "bench_adversarial", "args": vars(args), "command": " ".join(sys.argv),
                   "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), **results}
        date = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                           f"adversarial_{args.device.replace(':', '')}_{date}.json")
        record("adversarial", payload, out)


if __name__ == "__main__":
    main()
