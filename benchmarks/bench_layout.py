"""What a channels-last model costs against the same model channels-first: zoo models built both
ways (zoo.get(name, data_format=...)), trained in alternating passes over the same images in one
run (the machine's noise hits both), median seconds per pass and the ratio last/first. A
channels-last model runs NCHW inside, with layout nodes at its edges (its input and Flatten).

    python benchmarks/bench_layout.py --model seed_cnn --batch-size 32 --limit 9600 --repeats 5 --record
"""
import argparse
import statistics
import time

import numpy as np

import convnet
from common import record


def passes(model, x, y, batch_size, repeats):
    model.fit(x[:batch_size * 4], y[:batch_size * 4], batch_size=batch_size, epochs=1, verbose=0)  # warm-up
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
        yield time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="seed_cnn", choices=convnet.zoo.NAMES)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--limit", type=int, default=9600, help="training images per pass")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--record", action="store_true", help="write the result to benchmarks/results/")
    args = p.parse_args()
    (x, y), _ = convnet.datasets.fashion_mnist.load_data()
    x, y = x[:args.limit], y[:args.limit]
    data = {"channels_first": x[:, None], "channels_last": x[..., None]}
    models = {}
    for data_format in data:
        convnet.set_random_seed(0)
        models[data_format] = convnet.zoo.get(args.model, data_format=data_format)
        models[data_format].compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"], device="cpu")
    runs = {k: passes(m, data[k], y, args.batch_size, args.repeats) for k, m in models.items()}
    times = {k: [] for k in models}
    for _ in range(args.repeats):  # alternate: first, last, first, last, ...
        for k in models:
            times[k].append(next(runs[k]))
    medians = {k: statistics.median(v) for k, v in times.items()}
    ratio = medians["channels_last"] / medians["channels_first"]
    print(f"{args.model} batch {args.batch_size}, {args.limit} images per pass, {args.repeats} passes each: "
          f"channels_first {medians['channels_first']:.3f} s, channels_last {medians['channels_last']:.3f} s, "
          f"ratio {ratio:.3f}")
    if args.record:
        record(f"layout_{args.model}", {"args": vars(args), "seconds": times, "median_s": medians,
                                        "ratio_last_over_first": ratio,
                                        "command": "python benchmarks/bench_layout.py " + " ".join(
                                            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
                                            if k != "record") + " --record"})


if __name__ == "__main__":
    main()
