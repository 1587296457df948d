"""``python -m fastrnn.bench.training``: the training table of docs/guides/training.md, measured.

Each run is ``fastrnn train`` (or ``mpiexec -n 2 fastrnn train``) in its own
process, with the arguments shown beside it; the table gives the training
time, the whole process's wall time, the validation and test perplexities
and the median words a second of the report lines.  The ``gcide-*`` runs train
on the corpus ``python -m fastrnn.bench.gcide DIR`` writes (``--gcide DIR``),
a real text of 2 million words with a vocabulary of 42,867 (words seen twice),
with the full softmax and the adaptive one.
"""
from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .machine import cpu

GCIDE = ["--train-file", "{gcide}/train.txt", "--valid-file", "{gcide}/valid.txt", "--test-file", "{gcide}/test.txt",
         "--min-count", "2", "--cache-dir", "{gcide}/cache", "--epochs", "1"]
"""One epoch on the corpus of ``python -m fastrnn.bench.gcide DIR`` (``{gcide}``)."""
RUNS = {
    "rnnlm": ["train"],
    "simple-1": ["train", "--model", "simple", "--epochs", "1"],
    "simple": ["train", "--model", "simple"],
    "better-1": ["train", "--model", "better", "--epochs", "1"],
    "words-1x2": ["train", "--epochs", "1", "--max-iters", "400", "--eval-interval", "50"],
    "words-2x1": ["mpiexec", "-n", "2", "train", "--epochs", "1", "--max-iters", "400", "--eval-interval", "50"],
    "rnnlm-bf16": ["train", "--precision", "bf16"],
    "better-1-bf16": ["train", "--model", "better", "--epochs", "1", "--precision", "bf16"],
    "rnnlm-adaptive": ["train", "--head", "adaptive"],
    "better-1-adaptive": ["train", "--model", "better", "--epochs", "1", "--head", "adaptive"],
    **{f"gcide-{model}-{head}": ["train", "--model", model, "--head", head, *GCIDE]
       for model in ("rnnlm", "better") for head in ("full", "adaptive")},
}
"""Runs by name: the arguments of ``fastrnn`` (after ``mpiexec -n 2`` for the MPI ones)."""


def command(args: list) -> list:
    fastrnn = str(Path(sys.executable).with_name("fastrnn"))
    if args[0] == "mpiexec":
        launcher = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or "mpiexec"
        return [launcher, *args[1:3], fastrnn, *args[3:]]
    return [fastrnn, *args]


def measure(args: list) -> dict:
    start = time.perf_counter()
    run = subprocess.run(command(args) + ["--no-progress"], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f"fastrnn {' '.join(args)} failed:\n{run.stderr}")
    out = run.stdout

    def number(pattern):
        found = re.search(pattern, out, re.M)
        return float(found.group(1)) if found else None

    words = [float(w.replace(",", "")) for w in re.findall(r"\| ([\d,]+) words/s$", out, re.M)[1:]]
    return {"training s": number(r"^training time: ([\d.]+) s"), "process s": wall,
            "valid ppl": number(r"^valid perplexity: ([\d.]+)"), "test ppl": number(r"^test perplexity: ([\d.]+)"),
            "words/s": statistics.median(words) if words else None}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastrnn.bench.training", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", choices=sorted(RUNS), default=["rnnlm", "simple-1"])
    parser.add_argument("--gcide", type=Path, help="the corpus directory of the gcide-* runs")
    args = parser.parse_args(argv)
    if any(name.startswith("gcide") for name in args.runs) and args.gcide is None:
        parser.error("the gcide-* runs need --gcide DIR (python -m fastrnn.bench.gcide DIR writes it)")
    print(cpu())
    columns = ["training s", "process s", "valid ppl", "test ppl", "words/s"]
    print("| run | " + " | ".join(columns) + " |")
    print("| --- |" + " --- |" * len(columns))
    for name in args.runs:
        result = measure([a.format(gcide=args.gcide) for a in RUNS[name]])
        cells = [("-" if result[c] is None else f"{result[c]:,.0f}" if c == "words/s" else f"{result[c]:.2f}")
                 for c in columns]
        shown = " ".join(RUNS[name]).replace("mpiexec -n 2 train", "mpiexec -n 2 fastrnn train").replace(
            " ".join(GCIDE), "(gcide, 1 epoch)")
        print(f"| `{'fastrnn ' if not shown.startswith('mpiexec') else ''}{shown}` | " + " | ".join(cells) + " |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
