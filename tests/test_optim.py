"""Optimizer steps against torch.optim on the same float32 tensors, several steps in a row.

Both sides run the same float32 operations in the same order (only the constants differ in their
last bit: torch keeps hyper-parameters as Python floats), so 1e-5 relative is ample."""
import numpy as np
import pytest
import torch

import convnet
from conftest import requires_cuda
from convnet import ops
from opcheck import assert_close, assert_raises

STEPS = 5
SHAPE = (3, 4, 5)


def run_torch(make_opt, p0, grads):
    p = torch.nn.Parameter(torch.tensor(p0))
    opt = make_opt([p])
    for g in grads:
        p.grad = torch.tensor(g)
        opt.step()
    return p.detach().numpy(), opt.state[p]


def grads_for(rng):
    return [rng.standard_normal(SHAPE).astype(np.float32) for _ in range(STEPS)]


SGD_CASES = [dict(lr=0.1), dict(lr=0.1, momentum=0.9), dict(lr=0.05, momentum=0.9, nesterov=True),
             dict(lr=0.1, weight_decay=0.01), dict(lr=0.1, momentum=0.8, dampening=0.3, weight_decay=0.05),
             dict(lr=0.02, momentum=0.5, nesterov=True, weight_decay=0.1)]


@pytest.mark.parametrize("kw", SGD_CASES)
def test_sgd_matches_torch(rng, kw):
    p0 = rng.standard_normal(SHAPE).astype(np.float32)
    grads = grads_for(rng)
    ref, state = run_torch(lambda ps: torch.optim.SGD(ps, **kw), p0, grads)
    p = p0.copy()
    buf = np.zeros_like(p) if kw.get("momentum", 0) > 0 else None
    for step, g in enumerate(grads, 1):
        ops.sgd_step(p, g, buf, step=step, **kw)
    assert_close(p, ref, 1e-5, "param")
    if buf is not None:
        assert_close(buf, state["momentum_buffer"].numpy(), 1e-5, "momentum_buffer")


ADAM_CASES = [dict(lr=1e-2), dict(lr=3e-3, betas=(0.8, 0.99), eps=1e-6), dict(lr=1e-2, weight_decay=0.1)]


@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("kw", ADAM_CASES)
def test_adam_adamw_match_torch(rng, kw, decoupled):
    p0 = rng.standard_normal(SHAPE).astype(np.float32)
    grads = grads_for(rng)
    torch_cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    ours = ops.adamw_step if decoupled else ops.adam_step
    kw = dict(kw)
    if decoupled and "weight_decay" not in kw:
        kw["weight_decay"] = 0.01  # AdamW's default on both sides
    ref, state = run_torch(lambda ps: torch_cls(ps, **kw), p0, grads)
    p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    for step, g in enumerate(grads, 1):
        ours(p, g, m, v, step=step, **kw)
    assert_close(p, ref, 1e-5, "param")
    assert_close(m, state["exp_avg"].numpy(), 1e-5, "exp_avg")
    assert_close(v, state["exp_avg_sq"].numpy(), 1e-5, "exp_avg_sq")


def test_adamw_default_weight_decay(rng):
    p0 = rng.standard_normal(SHAPE).astype(np.float32)
    grads = grads_for(rng)
    ref, _ = run_torch(lambda ps: torch.optim.AdamW(ps, lr=0.01), p0, grads)
    p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    for step, g in enumerate(grads, 1):
        ops.adamw_step(p, g, m, v, step=step, lr=0.01)
    assert_close(p, ref, 1e-5, "param")


RMS_CASES = [dict(lr=1e-2), dict(lr=1e-2, momentum=0.9), dict(lr=1e-2, centered=True),
             dict(lr=5e-3, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.1, eps=1e-6)]


@pytest.mark.parametrize("kw", RMS_CASES)
def test_rmsprop_matches_torch(rng, kw):
    p0 = rng.standard_normal(SHAPE).astype(np.float32)
    grads = grads_for(rng)
    ref, state = run_torch(lambda ps: torch.optim.RMSprop(ps, **kw), p0, grads)
    p, sa = p0.copy(), np.zeros_like(p0)
    buf = np.zeros_like(p0) if kw.get("momentum", 0) > 0 else None
    ga = np.zeros_like(p0) if kw.get("centered") else None
    for step, g in enumerate(grads, 1):
        ops.rmsprop_step(p, g, sa, buf, ga, step=step, **kw)
    assert_close(p, ref, 1e-5, "param")
    assert_close(sa, state["square_avg"].numpy(), 1e-5, "square_avg")
    if buf is not None:
        assert_close(buf, state["momentum_buffer"].numpy(), 1e-5, "momentum_buffer")
    if ga is not None:
        assert_close(ga, state["grad_avg"].numpy(), 1e-5, "grad_avg")


