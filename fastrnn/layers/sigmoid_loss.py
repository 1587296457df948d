"""Sigmoid with binary cross-entropy over every time step: ``TimeSigmoidWithLoss``."""
from __future__ import annotations

import numpy as np

from .. import _validate as v


class TimeSigmoidWithLoss:
    """``forward(xs (N, T), ts (N, T) of 0/1) -> loss``: the mean over all N*T
    positions of the binary cross-entropy of ``sigmoid(xs)``.

    Computed as ``log(1 + exp(-x))`` or ``log(1 + exp(x))`` in a form that stays
    finite for any score (the reference adds 1e-7 inside the log instead).
    ``backward(dout=1) -> dxs (N, T)`` is ``(sigmoid(xs) - ts) * dout / (N*T)``.
    """

    def __init__(self):
        self.params, self.grads = [], []
        self._cache = None

    def forward(self, xs: np.ndarray, ts: np.ndarray) -> float:
        if not isinstance(xs, np.ndarray) or xs.dtype not in v.FLOAT_DTYPES:
            raise TypeError("xs must be a float32 or float64 numpy array of scores (N, T), got "
                            + (f"dtype {xs.dtype}" if isinstance(xs, np.ndarray) else type(xs).__name__))
        xs = v.float_array(xs, "xs", (None, None), xs.dtype)
        ts = v.id_array(ts, "ts", xs.shape, 2)
        y = np.empty_like(xs)
        np.exp(-np.abs(xs), out=y)
        loss = np.log1p(y) + np.maximum(np.where(ts == 1, -xs, xs), 0)  # -log p(label)
        y = np.where(xs >= 0, 1 / (1 + y), y / (1 + y))
        self._cache = (y, ts)
        return float(loss.mean(dtype=np.float64))

    def backward(self, dout=1) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError("TimeSigmoidWithLoss.backward called before forward")
        y, ts = self._cache
        return ((y - ts) * (float(dout) / y.size)).astype(y.dtype)
