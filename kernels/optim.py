"""Fused in-place elementwise updates over flat (1-D, contiguous) arrays:
gradient norms and scaling, and one kernel per optimizer.

The updates are bound by memory bandwidth, and two cores move about twice
what one does (an SGD step on a million float32: 0.17 against 0.33 ms, Intel
Xeon EMR): they run in parallel.  Each element is updated on its own, so the
split cannot change a bit.  The sum of squares stays serial: its order of
additions is part of its result.

A row-sparse gradient (``fastrnn.sparse.RowGrad``: values at some rows of a
(V, D) array, zero elsewhere) has kernels of its own that give the bits the
dense kernels give on the whole array: ``sum_of_squares_rows`` adds each
square into the lane the dense kernel would, and ``sgd_rows`` is ``sgd_update``
on the rows alone (elsewhere the update subtracts zero).  ``rows_plus_transposed``
adds a dense gradient given transposed (a tied output weight's) to a row-sparse
one, writing the dense sum in one pass.
"""
import numpy as np
from numba import njit, prange

from .config import JIT, PJIT
from .simd import LANES, fma, vadd, vfma, vload, vsplat, vsum


@njit(**JIT)
def sum_of_squares(a):
    """sum(a**2) of a flat array in a's dtype, in an order fixed by this source:
    2*LANES lanes each accumulate every (2*LANES)-th square (fused multiply-add),
    the lanes are added in a fixed tree, then the squares left over in order."""
    n = a.size
    zero = a.dtype.type(0)
    acc0, acc1 = vsplat(zero, LANES), vsplat(zero, LANES)
    j = 0
    while j + 2 * LANES <= n:
        v0, v1 = vload(a, j, LANES), vload(a, j + LANES, LANES)
        acc0, acc1 = vfma(v0, v0, acc0), vfma(v1, v1, acc1)
        j += 2 * LANES
    s = vsum(vadd(acc0, acc1))
    for k in range(j, n):
        s += a[k] * a[k]
    return float(s)


@njit(**JIT)
def sum_of_squares_rows(values, rows, V):
    """``sum_of_squares`` of the flat (V*D) array that holds values[u] at row
    rows[u] (sorted, unique) and zeros elsewhere, bit for bit, from the rows alone.

    The dense kernel puts flat element k into lane k % (2*LANES) while k is
    below the last multiple of 2*LANES, and adds the rest in order after the
    lanes' tree; a zero leaves a lane as it is (the lanes are never negative),
    so only the rows given matter, each element in its own lane."""
    U, D = values.shape
    W2 = 2 * LANES
    n = V * D
    nvec = n - n % W2
    acc = np.zeros(W2, values.dtype)
    for u in range(U):
        x = values[u]
        base = rows[u] * D
        stop = min(D, nvec - base)  # the row's elements that go into lanes
        j = 0
        while j < stop and (base + j) % W2 != 0:
            l = (base + j) % W2
            acc[l] = fma(x[j], x[j], acc[l])
            j += 1
        while j + W2 <= stop:  # lane l takes element j + l
            for l in range(W2):
                acc[l] = fma(x[j + l], x[j + l], acc[l])
            j += W2
        while j < stop:
            l = (base + j) % W2
            acc[l] = fma(x[j], x[j], acc[l])
            j += 1
    s = vsum(vadd(vload(acc, 0, LANES), vload(acc, LANES, LANES)))
    for u in range(U):
        x = values[u]
        base = rows[u] * D
        for j in range(max(0, nvec - base), D):
            s += x[j] * x[j]
    return float(s)


@njit(**PJIT)
def sgd_rows(p, rows, values, lr):
    """p[rows[u]] -= lr * values[u] for each u: ``sgd_update`` of a (V, D) param
    whose grad is zero but at ``rows``; lr a scalar of p's dtype."""
    for u in prange(rows.size):
        i = rows[u]
        for j in range(p.shape[1]):
            p[i, j] -= lr * values[u, j]


ROWS = 64
"""Rows of ``dense`` a task of ``rows_plus_transposed`` writes (64 of bT's columns: 256 bytes a row)."""


@njit(**PJIT)
def rows_plus_transposed(dense, rows, values, bT):
    """dense (V, D) = G + bT.T for G (V, D) zero but at ``rows[u]``, where it is
    ``values[u]``, and bT (D, V) C-contiguous: the bits of filling dense with G
    and adding bT.T, in one pass, ROWS rows of dense a task."""
    V, D = dense.shape
    at = np.full(V, -1, np.int64)
    for u in range(rows.size):
        at[rows[u]] = u
    zero = np.zeros(D, dense.dtype)
    for q in prange((V + ROWS - 1) // ROWS):
        for v in range(q * ROWS, min(V, (q + 1) * ROWS)):
            g = values[at[v]] if at[v] >= 0 else zero
            for j in range(D):
                dense[v, j] = g[j] + bT[j, v]


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


@njit(**PJIT)
def momentum_update(p, g, v, lr, momentum):
    """v = momentum*v - lr*g; p += v."""
    for i in prange(p.size):
        v[i] = momentum * v[i] - lr * g[i]
        p[i] += v[i]


@njit(**PJIT)
def nesterov_update(p, g, v, lr, momentum):
    """v = momentum*v - lr*g; p += momentum**2 * v - (1 + momentum) * lr * g."""
    for i in prange(p.size):
        v[i] = momentum * v[i] - lr * g[i]
        p[i] += momentum * momentum * v[i] - (1 + momentum) * lr * g[i]


@njit(**PJIT)
def rmsprop_update(p, g, h, lr, decay_rate, eps):
    """h = decay_rate*h + (1 - decay_rate)*g**2; p -= lr*g / (sqrt(h) + eps)."""
    for i in prange(p.size):
        h[i] = decay_rate * h[i] + (1 - decay_rate) * g[i] * g[i]
        p[i] -= lr * g[i] / (np.sqrt(h[i]) + eps)


@njit(**PJIT)
def adagrad_update(p, g, h, lr, eps):
    """h += g**2; p -= lr*g / (sqrt(h) + eps)."""
    for i in prange(p.size):
        h[i] += g[i] * g[i]
        p[i] -= lr * g[i] / (np.sqrt(h[i]) + eps)


@njit(**PJIT)
def adam_update(p, g, m, v, lr_t, beta1, beta2, eps):
    """m += (1-beta1)*(g - m); v += (1-beta2)*(g**2 - v); p -= lr_t*m / (sqrt(v) + eps)."""
    for i in prange(p.size):
        m[i] += (1 - beta1) * (g[i] - m[i])
        v[i] += (1 - beta2) * (g[i] * g[i] - v[i])
        p[i] -= lr_t * m[i] / (np.sqrt(v[i]) + eps)


@njit(**PJIT)
def running_mean(avg, p, w):
    """avg += (p - avg) * w, in place (w = 1/k for the k-th term of a running mean)."""
    for i in prange(avg.size):
        avg[i] += (p[i] - avg[i]) * w
