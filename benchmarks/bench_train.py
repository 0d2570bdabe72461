"""Trains the same model with convnet and with PyTorch on the same Fashion-MNIST data in one run,
and prints both epoch times, their ratio (convnet / PyTorch: below 1 means convnet is faster)
and both test accuracies.

    python benchmarks/bench_train.py --model seed_cnn --epochs 10 --batch-size 32
    python benchmarks/bench_train.py --model vgg_small --epochs 2 --batch-size 128 --record
    python benchmarks/bench_train.py --model seed_cnn --device cuda --epochs 3 --record   # on a GPU

On CUDA both frameworks' peak GPU memory (memory_allocated, not what a caching allocator reserves)
is reported too.

PyTorch runs its fastest plain loop: data already as float tensors in memory (on the device), randperm
batches, no DataLoader, torch.set_num_threads(N) with N the core count, the same optimizer settings,
and convnet's initial weights (so that the accuracies compare training, not two initialisations;
the run checks that both give the same predictions before training).
On CUDA it also runs the whole step (forward, loss, backward, Adam with capturable=True) captured
once in a CUDA graph and replayed, PyTorch at its best for small batches ("graph"; a short last batch
is dropped there, and three warm-up steps before capture train too). Epoch time excludes evaluation.
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
    """PyTorch twins of the zoo models (Keras' batch-norm defaults: momentum 0.99 = PyTorch's 0.01, eps 1e-3)."""
    nn = torch.nn

    def conv_bn_relu(cin, cout, stride=1, groups=1, kernel=3):
        return [nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, groups=groups, bias=False),
                nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01), nn.ReLU()]

    if name == "seed_cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(32 * 13 * 13, 100), nn.ReLU(), nn.Linear(100, 10))
    if name == "lenet5":
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84),
                             nn.ReLU(), nn.Linear(84, 10))
    if name == "vgg_small":
        return nn.Sequential(*conv_bn_relu(1, 32), *conv_bn_relu(32, 32), nn.MaxPool2d(2), *conv_bn_relu(32, 64),
                             *conv_bn_relu(64, 64), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 7 * 7, 256),
                             nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 10))
    if name == "resnet_small":  # zoo.resnet_small(augment=False)
        class Block(nn.Module):
            def __init__(self, cin, cout, stride):
                super().__init__()  # the shortcut first: convnet's layer order, which load_convnet_weights follows
                self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01))
                self.body = nn.Sequential(*conv_bn_relu(cin, cout, stride), nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
                                          nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01))

            def forward(self, x):
                return torch.relu(self.shortcut(x) + self.body(x))
        return nn.Sequential(*conv_bn_relu(1, 32), Block(32, 32, 1), Block(32, 64, 2), Block(64, 128, 2),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))
    if name == "mobilenet_small":
        def separable(cin, cout, stride):
            return conv_bn_relu(cin, cin, stride, groups=cin) + conv_bn_relu(cin, cout, kernel=1)
        return nn.Sequential(*conv_bn_relu(1, 32), *separable(32, 64, 1), *separable(64, 128, 2),
                             *separable(128, 128, 1), *separable(128, 256, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(256, 10))
    raise SystemExit(f"no PyTorch twin for {name!r}; choose one of {', '.join(MODELS)}")


MODELS = ("seed_cnn", "lenet5", "vgg_small", "resnet_small", "mobilenet_small")


def torch_optimizer(name, params, lr, capturable=False):
    # Keras' defaults, as convnet.optimizers uses them
    if name == "adam":
        return torch.optim.Adam(params, lr=lr or 1e-3, eps=1e-7, capturable=capturable)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr or 1e-3, eps=1e-7, weight_decay=0.004, capturable=capturable)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr or 0.01)
    return torch.optim.RMSprop(params, lr=lr or 1e-3, alpha=0.9, eps=1e-7, capturable=capturable)


def load_convnet_weights(model, weights):
    """Copies convnet's weights (layer order, PyTorch layouts) into the twin: its tensors in module
    order (conv and linear: weight, bias; batch norm: weight, bias, running mean, running variance)."""
    nn = torch.nn
    targets = []
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            targets += [m.weight] + ([] if m.bias is None else [m.bias])
        elif isinstance(m, nn.BatchNorm2d):
            targets += [m.weight, m.bias, m.running_mean, m.running_var]
    shapes = [tuple(t.shape) for t in targets]
    if shapes != [w.shape for w in weights]:
        raise SystemExit(f"the PyTorch twin's tensors {shapes} do not match convnet's {[w.shape for w in weights]}")
    with torch.no_grad():
        for t, w in zip(targets, weights):
            t.copy_(torch.from_numpy(w))


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_torch(args, data, mode, initial):
    """PyTorch's epoch times and test accuracy; mode 'eager' or 'graph' (whole step in a CUDA graph);
    the model starts from `initial`, convnet's initial weights and its predictions on a few test images."""
    (x_train, y_train), (x_test, y_test) = data
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    torch.manual_seed(args.seed)
    xt = (torch.tensor(x_train[:, None], dtype=torch.float32) / 255).to(device)
    yt = torch.tensor(y_train, dtype=torch.long).to(device)
    model = torch_model(args.model)
    load_convnet_weights(model, initial["weights"])
    model = model.to(device).eval()
    with torch.no_grad():
        probs = torch.softmax(model(torch.tensor(initial["images"], device=device)), 1).cpu().numpy()
    gap = float(np.abs(probs - initial["probabilities"]).max())
    if gap > (1e-2 if args.tf32 else 1e-4):
        raise SystemExit(f"the PyTorch twin's initial predictions differ from convnet's by {gap:.2e}")
    opt = torch_optimizer(args.optimizer, model.parameters(), args.lr, capturable=mode == "graph")
    loss_fn = torch.nn.CrossEntropyLoss()
    bs = args.batch_size
    if mode == "graph":
        static_x, static_y = xt[:bs].clone(), yt[:bs].clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up before capture, as torch.cuda.graphs asks
            for _ in range(3):
                opt.zero_grad(set_to_none=True)
                loss_fn(model(static_x), static_y).backward()
                opt.step()
        torch.cuda.current_stream().wait_stream(side)
        step_graph = torch.cuda.CUDAGraph()
        opt.zero_grad(set_to_none=True)
        with torch.cuda.graph(step_graph):
            static_loss = loss_fn(model(static_x), static_y)
            static_loss.backward()
            opt.step()
    times = []
    for epoch in range(args.epochs):
        model.train()
        sync(device)
        start = time.perf_counter()
        perm = torch.randperm(len(xt), device=device)
        if mode == "graph":
            for i in range(0, len(xt) - bs + 1, bs):  # full batches only: the graph has fixed shapes
                idx = perm[i:i + bs]
                static_x.copy_(xt[idx])
                static_y.copy_(yt[idx])
                step_graph.replay()
            loss = static_loss
        else:
            for i in range(0, len(xt), bs):
                idx = perm[i:i + bs]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xt[idx]), yt[idx])
                loss.backward()
                opt.step()
        sync(device)
        times.append(time.perf_counter() - start)
        print(f"  pytorch ({mode}) epoch {epoch + 1}: {times[-1]:.3f} s (loss {loss.item():.4f})", flush=True)
    model.eval()
    with torch.no_grad():
        xs = (torch.tensor(x_test[:, None], dtype=torch.float32) / 255).to(device)
        pred = torch.cat([model(xs[i:i + 1000]).argmax(1) for i in range(0, len(xs), 1000)])
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return times, float((pred.cpu().numpy() == y_test).mean()), peak


