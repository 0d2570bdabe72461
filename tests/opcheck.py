"""Shared checks for every op test: PyTorch comparison and finite differences.

Tolerances. Ops compute in float32; references run in float64 on the same float32 inputs. The
error is measured relative to the largest reference magnitude (max |a - e| / max |e|), which for
float32 sums of up to ~10^4 terms stays near 1e-5, so the default bound is 1e-4 as the core issue
asks. Finite differences of a float32 op with step eps carry truncation O(eps^2) and rounding
O(2^-24 |L| / eps) errors, so with eps = 1e-2 they are checked to 2e-2, at sampled coordinates.
"""
import numpy as np
import torch

RTOL = 1e-4


def rel_err(actual, expected):
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape, f"shape {a.shape} != expected {e.shape}"
    if e.size == 0:
        return 0.0
    return float(np.abs(a - e).max() / max(np.abs(e).max(), 1e-6))


def assert_close(actual, expected, tol=RTOL, what="value"):
    err = rel_err(actual, expected)
    assert err <= tol, f"{what}: relative error {err:.3g} > {tol:g}"


def as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def compare_with_torch(forward, backward, torch_fn, inputs, n_diff, tol=RTOL, seed=0):
    """Checks forward(*inputs) and backward(grad_out, *inputs) against torch_fn in float64.

    inputs: numpy arrays; the first n_diff are differentiable (None entries are skipped).
    backward returns the gradients of those n_diff inputs in order (None where not defined).
    """
    rng = np.random.default_rng(seed)
    t_inputs = []
    for i, x in enumerate(inputs):
        if x is None:
            t_inputs.append(None)
        elif i < n_diff:
            t_inputs.append(torch.tensor(np.asarray(x, np.float64), requires_grad=True))
        else:
            t_inputs.append(torch.tensor(np.asarray(x)) if np.asarray(x).dtype.kind in "iu"
                            else torch.tensor(np.asarray(x, np.float64)))
    expected = torch_fn(*t_inputs)
    actual = np.asarray(forward(*inputs))
    assert_close(actual, expected.detach().numpy(), tol, "forward")
    grad_out = rng.standard_normal(actual.shape).astype(np.float32)
    expected.backward(torch.tensor(grad_out, dtype=torch.float64))
    grads = as_tuple(backward(grad_out, *inputs))
    assert len(grads) == n_diff, f"backward returned {len(grads)} gradients, expected {n_diff}"
    for i in range(n_diff):
        if t_inputs[i] is None:
            continue
        assert_close(np.asarray(grads[i]), t_inputs[i].grad.numpy(), tol, f"gradient of input {i}")


def check_finite_differences(forward, backward, inputs, n_diff, eps=1e-2, tol=2e-2, n_coords=8, seed=0,
                             skip=None):
    """Central differences of L = sum(forward(*inputs) * G) at sampled coordinates of each
    differentiable input, against backward(G, *inputs). `skip(i, x, idx)` may exclude kinks
    (e.g. ReLU at 0, max-pool ties) where the derivative is undefined."""
    rng = np.random.default_rng(seed)
    inputs = [None if x is None else np.array(x, copy=True) for x in inputs]
    out = np.asarray(forward(*inputs), dtype=np.float64)
    g = rng.standard_normal(out.shape).astype(np.float32)
    grads = as_tuple(backward(g, *inputs))

    def loss():
        return float((np.asarray(forward(*inputs), dtype=np.float64) * g).sum())

    for i in range(n_diff):
        if inputs[i] is None:
            continue
        x = inputs[i]
        analytic = np.asarray(grads[i], dtype=np.float64)
        scale = max(np.abs(analytic).max(), 1e-3)
        flat = x.reshape(-1)
        for idx in rng.choice(flat.size, size=min(n_coords, flat.size), replace=False):
            if skip is not None and skip(i, x, idx):
                continue
            old = flat[idx]
            flat[idx] = old + eps
            up = loss()
            flat[idx] = old - eps
            down = loss()
            flat[idx] = old
            numeric = (up - down) / (2 * eps)
            err = abs(numeric - analytic.reshape(-1)[idx]) / scale
            assert err <= tol, (f"input {i} index {idx}: numeric {numeric:.6g} vs analytic "
                                f"{analytic.reshape(-1)[idx]:.6g} (relative error {err:.3g} > {tol})")


def assert_raises(exc, fragments, fn, *args, **kwargs):
    """fn(*args) raises exc whose message contains every fragment (op, argument, expected, got)."""
    import pytest

    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    for fragment in ([fragments] if isinstance(fragments, str) else fragments):
        assert fragment in message, f"message {message!r} lacks {fragment!r}"
    return message
