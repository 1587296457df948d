"""Fused in-place elementwise updates over flat (1-D, contiguous) arrays.

Serial on purpose: these loops are bound by memory bandwidth, which one core
nearly fills (a million float32 in about 0.05 ms here), and a parallel region
costs more to start than it saves.
"""
from numba import njit

from .config import JIT


@njit(**JIT)
def sum_of_squares(a):
    """sum(a**2) of a flat array, accumulated in a's dtype over vector lanes."""
    s = a[0] * a[0]
    for i in range(1, a.size):
        s += a[i] * a[i]
    return float(s)


@njit(**JIT)
def scale_(a, rate):
    """a *= rate, in place; rate a scalar of a's dtype."""
    for i in range(a.size):
        a[i] *= rate


@njit(**JIT)
def sgd_update(p, g, lr):
    """p -= lr * g, in place; lr a scalar of p's dtype."""
    for i in range(p.size):
        p[i] -= lr * g[i]
