"""``python -m fastrnn.bench.memory DIR``: converting and training on a large corpus,
in words a second and resident memory.

Writes (once) a synthetic corpus of ``--words`` words (``fastrnn.bench.corpus``)
in DIR, converts it in a fresh cache in a child process, then trains the
default model for ``--iters`` iterations on it and, for comparison, on PTB,
each in a process of its own; reports each process's peak resident memory.
The large corpus is trained with PTB's vocabulary size, so both runs train
the same model and differ only in their corpus.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from .corpus import write_corpus
from .machine import cpu

CONVERT = """
import sys, time
from fastrnn.datasets import text
start = time.perf_counter()
vocab = text.build_vocabulary(sys.argv[1], cache_dir=sys.argv[2], progress=False)
done = text.convert(sys.argv[1], vocab, cache_dir=sys.argv[2], progress=False)
print(done.tokens, time.perf_counter() - start)
"""


def child(args: list) -> tuple:
    """(stdout, seconds, peak resident MB) of a child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))} failed:\n{err}")
    return out, seconds, usage.ru_maxrss / 1024


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastrnn.bench.memory", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", type=Path, help="where the corpus and its converted ids go")
    parser.add_argument("--words", type=int, default=100_000_000)
    parser.add_argument("--iters", type=int, default=100)
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    corpus = args.dir / f"zipf-{args.words}.txt"
    if not corpus.exists():
        write_corpus(corpus, args.words)
    cache = args.dir / "cache"
    print(cpu())
    out, _, rss = child([sys.executable, "-c", CONVERT, str(corpus), str(cache / f"fresh-{time.time_ns()}")])
    tokens, seconds = out.split()
    print(f"conversion: {int(tokens):,} words (line ends included) in {float(seconds):.1f} s = "
          f"{int(tokens) / float(seconds) / 1e6:.2f} M words/s on one core, peak resident {rss:.0f} MB")
    fastrnn = str(Path(sys.executable).with_name("fastrnn"))
    common = ["train", "--epochs", "1", "--max-iters", str(args.iters), "--no-progress", "--checkpoint-every", "0"]
    child([fastrnn, *common, "--train-file", corpus, "--vocab-size", "10000", "--cache-dir", cache])  # converts once
    _, seconds, big = child([fastrnn, *common, "--train-file", corpus, "--vocab-size", "10000", "--cache-dir", cache])
    _, _, ptb = child([fastrnn, *common])
    print(f"{args.iters} training iterations: peak resident {big:.0f} MB on the {args.words:,}-word corpus, "
          f"{ptb:.0f} MB on PTB (difference {big - ptb:+.0f} MB); {seconds:.1f} s for the first")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