def run_convnet(args, data):
    (x_train, y_train), (x_test, y_test) = data
    gpu = torch.device(args.device)
    if gpu.type == "cuda":
        convnet.cuda.reset_peak_memory_stats(gpu.index or 0)
    convnet.set_random_seed(args.seed)
    # the benchmark compares the networks alone: resnet_small without its augmentation layers
    model = convnet.zoo.resnet_small(augment=False) if args.model == "resnet_small" else convnet.zoo.get(args.model)
    optimizer = convnet.optimizers.get(args.optimizer)
    if args.lr:
        optimizer.learning_rate = args.lr
    model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"], device=args.device)
    images = (x_test[:64, None] / np.float32(255)).astype(np.float32)
    initial = {"weights": model.get_weights(), "images": images, "probabilities": model.predict(images)}
    times = []

    class Timer(convnet.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if convnet.cuda.is_available():
                convnet.cuda.synchronize()
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):  # the epoch's numbers are read back: the work is done
            times.append(time.perf_counter() - self.start)
            print(f"  convnet epoch {epoch + 1}: {times[-1]:.3f} s (loss {logs['loss']:.4f})", flush=True)

    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, verbose=0,
              callbacks=[Timer()])
    accuracy = model.evaluate(x_test, y_test)[1]
    peak = convnet.cuda.max_memory_allocated(gpu.index or 0) if gpu.type == "cuda" else None
    # on CUDA: how many training steps replayed the captured step (the others ran op by op)
    return times, accuracy, model._graph.cuda_graph_replays, peak, initial


