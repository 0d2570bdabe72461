"""Trains the same model with convnet and with PyTorch on the same Fashion-MNIST data in one run,
and prints both epoch times, their ratio (convnet / PyTorch: below 1 means convnet is faster)
and both test accuracies.

    python benchmarks/bench_train.py --model seed_cnn --epochs 10 --batch-size 32
    python benchmarks/bench_train.py --model vgg_small --epochs 2 --batch-size 128 --record

PyTorch runs its fastest plain CPU loop: data already as float tensors in memory, randperm
batches, no DataLoader, torch.set_num_threads(N) with N the core count, the same optimizer
settings. Epoch time excludes evaluation.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convnet  # noqa: E402
from common import record  # noqa: E402
from convnet.datasets import fashion_mnist  # noqa: E402


def torch_model(name):
    nn = torch.nn
    if name == "seed_cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(32 * 13 * 13, 100), nn.ReLU(), nn.Linear(100, 10))
    if name == "lenet5":
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84),
                             nn.ReLU(), nn.Linear(84, 10))
    if name == "vgg_small":
        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01),
                    nn.ReLU()]
        return nn.Sequential(*block(1, 32), *block(32, 32), nn.MaxPool2d(2), *block(32, 64), *block(64, 64),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 7 * 7, 256), nn.ReLU(), nn.Dropout(0.5),
                             nn.Linear(256, 10))
    raise SystemExit(f"no PyTorch twin for {name!r}; choose seed_cnn, lenet5 or vgg_small")


def torch_optimizer(name, params, lr):
    # Keras' defaults, as convnet.optimizers uses them
    if name == "adam":
        return torch.optim.Adam(params, lr=lr or 1e-3, eps=1e-7)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr or 1e-3, eps=1e-7, weight_decay=0.004)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr or 0.01)
    return torch.optim.RMSprop(params, lr=lr or 1e-3, alpha=0.9, eps=1e-7)


def run_torch(args, data):
    (x_train, y_train), (x_test, y_test) = data
    torch.manual_seed(args.seed)
    xt = torch.tensor(x_train[:, None], dtype=torch.float32) / 255
    yt = torch.tensor(y_train, dtype=torch.long)
    model = torch_model(args.model)
    opt = torch_optimizer(args.optimizer, model.parameters(), args.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    times = []
    for epoch in range(args.epochs):
        model.train()
        start = time.perf_counter()
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), args.batch_size):
            idx = perm[i:i + args.batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - start)
        print(f"  pytorch epoch {epoch + 1}: {times[-1]:.2f} s (loss {loss.item():.4f})", flush=True)
    model.eval()
    with torch.no_grad():
        xs = torch.tensor(x_test[:, None], dtype=torch.float32) / 255
        pred = torch.cat([model(xs[i:i + 1000]).argmax(1) for i in range(0, len(xs), 1000)])
    return times, float((pred.numpy() == y_test).mean())


def run_convnet(args, data):
    (x_train, y_train), (x_test, y_test) = data
    convnet.set_random_seed(args.seed)
    model = convnet.zoo.get(args.model)
    optimizer = convnet.optimizers.get(args.optimizer)
    if args.lr:
        optimizer.learning_rate = args.lr
    model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"], device=args.device)
    times = []

    class Timer(convnet.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)
            print(f"  convnet epoch {epoch + 1}: {times[-1]:.2f} s (loss {logs['loss']:.4f})", flush=True)

    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, verbose=0,
              callbacks=[Timer()])
    return times, model.evaluate(x_test, y_test)[1]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="seed_cnn", choices=["seed_cnn", "lenet5", "vgg_small"])
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--optimizer", default="adam", choices=["adam", "adamw", "sgd", "rmsprop"])
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    p.add_argument("--skip-torch", action="store_true", help="time convnet alone")
    p.add_argument("--record", action="store_true", help="write the result to benchmarks/results/")
    args = p.parse_args()
    torch.set_num_threads(os.cpu_count())
    (x_train, y_train), test = fashion_mnist.load_data()
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    data = ((x_train, y_train), test)
    print(f"{args.model}, {args.optimizer}, batch {args.batch_size}, {args.epochs} epoch(s), "
          f"{len(x_train)} training images, {os.cpu_count()} CPU threads")
    c_times, c_acc = run_convnet(args, data)
    t_times, t_acc = ([], None) if args.skip_torch else run_torch(args, data)
    # The first epoch includes warm-up (allocation, page faults); report the median of the rest when there are any.
    c_epoch = float(np.median(c_times[1:] or c_times))
    t_epoch = float(np.median(t_times[1:] or t_times)) if t_times else None
    print(f"\n{'':10}{'epoch (s)':>12}{'test acc':>10}")
    print(f"{'convnet':10}{c_epoch:12.2f}{c_acc:10.4f}")
    if t_epoch:
        print(f"{'pytorch':10}{t_epoch:12.2f}{t_acc:10.4f}")
        print(f"ratio convnet/pytorch epoch time: {c_epoch / t_epoch:.2f}")
    if args.record:
        record(f"train-{args.model}-{args.device}", {
            "benchmark": "bench_train", "args": vars(args), "torch_version": torch.__version__,
            "convnet": {"epoch_times_s": c_times, "epoch_s": c_epoch, "test_accuracy": c_acc},
            "pytorch": {"epoch_times_s": t_times, "epoch_s": t_epoch, "test_accuracy": t_acc},
            "ratio_convnet_over_pytorch": c_epoch / t_epoch if t_epoch else None})


if __name__ == "__main__":
    main()