def test_updates_tensors_in_place_and_views_of_a_flat_buffer(rng):
    flat = convnet.tensor(np.zeros(10, np.float32))
    flat_np = np.asarray(flat)
    flat_np[:] = 1.0
    ops.sgd_step(flat, np.ones(10, np.float32), lr=0.5)
    np.testing.assert_allclose(flat_np, 0.5)
    # A 2-D numpy param of any shape works too.
    p = np.ones((2, 3), np.float32)
    ops.sgd_step(p, np.ones((2, 3)), lr=0.25)  # a float64 grad is converted (read only)
    np.testing.assert_allclose(p, 0.75)


def test_inplace_argument_type_errors():
    p = np.zeros(4, np.float32)
    g = np.zeros(4, np.float32)
    frag = "a copy would lose the update"
    assert_raises(TypeError, ["sgd_step", "'param'", "float32 C-contiguous", "float64", frag], ops.sgd_step,
                  np.zeros(4), g, lr=0.1)
    assert_raises(TypeError, ["sgd_step", "'param'", "list", frag], ops.sgd_step, [0.0] * 4, g, lr=0.1)
    assert_raises(TypeError, ["sgd_step", "'param'", "non-contiguous", frag], ops.sgd_step,
                  np.zeros(8, np.float32)[::2], g, lr=0.1)
    ro = np.zeros(4, np.float32)
    ro.flags.writeable = False
    assert_raises(ValueError, ["sgd_step", "'param'", "read-only"], ops.sgd_step, ro, g, lr=0.1)
    assert_raises(TypeError, ["sgd_step", "'momentum_buffer'", "float64"], ops.sgd_step, p, g, np.zeros(4),
                  lr=0.1, momentum=0.9)
    assert_raises(TypeError, ["adam_step", "'exp_avg'", "float64"], ops.adam_step, p, g, np.zeros(4), p.copy(),
                  step=1)
    assert_raises(TypeError, ["adamw_step", "'exp_avg_sq'", "int64"], ops.adamw_step, p, g, p.copy(),
                  np.zeros(4, np.int64), step=1)
    assert_raises(TypeError, ["rmsprop_step", "'square_avg'", "dtype int64"], ops.rmsprop_step, p, g,
                  convnet.tensor([0, 0, 0, 0], dtype="int64"), step=1)
    assert_raises(TypeError, ["rmsprop_step", "'grad_avg'", "float64"], ops.rmsprop_step, p, g, p.copy(), None,
                  np.zeros(4), step=1, centered=True)


