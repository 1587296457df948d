"""``python -m fastrnn.bench.corpus OUT``: write a synthetic text corpus for
large-corpus benchmarks.

Words are drawn independently with Zipf-like frequencies (the word of rank r
with probability proportional to ``1 / r**exponent``) from ``--distinct``
pseudo-words of 2 to 9 letters; lines hold 5 to 40 words.  The output depends
on the arguments and the seed alone, and is written in chunks, in bounded
memory.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

CHUNK_WORDS = 1 << 20


def pseudo_words(count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct lowercase pseudo-words."""
    words: dict = {}
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", np.uint8)
    while len(words) < count:
        n = count - len(words)
        lengths = rng.integers(2, 10, n)
        chars = letters[rng.integers(0, 26, lengths.sum())]
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        for i in range(n):
            words.setdefault(chars[bounds[i]:bounds[i + 1]].tobytes().decode(), None)
    return np.array(list(words)[:count], dtype=object)


def write_corpus(path, words: int, distinct: int = 50_000, exponent: float = 1.0, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    vocab = pseudo_words(distinct, rng)
    p = 1.0 / np.arange(1, distinct + 1) ** exponent
    cdf = np.cumsum(p / p.sum())
    with open(path, "w", encoding="utf-8") as f:
        left = words
        while left > 0:
            n = min(CHUNK_WORDS, left)
            ids = np.minimum(np.searchsorted(cdf, rng.random(n)), distinct - 1)
            lengths = rng.integers(5, 41, n // 5 + 2)
            ends = np.cumsum(lengths)
            ends = ends[ends < n]
            sep = np.full(n, " ", dtype=object)
            sep[ends - 1] = "\n"
            sep[-1] = "\n"
            out = np.empty(2 * n, dtype=object)
            out[0::2], out[1::2] = vocab[ids], sep
            f.write("".join(out))
            left -= n


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastrnn.bench.corpus", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="file to write")
    parser.add_argument("--words", type=int, default=100_000_000)
    parser.add_argument("--distinct", type=int, default=50_000)
    parser.add_argument("--exponent", type=float, default=1.0, help="Zipf exponent")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    write_corpus(args.out, args.words, args.distinct, args.exponent, args.seed)
    print(f"wrote {args.words:,} words to {args.out} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
