"""Train, save, and write the model's HTML report: the same page as `convnet report MODEL --out DIR`.

    python examples/report.py --out report      # seed_cnn, 5 epochs; open report/index.html
"""
import argparse

import convnet
from convnet import zoo
from convnet.datasets import fashion_mnist

DEVICE = "auto"  # where the models run (--device)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--limit", type=int, default=None, help="the first N training and test images only")
    p.add_argument("--out", default="report")
    p.add_argument("--save", default="seed_cnn.cnet")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    args = p.parse_args(argv)
    global DEVICE
    DEVICE = args.device
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    x_train, y_train, x_test, y_test = x_train[:args.limit], y_train[:args.limit], x_test[:args.limit], y_test[:args.limit]
    model = zoo.seed_cnn()
    model.compile("adam", metrics=["accuracy"], device=DEVICE)
    model.fit(x_train, y_train, epochs=args.epochs, validation_data=(x_test, y_test), verbose=2)
    model.save(args.save)  # the history goes into the file: `convnet report` redraws the curves from it
    page = convnet.report.write(convnet.load_model(args.save, device=DEVICE), x_test, y_test, args.out)
    print("Wrote", page)
    return page


if __name__ == "__main__":
    main()