def median_epoch(times):
    """The first epoch includes warm-up (allocation, page faults): the median of the others when there are any."""
    return float(np.median(times[1:] or times))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="seed_cnn", choices=MODELS)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--optimizer", default="adam", choices=["adam", "adamw", "sgd", "rmsprop"])
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    p.add_argument("--skip-torch", action="store_true", help="time convnet alone")
    p.add_argument("--torch-modes", default=None,
                   help="comma-separated PyTorch runs: eager, graph (default: eager on the CPU, both on CUDA)")
    p.add_argument("--tf32", action="store_true",
                   help="CUDA: TF32 tensor cores for both (convnet.cuda.set_allow_tf32, torch's allow_tf32)")
    p.add_argument("--record", action="store_true", help="write the result to benchmarks/results/")
    args = p.parse_args()
    # Exact FP32 unless --tf32, for both frameworks (PyTorch's cuDNN convolutions default to TF32).
    convnet.cuda.set_allow_tf32(args.tf32)
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    modes = (args.torch_modes or ("eager,graph" if args.device.startswith("cuda") else "eager")).split(",")
    torch.set_num_threads(os.cpu_count())
    (x_train, y_train), test = fashion_mnist.load_data()
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    data = ((x_train, y_train), test)
    print(f"{args.model}, {args.optimizer}, batch {args.batch_size}, {args.epochs} epoch(s), "
          f"{len(x_train)} training images, device {args.device}, {os.cpu_count()} CPU threads")
    c_times, c_acc, c_replays, c_peak, initial = run_convnet(args, data)
    results = {"convnet": {"epoch_times_s": c_times, "epoch_s": median_epoch(c_times), "test_accuracy": c_acc,
                           "cuda_graph_replays": c_replays, "peak_gpu_memory_bytes": c_peak}}
    for mode in ([] if args.skip_torch else modes):
        t_times, t_acc, t_peak = run_torch(args, data, mode, initial)
        results[f"pytorch_{mode}"] = {"epoch_times_s": t_times, "epoch_s": median_epoch(t_times),
                                      "test_accuracy": t_acc, "peak_gpu_memory_bytes": t_peak}
    print(f"\n{'':16}{'epoch (s)':>12}{'test acc':>10}{'convnet/this':>14}{'peak GPU MiB':>14}")
    for name, r in results.items():
        ratio = results["convnet"]["epoch_s"] / r["epoch_s"]
        peak = "-" if r["peak_gpu_memory_bytes"] is None else f"{r['peak_gpu_memory_bytes'] / 2**20:.1f}"
        print(f"{name:16}{r['epoch_s']:12.3f}{r['test_accuracy']:10.4f}{ratio:14.2f}{peak:>14}")
    if args.record:
        payload = {"benchmark": "bench_train", "args": vars(args), "torch_version": torch.__version__, **results}
        for name, r in results.items():
            if name != "convnet":
                payload[f"ratio_convnet_over_{name}"] = results["convnet"]["epoch_s"] / r["epoch_s"]
        record(f"train-{args.model}-{args.device.replace(':', '')}{'-tf32' if args.tf32 else ''}", payload)


if __name__ == "__main__":
    main()
