"""Fused in-place elementwise updates over flat (1-D, contiguous) arrays."""
import numpy as np
from numba import njit, prange

from .config import PJIT

BLOCK = 4096
"""Partial sums run over fixed blocks, combined serially in float64: the result
does not depend on the thread count."""


@njit(**PJIT)
def sum_of_squares(a):
    """sum(a**2) of a flat array: float64 total of per-block sums in a's dtype."""
    nblocks = (a.size + BLOCK - 1) // BLOCK
    partial = np.empty(nblocks)
    for k in prange(nblocks):
        s = a[k * BLOCK] * a[k * BLOCK]
        for i in range(k * BLOCK + 1, min(a.size, (k + 1) * BLOCK)):
            s += a[i] * a[i]
        partial[k] = s
    total = 0.0
    for k in range(nblocks):
        total += partial[k]
    return total


@njit(**PJIT)
def scale_(a, rate):
    """a *= rate, in place; rate a scalar of a's dtype."""
    for i in prange(a.size):
        a[i] *= rate


@njit(**PJIT)
def sgd_update(p, g, lr):
    """p -= lr * g, in place; lr a scalar of p's dtype."""
    for i in prange(p.size):
        p[i] -= lr * g[i]
