"""The reference's ``common.layers`` that fastrnn has no kernel for, in plain NumPy:
``MatMul``, ``Affine``, ``Softmax``, ``SoftmaxWithLoss``, ``Sigmoid``,
``SigmoidWithLoss`` and ``Dropout`` (``Embedding`` is the fused one of
``fastrnn.layers.embedding``).  Each keeps the reference's ``params`` / ``grads``
lists, writes its grads in place, and takes a batch of rows: x (N, D).
"""
from __future__ import annotations

import numpy as np

from .. import _validate as v
from ..functions import cross_entropy_error, softmax


def _array(x, name: str, ndim: int | None = None, real: bool = False) -> np.ndarray:
    """x once it is a numeric numpy array (of rank ndim when given); with ``real``,
    integers as float64."""
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a numpy array of numbers, got "
                        + (f"dtype {x.dtype}" if isinstance(x, np.ndarray) else type(x).__name__))
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {x.shape}")
    return x.astype(np.float64) if real and x.dtype.kind != "f" else x


def _cached(value, layer: object):
    if value is None:
        raise RuntimeError(f"{type(layer).__name__}.backward called before forward")
    return value


class MatMul:
    """``forward(x (N, D)) -> x @ W (N, M)``; ``backward(dout) -> dout @ W.T``, writes dW."""

    def __init__(self, W: np.ndarray):
        self.params = [W]
        self.grads = [np.zeros_like(W)]
        self.x = None

    def forward(self, x):
        W, = self.params
        x = _array(x, "x")
        v.check_shape(x.shape[-1:], (W.shape[0],), "x's last axis")
        self.x = x
        return x @ W

    def backward(self, dout):
        W, = self.params
        x = _cached(self.x, self)
        self.grads[0][...] = x.T @ dout
        return dout @ W.T


class Affine:
    """``forward(x (N, D)) -> x @ W + b (N, M)``; ``backward(dout) -> dx``, writes dW, db."""

    def __init__(self, W: np.ndarray, b: np.ndarray):
        self.params = [W, b]
        self.grads = [np.zeros_like(W), np.zeros_like(b)]
        self.x = None

    def forward(self, x):
        W, b = self.params
        x = _array(x, "x", 2)
        v.check_shape(x.shape, (None, W.shape[0]), "x")
        self.x = x
        return x @ W + b

    def backward(self, dout):
        W, _ = self.params
        x = _cached(self.x, self)
        self.grads[0][...] = x.T @ dout
        self.grads[1][...] = np.sum(dout, axis=0)
        return dout @ W.T


class Softmax:
    """``forward(x) -> softmax(x)`` over the last axis (1-D or 2-D x)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.out = None

    def forward(self, x):
        self.out = softmax(_array(x, "x"))
        return self.out

    def backward(self, dout):
        y = _cached(self.out, self)
        dx = y * dout
        return dx - y * np.sum(dx, axis=-1, keepdims=True)


def _labels(t, y: np.ndarray) -> np.ndarray:
    """Labels (N,) from t: labels (N,) in [0, C) or one-hot rows of y's shape (N, C)."""
    t = _array(t, "t")
    if t.size == y.size and t.ndim == y.ndim:
        t = t.argmax(axis=-1)
    N, C = y.shape
    return v.id_array(t.reshape(-1) if t.size == N else t, "t", (N,), C)


class SoftmaxWithLoss:
    """``forward(x (N, C), t) -> loss``: mean of -log(softmax(x)[t] + 1e-7), as the
    reference; t labels (N,) or one-hot (N, C).  ``backward(dout=1) ->
    (softmax(x) - onehot(t)) * dout / N``."""

    def __init__(self):
        self.params, self.grads = [], []
        self.y = None
        self.t = None

    def forward(self, x, t):
        x = _array(x, "x", 2, real=True)
        y = softmax(x)
        self.t = _labels(t, y)
        self.y = y
        return cross_entropy_error(y, self.t)

    def backward(self, dout=1):
        y = _cached(self.y, self)
        N = y.shape[0]
        dx = y.copy()
        dx[np.arange(N), self.t] -= 1
        return dx * dout / N


class Sigmoid:
    """``forward(x) -> 1 / (1 + exp(-x))``; ``backward(dout) -> dout * y * (1 - y)``."""

    def __init__(self):
        self.params, self.grads = [], []
        self.out = None

    def forward(self, x):
        self.out = 1 / (1 + np.exp(-_array(x, "x", real=True)))
        return self.out

    def backward(self, dout):
        y = _cached(self.out, self)
        return dout * (1.0 - y) * y


class SigmoidWithLoss:
    """``forward(x (N,), t (N,) of 0/1) -> loss``: the mean binary cross-entropy
    -log(p(t) + 1e-7) of y = sigmoid(x), as the reference; ``backward(dout=1) ->
    (y - t) * dout / N``."""

    def __init__(self):
        self.params, self.grads = [], []
        self.loss = None
        self.y = None
        self.t = None

    def forward(self, x, t):
        x = _array(x, "x", real=True)
        y = 1 / (1 + np.exp(-x))
        t = v.id_array(_array(t, "t"), "t", x.shape, 2)
        self.y, self.t = y, t
        y = y.reshape(-1)
        self.loss = cross_entropy_error(np.stack([1 - y, y], axis=1), t.reshape(-1))
        return self.loss

    def backward(self, dout=1):
        y = _cached(self.y, self)
        return (y - self.t) * dout / self.t.shape[0]


class Dropout:
    """The reference's (non-inverted) dropout: ``forward(x, train_flg=True)`` keeps
    each element where ``np.random.rand() > dropout_ratio`` (NumPy's global
    generator, so ``np.random.seed`` repeats a run) and scales by
    ``1 - dropout_ratio`` at test time; ``backward`` multiplies by the mask."""

    def __init__(self, dropout_ratio: float = 0.5):
        self.params, self.grads = [], []
        self.dropout_ratio = v.fraction(dropout_ratio, "dropout_ratio")
        self.mask = None

    def forward(self, x, train_flg: bool = True):
        x = _array(x, "x")
        if train_flg:
            self.mask = np.random.rand(*x.shape) > self.dropout_ratio
            return x * self.mask
        return x * (1.0 - self.dropout_ratio)

    def backward(self, dout):
        return dout * _cached(self.mask, self)
