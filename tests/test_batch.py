"""permutation: the seeded shuffle of fit, a keyed bijection computed in a kernel on the model's device."""
import itertools

import numpy as np
import pytest

from conftest import requires_cuda
from convnet import _core


def permutation(n, seed, device="cpu"):
    return _core.nn.permutation(n, seed, device).to("cpu").numpy()


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 16, 17, 1000, 60000, 65536, 65537])
def test_permutation_is_a_bijection(n):
    p = permutation(n, 7)
    assert p.dtype == np.int64 and p.shape == (n,)
    np.testing.assert_array_equal(np.sort(p), np.arange(n))


def test_permutation_same_seed_same_order_and_seeds_differ():
    np.testing.assert_array_equal(permutation(1000, 3), permutation(1000, 3))
    assert (permutation(1000, 3) != permutation(1000, 4)).mean() > 0.95
    assert permutation(10, 2**64 - 1).shape == (10,)  # the whole uint64 seed range


def test_permutation_is_uniform_over_all_orders():
    # Every order of 4 items equally likely over 24,000 seeds: chi-square with 23 degrees of freedom,
    # whose 1e-6 upper quantile is about 70.
    orders = {p: i for i, p in enumerate(itertools.permutations(range(4)))}
    counts = np.zeros(len(orders))
    for seed in range(24_000):
        counts[orders[tuple(permutation(4, seed))]] += 1
    expected = 24_000 / len(orders)
    assert ((counts - expected) ** 2 / expected).sum() < 70


def test_permutation_has_no_structure_within_or_across_epochs():
    # fit shuffles epoch e with seed + e: neighbouring seeds must give unrelated orders, and an order
    # must not keep its indices near where they started. For independent orders the correlation of
    # n = 60000 positions has standard deviation 1/sqrt(n) = 0.004.
    orders = [permutation(60_000, seed) for seed in range(4)]
    index = np.arange(60_000)
    for i, p in enumerate(orders):
        assert abs(np.corrcoef(index, p)[0, 1]) < 0.02
        assert abs(np.corrcoef(p[:-1], p[1:])[0, 1]) < 0.02
        for q in orders[i + 1:]:
            assert abs(np.corrcoef(p, q)[0, 1]) < 0.02
            assert (p == q).sum() < 10  # about one fixed point expected


def test_permutation_errors():
    with pytest.raises(ValueError, match="permutation.*'n'.*non-negative"):
        _core.nn.permutation(-1, 0)
    with pytest.raises(ValueError, match="permutation"):
        _core.nn.permutation(5, 0, "tpu")


@requires_cuda
@pytest.mark.parametrize("n", [1, 17, 60000])
def test_permutation_gpu_matches_cpu(n):
    np.testing.assert_array_equal(permutation(n, 11, "cuda"), permutation(n, 11))
