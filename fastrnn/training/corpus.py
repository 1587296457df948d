"""A run's corpus: the bundled Penn Treebank or the user's text files converted to
ids (memory maps), its fingerprint (``key``), and the checks that it suits the
run: a resumed run's text unchanged, enough words for a batch and an evaluation."""
from __future__ import annotations

import mmap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..cli.files import cache_dir_of, convert_text, corpus_step
from ..cli.options import UserError
from ..layers.adaptive import frequency_order
from .evaluation import EVAL_BATCH, EVAL_TIME

COUNT_BLOCK = 1 << 24
"""Words counted at a time for the word order of an adaptive head."""
FILES = {"train_file": "the training file", "valid_file": "the validation file", "test_file": "the test file"}


@dataclass
class Corpus:
    """The data of a run: id arrays (memory maps for your own text) and the
    vocabulary, with a ``key`` that identifies them for resuming."""

    train: np.ndarray
    valid: np.ndarray | None
    test: np.ndarray | None
    words: list
    name: str
    key: dict

    def word_order(self) -> np.ndarray:
        """Word ids from the most to the least frequent in the training data (ties:
        the smaller id first), counted a block at a time."""
        counts = np.zeros(len(self.words), np.int64)
        for i in range(0, len(self.train), COUNT_BLOCK):
            counts += np.bincount(self.train[i:i + COUNT_BLOCK], minlength=len(self.words))
        return frequency_order(counts)

    def release_pages(self) -> None:
        """Drop this process's mapping of a memory-mapped training corpus's pages
        (they stay in the page cache and are mapped again when read)."""
        mm = getattr(self.train, "_mmap", None)
        if mm is not None and hasattr(mm, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
            mm.madvise(mmap.MADV_DONTNEED)


def load(data, world, progress: bool, verify: bool = False) -> Corpus:
    """The corpus of ``DataConfig`` ``data``: PTB, or its files (rank 0 converts them
    first; with ``verify``, a resumed run's, each file is hashed again: an edit that
    kept its size and times is found)."""
    from ..datasets import ptb, text

    if data.train_file is None:
        train, word_to_id, _ = ptb.load_data("train")
        return Corpus(train, ptb.load_data("val")[0], ptb.load_data("test")[0], list(word_to_id),
                      "the Penn Treebank", {"name": "ptb"})
    cache_dir = cache_dir_of(data.cache_dir)
    if world.rank > 0:
        world.barrier()  # rank 0 converts; the others then find the files in the cache
    progress = progress and world.rank == 0
    vocab = corpus_step("--train-file", data.train_file, lambda: text.build_vocabulary(
        data.train_file, data.vocab_size, data.min_count or 1, cache_dir, progress, data.tokens))
    files = [convert_text(Path(getattr(data, k)), vocab, cache_dir, progress, f"--{k.replace('_', '-')}", verify)
             if getattr(data, k) is not None else None for k in FILES]
    if world.rank == 0:
        world.barrier()
    return Corpus(*(None if f is None else f.ids for f in files), vocab.words, Path(data.train_file).name,
                  {"name": "text", "vocabulary": vocab.checksum, "train_words": int(files[0].tokens),
                   **{f"{k}_sha256": None if f is None else f.sha256 for k, f in zip(FILES, files)}})


def check_unchanged(key: dict, corpus: Corpus, where) -> None:
    """UserError when ``corpus`` is not the one a run started with (its ``key``;
    a checkpoint of an older fastrnn holds fewer entries)."""
    what = {f"{k}_sha256": v for k, v in FILES.items()}
    changed = sorted((k for k, v in key.items() if corpus.key.get(k) != v), key=lambda k: k not in what)
    if changed:
        raise UserError(f"--resume {where}: {what.get(changed[0], 'the training data')} changed since the run "
                        f"started ({corpus.name} now gives another "
                        + ("content" if changed[0] in what else "vocabulary or length")
                        + "): the run's position in it would mean nothing")


def check_fits(config, corpus: Corpus, processes: int) -> None:
    """UserError when the corpus is too short for a batch or an evaluation, or the
    batch too small for the processes, or a cutoff past the vocabulary."""
    o = config.optim
    need = o.batch_size * o.time_size + 1
    if len(corpus.train) < need:
        raise UserError(f"--batch-size {o.batch_size} x --time-size {o.time_size} needs at least {need:,} words "
                        f"of training text; {corpus.name} has {len(corpus.train):,}")
    if o.batch_size < processes:
        raise UserError(f"--batch-size {o.batch_size} is smaller than the {processes} processes: each needs a row")
    V, m = len(corpus.words), config.model
    if m.head == "adaptive" and m.cutoffs is not None and m.cutoffs[-1] >= V:
        raise UserError(f"--cutoffs {','.join(map(str, m.cutoffs))}: every cutoff must be below the vocabulary's "
                        f"{V:,} words")
    for data, option in ((corpus.valid, "--valid-file"), (corpus.test, "--test-file")):
        if data is not None and len(data) < EVAL_BATCH * EVAL_TIME + 1:
            raise UserError(f"{option} has {len(data):,} words; evaluation reads {EVAL_BATCH} rows of "
                            f"{EVAL_TIME} steps, so it needs at least {EVAL_BATCH * EVAL_TIME + 1}")
