"""GRU, one step or T steps, with the reference's gate layout (z, r, candidate).

``h_hat = tanh(x@Wxh + (r*h_{t-1})@Whh + bh)``, ``h_t = (1-z)*h_{t-1} + z*h_hat``.
"""
from __future__ import annotations

import numpy as np

from ..kernels.gru import gru_backward, gru_forward
from .recurrent import HiddenStep, Recurrent, Time, packed


class _GRUCell(Recurrent):
    """Params ``Wx (D, 3H)``, ``Wh (H, 3H)``, ``b (3H,)``, gates z, r, candidate along 3H."""

    GATES = 3

    def _recur(self, xw, b, Wh, states, threads):
        (h0,) = states
        N, T, H3 = xw.shape
        hs = np.empty((N, T, H3 // 3), xw.dtype)
        rh, hprev = np.empty_like(hs), np.empty_like(hs)
        gates = np.empty_like(xw)
        H = Wh.shape[0]
        Wzr, Whh = packed(Wh[:, :2 * H], 2, self.bf16), packed(Wh[:, 2 * H:], 1, self.bf16)
        gru_forward(xw, b, Wzr, Whh, h0, hs, gates, rh, hprev, threads)
        return hs, (hs[:, -1].copy(),), (gates, rh, hprev)

    def _backprop(self, dhs, dlast, Wh, cache, threads):
        gates, rh, hprev = cache
        H = Wh.shape[0]
        dA = np.empty_like(gates)
        dh0 = np.empty_like(hprev[:, 0])
        WzrT, WhhT = packed(Wh[:, :2 * H].T, 1, self.bf16), packed(Wh[:, 2 * H:].T, 1, self.bf16)
        gru_backward(dhs, WzrT, WhhT, gates, hprev, dA, dh0, threads)
        return dA, (dh0,), [(hprev, slice(0, 2 * H)), (rh, slice(2 * H, 3 * H))]


class GRU(HiddenStep, _GRUCell):
    """One step: ``forward(x (N, D), h_prev (N, H)) -> h_next (N, H)``."""


class TimeGRU(Time, _GRUCell):
    """T steps of ``GRU``: ``forward(xs (N, T, D)) -> hs (N, T, H)``.

    ``set_state(h (N, H))`` sets the state a stateful forward starts from.
    """
