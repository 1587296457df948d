"""Softmax with cross-entropy over every time step: ``TimeSoftmaxWithLoss``."""
from __future__ import annotations

import numpy as np

from .. import _validate as v
from ..kernels.softmax import softmax_cross_entropy_backward, softmax_cross_entropy_forward


class TimeSoftmaxWithLoss:
    """``forward(xs (N, T, V), ts) -> loss``: mean cross-entropy of softmax(xs).

    ``ts`` holds word ids ``(N, T)`` or one-hot rows ``(N, T, V)``.  Positions
    whose label equals ``ignore_label`` (default -1) count neither in the loss
    nor in the mean; when every position is ignored the loss is 0 and the
    gradient zero.  ``backward(dout=1) -> dxs (N, T, V)`` is
    ``(softmax(xs) - onehot(ts)) * dout / count``.
    """

    def __init__(self):
        self.params, self.grads = [], []
        self.ignore_label = -1
        self._cache = None

    def forward(self, xs: np.ndarray, ts: np.ndarray) -> float:
        if not isinstance(xs, np.ndarray) or xs.dtype not in v.FLOAT_DTYPES:
            raise TypeError("xs must be a float32 or float64 numpy array of scores (N, T, V), got "
                            + (f"dtype {xs.dtype}" if isinstance(xs, np.ndarray) else type(xs).__name__))
        xs = v.float_array(xs, "xs", (None, None, None), xs.dtype)
        N, T, V = xs.shape
        if isinstance(ts, np.ndarray) and ts.ndim == 3:
            v.check_shape(ts.shape, (N, T, V), "ts (one-hot)")
            ts = ts.argmax(axis=2)
        ignore = int(self.ignore_label)
        ts = v.id_array(ts, "ts", (N, T), V, ignore=ignore).reshape(-1)
        losses = np.empty(N * T, xs.dtype)
        lse = np.empty(N * T, xs.dtype)
        x2 = xs.reshape(N * T, V)
        softmax_cross_entropy_forward(x2, ts, ignore, losses, lse)
        count = int(np.count_nonzero(ts != ignore))
        self._cache = (x2, ts, ignore, lse, count, xs.shape)
        return float(np.sum(losses, dtype=np.float64) / count) if count else 0.0

    def backward(self, dout=1) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError("TimeSoftmaxWithLoss.backward called before forward")
        x2, ts, ignore, lse, count, shape = self._cache
        scale = x2.dtype.type(float(dout) / count if count else 0.0)
        dx = np.empty_like(x2)
        softmax_cross_entropy_backward(x2, ts, ignore, lse, scale, dx)
        return dx.reshape(shape)
