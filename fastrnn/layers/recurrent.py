"""What the recurrent layers share: params, the batched products, state handling.

A cell class (``RNN``, ``LSTM``, ``GRU``) with G gates holds ``Wx (D, G*H)``,
``Wh (H, G*H)``, ``b (G*H,)``.  Its forward is one product ``xs @ Wx`` for all
T steps, then the cell's kernel for the recurrence; its backward is the
kernel's backprop through time, then the weight and input gradients of all
steps as single products over the kernel's pre-activation grads ``dA``.
One-step classes run T=1 through the same path; the ``Time*`` classes add the
reference's state handling (``stateful``, ``set_state``, ``reset_state``, ``dh``).
With ``precision="bf16"`` every product takes bfloat16-rounded operands and
sums in float32 (``fastrnn._precision``); states and gradients stay float32.

``weight_drop`` (a ``TimeDropout``, None by default) is DropConnect on the
recurrent weight (AWD-LSTM's weight-drop): while its ``train_flg`` is set, each
forward call runs with ``Wh * M``, M drawn by it over Wh's rows, one mask a
call for every row of the batch and every step; the gradient of Wh is then
``dWh_of(Wh * M) * M``.
"""
from __future__ import annotations

import numpy as np
from numba import get_num_threads

from .. import _groups
from .. import _validate as v
from .._matmul import row_matmul
from .._precision import Precision
from .._threads import blas_in_kernel
from ..kernels import bf16 as _bf16
from ..kernels import gemm as _gemm


