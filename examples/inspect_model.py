"""Look inside a trained CNN: its summary with receptive fields, the per-class report, and pictures of its
training curves, confusion matrix, filters, feature maps, saliency and receptive field.

    python examples/inspect_model.py --out inspect            # trains seed_cnn for 5 epochs first
    python examples/inspect_model.py --model seed_cnn.cnet --out inspect
"""
import argparse
import os

import numpy as np

import convnet
from convnet import metrics, plot, zoo
from convnet.datasets import fashion_mnist

DEVICE = "auto"  # where the models run (--device)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="a saved model (otherwise seed_cnn is trained)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--limit", type=int, default=None, help="the first N training and test images only")
    p.add_argument("--out", default="inspect")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    args = p.parse_args(argv)
    global DEVICE
    DEVICE = args.device
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    x_train, y_train, x_test, y_test = x_train[:args.limit], y_train[:args.limit], x_test[:args.limit], y_test[:args.limit]
    if args.model:
        model = convnet.load_model(args.model, device=DEVICE)
    else:
        model = zoo.seed_cnn()
        model.compile("adam", metrics=["accuracy"], device=DEVICE)
        model.fit(x_train, y_train, epochs=args.epochs, validation_data=(x_test, y_test), verbose=2)
    model.summary()
    print(metrics.classification_report(y_test, np.argmax(model.predict(x_test), axis=1), fashion_mnist.CLASS_NAMES))
    conv = next(layer for layer in model.layers if isinstance(layer, convnet.layers.Conv2D))
    os.makedirs(args.out, exist_ok=True)
    at = lambda name: os.path.join(args.out, name)
    written = [plot.confusion_matrix(model, x_test, y_test, at("confusion_matrix.png")),
               plot.filters(conv, at("filters.png")),
               plot.feature_maps(model, x_test[0], conv, at("feature_maps.png")),
               plot.saliency(model, x_test[:6], y_test[:6], at("saliency.png")),
               plot.receptive_field(model, model.layers[1], at("receptive_field.png"), image=x_test[0])]
    if model.history is not None:
        written.append(plot.history(model.history, at("history.png")))
    print("Wrote", ", ".join(sorted(os.listdir(args.out))), "in", args.out)
    return written


if __name__ == "__main__":
    main()
