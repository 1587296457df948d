"""Log-probabilities of lines of text under a language model, a line at a time in
effect and many lines a batch in fact.

A line is scored on its own, from a fresh state: its first word is predicted
after an ``<eos>`` (the end of the line before), each later word after the words
before it in the line, and the line's own ``<eos>`` last.  Lines of similar
lengths share a batch (rows of a batch never meet, and a row's padding comes
after its words, so it changes nothing before), and long lines go through the
model ``time_size`` steps at a time with the state carried on.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from . import _validate as v


def line_log_probs(model, lines: Sequence[np.ndarray], eos: int, batch_size: int = 32,
                   time_size: int = 35) -> list:
    """For each line (word ids, without its end), the natural log-probabilities
    (float64, len(line) + 1) of its words and its ``eos``, each given the words
    before it in the line.  ``model`` is a language model with ``predict`` and
    ``reset_state`` (its state is reset)."""
    batch_size, time_size = v.positive_int(batch_size, "batch_size"), v.positive_int(time_size, "time_size")
    lines = [np.asarray(line, np.int64).reshape(-1) for line in lines]
    out = [None] * len(lines)
    order = sorted(range(len(lines)), key=lambda i: len(lines[i]))
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        L = max(len(lines[i]) for i in rows) + 1
        xs = np.full((len(rows), L), eos, np.int64)
        ts = np.full((len(rows), L), eos, np.int64)
        for r, i in enumerate(rows):
            xs[r, 1:len(lines[i]) + 1] = lines[i]
            ts[r, :len(lines[i])] = lines[i]
        logp = np.empty((len(rows), L))
        model.reset_state()
        for t in range(0, L, time_size):
            scores = np.asarray(model.predict(xs[:, t:t + time_size]), np.float64)
            top = scores.max(axis=2, keepdims=True)
            log_z = top[..., 0] + np.log(np.exp(scores - top).sum(axis=2))
            picked = np.take_along_axis(scores, ts[:, t:t + time_size, None], axis=2)[..., 0]
            logp[:, t:t + time_size] = picked - log_z
        for r, i in enumerate(rows):
            out[i] = logp[r, :len(lines[i]) + 1].copy()
    model.reset_state()
    return out
