"""The CNN ops of the C++ core, forward and backward (NCHW, PyTorch's weight layouts).

``NAME(...)`` computes the forward pass and ``NAME_backward(grad_out, <forward inputs>,
<same parameters>)`` returns the gradient of each differentiable input, in order. Inputs may be
Tensors or numpy arrays; outputs are Tensors (``np.asarray(t)`` shares their memory).

A call whose arguments match no signature (an unknown keyword, a missing or extra argument, a value
of the wrong type) is a TypeError naming the op, the argument and the accepted ones; not pybind11's
message, which prints every argument's repr (whole arrays).
"""
import functools

from ._core import ops as _ops


def _parameters(function):
    """[(name, required)] of a pybind11 function, from the signature that opens its docstring."""
    first = (function.__doc__ or "").split("\n", 1)[0]
    inside = first[first.find("(") + 1:first.rfind(")")] if "(" in first else ""
    params, depth, part = [], 0, ""
    for ch in inside + ",":
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            name = part.split(":")[0].split("=")[0].strip()
            if name and name not in ("*", "/"):
                params.append((name, "=" not in part))
            part = ""
        else:
            part += ch
    return params


def _mismatch(name, params, args, kwargs):
    names = [p for p, _ in params]
    accepted = f"(accepted: {', '.join(names)})"
    for key in kwargs:
        if key not in names:
            return f"{name}: unexpected keyword argument '{key}' {accepted}"
    if len(args) > len(names):
        return f"{name}: takes at most {len(names)} arguments, got {len(args)} positional {accepted}"
    given = set(names[:len(args)]) | set(kwargs)
    for p, required in params:
        if required and p not in given:
            return f"{name}: missing argument '{p}' {accepted}"
    types = [type(a).__name__ for a in args] + [f"{k}={type(v).__name__}" for k, v in kwargs.items()]
    return f"{name}: arguments of types ({', '.join(types)}) do not match {name}({', '.join(names)}); see help({name})"


def _checked(name, function):
    params = _parameters(function)

    @functools.wraps(function)
    def call(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except TypeError as e:
            if "incompatible function arguments" not in str(e):
                raise
            raise TypeError(_mismatch(name, params, args, kwargs)) from None

    return call


__all__ = [name for name in dir(_ops) if not name.startswith("_")]
globals().update({name: _checked(name, getattr(_ops, name)) for name in __all__})
