"""Vanilla RNN: one step (``RNN``) and a time loop (``TimeRNN``), sharing one path."""
from __future__ import annotations

import numpy as np

from .. import _validate as v
from .._matmul import matmul
from .._threads import blas_in_kernel
from ..kernels.rnn import rnn_backward, rnn_forward


class _RNNParams:
    """Holds Wx (D, H), Wh (H, H), b (H,) and their in-place grads."""

    def __init__(self, Wx, Wh, b):
        layer = type(self).__name__
        self.dtype = v.params_dtype(layer, (Wx, Wh, b), ("Wx", "Wh", "b"))
        if Wx.ndim != 2:
            raise ValueError(f"{layer}: Wx must have shape (D, H), got {Wx.shape}")
        D, H = Wx.shape
        v.check_shape(Wh.shape, (H, H), f"{layer}: Wh")
        v.check_shape(b.shape, (H,), f"{layer}: b")
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self._cache = None

    def _state(self, h, N: int, name: str) -> np.ndarray:
        H = self.params[1].shape[0]
        if h is None:
            return np.zeros((N, H), self.dtype)
        return v.float_array(h, name, (N, H), self.dtype)

    def _forward(self, xs: np.ndarray, h0: np.ndarray) -> np.ndarray:
        """xs (N, T, D), h0 (N, H), both checked -> hs (N, T, H)."""
        Wx, Wh, b = self.params
        N, T, D = xs.shape
        H = Wh.shape[0]
        xw = matmul(xs.reshape(N * T, D), Wx).reshape(N, T, H)
        hs = np.empty((N, T, H), self.dtype)
        hprev = np.empty_like(hs)
        with blas_in_kernel():
            rnn_forward(xw, np.ascontiguousarray(b), np.ascontiguousarray(Wh), h0, hs, hprev)
        self._cache = (xs, hs, hprev)
        return hs

    def _forward_shape(self) -> tuple:
        """(N, T, H) of the last forward call."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return self._cache[1].shape

    def _backward(self, dhs: np.ndarray):
        """dhs (N, T, H), checked -> (dxs (N, T, D), dh0 (N, H)); writes dWx, dWh, db."""
        xs, hs, hprev = self._cache
        N, T, D = xs.shape
        H = hs.shape[2]
        Wx, Wh, _ = self.params
        dts = np.empty_like(hs)
        dh0 = np.empty((N, H), self.dtype)
        with blas_in_kernel():
            rnn_backward(dhs, hs, np.ascontiguousarray(Wh), dts, dh0)
        dts2 = dts.reshape(N * T, H)
        dWx, dWh, db = self.grads
        matmul(xs.reshape(N * T, D).T, dts2, out=dWx)
        matmul(hprev.reshape(N * T, H).T, dts2, out=dWh)
        np.sum(dts2, axis=0, out=db)
        dxs = matmul(dts2, Wx.T).reshape(N, T, D)
        return dxs, dh0


class RNN(_RNNParams):
    """One step: ``h_next = tanh(h_prev @ Wh + x @ Wx + b)``.

    Params ``Wx (D, H)``, ``Wh (H, H)``, ``b (H,)``, float32 or float64.
    """

    def forward(self, x: np.ndarray, h_prev: np.ndarray) -> np.ndarray:
        """x (N, D), h_prev (N, H) -> h_next (N, H)."""
        D = self.params[0].shape[0]
        x = v.float_array(x, "x", (None, D), self.dtype)
        h0 = self._state(h_prev, x.shape[0], "h_prev")
        return self._forward(x[:, None, :], h0)[:, 0, :]

    def backward(self, dh_next: np.ndarray):
        """dh_next (N, H) -> (dx (N, D), dh_prev (N, H)); writes grads."""
        N, _, H = self._forward_shape()
        dh_next = v.float_array(dh_next, "dh_next", (N, H), self.dtype)
        dxs, dh_prev = self._backward(dh_next[:, None, :])
        return dxs[:, 0, :], dh_prev


class TimeRNN(_RNNParams):
    """T steps of ``RNN`` in one call: ``forward(xs (N, T, D)) -> hs (N, T, H)``.

    With ``stateful=True`` a forward call starts from the last hidden state of
    the previous one (``h``); ``set_state(h)`` and ``reset_state()`` set or
    clear it.  ``backward`` sets ``dh``, the gradient w.r.t. the initial state.
    """

    def __init__(self, Wx, Wh, b, stateful: bool = False):
        super().__init__(Wx, Wh, b)
        self.stateful = stateful
        self.h = None
        self.dh = None

    def set_state(self, h: np.ndarray) -> None:
        """h (N, H): the hidden state the next forward starts from."""
        H = self.params[1].shape[0]
        self.h = v.float_array(h, "h", (None, H), self.dtype).copy()

    def reset_state(self) -> None:
        self.h = None

    def forward(self, xs: np.ndarray) -> np.ndarray:
        """xs (N, T, D) -> hs (N, T, H)."""
        D = self.params[0].shape[0]
        xs = v.float_array(xs, "xs", (None, None, D), self.dtype)
        N = xs.shape[0]
        if self.stateful and self.h is not None and self.h.shape[0] != N:
            raise ValueError(f"xs has batch size {N} but the carried state h has {self.h.shape[0]}; "
                             "call reset_state() or set_state(h) before changing the batch size")
        h0 = self._state(self.h if self.stateful else None, N, "h")
        hs = self._forward(xs, h0)
        self.h = hs[:, -1, :].copy()
        return hs

    def backward(self, dhs: np.ndarray) -> np.ndarray:
        """dhs (N, T, H) -> dxs (N, T, D); writes grads and ``dh`` (N, H)."""
        dhs = v.float_array(dhs, "dhs", self._forward_shape(), self.dtype)
        dxs, self.dh = self._backward(dhs)
        return dxs
