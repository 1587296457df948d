"""Elementwise work on params and grads: a fused kernel for large arrays,
NumPy for small ones (where the call costs more than the work) and
for arrays that are not contiguous."""
from __future__ import annotations

import numpy as np

from .kernels import optim

KERNEL_MIN = 1 << 15
"""Arrays of fewer elements go to NumPy."""


def _flat_any(a: np.ndarray):
    """A 1-D view of every element of ``a`` in memory order, or None."""
    if a.flags.c_contiguous:
        return a.reshape(-1)
    if a.flags.f_contiguous:
        return a.T.reshape(-1)
    return None


def _flat(a: np.ndarray):
    """``_flat_any(a)`` for arrays large enough for a kernel, else None."""
    return None if a.size < KERNEL_MIN else _flat_any(a)


def sum_of_squares(a: np.ndarray) -> float:
    f = _flat(a)
    if f is None:
        return float(np.sum(np.square(a, dtype=np.float64)))
    return optim.sum_of_squares(f)


def scale_(a: np.ndarray, rate: float) -> None:
    """a *= rate, in place."""
    f = _flat(a)
    if f is None:
        a *= a.dtype.type(rate)
    else:
        optim.scale_(f, a.dtype.type(rate))


def sgd_(p: np.ndarray, g: np.ndarray, lr: float) -> None:
    """p -= lr * g, in place."""
    fp, fg = _flat(p), _flat(g)
    if fp is None or fg is None or p.strides != g.strides:
        p -= p.dtype.type(lr) * g
    else:
        optim.sgd_update(fp, fg, p.dtype.type(lr))


def fused_update(kernel, arrays, *scalars) -> None:
    """``kernel(*flat arrays, *scalars)`` over one-layout arrays, updated in place.

    ``arrays`` are a param, its grad and the optimizer's state arrays, one
    shape; the scalars are cast to the param's dtype.  When the arrays are not
    all contiguous in one memory order, the kernel runs on C-ordered copies,
    which are then written back.
    """
    dtype = arrays[0].dtype.type
    flats = [_flat_any(a) for a in arrays]
    if all(f is not None for f in flats) and len({a.strides for a in arrays}) == 1:
        kernel(*flats, *(dtype(s) for s in scalars))
        return
    copies = [np.ascontiguousarray(a) for a in arrays]
    kernel(*(c.reshape(-1) for c in copies), *(dtype(s) for s in scalars))
    for a, c in zip(arrays, copies):
        if c is not a:
            a[...] = c
