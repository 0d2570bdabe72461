"""Adversarial examples: how FGSM and PGD fool a trained CNN, and what adversarial training buys.

    python examples/attack.py                   # seed_cnn, 3 epochs, plain and FGSM-trained
    python examples/attack.py --epsilon 0.1 --out attack
"""
import argparse
import os

import convnet
from convnet import attacks, plot, zoo
from convnet.datasets import fashion_mnist

DEVICE = "auto"  # where the models run (--device)


def trained(x, y, epochs, adversarial=None):
    convnet.set_random_seed(0)
    model = zoo.seed_cnn()
    model.compile("adam", metrics=["accuracy"], device=DEVICE)
    model.fit(x, y, epochs=epochs, verbose=0, adversarial=adversarial)
    return model


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--epsilon", type=float, default=0.1)
    p.add_argument("--limit", type=int, default=None, help="the first N training images only")
    p.add_argument("--test-limit", type=int, default=1000)
    p.add_argument("--out", default="attack")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    args = p.parse_args(argv)
    global DEVICE
    DEVICE = args.device
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    x_test, y_test = x_test[:args.test_limit], y_test[:args.test_limit]
    eps = args.epsilon
    results = {}
    for name, adversarial in [("plain", None), ("FGSM-trained", dict(epsilon=eps, method="fgsm"))]:
        model = trained(x_train, y_train, args.epochs, adversarial)
        clean = model.evaluate(x_test, y_test)[1]
        fgsm = model.evaluate(attacks.fgsm(model, x_test, y_test, eps), y_test)[1]
        pgd = model.evaluate(attacks.pgd(model, x_test, y_test, eps, steps=10, seed=0), y_test)[1]
        results[name] = (clean, fgsm, pgd)
        print(f"{name:<13} clean {clean:.4f}   FGSM(eps={eps:g}) {fgsm:.4f}   PGD-10(eps={eps:g}) {pgd:.4f}")
        print("  robustness curve (FGSM):", {e: round(a, 4) for e, a in
                                            attacks.robustness(model, x_test, y_test, [0, 0.02, 0.05, eps]).items()})
    os.makedirs(args.out, exist_ok=True)
    print("Wrote", plot.adversarial(model, x_test[:4], y_test[:4], os.path.join(args.out, "adversarial.png"), eps))
    return results


if __name__ == "__main__":
    main()