def test_hyperparameter_and_state_errors():
    p, g = np.zeros(4, np.float32), np.zeros(4, np.float32)
    z = lambda: np.zeros(4, np.float32)  # noqa: E731
    assert_raises(ValueError, ["sgd_step", "'lr'", ">= 0", "-0.1"], ops.sgd_step, p, g, lr=-0.1)
    assert_raises(ValueError, ["sgd_step", "'momentum'", ">= 0"], ops.sgd_step, p, g, z(), lr=0.1, momentum=-1.0)
    assert_raises(ValueError, ["sgd_step", "'nesterov'", "momentum > 0"], ops.sgd_step, p, g, lr=0.1, nesterov=True)
    assert_raises(ValueError, ["sgd_step", "'nesterov'", "dampening = 0"], ops.sgd_step, p, g, z(), lr=0.1,
                  momentum=0.9, dampening=0.1, nesterov=True)
    assert_raises(ValueError, ["sgd_step", "'momentum_buffer'", "momentum > 0", "None"], ops.sgd_step, p, g, lr=0.1,
                  momentum=0.9)
    assert_raises(ValueError, ["sgd_step", "'step'", ">= 1", "0"], ops.sgd_step, p, g, lr=0.1, step=0)
    assert_raises(ValueError, ["sgd_step", "'weight_decay'", ">= 0"], ops.sgd_step, p, g, lr=0.1, weight_decay=-1.0)
    assert_raises(ValueError, ["sgd_step", "'grad'", "(4,)", "(5,)"], ops.sgd_step, p, np.zeros(5, np.float32),
                  lr=0.1)
    assert_raises(ValueError, ["sgd_step", "'momentum_buffer'", "(4,)", "(2, 2)"], ops.sgd_step, p, g,
                  np.zeros((2, 2), np.float32), lr=0.1, momentum=0.9)
    assert_raises(ValueError, ["adam_step", "'beta1'", "[0, 1)", "1"], ops.adam_step, p, g, z(), z(), step=1,
                  betas=(1.0, 0.999))
    assert_raises(ValueError, ["adam_step", "'beta2'", "[0, 1)", "-0.5"], ops.adam_step, p, g, z(), z(), step=1,
                  betas=(0.9, -0.5))
    assert_raises(ValueError, ["adam_step", "'eps'", "> 0", "0"], ops.adam_step, p, g, z(), z(), step=1, eps=0.0)
    assert_raises(ValueError, ["adam_step", "'step'", ">= 1"], ops.adam_step, p, g, z(), z(), step=0)
    assert_raises(ValueError, ["adam_step", "'lr'", "nan"], ops.adam_step, p, g, z(), z(), step=1, lr=float("nan"))
    assert_raises(ValueError, ["adamw_step", "'exp_avg'", "(4,)", "(3,)"], ops.adamw_step, p, g,
                  np.zeros(3, np.float32), z(), step=1)
    assert_raises(TypeError, ["adam_step", "'betas'", "pair"], ops.adam_step, p, g, z(), z(), step=1, betas=0.9)
    assert_raises(ValueError, ["rmsprop_step", "'alpha'", "[0, 1)"], ops.rmsprop_step, p, g, z(), step=1, alpha=1.5)
    assert_raises(ValueError, ["rmsprop_step", "'eps'", "> 0"], ops.rmsprop_step, p, g, z(), step=1, eps=-1.0)
    assert_raises(ValueError, ["rmsprop_step", "'momentum_buffer'", "momentum > 0", "None"], ops.rmsprop_step, p, g,
                  z(), step=1, momentum=0.9)
    assert_raises(ValueError, ["rmsprop_step", "'grad_avg'", "centered=True", "None"], ops.rmsprop_step, p, g, z(),
                  step=1, centered=True)
    assert_raises(ValueError, ["rmsprop_step", "'square_avg'", "(4,)", "(2,)"], ops.rmsprop_step, p, g,
                  np.zeros(2, np.float32), step=1)
    with pytest.raises(TypeError):
        ops.adam_step(p, g, z(), z())  # step is required, keyword-only


@requires_cuda
def test_optimizers_gpu_match_cpu(rng):
    p0 = rng.standard_normal(1000).astype(np.float32)
    grads = [rng.standard_normal(1000).astype(np.float32) for _ in range(3)]
    cases = [(ops.sgd_step, 1, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
             (ops.adam_step, 2, dict(lr=1e-2, weight_decay=0.1)), (ops.adamw_step, 2, dict(lr=1e-2)),
             (ops.rmsprop_step, 3, dict(lr=1e-2, momentum=0.9, centered=True))]
    for fn, n_state, kw in cases:
        cpu = [p0.copy()] + [np.zeros_like(p0) for _ in range(n_state)]
        gpu = [convnet.tensor(a, device="cuda") for a in cpu]
        for step, g in enumerate(grads, 1):
            fn(cpu[0], g, *cpu[1:], step=step, **kw)
            fn(gpu[0], convnet.tensor(g, device="cuda"), *gpu[1:], step=step, **kw)
        for c, d in zip(cpu, gpu):
            assert_close(d.numpy(), c, 1e-5)


def test_optimizer_from_a_saved_config():
    # what model files hold; a config without its 'config' takes the defaults (as losses.get does), a wrong one
    # is a clear error, never a KeyError
    from convnet import optimizers

    adam = optimizers.get(optimizers.Adam(learning_rate=0.01).get_config())
    assert isinstance(adam, optimizers.Adam) and adam.get_config() == optimizers.Adam(learning_rate=0.01).get_config()
    assert optimizers.get({"class_name": "SGD"}).get_config() == optimizers.SGD().get_config()
    assert_raises(ValueError, ["unknown optimizer", "'Nope'"], optimizers.get, {"class_name": "Nope", "config": {}})
    with pytest.raises(TypeError):
        optimizers.get({"class_name": "Adam", "config": {"learning_rat": 0.1}})
