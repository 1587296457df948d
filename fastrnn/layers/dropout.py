"""Inverted dropout over every time step: ``TimeDropout``, its masks drawn by
fastrnn's counter-based generator (``fastrnn.kernels.masks``)."""
from __future__ import annotations

import numpy as np

from .. import _validate as v
from ..kernels import masks


def threshold(ratio: float) -> np.uint64:
    """The generator's threshold of ``ratio``: a draw's high 32 bits below it drop the element."""
    return np.uint64(round(ratio * 2**32))


def call_key(seed: int, call: int) -> np.uint64:
    """The key of a layer's masks at its ``call``-th training forward (from 0)."""
    return np.uint64(masks.key(np.uint64(masks.key(np.uint64(0), seed)), call))


class TimeDropout:
    """``forward(xs) -> xs * mask`` while ``train_flg`` (default True), ``xs`` otherwise.

    The mask keeps each element with probability ``1 - dropout_ratio`` and
    scales it by ``1 / (1 - dropout_ratio)``; ``backward(dout)`` multiplies by
    the same mask.  A mask is a function of the layer's ``seed``, its count of
    training forwards (``calls``) and each row's place in the whole batch
    (``row0`` + the row; a process holding rows from ``row0`` on draws what one
    process holding the whole batch draws for them), never of the thread count.
    ``seed`` None takes it from NumPy's global generator at construction, so
    ``np.random.seed(s)`` before building a model makes its masks reproducible
    (as in the reference).  ``mask`` is the last forward's mask, drawn again.

    ``locked=True`` is locked (variational) dropout: one mask a row, over the
    last axis, the same at every time step of the call (AWD-LSTM's).
    """

    def __init__(self, dropout_ratio: float = 0.5, seed: int | None = None, *, locked: bool = False):
        self.params, self.grads = [], []
        self.dropout_ratio = v.fraction(dropout_ratio, "dropout_ratio")
        self.locked = bool(locked)
        self.train_flg = True
        self.seed = int(np.random.randint(2**31) if seed is None else seed)
        self.calls, self.row0 = 0, 0
        self._key, self._shape = None, None  # the last training forward's key and (shape, dtype)

    def _run(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """x (C-contiguous) masked (rows: its first axis), by the last training forward's
        mask, into ``out`` (x's shape and dtype; may be x) or a new array."""
        target = out if out is not None and out.flags.c_contiguous else np.empty_like(x)
        rows = x.shape[0] if x.ndim else 1
        flat = (rows, x.size // rows if rows else 0)
        period = x.shape[-1] if self.locked and x.ndim > 1 else flat[1]
        ratio = self.dropout_ratio
        masks.row_dropout(x.reshape(flat), target.reshape(flat), self._key, self.row0, max(1, period),
                          threshold(ratio), x.dtype.type(1 / (1 - ratio)))
        if out is not None and target is not out:
            out[...] = target
        return out if out is not None else target

    def forward(self, xs: np.ndarray) -> np.ndarray:
        """xs (N, ...), float -> same shape (a row of the batch is ``xs[n]``)."""
        if not isinstance(xs, np.ndarray) or xs.dtype not in v.FLOAT_DTYPES:
            raise TypeError("xs must be a float32 or float64 numpy array, got "
                            + (f"dtype {xs.dtype}" if isinstance(xs, np.ndarray) else type(xs).__name__))
        if not self.train_flg:
            return xs
        xs = np.ascontiguousarray(xs)
        self._key, self._shape = call_key(self.seed, self.calls), (xs.shape, xs.dtype)
        self.calls += 1
        return self._run(xs)

    def backward(self, dout: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """dout masked by the last forward's mask, into ``out`` when given (of dout's
        shape and dtype; may be dout itself)."""
        if self._key is None:
            return dout
        return self._run(v.float_array(dout, "dout", *self._shape), out)

    @property
    def mask(self) -> np.ndarray | None:
        """The last training forward's mask (0 or the scale), None before one."""
        if self._key is None:
            return None
        return self._run(np.ones(*self._shape))
