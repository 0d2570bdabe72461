"""Transfer learning as courses teach it, on Fashion-MNIST: pretrain a small CNN on classes 0-4 (T-shirt,
trouser, pullover, dress, coat), then learn classes 5-9 (sandal, shirt, sneaker, bag, ankle boot) from a few
labelled images, four ways:

  scratch      a fresh copy of the network trained on the small set alone
  features     feature extraction: the pretrained base runs once over the data (predict), and a new
               softmax classifier is trained on its 128 features
  frozen       the pretrained base frozen (trainable = False) inside a new model, with augmentation
               (RandomFlip, RandomTranslation) in front and a new head behind
  fine_tune    the pretrained network with a new head, only its last N layers trainable

    python examples/transfer.py                      # the README's table: 500 labelled images
    python examples/transfer.py --labelled 100 --seeds 3
"""
import argparse
import time

import numpy as np

import convnet
from convnet import layers as L
from convnet.datasets import fashion_mnist

NEW_CLASSES = 5  # 5-9, relabelled 0-4
# A new head alone on frozen features takes a 10x larger step than Adam's default: with 1e-3 it is still
# far from converged after 30 epochs of a few hundred images (measured: 0.54 against 0.80 test accuracy).
HEAD_OPTIMIZER = (lambda: convnet.optimizers.Adam(learning_rate=1e-2))

DEVICE = "auto"  # where the models run (--device)


def conv_net(name):
    """Two conv blocks and a 128-unit feature layer; the head (layers[-1]) is 5-way."""
    return convnet.Sequential([
        L.Input((1, 28, 28)),
        L.Conv2D(32, 3, activation="relu", kernel_initializer="he_uniform"),
        L.MaxPool2D(2),
        L.Conv2D(64, 3, activation="relu", kernel_initializer="he_uniform"),
        L.MaxPool2D(2),
        L.Flatten(),
        L.Dense(128, activation="relu", kernel_initializer="he_uniform", name="features"),
        L.Dense(NEW_CLASSES, activation="softmax", name="head"),
    ], name=name)


def pretrain(x, y, epochs, path):
    """Trains conv_net on the images of classes 0-4 and saves it: each recipe loads its own copy."""
    base = conv_net("pretrained")
    base.compile("adam", metrics=["accuracy"], device=DEVICE)
    base.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    base.save(path)
    return base


def scratch(path, x, y, epochs):
    model = conv_net("scratch")
    model.compile("adam", metrics=["accuracy"], device=DEVICE)
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return model


def features(path, x, y, epochs):
    """Feature extraction: the base's 'features' output computed once, a Dense classifier trained on it."""
    base = convnet.load_model(path, device=DEVICE)
    extractor = convnet.Model(base.input, base.get_layer("features").output)
    classifier = convnet.Sequential([L.Input((128,)), L.Dense(NEW_CLASSES, activation="softmax")])
    classifier.compile(HEAD_OPTIMIZER(), metrics=["accuracy"], device=DEVICE)
    classifier.fit(extractor.predict(x), y, epochs=epochs, batch_size=32, verbose=0)
    inputs = L.Input((1, 28, 28))  # the two joined, to evaluate on images
    model = convnet.Model(inputs, classifier(extractor(inputs)))
    model.compile("adam", metrics=["accuracy"], device=DEVICE)
    return model


def frozen(path, x, y, epochs):
    """The pretrained base (all but its head) frozen inside a new model, augmentation in front."""
    pretrained = convnet.load_model(path, device=DEVICE)
    base = convnet.Sequential(pretrained.layers[:-1], name="base")
    base.trainable = False
    model = convnet.Sequential([L.Input((1, 28, 28)), L.RandomFlip("horizontal"), L.RandomTranslation(0.1, 0.1),
                                base, L.Dense(NEW_CLASSES, activation="softmax")])
    model.compile(HEAD_OPTIMIZER(), metrics=["accuracy"], device=DEVICE)
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return model


def fine_tune(path, x, y, epochs, last=3):
    """The pretrained network with a new head; all but its last `last` layers frozen (the head counts)."""
    pretrained = convnet.load_model(path, device=DEVICE)
    model = convnet.Sequential([L.Input((1, 28, 28))] + pretrained.layers[:-1]
                               + [L.Dense(NEW_CLASSES, activation="softmax")])
    for layer in model.layers[:-last]:
        layer.trainable = False
    model.compile(convnet.optimizers.Adam(learning_rate=3e-4), metrics=["accuracy"], device=DEVICE)
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return model


RECIPES = {"scratch": scratch, "features": features, "frozen": frozen, "fine_tune": fine_tune}


def split(x, y, classes):
    keep = np.isin(y, classes)
    return x[keep], y[keep] - classes[0]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--labelled", type=int, default=500, help="labelled images of the new classes")
    p.add_argument("--pretrain-limit", type=int, default=None, help="pretrain on the first N images of 0-4 only")
    p.add_argument("--pretrain-epochs", type=int, default=5)
    p.add_argument("--epochs", type=int, default=30, help="epochs of each recipe on the small set")
    p.add_argument("--test-limit", type=int, default=None)
    p.add_argument("--seeds", type=int, default=1, help="repeat each recipe with this many draws of the small set")
    p.add_argument("--model", default="pretrained.cnet", help="where the pretrained model is saved")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    args = p.parse_args(argv)
    global DEVICE
    DEVICE = args.device

    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    old_x, old_y = split(x_train, y_train, [0, 1, 2, 3, 4])
    new_x, new_y = split(x_train, y_train, [5, 6, 7, 8, 9])
    test_x, test_y = split(x_test, y_test, [5, 6, 7, 8, 9])
    test_x, test_y = test_x[:args.test_limit], test_y[:args.test_limit]
    convnet.set_random_seed(0)
    start = time.perf_counter()
    base = pretrain(old_x[:args.pretrain_limit], old_y[:args.pretrain_limit], args.pretrain_epochs, args.model)
    old_test_x, old_test_y = split(x_test, y_test, [0, 1, 2, 3, 4])
    print(f"pretrained on {len(old_x[:args.pretrain_limit])} images of classes 0-4 in "
          f"{time.perf_counter() - start:.1f}s: test accuracy on 0-4 {base.evaluate(old_test_x, old_test_y)[1]:.4f}")

    results = {name: [] for name in RECIPES}
    for seed in range(args.seeds):
        pick = np.random.default_rng(seed).choice(len(new_x), args.labelled, replace=False)
        for name, recipe in RECIPES.items():
            convnet.set_random_seed(seed)
            start = time.perf_counter()
            model = recipe(args.model, new_x[pick], new_y[pick], args.epochs)
            results[name].append((model.evaluate(test_x, test_y)[1], time.perf_counter() - start))
    print(f"\n{args.labelled} labelled images of classes 5-9, {args.epochs} epochs, {len(test_x)} test images, "
          f"{args.seeds} draw(s):")
    print(f"{'recipe':<12}{'test accuracy':>16}{'seconds':>10}")
    for name, runs in results.items():
        acc = np.array([a for a, _ in runs])
        spread = f" ± {acc.std():.3f}" if len(acc) > 1 else ""
        print(f"{name:<12}{acc.mean():>10.4f}{spread:<6}{np.mean([t for _, t in runs]):>10.1f}")
    return results


if __name__ == "__main__":
    main()
