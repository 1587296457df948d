"""Optimizers with the reference's ``update(params, grads)``, updating in place."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from . import _validate as v
from ._elementwise import sgd_


def check_pairs(params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> None:
    if len(params) != len(grads):
        raise ValueError(f"params and grads must have the same length, got {len(params)} and {len(grads)}")
    for i, (p, g) in enumerate(zip(params, grads)):
        if not isinstance(p, np.ndarray) or not isinstance(g, np.ndarray):
            raise TypeError(f"params[{i}] and grads[{i}] must be numpy arrays")
        if p.shape != g.shape:
            raise ValueError(f"grads[{i}] has shape {g.shape}, params[{i}] has {p.shape}")


class SGD:
    """``param -= lr * grad``."""

    def __init__(self, lr: float = 0.01):
        self.lr = v.positive(lr, "lr")

    def update(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> None:
        check_pairs(params, grads)
        for p, g in zip(params, grads):
            sgd_(p, g, self.lr)
