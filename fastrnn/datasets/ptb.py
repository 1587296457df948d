"""The Penn Treebank word-level split (Mikolov's preprocessing), shipped with fastrnn.

``load_data(data_type)`` returns ``(corpus, word_to_id, id_to_word)`` as the
reference's loader does: every line end becomes ``<eos>``, ids are numbered in
order of first appearance in the training file, and the validation and test
files are read with the training vocabulary (10,000 words).
"""
from __future__ import annotations

import functools
import gzip
from importlib import resources

import numpy as np

_FILES = {"train": "ptb.train.txt.gz", "val": "ptb.valid.txt.gz", "valid": "ptb.valid.txt.gz",
          "test": "ptb.test.txt.gz"}


@functools.lru_cache(maxsize=None)
def _words(file_name: str) -> tuple:
    with resources.files(__package__).joinpath("data", file_name).open("rb") as raw:
        text = gzip.decompress(raw.read()).decode("utf-8")
    return tuple(text.replace("\n", "<eos>").strip().split())


@functools.lru_cache(maxsize=None)
def _vocab() -> tuple:
    word_to_id: dict = {}
    for w in _words(_FILES["train"]):
        if w not in word_to_id:
            word_to_id[w] = len(word_to_id)
    return word_to_id, {i: w for w, i in word_to_id.items()}


def load_data(data_type: str = "train"):
    """corpus (int64 ids, one per token), word_to_id, id_to_word for ``'train' | 'val' | 'valid' | 'test'``."""
    if data_type not in _FILES:
        raise ValueError(f"data_type must be one of {sorted(_FILES)}, got {data_type!r}")
    word_to_id, id_to_word = _vocab()
    corpus = np.array([word_to_id[w] for w in _words(_FILES[data_type])], dtype=np.int64)
    return corpus, dict(word_to_id), dict(id_to_word)
