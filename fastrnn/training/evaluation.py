"""The perplexity a run measures: the reference's ``eval_perplexity`` over its
evaluation batch, in float32 and with one process's groups of rows, whatever
the run's precision and processes (the figure ``fastrnn eval`` gives)."""
from __future__ import annotations

import math

import numpy as np

from ..util import eval_perplexity

EVAL_BATCH, EVAL_TIME = 10, 35
"""The reference's evaluation batch (eval_perplexity's defaults)."""


def evaluate(model, data: np.ndarray, world, precision: str, bar=None) -> float:
    """Perplexity of ``data`` (rank 0 computes it, every process gets it); the
    model's state is reset before and after, as in the book's scripts, and its
    ``precision`` and groups restored after."""
    ppl = None
    if world.rank == 0:
        groups = model.groups
        model.reset_state()
        model.set_precision("fp32")
        model.set_groups(model.GROUPS)
        try:
            ppl = eval_perplexity(model, data, EVAL_BATCH, EVAL_TIME, progress=bar)
        finally:
            model.set_precision(precision)
            model.set_groups(groups)
    model.reset_state()
    return world.bcast(ppl)


def bits(ppl: float) -> float:
    """Bits per token of a perplexity."""
    return math.log2(ppl) if ppl > 0 else math.nan
