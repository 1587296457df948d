"""The reference's ``common.util`` helpers of the RNN chapters: gradient clipping,
perplexity, seq2seq evaluation, and the CPU/GPU moves (no-ops here)."""
from __future__ import annotations

import inspect
import math
import os
from typing import Sequence

import numpy as np

from . import _validate as v
from . import sparse
from ._elementwise import scale_, sum_of_squares


def clip_grads(grads: Sequence[np.ndarray], max_norm: float) -> float:
    """Scale every grad in place by ``max_norm / (norm + 1e-6)`` when the global L2
    norm of all grads exceeds ``max_norm``; returns that norm (before clipping).
    Grads whose norm is not finite (a NaN or infinite grad) are left as they
    are, not zeroed as the reference's would be: the norm returned says so.
    A grad may be a ``fastrnn.sparse.RowGrad`` (fastrnn's training step)."""
    max_norm = v.positive(max_norm, "max_norm")
    norm = math.sqrt(sum(sparse.sum_of_squares(g) if isinstance(g, sparse.RowGrad) else sum_of_squares(g)
                         for g in grads))
    rate = max_norm / (norm + 1e-6)
    if math.isfinite(norm) and rate < 1:
        for g in grads:
            sparse.scale(g, rate) if isinstance(g, sparse.RowGrad) else scale_(g, rate)
    return norm


def perplexity(mean_loss: float) -> float:
    """exp(mean_loss), infinity where that overflows a float (a large but finite
    loss), NaN for a NaN loss; never raises nor warns."""
    try:
        return math.exp(mean_loss)
    except OverflowError:
        return math.inf


def _takes_train_flg(model) -> bool:
    try:
        return "train_flg" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def eval_perplexity(model, corpus: np.ndarray, batch_size: int = 10, time_size: int = 35,
                    progress: bool = False) -> float:
    """exp(mean loss) of one stateful pass over ``corpus`` predicting each next word.

    Row i of a batch reads the corpus from offset ``i * ((len(corpus) - 1) // batch_size)``;
    the pass has ``(len(corpus) - 1) // (batch_size * time_size)`` iterations.  The
    model's state is not reset here (reset it before, as the reference's scripts do).
    """
    batch_size, time_size = v.positive_int(batch_size, "batch_size"), v.positive_int(time_size, "time_size")
    corpus = np.asarray(corpus)
    corpus_size = len(corpus)
    max_iters = (corpus_size - 1) // (batch_size * time_size)
    if max_iters < 1:
        raise ValueError(f"corpus of {corpus_size} words is too short for batch_size={batch_size}, "
                         f"time_size={time_size}")
    jump = (corpus_size - 1) // batch_size
    rows = (np.arange(batch_size) * jump)[:, None] + np.arange(time_size)[None, :]
    kwargs = {"train_flg": False} if _takes_train_flg(model) else {}
    iters = range(max_iters)
    if progress:
        from tqdm import tqdm
        iters = tqdm(iters, desc="evaluating", leave=False)
    total_loss = 0.0
    for it in iters:
        pos = rows + it * time_size
        xs = corpus[pos % corpus_size]
        ts = corpus[(pos + 1) % corpus_size]
        total_loss += model.forward(xs, ts, **kwargs)
    return perplexity(total_loss / max_iters)


def to_cpu(x):
    """x itself: fastrnn's arrays live on the CPU already (the reference's CuPy helper)."""
    return x


def to_gpu(x):
    """x itself: fastrnn runs on the CPU (the reference moves x to CuPy)."""
    return x


def eval_seq2seq(model, question, correct, id_to_char, verbose: bool = False, is_reverse: bool = False) -> int:
    """1 if ``model.generate(question, start_id, n)`` gives the answer, else 0.

    ``correct`` holds the start id, then the n ids of the answer.  ``verbose``
    prints the question (put back in order when ``is_reverse``), the answer, and
    the guess after a green check or a red cross (``O`` / ``X`` on Windows),
    then ``---``.
    """
    correct = np.asarray(correct).flatten()
    start_id, correct = correct[0], correct[1:]
    guess = model.generate(question, start_id, len(correct))
    question = "".join(id_to_char[int(c)] for c in np.asarray(question).flatten())
    correct = "".join(id_to_char[int(c)] for c in correct)
    guess = "".join(id_to_char[int(c)] for c in guess)
    if verbose:
        if is_reverse:
            question = question[::-1]
        print("Q", question)
        print("T", correct)
        windows = os.name == "nt"
        if correct == guess:
            mark = "O" if windows else "\033[92m\u2611\033[0m"
        else:
            mark = "X" if windows else "\033[91m\u2612\033[0m"
        print(mark + " " + guess)
        print("---")
    return 1 if guess == correct else 0
