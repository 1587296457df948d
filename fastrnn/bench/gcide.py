"""``python -m fastrnn.bench.gcide OUT``: real text with a large vocabulary, for the
adaptive softmax's quality figures.

The text is the GNU Collaborative International Dictionary of English (Webster's
Revised Unabridged Dictionary of 1913 and WordNet: definitions, etymologies and
quotations), as Debian and Ubuntu package it (``apt install dict-gcide``:
``/usr/share/dictd/gcide.dict.dz``, a gzip file).  Each entry becomes one line:
lower case, words and punctuation marks as separate tokens (as in WikiText),
pronunciations and source tags removed.  The entries are shuffled (seed 0); a
twentieth each goes to ``valid.txt`` and ``test.txt``, and ``train.txt`` gets
the first ``--words`` words of the rest.
"""
from __future__ import annotations

import argparse
import gzip
import random
import re
from pathlib import Path

SOURCE = "/usr/share/dictd/gcide.dict.dz"
TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+|[^\sa-z\d]")
PRONUNCIATION = re.compile(r"\\[^\\\n]*\\")
TAG = re.compile(r"\[(?:1913 Webster|PJC|WordNet 1\.5|[A-Z]+)\]")


def entries(source) -> list:
    """The dictionary's entries (a line starting at column 0 opens one), as token lines."""
    with gzip.open(source, "rt", encoding="utf-8", errors="replace") as f:
        text = f.read()
    lines = []
    for entry in re.split(r"\n(?=\S)", text):
        entry = TAG.sub(" ", PRONUNCIATION.sub(" ", entry)).replace("{", " ").replace("}", " ").replace("?", " ")
        tokens = TOKEN.findall(entry.lower())
        if len(tokens) >= 5:
            lines.append(" ".join(tokens))
    return lines


def write(out: Path, source=SOURCE, words: int = 2_000_000, seed: int = 0) -> dict:
    """Writes train.txt, valid.txt and test.txt in ``out``; returns their word counts."""
    lines = entries(source)
    random.Random(seed).shuffle(lines)
    part = len(lines) // 20
    train, count = [], 0
    for line in lines[2 * part:]:
        if count >= words:
            break
        train.append(line)
        count += len(line.split())
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, chosen in (("train", train), ("valid", lines[:part]), ("test", lines[part:2 * part])):
        (out / f"{name}.txt").write_text("\n".join(chosen) + "\n", encoding="utf-8")
        counts[name] = sum(len(line.split()) for line in chosen)
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastrnn.bench.gcide", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="directory to write train.txt, valid.txt and test.txt in")
    parser.add_argument("--source", default=SOURCE, help=f"the dictionary (default {SOURCE})")
    parser.add_argument("--words", type=int, default=2_000_000, help="words of train.txt")
    args = parser.parse_args(argv)
    counts = write(args.out, args.source, args.words)
    print(", ".join(f"{name}.txt: {n:,} words" for name, n in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
