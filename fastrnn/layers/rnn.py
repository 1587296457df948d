"""Vanilla RNN: ``h_t = tanh(h_{t-1} @ Wh + x_t @ Wx + b)``, one step or T steps."""
from __future__ import annotations

import numpy as np

from ..kernels.rnn import rnn_backward, rnn_forward
from .recurrent import HiddenStep, Recurrent, Time, packed


class _RNNCell(Recurrent):
    """Params ``Wx (D, H)``, ``Wh (H, H)``, ``b (H,)``, float32 or float64."""

    def _recur(self, xw, b, Wh, states, threads):
        (h0,) = states
        hs = np.empty_like(xw)
        hprev = np.empty_like(xw)
        rnn_forward(xw, b, packed(Wh, 1, self.bf16), h0, hs, hprev, threads)
        return hs, (hs[:, -1].copy(),), (hs, hprev)

    def _backprop(self, dhs, dlast, Wh, cache, threads):
        hs, hprev = cache
        dts = np.empty_like(hs)
        dh0 = np.empty_like(hs[:, 0])
        rnn_backward(dhs, hs, packed(Wh.T, 1, self.bf16), dts, dh0, threads)
        return dts, (dh0,), [(hprev, slice(None))]


class RNN(HiddenStep, _RNNCell):
    """One step: ``forward(x (N, D), h_prev (N, H)) -> h_next (N, H)``."""


class TimeRNN(Time, _RNNCell):
    """T steps of ``RNN``: ``forward(xs (N, T, D)) -> hs (N, T, H)``.

    ``set_state(h (N, H))`` sets the state a stateful forward starts from.
    """
