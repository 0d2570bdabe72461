"""convnet.metrics against scikit-learn on random labels, and its error paths."""
import numpy as np
import pytest

from convnet import metrics

sk = pytest.importorskip("sklearn.metrics")


def _draws(count, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        classes, n = int(rng.integers(3, 12)), int(rng.integers(1, 80))
        yield rng, classes, rng.integers(0, classes, n), rng.integers(0, classes, n)


def test_confusion_matrix_and_scores_equal_scikit_learns():
    for _, classes, y_true, y_pred in _draws(100):
        labels = np.arange(max(y_true.max(), y_pred.max()) + 1)
        assert np.array_equal(metrics.confusion_matrix(y_true, y_pred), sk.confusion_matrix(y_true, y_pred, labels=labels))
        p, r, f, s = metrics.precision_recall_f1(y_true, y_pred)
        want = sk.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
        for got, ref in zip((p, r, f, s), want):
            np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert metrics.confusion_matrix([0, 1], [1, 1], num_classes=4).shape == (4, 4)


def test_classification_report_is_scikit_learns_text():
    for _, classes, y_true, y_pred in _draws(100, seed=1):
        if not np.any(y_true == y_pred):
            continue  # scikit-learn 1.9 prints the support as floats when every score is 0: a quirk, not matched
        names = [f"class {i}" for i in range(classes)]
        present = np.union1d(y_true, y_pred)
        for digits in (2, 4):
            want = sk.classification_report(y_true, y_pred, labels=present, target_names=[names[i] for i in present],
                                            zero_division=0, digits=digits)
            assert metrics.classification_report(y_true, y_pred, names, digits=digits) == want
    assert "Ankle boot" in metrics.classification_report([9, 0], [9, 1], [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"])
    assert metrics.classification_report([0, 1], [0, 0]).splitlines()[2].split()[0] == "0"  # labels as names


def test_top_k_accuracy_equals_scikit_learns_with_ties():
    for rng, classes, y_true, _ in _draws(100, seed=2):
        scores = rng.integers(0, 4, (len(y_true), classes)).astype(np.float32)  # many ties
        for k in (1, 2, classes - 1):
            want = sk.top_k_accuracy_score(y_true, scores, k=k, labels=np.arange(classes))
            assert metrics.top_k_accuracy(y_true, scores, k) == pytest.approx(want)


@pytest.mark.parametrize("call, error, words", [
    (lambda: metrics.confusion_matrix([0, 1], [0]), ValueError, "the same length, got 2 and 1"),
    (lambda: metrics.confusion_matrix([], []), ValueError, "non-empty 1-D array"),
    (lambda: metrics.confusion_matrix([[0]], [[0]]), ValueError, "got shape (1, 1)"),
    (lambda: metrics.confusion_matrix([0, -1], [0, 0]), ValueError, "labels >= 0, got -1"),
    (lambda: metrics.confusion_matrix([0.5], [0]), TypeError, "integer class labels"),
    (lambda: metrics.confusion_matrix(["a"], ["b"]), TypeError, "integer class labels"),
    (lambda: metrics.confusion_matrix([0, 3], [0, 0], num_classes=2), ValueError, "'num_classes' expected an int >= 4"),
    (lambda: metrics.classification_report([0, 2], [0, 0], ["a", "b"]), ValueError, "a name for each label up to 2"),
    (lambda: metrics.top_k_accuracy([0, 1], np.ones((3, 2))), ValueError, "shape (2, classes), got shape (3, 2)"),
    (lambda: metrics.top_k_accuracy([0, 5], np.ones((2, 3))), ValueError, "holds label 5"),
    (lambda: metrics.top_k_accuracy([0], np.ones((1, 3)), k=0), ValueError, "'k' expected an int >= 1"),
])
def test_bad_arguments_are_named(call, error, words):
    with pytest.raises(error, match=None) as info:
        call()
    assert words in str(info.value) and str(info.value).split(":")[0] in (
        "confusion_matrix", "classification_report", "top_k_accuracy")
