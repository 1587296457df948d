"""Variable-length backpropagation through time (Merity et al. 2017): each step's
window has its own length, drawn around the mean ``time_size``, and the step's
learning rate is scaled by ``length / time_size`` (a short window's smaller
gradient sum then moves the params as far per word as a long one's).

The length of step ``s`` (counted from 0 over the whole run) is a function of
the run's seed and ``s`` alone, drawn by the masks' counter-based generator
(``fastrnn.kernels.masks``) under the key ``key(key(key(0, STREAM), seed), s)``
in integers only, so every process, thread count and resumed run, on any
machine, draws the same lengths:

- draw 0: the base is ``time_size`` (probability 0.95) or ``time_size / 2``
  (its high 32 bits below ``round(0.05 * 2**32)``);
- draws 1 to 12: ``z = (sum of their high 32 bits) / 2**32 - 6``, the sum of
  12 uniforms less 6 (Irwin-Hall: mean 0, variance 1, a normal's shape cut at
  6 standard deviations);
- the length is ``floor(base + z * time_size / 14)`` (standard deviation 5 at
  ``time_size`` 70, as in AWD-LSTM), clipped to ``[max(1, (time_size + 7) //
  14), time_size + max(1, time_size // 7)]`` (5 to 80 at 70).

An epoch keeps its number of steps (``len // (batch_size * time_size)``);
the windows move on by each step's length (wrapping at the corpus's end, as
the book's do), so an epoch reads about ``0.975 * time_size`` words a row a step.
"""
from __future__ import annotations

import numpy as np

from ..kernels import masks
from ..layers.dropout import call_key

STREAM = 0x62707474
"""The generator's key for window lengths (``"bptt"``), apart from every dropout layer's."""
HALF = round(0.05 * 2**32)
"""Draw 0's high 32 bits below this: the base is half the mean."""
UNIFORMS = 12


def _key(k, j: int) -> np.uint64:
    return np.uint64(masks.key(np.uint64(k), j))


def _draw(k, i: int) -> int:
    """The high 32 bits of draw ``i`` under key ``k``."""
    return int(_key(k, i)) >> 32


def length(seed: int, step: int, time_size: int) -> int:
    """The window length of step ``step`` (from 0) of a run seeded ``seed``, mean ``time_size``."""
    k = _key(call_key(STREAM, seed), step)  # key(key(key(0, STREAM), seed), step)
    halves = time_size if _draw(k, 0) < HALF else 2 * time_size  # the base, in halves
    spread = sum(_draw(k, i) for i in range(1, UNIFORMS + 1)) - 6 * 2**32  # z * 2**32
    L = (halves * 7 * 2**32 + spread * time_size) // (14 * 2**32)
    return min(max(L, max(1, (time_size + 7) // 14)), time_size + max(1, time_size // 7))
