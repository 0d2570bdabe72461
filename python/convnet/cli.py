"""The command line: convnet train | evaluate | summary | predict (also `python -m convnet`)."""
import argparse
import sys

import numpy as np

__all__ = ["main"]


def _parser():
    from . import zoo

    p = argparse.ArgumentParser(prog="convnet", description="Train and evaluate CNNs on Fashion-MNIST.")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a zoo model on Fashion-MNIST and print its test accuracy")
    t.add_argument("--model", default="seed_cnn", choices=zoo.NAMES)
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--optimizer", default="adam", choices=["adam", "adamw", "sgd", "rmsprop"])
    t.add_argument("--lr", type=float, default=None, help="learning rate (the optimizer's default otherwise)")
    t.add_argument("--schedule", default="constant", choices=["constant", "cosine", "step"],
                   help="learning-rate schedule over the epochs (step: halve every quarter of the run)")
    t.add_argument("--label-smoothing", type=float, default=0.0,
                   help="cross-entropy label smoothing in [0, 1] (0: none)")
    t.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--limit", type=int, default=None,
                   help="a quick run: the first N training images and the first N test images only")
    t.add_argument("--data", default=None, help="directory holding the Fashion-MNIST IDX files")
    t.add_argument("--out", default=None, help="save the trained model here (e.g. model.cnet)")
    e = sub.add_parser("evaluate", help="test loss and accuracy of a saved model")
    e.add_argument("model")
    e.add_argument("--device", default="auto")
    e.add_argument("--limit", type=int, default=None, help="the first N test images only")
    e.add_argument("--data", default=None)
    s = sub.add_parser("summary", help="print a zoo model's (or a saved model's) layers")
    s.add_argument("--model", default="seed_cnn", help=f"one of {', '.join(zoo.NAMES)} or a saved model file")
    r = sub.add_parser("predict", help="predict the class of a test image with a saved model")
    r.add_argument("model")
    r.add_argument("--index", type=int, default=0, help="index of the test image")
    r.add_argument("--device", default="auto")
    r.add_argument("--data", default=None)
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except (ValueError, TypeError, RuntimeError, FileNotFoundError, FloatingPointError) as e:
        print(f"convnet {args.command}: error: {e}", file=sys.stderr)
        return 2


def _run(args):
    import convnet
    from convnet import zoo
    from convnet.datasets import fashion_mnist

    if args.command == "summary":
        model = zoo.get(args.model) if args.model in zoo.NAMES else convnet.load_model(args.model, device="cpu")
        model.summary()
        return 0
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(args.data)
    if args.command == "train":
        convnet.set_random_seed(args.seed)
        model = zoo.get(args.model)
        optimizer = convnet.optimizers.get(args.optimizer)
        if args.lr is not None:
            optimizer.learning_rate = args.lr
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
        print(f"Test loss {loss:.4f}, test accuracy {acc:.4f}")
        if args.out:
            model.save(args.out)
            print(f"Saved to {args.out}")
    elif args.command == "evaluate":
        model = convnet.load_model(args.model, device=args.device)
        if args.limit:
            x_test, y_test = x_test[:args.limit], y_test[:args.limit]
        loss, acc = model.evaluate(x_test, y_test)
        print(f"Test loss {loss:.4f}, test accuracy {acc:.4f}")
    elif args.command == "predict":
        model = convnet.load_model(args.model, device=args.device)
        if not 0 <= args.index < len(x_test):
            raise ValueError(f"--index expected a value in [0, {len(x_test)}), got {args.index}")
        probs = model.predict(x_test[args.index:args.index + 1])[0]
        best = int(np.argmax(probs))
        names = fashion_mnist.CLASS_NAMES
        print(f"Test image {args.index}: predicted {names[best]} ({probs[best]:.3f}), "
              f"true {names[int(y_test[args.index])]}")
        for k in np.argsort(probs)[::-1][:3]:
            print(f"  {names[k]:<12} {probs[k]:.3f}")
    return 0
