"""Running the installed ``fastrnn`` command in tests."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from support import markov_text

FASTRNN = str(Path(sys.executable).with_name("fastrnn"))
"""The console script installed beside this Python."""


def fastrnn(*args, check=True, timeout=300, env=None, **kw) -> subprocess.CompletedProcess:
    """Run ``fastrnn *args``; with ``check``, fail on a non-zero exit showing its stderr."""
    run = subprocess.run([FASTRNN, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                         env=None if env is None else {**os.environ, **env}, **kw)
    if check and run.returncode != 0:
        raise AssertionError(f"fastrnn {' '.join(map(str, args))} exited {run.returncode}:\n{run.stderr}")
    return run


def value(pattern: str, text: str) -> float:
    """The number after ``pattern`` on a line of ``text``."""
    return float(re.search(rf"^{pattern}: ([\d.]+)", text, re.M).group(1))


def markov_files(directory: Path, seed: int = 0, sizes=(30_000, 6_000, 6_000)) -> dict:
    """train/valid/test files of ``support.markov_text`` (best perplexity 2.0)."""
    rng = np.random.default_rng(seed)
    files = {}
    for name, tokens in zip(("train", "valid", "test"), sizes):
        files[name] = directory / f"{name}.txt"
        files[name].write_text(markov_text(rng, tokens), encoding="utf-8")
    return files


SMALL = ("--batch-size", 10, "--time-size", 10, "--wordvec-size", 16, "--hidden-size", 32, "--lr", 2,
         "--no-progress", "--eval-interval", 100)
"""Settings of a small model that learns the Markov corpus in seconds."""


def text_args(files: dict, cache: Path) -> tuple:
    return ("--train-file", files["train"], "--valid-file", files["valid"], "--test-file", files["test"],
            "--cache-dir", cache)
