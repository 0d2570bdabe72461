"""convnet vs PyTorch (CPU), side by side in one run: conv2d and linear forward+backward.

The layer shapes of the VGG-style Fashion-MNIST net at batch 128: conv 3x3 padding 1
1->32 and 32->32 at 28x28, 32->64 and 64->64 at 14x14, then linear 3136->256. Each layer is
timed forward + backward (gradients of input, weight and bias) for both libraries on the same
inputs; after a warm-up the two are interleaved repeat by repeat and the medians compared, so
the noise of a shared machine hits both alike. Ratio = convnet / PyTorch (lower is better).
GFLOP/s counts the three products of each layer (forward, input gradient, weight gradient: 3 x 2 x
N x out x in x kernel area x output pixels); "% peak" divides convnet's by the FP32 peak measured on
this machine before the run (ops.measured_fma_peak_gflops: FMA chains in the GEMM's ISA, with
convnet's thread count).

    python benchmarks/bench_ops.py [--repeats 15] [--threads 2] [--record | --out FILE.json]
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convnet  # noqa: E402
from common import record  # noqa: E402
from convnet import ops  # noqa: E402

BATCH = 128
# name, input shape, weight shape (conv: padding 1)
LAYERS = [
    ("conv 1->32 28x28", (BATCH, 1, 28, 28), (32, 1, 3, 3)),
    ("conv 32->32 28x28", (BATCH, 32, 28, 28), (32, 32, 3, 3)),
    ("conv 32->64 14x14", (BATCH, 32, 14, 14), (64, 32, 3, 3)),
    ("conv 64->64 14x14", (BATCH, 64, 14, 14), (64, 64, 3, 3)),
    ("linear 3136->256", (BATCH, 3136), (256, 3136)),
]


def make_layer(name, xs, ws, rng):
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    is_conv = len(xs) == 4
    if is_conv:
        y = np.asarray(ops.conv2d(x, w, b, padding=1))
    else:
        y = np.asarray(ops.linear(x, w, b))
    g = rng.standard_normal(y.shape).astype(np.float32)
    cx, cw, cb, cg = (convnet.from_numpy(a) for a in (x, w, b, g))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    tg = torch.tensor(g)

    if is_conv:
        def run_convnet():
            ops.conv2d(cx, cw, cb, padding=1)
            ops.conv2d_backward(cg, cx, cw, cb, padding=1)

        def run_torch():
            out = F.conv2d(tx, tw, tb, padding=1)
            torch.autograd.grad(out, (tx, tw, tb), tg)
    else:
        def run_convnet():
            ops.linear(cx, cw, cb)
            ops.linear_backward(cg, cx, cw, cb)

        def run_torch():
            out = F.linear(tx, tw, tb)
            torch.autograd.grad(out, (tx, tw, tb), tg)
    return run_convnet, run_torch


def layer_flops(xs, ws):
    """Forward + both gradients: three products of the same size."""
    if len(xs) == 4:  # conv, padding 1 and stride 1: the output has the input's size
        n, _, h, w = xs
        return 3 * 2 * n * h * w * int(np.prod(ws))
    return 3 * 2 * xs[0] * int(np.prod(ws))


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="PyTorch threads (convnet: OMP_NUM_THREADS)")
    parser.add_argument("--out", help="write the JSON result to this file")
    parser.add_argument("--record", action="store_true", help="write the JSON result to benchmarks/results/")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)

    rows = []
    threads = convnet.get_num_threads()
    peak = ops.measured_fma_peak_gflops(threads, 1.0)
    print(f"forward+backward, batch {BATCH}, median of {args.repeats} (ms); gemm {ops.gemm_isa()}, "
          f"convnet {threads} threads, torch {torch.__version__} with {torch.get_num_threads()} threads; "
          f"measured FP32 peak {peak:.1f} GFLOP/s ({threads} threads)")
    print(f"{'layer':<20} {'convnet':>9} {'pytorch':>9} {'ratio':>7} {'GFLOP/s':>8} {'% peak':>7}")
    for name, xs, ws in LAYERS:
        run_convnet, run_torch = make_layer(name, xs, ws, rng)
        for _ in range(args.warmup):
            run_convnet()
            run_torch()
        tc, tt = [], []
        for _ in range(args.repeats):  # interleaved: both see the same machine load
            tc.append(timed(run_convnet))
            tt.append(timed(run_torch))
        c, t = statistics.median(tc) * 1e3, statistics.median(tt) * 1e3
        gflops = layer_flops(xs, ws) / (c * 1e-3) * 1e-9
        rows.append({"layer": name, "x": list(xs), "w": list(ws), "convnet_ms": round(c, 3),
                     "pytorch_ms": round(t, 3), "ratio": round(c / t, 3), "convnet_gflops": round(gflops, 1),
                     "percent_of_peak": round(100 * gflops / peak, 1)})
        print(f"{name:<20} {c:9.2f} {t:9.2f} {c / t:7.2f} {gflops:8.1f} {100 * gflops / peak:6.1f}%")
    total_c = sum(r["convnet_ms"] for r in rows)
    total_t = sum(r["pytorch_ms"] for r in rows)
    print(f"{'total':<20} {total_c:9.2f} {total_t:9.2f} {total_c / total_t:7.2f}")

    if args.out or args.record:
        record("ops-cpu", {
            "benchmark": "bench_ops: conv2d/linear forward+backward vs PyTorch CPU",
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "gemm_isa": ops.gemm_isa(),
            "convnet_threads": threads, "measured_fp32_peak_gflops": round(peak, 1),
            "batch": BATCH, "repeats": args.repeats, "warmup": args.warmup,
            "layers": rows,
            "total": {"convnet_ms": round(total_c, 3), "pytorch_ms": round(total_t, 3),
                      "ratio": round(total_c / total_t, 3)},
        }, args.out)
    return rows


if __name__ == "__main__":
    main()
