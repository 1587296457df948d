"""Softmax with cross-entropy over every time step: ``TimeSoftmaxWithLoss``."""
from __future__ import annotations

import numpy as np

from .. import _validate as v
from ..kernels.softmax import softmax_cross_entropy


def check_labels(ts, N: int, T: int, V: int, ignore_label) -> tuple:
    """Checked labels ts (N, T) of word ids, or one-hot rows (N, T, V): (ids (N*T,)
    int64, the ignore label, the count of the others)."""
    if isinstance(ts, np.ndarray) and ts.ndim == 3:
        v.check_shape(ts.shape, (N, T, V), "ts (one-hot)")
        ts = ts.argmax(axis=2)
    ignore = int(ignore_label)
    ts = v.id_array(ts, "ts", (N, T), V, ignore=ignore).reshape(-1)
    return ts, ignore, int(np.count_nonzero(ts != ignore))


class TimeSoftmaxWithLoss:
    """``forward(xs (N, T, V), ts) -> loss``: mean cross-entropy of softmax(xs).

    ``ts`` holds word ids ``(N, T)`` or one-hot rows ``(N, T, V)``.  Positions
    whose label equals ``ignore_label`` (default -1) count neither in the loss
    nor in the mean; when every position is ignored the loss is 0 and the
    gradient zero.  ``backward(dout=1) -> dxs (N, T, V)`` is
    ``(softmax(xs) - onehot(ts)) * dout / count``.

    ``forward`` computes the gradient too (for dout=1), in the same pass over
    the scores as the loss; ``backward`` then returns it, scaled by dout
    (a new array unless dout is 1).  The scores themselves are never changed.
    """

    def __init__(self):
        self.params, self.grads = [], []
        self.ignore_label = -1
        self._cache = None

    def _labels(self, ts, N: int, T: int, V: int) -> tuple:
        """Checked labels: (ids (N*T,) int64, the ignore label, count of the others)."""
        return check_labels(ts, N, T, V, self.ignore_label)

    def forward(self, xs: np.ndarray, ts: np.ndarray) -> float:
        if not isinstance(xs, np.ndarray) or xs.dtype not in v.FLOAT_DTYPES:
            raise TypeError("xs must be a float32 or float64 numpy array of scores (N, T, V), got "
                            + (f"dtype {xs.dtype}" if isinstance(xs, np.ndarray) else type(xs).__name__))
        xs = v.float_array(xs, "xs", (None, None, None), xs.dtype)
        N, T, V = xs.shape
        ts, ignore, count = self._labels(ts, N, T, V)
        losses = np.empty(N * T, xs.dtype)
        dx = np.empty((N * T, V), xs.dtype)
        scale = xs.dtype.type(1 / count if count else 0)
        softmax_cross_entropy(xs.reshape(N * T, V), ts, ignore, scale, losses, dx)
        self._cache = dx.reshape(xs.shape)
        return float(np.sum(losses, dtype=np.float64) / count) if count else 0.0

    def backward(self, dout=1) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError("TimeSoftmaxWithLoss.backward called before forward")
        return self._cache if dout == 1 else self._cache * self._cache.dtype.type(dout)
