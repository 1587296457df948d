"""The book's batches of a language model: row i of a batch reads the corpus from
offset ``i * (len(xs) // batch_size)`` on, ``time_idx`` steps in, wrapping at the end.

``fastrnn.trainer.RnnlmTrainer`` and ``fastrnn train`` both read their batches here.
"""
from __future__ import annotations

import numpy as np


def windows(xs: np.ndarray, ts: np.ndarray, batch_size: int, time_idx: int, time_size: int,
            rows: slice = slice(None)) -> tuple:
    """``(x, t)``, each ``(len(rows), time_size)``: the windows of the batch's ``rows``
    (every row by default) of a batch of ``batch_size`` rows at time index ``time_idx``.
    ``xs`` may be a memory map: only the windows are read."""
    jump = len(xs) // batch_size
    starts = np.arange(batch_size)[rows] * jump
    pos = (starts[:, None] + time_idx + np.arange(time_size)) % len(xs)
    return xs[pos], ts[pos]


def iters_per_epoch(words: int, batch_size: int, time_size: int, max_iters: int | None = None) -> int:
    """Iterations of an epoch over ``words`` input words (at most ``max_iters``)."""
    n = words // (batch_size * time_size)
    return n if max_iters is None else min(n, max_iters)