def packed(W: np.ndarray, G: int = 1, bf16: bool = False) -> np.ndarray:
    """W (K, G*H), any strides, packed for the recurrent kernels' products
    (``kernels.gemm.pack``, or rounded to bfloat16 by ``kernels.bf16.pack``):
    done once a call, read at every step."""
    kind, dtype = (_bf16, np.uint16) if bf16 else (_gemm, W.dtype)
    Wp = np.empty(kind.packed_size(W.shape[0], W.shape[1] // G, G), dtype)
    kind.pack(W, G, Wp)
    return Wp


class Recurrent(Precision):
    """Params and the shared forward/backward of a cell with ``GATES`` gates.

    Subclasses set ``GATES`` and ``STATES`` (names of the carried states,
    ``("h",)`` or ``("h", "c")``) and implement ``_recur`` and ``_backprop``.
    """

    GATES = 1
    STATES = ("h",)
    groups = 1
    """Groups of batch rows computed each on its own (``fastrnn._groups``)."""

    def __init__(self, Wx, Wh, b, *, precision: str = "fp32"):
        layer = type(self).__name__
        self.dtype = v.params_dtype(layer, (Wx, Wh, b), ("Wx", "Wh", "b"))
        G = self.GATES
        if Wx.ndim != 2 or Wx.shape[1] % G or Wx.shape[1] == 0:
            raise ValueError(f"{layer}: Wx must have shape (D, {'' if G == 1 else f'{G}*'}H), got {Wx.shape}")
        H = Wx.shape[1] // G
        v.check_shape(Wh.shape, (H, G * H), f"{layer}: Wh")
        v.check_shape(b.shape, (G * H,), f"{layer}: b")
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self._cache = None
        self.precision = precision
        self.weight_drop = None

    @property
    def _hidden(self) -> int:
        return self.params[1].shape[0]

    def _state(self, s, N: int, name: str) -> np.ndarray:
        """A checked (N, H) state, zeros when ``s`` is None."""
        if s is None:
            return np.zeros((N, self._hidden), self.dtype)
        return v.float_array(s, name, (N, self._hidden), self.dtype)

    def _forward(self, xs: np.ndarray, states: tuple) -> tuple:
        """xs (N, T, D) and states ((N, H) each), all checked -> (hs (N, T, H), last states)."""
        Wx, Wh, b = self.params
        N, T, D = xs.shape
        drop = self.weight_drop
        dropped = drop is not None and drop.train_flg
        if dropped:
            Wh = drop.forward(Wh)
        with blas_in_kernel():
            xw = row_matmul(xs.reshape(N * T, D), Wx, np.empty((N * T, Wx.shape[1]), self.dtype), self.bf16)
            hs, last, cache = self._recur(xw.reshape(N, T, -1), np.ascontiguousarray(b), Wh, states,
                                          get_num_threads())
        self._cache = (xs, cache, Wh if dropped else None)
        return hs, last

    def _forward_shape(self) -> tuple:
        """(N, T, H) of the last forward call."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        N, T, _ = self._cache[0].shape
        return N, T, self._hidden

    def _backward(self, dhs: np.ndarray, dlast: tuple) -> tuple:
        """dhs (N, T, H) and grads of the last states beyond h (checked)
        -> (dxs (N, T, D), grads of the initial states); writes the grads."""
        xs, cache, dropped = self._cache
        N, T, D = xs.shape
        Wx, Wh, _ = self.params
        Wh = Wh if dropped is None else dropped
        dWx, dWh, db = self.grads
        slices = _groups.row_slices(N, T, self.groups)
        with blas_in_kernel():
            dA, dfirst, wh_inputs = self._backprop(dhs, dlast, Wh, cache, get_num_threads())
            dA2 = dA.reshape(N * T, -1)
            _groups.product_T(xs.reshape(N * T, D), dA2, dWx, slices, self.bf16)
            for lhs, cols in wh_inputs:
                _groups.product_T(lhs.reshape(N * T, -1), dA2[:, cols], dWh[:, cols], slices, self.bf16)
            _groups.column_sum(dA2, db, slices)
            dxs = row_matmul(dA2, Wx.T, np.empty((N * T, D), self.dtype), self.bf16)
        if dropped is not None:
            self.weight_drop.backward(dWh, out=dWh)
        return dxs.reshape(N, T, D), dfirst

    def _recur(self, xw, b, Wh, states, threads):
        """-> (hs (N, T, H), last states, cache for ``_backprop``); the kernel
        in ``threads`` tasks."""
        raise NotImplementedError

    def _backprop(self, dhs, dlast, Wh, cache, threads):
        """-> (dA (N, T, G*H), grads of the initial states, [(lhs (N, T, H),
        column slice of dWh it multiplies), ...])."""
        raise NotImplementedError


class Step:
    """One step of a cell: T=1 through the time path."""

    def _step(self, x, states: tuple) -> tuple:
        """x (N, D), states (N, H) each or None -> next states."""
        D = self.params[0].shape[0]
        x = v.float_array(x, "x", (None, D), self.dtype)
        N = x.shape[0]
        states = tuple(self._state(s, N, f"{n}_prev") for s, n in zip(states, self.STATES))
        _, last = self._forward(x[:, None, :], states)
        return last

    def _step_back(self, dnext: tuple) -> tuple:
        """Grads of the next states (N, H) each -> (dx (N, D), grads of the previous states)."""
        N, _, H = self._forward_shape()
        dh, *drest = (v.float_array(d, f"d{n}_next", (N, H), self.dtype) for d, n in zip(dnext, self.STATES))
        dxs, dfirst = self._backward(dh[:, None, :], tuple(drest))
        return (dxs[:, 0, :], *dfirst)


class HiddenStep(Step):
    """One step of a cell whose only state is h (RNN, GRU)."""

    def forward(self, x: np.ndarray, h_prev: np.ndarray) -> np.ndarray:
        """x (N, D), h_prev (N, H) -> h_next (N, H)."""
        return self._step(x, (h_prev,))[0]

    def backward(self, dh_next: np.ndarray):
        """dh_next (N, H) -> (dx (N, D), dh_prev (N, H)); writes grads."""
        return self._step_back((dh_next,))


class Time:
    """T steps in one call, with the reference's state handling.

    With ``stateful=True`` a forward call starts from the last states of the
    previous one (attributes ``h``, and ``c`` for the LSTM); ``set_state`` and
    ``reset_state`` set or clear them.  ``backward`` sets ``dh``, the gradient
    w.r.t. the initial hidden state.
    """

    def __init__(self, Wx, Wh, b, stateful: bool = False, *, precision: str = "fp32"):
        super().__init__(Wx, Wh, b, precision=precision)
        self.stateful = stateful
        self.dh = None
        self.reset_state()

    def reset_state(self) -> None:
        for n in self.STATES:
            setattr(self, n, None)

    def set_state(self, h: np.ndarray) -> None:
        """h (N, H): the hidden state a stateful forward starts from."""
        self._set_states((h,))

    def _set_states(self, states: tuple) -> None:
        """states (N, H) each (None: zeros): where the next forward starts."""
        h = v.float_array(states[0], "h", (None, self._hidden), self.dtype).copy()
        setattr(self, "h", h)
        for s, n in zip(states[1:], self.STATES[1:]):
            setattr(self, n, None if s is None else self._state(s, h.shape[0], n).copy())

    def check_batch(self, N: int) -> None:
        """Raise ValueError when a forward of batch size N would start from a
        carried state of another batch size."""
        for n in self.STATES if self.stateful else ():
            s = getattr(self, n)
            if s is not None and s.shape[0] != N:
                raise ValueError(f"xs has batch size {N} but the carried state {n} has {s.shape[0]}; "
                                 "call reset_state() or set_state() before changing the batch size")

    def forward(self, xs: np.ndarray) -> np.ndarray:
        """xs (N, T, D) -> hs (N, T, H)."""
        D = self.params[0].shape[0]
        xs = v.float_array(xs, "xs", (None, None, D), self.dtype)
        N = xs.shape[0]
        self.check_batch(N)
        carried = [getattr(self, n) if self.stateful else None for n in self.STATES]
        hs, last = self._forward(xs, tuple(self._state(s, N, n) for s, n in zip(carried, self.STATES)))
        for s, n in zip(last, self.STATES):
            setattr(self, n, s)
        return hs

    def backward(self, dhs: np.ndarray) -> np.ndarray:
        """dhs (N, T, H) -> dxs (N, T, D); writes grads and ``dh`` (N, H)."""
        N, T, H = self._forward_shape()
        dhs = v.float_array(dhs, "dhs", (N, T, H), self.dtype)
        zeros = tuple(np.zeros((N, H), self.dtype) for _ in self.STATES[1:])
        dxs, dfirst = self._backward(dhs, zeros)
        self.dh = dfirst[0]
        return dxs
