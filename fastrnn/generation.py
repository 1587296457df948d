"""Text generation from a trained language model (the reference's chapter-7 ``RnnlmGen``)."""
from __future__ import annotations

from typing import Iterable

import numpy as np

from .models import BetterRnnlm, Rnnlm


class _Generator:
    """``generate`` for a stateful language model whose ``predict`` takes (1, 1) ids."""

    def generate(self, start_id: int, skip_ids: Iterable[int] | None = None, sample_size: int = 100) -> list:
        """Word ids: ``start_id``, then ids sampled one at a time from the softmax of
        the model's scores for the last one, until there are ``sample_size``.

        Sampled ids in ``skip_ids`` are drawn again.  The model's state carries
        on from where it was (call ``reset_state()`` first for a fresh start);
        sampling uses NumPy's global generator, so ``np.random.seed`` makes it
        reproducible.
        """
        V = self.params[0].shape[0]
        if isinstance(start_id, bool) or not isinstance(start_id, (int, np.integer)) or not 0 <= start_id < V:
            raise ValueError(f"start_id must be a word id in [0, {V}), got {start_id!r}")
        if isinstance(sample_size, bool) or not isinstance(sample_size, (int, np.integer)) or sample_size < 1:
            raise ValueError(f"sample_size must be an integer >= 1, got {sample_size!r}")
        skip = set(int(i) for i in skip_ids) if skip_ids is not None else set()
        if len(skip) >= V:
            raise ValueError("skip_ids must leave at least one word to sample")
        word_ids = [int(start_id)]
        x = int(start_id)
        while len(word_ids) < sample_size:
            score = self.predict(np.array([[x]])).reshape(-1).astype(np.float64)
            p = np.exp(score - score.max())
            p /= p.sum()
            sampled = int(np.random.choice(V, p=p))
            if sampled not in skip:
                x = sampled
                word_ids.append(x)
        return word_ids

    def get_state(self) -> list:
        """The (h, c) state of each LSTM layer."""
        return [(layer.h, layer.c) for layer in self._lstms()]

    def set_state(self, state: list) -> None:
        for layer, (h, c) in zip(self._lstms(), state):
            layer.set_state(h, c)


class RnnlmGen(_Generator, Rnnlm):
    """``Rnnlm`` that writes text: ``generate(start_id, skip_ids=None, sample_size=100)``."""

    PARAMS_NAME = "Rnnlm"

    def _lstms(self) -> list:
        return [self.lstm_layer]


class BetterRnnlmGen(_Generator, BetterRnnlm):
    """``BetterRnnlm`` that writes text (dropout off): ``generate(start_id, skip_ids=None, sample_size=100)``."""

    PARAMS_NAME = "BetterRnnlm"

    def _lstms(self) -> list:
        return self.lstm_layers
