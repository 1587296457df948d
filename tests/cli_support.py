"""Running the installed ``fastrnn`` command in tests."""
import os
import re
import subprocess
import sys
import time
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


def start_train(args, out=None, **kw) -> subprocess.Popen:
    """``fastrnn train *args [--out out]`` started, its output piped."""
    extra = [] if out is None else ["--out", str(out)]
    return subprocess.Popen([FASTRNN, "train", *map(str, args), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Until ``path`` exists (a run's checkpoint, say), the process still running."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"the run ended first: {proc.stderr.read()}"
        assert time.monotonic() < deadline
        time.sleep(0.01)


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


def one_error_line(run, status) -> str:
    """The one error line of a finished command that exited with ``status``."""
    assert run.returncode == status, (run.returncode, run.stderr)
    assert "Traceback" not in run.stderr + run.stdout
    errors = [line for line in run.stderr.splitlines() if "error" in line]
    assert len(errors) == 1, run.stderr
    return errors[0]
