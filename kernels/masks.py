"""Dropout masks from a counter-based generator, applied as they are drawn.

Every element's draw is a function of a key and the element's index alone,
never of what was drawn before: a mask does not depend on the thread count,
on how a batch's rows are split between processes (a row is keyed by its
place in the whole batch), or on the order of the calls, and the backward
pass draws the forward's mask again instead of storing it.

The generator is SplitMix64 in counter form (Steele, Lea and Flood, "Fast
splittable pseudorandom number generators", 2014): draw ``i`` under key ``k``
is ``mix(k + (i + 1) * GOLDEN)``, with SplitMix64's output function

    mix(z): z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27;
            z *= 0x94D049BB133111EB; z ^= z >> 31     (arithmetic mod 2**64)

and ``GOLDEN = 0x9E3779B97F4A7C15``.  Keys are made by the same rule,
``key(k, j) = mix(k + (j + 1) * GOLDEN)``, chained from 0 through a layer's
seed, its call and a row (``fastrnn.layers.dropout``).  An element is kept when the draw's high
32 bits are at least ``threshold = round(ratio * 2**32)`` (the probability of
keeping it is ``1 - threshold / 2**32``), and a kept element is multiplied by
``scale = 1 / (1 - ratio)``.
"""
import numpy as np
from numba import njit, prange

from .config import JIT, PJIT

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
M1 = np.uint64(0xBF58476D1CE4E5B9)
M2 = np.uint64(0x94D049BB133111EB)


@njit(**JIT)
def mix(z):
    """SplitMix64's output function of a uint64."""
    z = (z ^ (z >> np.uint64(30))) * M1
    z = (z ^ (z >> np.uint64(27))) * M2
    return z ^ (z >> np.uint64(31))


@njit(**JIT)
def key(k, j):
    """The key of item ``j`` (a layer, a call, a row) under key ``k``: draw ``j`` of ``k``."""
    return mix(k + np.uint64(j + 1) * GOLDEN)


@njit(**JIT)
def _apply(x, out, k, period, threshold, scale):
    """out (flat) = x masked by the mask of key k, drawn as it is applied: out[i] =
    x[i] * scale where draw i % period keeps it, x[i] * 0 where it does not."""
    zero = x.dtype.type(0)
    for start in range(0, x.size, period):
        step = np.uint64(k) + GOLDEN
        for i in range(start, start + period):
            out[i] = x[i] * (scale if (mix(step) >> np.uint64(32)) >= threshold else zero)
            step += GOLDEN


@njit(**PJIT)
def row_dropout(xs, out, k, row0, period, threshold, scale):
    """out (R, C) = xs masked: element (r, c) under key ``key(k, row0 + r)``, draw
    c % period (a row's key is its place in the whole batch, ``row0`` the first of
    these rows).  A (N, T, D) batch is (N, T*D) here: period T*D draws every
    element on its own, period D one mask a row for every time step (locked
    dropout).  The backward pass is the same call on the gradient."""
    for r in prange(xs.shape[0]):
        _apply(xs[r], out[r], key(k, row0 + r), period, threshold, scale)
