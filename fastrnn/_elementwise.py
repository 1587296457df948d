"""Elementwise work on params and grads: a fused kernel for large arrays,
NumPy for small ones (where the call costs more than the work) and
for arrays that are not contiguous."""
from __future__ import annotations

import numpy as np

from .kernels import optim

KERNEL_MIN = 1 << 15
"""Arrays of fewer elements go to NumPy."""


def _flat(a: np.ndarray):
    """A 1-D view of every element of ``a`` in memory order, or None."""
    if a.size < KERNEL_MIN:
        return None
    if a.flags.c_contiguous:
        return a.reshape(-1)
    if a.flags.f_contiguous:
        return a.T.reshape(-1)
    return None


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
