"""LSTM, one step or T steps, with the reference's gate layout (f, g, i, o).

``c_t = f*c_{t-1} + g*i``, ``h_t = o*tanh(c_t)``; f, i, o sigmoid, g tanh.
"""
from __future__ import annotations

import numpy as np

from ..kernels.lstm import lstm_backward, lstm_forward
from .recurrent import Recurrent, Step, Time, packed


class _LSTMCell(Recurrent):
    """Params ``Wx (D, 4H)``, ``Wh (H, 4H)``, ``b (4H,)``, gates f, g, i, o along 4H."""

    GATES = 4
    STATES = ("h", "c")

    def _recur(self, xw, b, Wh, states, threads):
        h0, c0 = states
        N, T, H4 = xw.shape
        hs = np.empty((N, T, H4 // 4), xw.dtype)
        cs, hprev = np.empty_like(hs), np.empty_like(hs)
        gates = np.empty_like(xw)
        lstm_forward(xw, b, packed(Wh, 4, self.bf16), h0, c0, hs, cs, gates, hprev, threads)
        return hs, (hs[:, -1].copy(), cs[:, -1].copy()), (c0, cs, gates, hprev)

    def _backprop(self, dhs, dlast, Wh, cache, threads):
        c0, cs, gates, hprev = cache
        dA = np.empty_like(gates)
        dh0 = np.empty_like(c0)
        dc = dlast[0].copy()
        lstm_backward(dhs, packed(Wh.T, 1, self.bf16), c0, cs, gates, dA, dh0, dc, threads)
        return dA, (dh0, dc), [(hprev, slice(None))]


class LSTM(Step, _LSTMCell):
    """One step: ``forward(x (N, D), h_prev, c_prev (N, H)) -> (h_next, c_next)``."""

    def forward(self, x: np.ndarray, h_prev: np.ndarray, c_prev: np.ndarray):
        return self._step(x, (h_prev, c_prev))

    def backward(self, dh_next: np.ndarray, dc_next: np.ndarray):
        """(dh_next, dc_next) (N, H) -> (dx (N, D), dh_prev, dc_prev (N, H)); writes grads."""
        return self._step_back((dh_next, dc_next))


class TimeLSTM(Time, _LSTMCell):
    """T steps of ``LSTM``: ``forward(xs (N, T, D)) -> hs (N, T, H)``.

    ``set_state(h, c=None)`` sets the states a stateful forward starts from
    (c zeros when None).
    """

    def set_state(self, h: np.ndarray, c: np.ndarray | None = None) -> None:
        self._set_states((h, c))
