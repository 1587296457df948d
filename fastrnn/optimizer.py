"""Optimizers with the reference's ``update(params, grads)``, updating in place.

Each update is one fused kernel pass a param (``kernels.optim``).  State
arrays (velocities, squared-gradient sums, moments) are created on the first
``update`` call, one a param, in the params' order, as in the reference.

Grads may be ``fastrnn.sparse.RowGrad`` (fastrnn's training step makes them
for embeddings): SGD then updates those rows alone, with the bits of the dense
update; the optimizers with state keep the dense semantics (every row's state
decays each step) and update with the dense gradient.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from . import _validate as v
from . import sparse
from ._elementwise import fused_update, sgd_
from .kernels import optim


def check_pairs(params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> None:
    if len(params) != len(grads):
        raise ValueError(f"params and grads must have the same length, got {len(params)} and {len(grads)}")
    for i, (p, g) in enumerate(zip(params, grads)):
        if not isinstance(p, np.ndarray) or not isinstance(g, (np.ndarray, sparse.RowGrad)):
            raise TypeError(f"params[{i}] and grads[{i}] must be numpy arrays")
        if p.shape != g.shape:
            raise ValueError(f"grads[{i}] has shape {g.shape}, params[{i}] has {p.shape}")


class SGD:
    """``param -= lr * grad``."""

    row_grads = True
    """``update`` takes ``fastrnn.sparse.RowGrad`` grads."""

    def __init__(self, lr: float = 0.01):
        self.lr = v.positive(lr, "lr")

    def update(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> None:
        check_pairs(params, grads)
        for p, g in zip(params, grads):
            sparse.sgd(p, g, self.lr) if isinstance(g, sparse.RowGrad) else sgd_(p, g, self.lr)


class _Fused:
    """An optimizer whose update is one kernel pass a param over (param, grad,
    state arrays...); subclasses set ``KERNEL`` and ``SLOTS`` (state arrays a
    param) and give the kernel's scalars by ``_scalars``, called once an update
    after the checks."""

    KERNEL = None
    SLOTS = 1
    row_grads = True
    """``update`` takes ``fastrnn.sparse.RowGrad`` grads (and makes them dense)."""

    def _scalars(self) -> tuple:
        raise NotImplementedError

    def update(self, params, grads) -> None:
        check_pairs(params, grads)
        grads = [g.densify() if isinstance(g, sparse.RowGrad) else g for g in grads]
        if getattr(self, "_state", None) is None or len(self._state[0]) != len(params):
            self._state = [[np.zeros_like(p) for p in params] for _ in range(self.SLOTS)]
        scalars = self._scalars()
        for p, g, *state in zip(params, grads, *self._state):
            fused_update(self.KERNEL, (p, g, *state), *scalars)


class Momentum(_Fused):
    """``v = momentum*v - lr*grad; param += v``."""

    KERNEL = staticmethod(optim.momentum_update)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9):
        self.lr = v.positive(lr, "lr")
        self.momentum = v.fraction(momentum, "momentum")
        self._state = None

    def _scalars(self) -> tuple:
        return self.lr, self.momentum


class Nesterov(Momentum):
    """Nesterov's accelerated gradient, in the reference's form:
    ``v = momentum*v - lr*grad; param += momentum**2 * v - (1 + momentum) * lr * grad``."""

    KERNEL = staticmethod(optim.nesterov_update)


EPS = 1e-7
"""Added to the root of the squared-gradient average, as in the reference."""


class AdaGrad(_Fused):
    """``h += grad**2; param -= lr * grad / (sqrt(h) + 1e-7)``."""

    KERNEL = staticmethod(optim.adagrad_update)

    def __init__(self, lr: float = 0.01):
        self.lr = v.positive(lr, "lr")
        self._state = None

    def _scalars(self) -> tuple:
        return self.lr, EPS


class RMSprop(_Fused):
    """``h = decay_rate*h + (1 - decay_rate)*grad**2; param -= lr * grad / (sqrt(h) + 1e-7)``."""

    KERNEL = staticmethod(optim.rmsprop_update)

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99):
        self.lr = v.positive(lr, "lr")
        self.decay_rate = v.fraction(decay_rate, "decay_rate")
        self._state = None

    def _scalars(self) -> tuple:
        return self.lr, self.decay_rate, EPS


class Adam(_Fused):
    """Adam with the reference's bias correction folded into the step size:
    ``lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t)``,
    ``m += (1-beta1)*(grad - m)``, ``v += (1-beta2)*(grad**2 - v)``,
    ``param -= lr_t * m / (sqrt(v) + 1e-7)``."""

    KERNEL = staticmethod(optim.adam_update)
    SLOTS = 2

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999):
        self.lr = v.positive(lr, "lr")
        self.beta1 = v.fraction(beta1, "beta1")
        self.beta2 = v.fraction(beta2, "beta2")
        self.iter = 0
        self._state = None

    def _scalars(self) -> tuple:
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)
        return lr_t, self.beta1, self.beta2, EPS


def state_dict(optimizer) -> dict:
    """What ``optimizer`` must carry over to go on exactly: its learning rate, Adam's
    step count (else None) and its state arrays, ``slots[j][i]`` for param ``i``
    (an empty list before the first update, and for SGD)."""
    return {"lr": optimizer.lr, "iter": getattr(optimizer, "iter", None),
            "slots": [list(slot) for slot in getattr(optimizer, "_state", None) or []]}


def load_state_dict(optimizer, state: dict) -> None:
    """Give ``optimizer`` the state ``state_dict`` took (copies of its arrays)."""
    optimizer.lr = state["lr"]
    if state["slots"]:
        optimizer._state = [[a.copy() for a in slot] for slot in state["slots"]]
    if state["iter"] is not None:
        optimizer.iter = state["iter"]


BY_NAME = {cls.__name__.lower(): cls for cls in (SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam)}
"""The optimizers by their names in lower case (``fastrnn train --optimizer``)."""
