"""Text generation from a trained language model (the reference's chapter-7 ``RnnlmGen``)."""
from __future__ import annotations

from typing import Iterable

import numpy as np

from .models import BetterRnnlm, Rnnlm, RnnLanguageModel, SimpleRnnlm


def next_distribution(scores: np.ndarray, temperature: float = 1.0, top_k: int | None = None,
                      top_p: float | None = None, allowed: np.ndarray | None = None) -> np.ndarray:
    """The distribution a next word is drawn from: float64 probabilities over the V
    words of ``scores`` (shape (V,): scores or log-probabilities), proportional to
    ``exp(scores / temperature)`` over the ``allowed`` words (a bool mask; default
    all), cut to the ``top_k`` most probable and then to the smallest set of most
    probable words whose probabilities add up to ``top_p`` or more (ties go to the
    smaller id), renormalised.  ``temperature`` 0 puts all the mass on the most
    probable allowed word (greedy decoding)."""
    scores = np.asarray(scores, np.float64).reshape(-1)
    V = scores.size
    allowed = np.ones(V, bool) if allowed is None else allowed
    if temperature == 0:
        p = np.zeros(V)
        p[int(np.argmax(np.where(allowed, scores, -np.inf)))] = 1.0
        return p
    z = np.where(allowed, (scores - scores[allowed].max()) / temperature, -np.inf)
    p = np.exp(z)
    p /= p.sum()
    if top_k is not None or top_p is not None:
        order = np.argsort(-p, kind="stable")  # most probable first, ties by id
        keep = min(top_k or V, int(np.count_nonzero(allowed)))
        if top_p is not None:
            cumulative = np.cumsum(p[order[:keep]])
            keep = min(keep, int(np.searchsorted(cumulative, top_p * cumulative[-1] * (1 - 1e-12))) + 1)
        cut = np.zeros(V)
        cut[order[:keep]] = p[order[:keep]]
        p = cut / cut.sum()
    return p


def check_sampling(temperature, top_k, top_p) -> None:
    """ValueError naming the first of ``temperature``, ``top_k``, ``top_p`` out of range."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.integer, np.floating)) \
            or not 0 <= temperature < np.inf:
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1):
        raise ValueError(f"top_k must be an integer >= 1 or None, got {top_k!r}")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, (int, float, np.integer, np.floating))
                              or not 0 < top_p <= 1):
        raise ValueError(f"top_p must be a number in (0, 1] or None, got {top_p!r}")


class _Generator:
    """``generate`` for a stateful language model whose ``predict`` takes (1, 1) ids."""

    def generate(self, start_id, skip_ids: Iterable[int] | None = None, sample_size: int = 100, *,
                 temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None) -> list:
        """Word ids: ``start_id`` (a word id, or a prompt: a sequence of them, each
        fed to the model in turn), then ids drawn one at a time given the words
        before, until there are ``sample_size``.

        A next word is drawn from ``next_distribution`` of the model's scores for
        the last one (``temperature``, ``top_k``, ``top_p``; 0 is greedy).  At the
        reference's settings (temperature 1, no ``top_k`` or ``top_p``) a drawn id
        in ``skip_ids`` is drawn again, feeding the same word again, as the
        reference does (the same draws for the same seed); at any other settings
        those ids are left out of the distribution (redrawing at a low temperature
        could take very long when the likeliest word is skipped).  The model's
        state carries on from where it was (call ``reset_state()`` first for a
        fresh start); sampling uses NumPy's global generator, so
        ``np.random.seed`` makes it reproducible.
        """
        V = self.params[0].shape[0]
        prompt = [start_id] if isinstance(start_id, (int, np.integer)) else list(start_id) \
            if isinstance(start_id, (list, tuple, np.ndarray)) else [start_id]
        if not prompt or not all(not isinstance(i, bool) and isinstance(i, (int, np.integer)) and 0 <= i < V
                                 for i in prompt):
            raise ValueError(f"start_id must be a word id in [0, {V}), got {start_id!r} (or a prompt: a non-empty "
                             "sequence of such ids)")
        if isinstance(sample_size, bool) or not isinstance(sample_size, (int, np.integer)) or sample_size < 1:
            raise ValueError(f"sample_size must be an integer >= 1, got {sample_size!r}")
        check_sampling(temperature, top_k, top_p)
        skip = set(int(i) for i in skip_ids) if skip_ids is not None else set()
        if len(skip) >= V:
            raise ValueError("skip_ids must leave at least one word to sample")
        allowed = np.ones(V, bool)
        allowed[[i for i in skip if 0 <= i < V]] = False
        word_ids = [int(i) for i in prompt]
        for x in word_ids[:-1]:
            self.predict(np.array([[x]]))
        x = word_ids[-1]
        while len(word_ids) < sample_size:
            score = self.predict(np.array([[x]])).reshape(-1)
            if top_k is None and top_p is None and temperature == 1:  # the reference's draws
                sampled = int(np.random.choice(V, p=next_distribution(score, temperature)))
                if sampled in skip:
                    continue
            else:
                p = next_distribution(score, temperature, top_k, top_p, allowed)
                sampled = int(np.argmax(p)) if temperature == 0 else int(np.random.choice(V, p=p))
            x = sampled
            word_ids.append(x)
        return word_ids

    def _recurrent_layers(self) -> list:
        """Its recurrent layers in order: the layers that carry a state."""
        return [layer for layer in self.layers if hasattr(layer, "set_state")]

    def get_state(self) -> list:
        """The state of each recurrent layer: (h, c) of an LSTM, (h,) of an RNN or a GRU."""
        return [(layer.h, layer.c) if hasattr(layer, "c") else (layer.h,) for layer in self._recurrent_layers()]

    def set_state(self, state: list) -> None:
        for layer, states in zip(self._recurrent_layers(), state):
            layer.set_state(*states)


class SimpleRnnlmGen(_Generator, SimpleRnnlm):
    """``SimpleRnnlm`` that writes text: ``generate(start_id, skip_ids=None, sample_size=100)``."""

    PARAMS_NAME = "SimpleRnnlm"


class RnnlmGen(_Generator, Rnnlm):
    """``Rnnlm`` that writes text: ``generate(start_id, skip_ids=None, sample_size=100)``."""

    PARAMS_NAME = "Rnnlm"


class BetterRnnlmGen(_Generator, BetterRnnlm):
    """``BetterRnnlm`` that writes text (dropout off): ``generate(start_id, skip_ids=None, sample_size=100)``."""

    PARAMS_NAME = "BetterRnnlm"


class RnnLanguageModelGen(_Generator, RnnLanguageModel):
    """``RnnLanguageModel`` that writes text (dropout off)."""

    PARAMS_NAME = "RnnLanguageModel"
