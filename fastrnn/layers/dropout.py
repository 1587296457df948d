"""Inverted dropout over every time step: ``TimeDropout``."""
from __future__ import annotations

import numpy as np

from .. import _validate as v


class TimeDropout:
    """``forward(xs) -> xs * mask`` while ``train_flg`` (default True), ``xs`` otherwise.

    The mask keeps each element with probability ``1 - dropout_ratio`` and
    scales it by ``1 / (1 - dropout_ratio)``; ``backward(dout)`` multiplies by
    the same mask.  Masks come from the layer's own generator, seeded with
    ``seed`` or, when None, from NumPy's global generator at construction, so
    ``np.random.seed(s)`` before building a model makes its masks reproducible
    (as in the reference).
    """

    def __init__(self, dropout_ratio: float = 0.5, seed: int | None = None):
        self.params, self.grads = [], []
        self.dropout_ratio = v.fraction(dropout_ratio, "dropout_ratio")
        self.train_flg = True
        self.mask = None
        self.rng = np.random.default_rng(np.random.randint(2**31) if seed is None else seed)

    def forward(self, xs: np.ndarray) -> np.ndarray:
        """xs (any shape, float) -> same shape."""
        if not isinstance(xs, np.ndarray) or xs.dtype not in v.FLOAT_DTYPES:
            raise TypeError("xs must be a float32 or float64 numpy array, got "
                            + (f"dtype {xs.dtype}" if isinstance(xs, np.ndarray) else type(xs).__name__))
        if not self.train_flg:
            return xs
        keep = self.rng.random(xs.shape, dtype=np.float32) >= self.dropout_ratio
        self.mask = keep * xs.dtype.type(1.0 / (1.0 - self.dropout_ratio))
        return xs * self.mask

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.mask is None:
            return dout
        dout = v.float_array(dout, "dout", self.mask.shape, self.mask.dtype)
        return dout * self.mask
