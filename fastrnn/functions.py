"""The reference's ``common.functions``: sigmoid, relu, softmax and cross-entropy in NumPy."""
from __future__ import annotations

import numpy as np

from .config import GPU

__all__ = ["np", "GPU", "sigmoid", "relu", "softmax", "cross_entropy_error"]


def _real(x):
    """x as an array, integers and booleans as float64 (NumPy's integer arithmetic
    would wrap around, and its exp of small integers is float16)."""
    x = np.asarray(x)
    return x.astype(np.float64) if x.dtype.kind in "biu" else x


def sigmoid(x):
    """1 / (1 + exp(-x)), elementwise."""
    return 1 / (1 + np.exp(-_real(x)))


def relu(x):
    """max(0, x), elementwise."""
    return np.maximum(0, x)


def softmax(x):
    """Softmax over the last axis of a 1-D or 2-D array (a new array; rows shifted
    by their maximum first, so no exponential overflows).  Other ranks are
    returned unchanged, as the reference does."""
    x = _real(x)
    if x.ndim == 2:
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if x.ndim == 1:
        e = np.exp(x - np.max(x))
        return e / np.sum(e)
    return x


def cross_entropy_error(y, t):
    """Mean over rows of -log(y[row, t] + 1e-7), y (N, C) probabilities (or (C,)),
    t (N,) labels or one-hot rows of y's shape."""
    y = _real(y)
    if y.ndim == 1:
        y = y.reshape(1, y.size)
        t = np.asarray(t).reshape(1, -1)
    t = np.asarray(t)
    if t.size == y.size:
        t = t.argmax(axis=1)
    t = t.reshape(-1)
    N = y.shape[0]
    return -np.sum(np.log(y[np.arange(N), t] + 1e-7)) / N
