"""The command line: convnet train | evaluate | summary | predict | attack | report (also `python -m convnet`)."""
import argparse
import os
import sys
import tempfile

import numpy as np

__all__ = ["main"]


def _count(low):
    """An argparse type: an int >= low."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an int >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an int >= {low}, got {value}")
        return value
    return parse


def _epsilons(text):
    """An argparse type: comma-separated attack sizes, each a finite number >= 0."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 0.05,0.1, got {text!r}") from None
    if not all(np.isfinite(v) and v >= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected finite numbers >= 0, got {text!r}")
    return values


def _parser():
    from . import zoo

    p = argparse.ArgumentParser(prog="convnet", description="Train and evaluate CNNs on Fashion-MNIST.")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a zoo model on Fashion-MNIST and print its test accuracy")
    t.add_argument("--model", default="seed_cnn", choices=zoo.NAMES)
    t.add_argument("--epochs", type=_count(1), default=10)
    t.add_argument("--batch-size", type=_count(1), default=32)
    t.add_argument("--optimizer", default="adam", choices=["adam", "adamw", "sgd", "rmsprop"])
    t.add_argument("--lr", type=float, default=None, help="learning rate (the optimizer's default otherwise)")
    t.add_argument("--schedule", default="constant", choices=["constant", "cosine", "step"],
                   help="learning-rate schedule over the epochs (step: halve every quarter of the run)")
    t.add_argument("--label-smoothing", type=float, default=0.0,
                   help="cross-entropy label smoothing in [0, 1] (0: none)")
    t.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    t.add_argument("--seed", type=_count(0), default=0)
    t.add_argument("--limit", type=_count(1), default=None,
                   help="a quick run: the first N training images and the first N test images only")
    t.add_argument("--data", default=None, help="directory holding the Fashion-MNIST IDX files")
    t.add_argument("--out", default=None, help="save the trained model here (e.g. model.cnet)")
    t.add_argument("--report", default=None, metavar="DIR", help="then write the HTML report into DIR")
    t.add_argument("--distributed", action="store_true",
                   help="data-parallel over MPI: run as mpirun -n N convnet train --distributed (batch size per rank)")
    e = sub.add_parser("evaluate", help="test loss and accuracy of a saved model")
    e.add_argument("model")
    e.add_argument("--device", default="auto")
    e.add_argument("--limit", type=_count(1), default=None, help="the first N test images only")
    e.add_argument("--data", default=None)
    s = sub.add_parser("summary", help="print a zoo model's (or a saved model's) layers")
    s.add_argument("--model", default="seed_cnn", help=f"one of {', '.join(zoo.NAMES)} or a saved model file")
    r = sub.add_parser("predict", help="predict the class of a test image with a saved model")
    r.add_argument("model")
    r.add_argument("--index", type=_count(0), default=0, help="index of the test image")
    r.add_argument("--device", default="auto")
    r.add_argument("--data", default=None)
    a = sub.add_parser("attack", help="a saved model's test accuracy under FGSM and PGD attacks")
    a.add_argument("model")
    a.add_argument("--epsilon", type=_epsilons, default=[0.0, 0.05, 0.1],
                   help="comma-separated L-infinity sizes, pixels in [0, 1] (default 0,0.05,0.1)")
    a.add_argument("--steps", type=_count(1), default=10, help="PGD steps")
    a.add_argument("--limit", type=_count(1), default=1000, help="the first N test images (default 1000)")
    a.add_argument("--device", default="auto")
    a.add_argument("--data", default=None)
    g = sub.add_parser("report", help="write a saved model's HTML report (DIR/index.html and its PNGs)")
    g.add_argument("model")
    g.add_argument("--out", required=True, metavar="DIR")
    g.add_argument("--epsilon", type=_epsilons, default=[0.05, 0.1], help="the robustness table's sizes")
    g.add_argument("--limit", type=_count(1), default=None, help="the first N test images only")
    g.add_argument("--device", default="auto")
    g.add_argument("--data", default=None)
    x = sub.add_parser("export", help="write a saved model (or a zoo model, untrained) as an ONNX file")
    x.add_argument("model", help=f"a saved model file or one of {', '.join(zoo.NAMES)}")
    x.add_argument("--onnx", required=True, metavar="OUT", help="the ONNX file to write (e.g. model.onnx)")
    x.add_argument("--opset", type=_count(1), default=None, help="the ONNX opset (default: convnet.onnx.DEFAULT_OPSET)")
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except (ValueError, TypeError, RuntimeError, OSError, FloatingPointError, ImportError) as e:
        print(f"convnet {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"convnet {args.command}: interrupted", file=sys.stderr)
        return 130


def _check_writable(path):
    """Fails now, before training, where the model could not be saved at `path` afterwards."""
    if os.path.isdir(path):
        raise ValueError(f"--out {path!r} is a directory; expected a file path such as {os.path.join(path, 'model.cnet')!r}")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"--out {path!r}: directory {directory!r} does not exist")
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as e:
        raise ValueError(f"--out {path!r}: cannot write in directory {directory!r} ({e.strerror})") from None


def _check_report_dir(path):
    """Fails now, before any work, where the report could not be written in `path`."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"report directory {path!r} is a file; expected a directory (created if missing)")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ValueError(f"report directory {path!r}: its parent {parent!r} does not exist")


def _classifier(path, device, command):
    import convnet

    model = convnet.load_model(path, device=device)
    if model.optimizer is None or not model._has_accuracy:
        raise ValueError(f"{path!r} holds a model without a classification loss (saved uncompiled, or with "
                         f"mean_squared_error): {command} needs one")
    return model


def _run(args):
    import convnet
    from convnet import zoo
    from convnet.datasets import fashion_mnist

    if args.command == "summary":
        model = zoo.get(args.model) if args.model in zoo.NAMES else convnet.load_model(args.model, device="cpu")
        model.summary()
        return 0
    if args.command == "export":
        from convnet import onnx as convnet_onnx

        model = zoo.get(args.model) if args.model in zoo.NAMES else convnet.load_model(args.model, device="cpu")
        convnet_onnx.export(model, args.onnx, opset=args.opset)
        print(f"wrote {args.onnx} (ONNX opset {args.opset or convnet_onnx.DEFAULT_OPSET}, input "
              f"{model.input.layer.name!r} (N, {', '.join(map(str, model.input_shape))}))")
        return 0
    if args.command == "train" and args.out:
        _check_writable(args.out)
    if getattr(args, "report", None) or args.command == "report":
        _check_report_dir(args.report if args.command == "train" else args.out)
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(args.data)
    if args.command == "train":
        if args.distributed:
            convnet.distributed.init()
        convnet.set_random_seed(args.seed)
        model = zoo.get(args.model)
        optimizer = convnet.optimizers.get(args.optimizer)
        if args.lr is not None:
            optimizer.learning_rate = convnet.optimizers.checked_learning_rate(args.lr, "--lr")
        loss = convnet.losses.SparseCategoricalCrossentropy(label_smoothing=args.label_smoothing)
        model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"], device=args.device)
        if args.limit:
            x_train, y_train = x_train[:args.limit], y_train[:args.limit]
            x_test, y_test = x_test[:args.limit], y_test[:args.limit]
        print(f"Training {args.model} on {len(x_train)} Fashion-MNIST images ({model.device}, "
              f"{args.optimizer}, batch {args.batch_size}, {args.epochs} epochs)")
        lr = optimizer.learning_rate
        schedule = {"constant": None,
                    "cosine": convnet.callbacks.cosine_decay(lr, args.epochs),
                    "step": convnet.callbacks.step_decay(lr, 0.5, max(1, args.epochs // 4))}[args.schedule]
        callbacks = [convnet.callbacks.LearningRateScheduler(schedule)] if schedule else []
        model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                  validation_data=(x_test, y_test), callbacks=callbacks)
        loss, acc = model.evaluate(x_test, y_test)
        if not convnet.distributed.is_main():  # every rank evaluated (a collective); rank 0 reports and saves
            return 0
        print(f"Test loss {loss:.4f}, test accuracy {acc:.4f}")
        if args.out:
            model.save(args.out)
            print(f"Saved to {args.out}")
        if args.report:
            print(f"Report: {convnet.report.write(model, x_test, y_test, args.report)}")
    elif args.command == "evaluate":
        model = convnet.load_model(args.model, device=args.device)
        if args.limit:
            x_test, y_test = x_test[:args.limit], y_test[:args.limit]
        if model.optimizer is None:
            raise ValueError(f"{args.model!r} holds a model that was saved uncompiled: it has no loss to evaluate")
        result = model.evaluate(x_test, y_test)
        loss, acc = result if isinstance(result, tuple) else (result, None)
        print(f"Test loss {loss:.4f}" + (f", test accuracy {acc:.4f}" if acc is not None else ""))
    elif args.command in ("attack", "report"):
        model = _classifier(args.model, args.device, args.command)
        x_test, y_test = x_test[:args.limit], y_test[:args.limit]
        if args.command == "report":
            print(f"Report: {convnet.report.write(model, x_test, y_test, args.out, epsilons=args.epsilon)}")
        else:
            print(f"{args.model}: accuracy on {len(x_test)} test images under L-infinity attacks "
                  f"(PGD: {args.steps} steps)")
            print(convnet.report.robustness_table(model, x_test, y_test, args.epsilon, steps=args.steps)[1])
    elif args.command == "predict":
        model = convnet.load_model(args.model, device=args.device)
        if not 0 <= args.index < len(x_test):
            raise ValueError(f"--index expected a value in [0, {len(x_test)}), got {args.index}")
        probs = np.asarray(model.predict(x_test[args.index:args.index + 1])[0]).reshape(-1)
        names = fashion_mnist.CLASS_NAMES
        if len(probs) != len(names):
            raise ValueError(f"predict: the model has {len(probs)} outputs per image; a Fashion-MNIST classifier "
                             f"has {len(names)} (one per class)")
        best = int(np.argmax(probs))
        print(f"Test image {args.index}: predicted {names[best]} ({probs[best]:.3f}), "
              f"true {names[int(y_test[args.index])]}")
        for k in np.argsort(probs)[::-1][:3]:
            print(f"  {names[k]:<12} {probs[k]:.3f}")
    return 0
