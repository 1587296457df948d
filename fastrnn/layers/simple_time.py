"""The reference's two step-by-step teaching layers, ``Simple_TimeAffine`` and
``Simple_TimeSoftmaxWithLoss``, with their interfaces (attributes ``W``, ``b``,
``dW``, ``db``; no params lists) computed over all steps at once in NumPy."""
from __future__ import annotations

import numpy as np

from .. import _validate as v
from .basic import _cached, _labels
from ..functions import softmax


class Simple_TimeAffine:
    """``forward(xs (N, T, D)) -> xs @ W + b (N, T, M)``; ``backward(dout) -> dxs``,
    setting ``dW`` (D, M) and ``db`` (M,), sums over all steps."""

    def __init__(self, W: np.ndarray, b: np.ndarray):
        self.W, self.b = W, b
        self.dW, self.db = None, None
        self.xs = None

    def forward(self, xs):
        xs = v.float_array(xs, "xs", (None, None, self.W.shape[0]), self.W.dtype)
        self.xs = xs
        return xs @ self.W + self.b

    def backward(self, dout):
        xs = _cached(self.xs, self)
        N, T, D = xs.shape
        dout = v.float_array(dout, "dout", (N, T, self.W.shape[1]), self.W.dtype)
        self.dW = xs.reshape(N * T, D).T @ dout.reshape(N * T, -1)
        self.db = dout.sum(axis=(0, 1))
        return dout @ self.W.T


class Simple_TimeSoftmaxWithLoss:
    """``forward(xs (N, T, V), ts (N, T)) -> loss``: the mean over all steps of
    SoftmaxWithLoss (-log(p + 1e-7)); ``backward(dout=1) -> (softmax(xs) -
    onehot(ts)) * dout / (N*T)``."""

    def __init__(self):
        self.params, self.grads = [], []
        self.cache = None

    def forward(self, xs, ts):
        if not isinstance(xs, np.ndarray) or xs.ndim != 3:
            raise ValueError("xs must be a numpy array of shape (N, T, V), got "
                             + (f"shape {xs.shape}" if isinstance(xs, np.ndarray) else type(xs).__name__))
        N, T, V = xs.shape
        ys = softmax(xs.reshape(N * T, V))
        t = _labels(np.asarray(ts).reshape(N * T, *np.shape(ts)[2:]), ys)
        self.cache = (ys, t, xs.shape)
        return float(-np.mean(np.log(ys[np.arange(N * T), t] + 1e-7)))

    def backward(self, dout=1):
        ys, t, shape = _cached(self.cache, self)
        dx = ys.copy()
        dx[np.arange(t.size), t] -= 1
        return (dx * (dout / t.size)).reshape(shape)
