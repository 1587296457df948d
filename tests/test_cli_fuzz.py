"""Command-line fuzzing: generated ``fastrnn`` command lines (options and values,
good and bad, files of random bytes, paths that are missing, directories or
FIFOs) run against the installed command.  Each must end with status 0, 1 or 2,
never a traceback, at most one error line (status 2: exactly one, the last), and
no half-written file in the output directory."""
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli_support import fastrnn, markov_files
from conftest import FUZZ_STATUSES
from fastrnn import params_file

FUZZ = settings(max_examples=int(os.environ.get("FASTRNN_FUZZ_CASES", 20)), deadline=None, derandomize=True,
                database=None, suppress_health_check=list(HealthCheck))

BAD_INTS = st.sampled_from(["0", "-1", "1e3", "x", "", "99999999999999999999"])
INTS = st.one_of(st.integers(1, 40), st.integers(1, 40), st.integers(-3, 100_000), BAD_INTS)
FEW = st.one_of(st.integers(1, 3), st.integers(-2, 0), BAD_INTS.filter(lambda v: len(v) < 10))
"""Counts of epochs and iterations: small, or bad (a good large one would only take long)."""
FLOATS = st.one_of(st.floats(0.01, 50), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                   st.sampled_from(["0", "1", "2.5", "nan", "inf", "-inf", "1e39", "abc", ""]))


class Kind(str):
    """A kind of path, made into a path when the command line is run."""


PATH_KINDS = st.sampled_from(["text", "random", "missing", "dir", "fifo", "empty", "params",
                             "checkpoint_dir"]).map(Kind)
TRAIN_OPTIONS = {
    "--model": st.sampled_from(["simple", "rnnlm", "better", "gru", ""]),
    "--epochs": FEW, "--batch-size": INTS, "--time-size": INTS, "--wordvec-size": INTS, "--hidden-size": INTS,
    "--dropout": FLOATS, "--lr": FLOATS, "--max-grad": FLOATS, "--max-iters": FEW, "--eval-interval": INTS,
    "--seed": st.one_of(st.integers(-2, 2**33).map(str), st.just("s")), "--checkpoint-every": INTS,
    "--head": st.sampled_from(["full", "adaptive", "x"]),
    "--cutoffs": st.sampled_from(["2", "3,5", "5,3", "0", "2,2", "a", "100000", "1,2,3,4"]),
    "--div-value": FLOATS, "--vocab-size": INTS, "--min-count": INTS, "--threads": INTS,
    "--train-file": PATH_KINDS, "--valid-file": PATH_KINDS, "--test-file": PATH_KINDS, "--cache-dir": PATH_KINDS,
    "--out": PATH_KINDS, "--resume": PATH_KINDS, "--log": PATH_KINDS,
    "--cell": st.sampled_from(["rnn", "lstm", "gru", "x"]), "--layers": FEW,
    "--tied": st.just(""), "--no-tied": st.just(""),
    "--optimizer": st.sampled_from(["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "lbfgs"]),
    "--weight-decay": FLOATS, "--lr-schedule": st.sampled_from(["none", "plateau", "step", "x"]),
    "--lr-decay": FLOATS, "--patience": FEW, "--min-lr": FLOATS, "--tokens": st.sampled_from(["words", "chars", "x"]),
}
FLAGS = ("--tied", "--no-tied", "--per-word")
"""Options without a value."""


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    """Small text files and a small model's params, made once."""
    d = tmp_path_factory.mktemp("fuzz")
    files = markov_files(d, sizes=(3_000, 600, 600))
    out = d / "trained"
    fastrnn("train", "--train-file", files["train"], "--valid-file", files["valid"], "--test-file", files["test"],
            "--cache-dir", d / "cache", "--batch-size", 5, "--time-size", 5, "--wordvec-size", 8, "--hidden-size", 8,
            "--epochs", 1, "--max-iters", 3, "--no-progress", "--out", out)
    return {"files": files, "params": out / "params.npz", "run": out, "cache": d / "cache"}


def make_path(kind: str, where: Path, material, data: bytes, planted: set) -> Path:
    """A path of ``kind`` in the fresh directory ``where`` (the files made there go
    to ``planted``)."""
    path = where / f"{kind}-{len(os.listdir(where))}"
    if kind == "text":
        return material["files"]["train"]
    if kind == "random":
        path.write_bytes(data)
        planted.add(path)
    elif kind == "empty":
        path.write_bytes(b"")
        planted.add(path)
    elif kind == "dir":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "params":
        return material["params"]
    elif kind == "checkpoint_dir":
        path.mkdir()
        (path / "checkpoint.npz").write_bytes(data)
        planted.add(path / "checkpoint.npz")
    return path


@st.composite
def command_lines(draw):
    command = draw(st.sampled_from(["train", "train", "train", "eval", "generate", "score", "plot", "nothing"]))
    data = draw(st.binary(max_size=600))
    if command == "train":
        names = draw(st.lists(st.sampled_from(sorted(TRAIN_OPTIONS)), max_size=6, unique=True))
        options = [(name, draw(TRAIN_OPTIONS[name])) for name in names]
        return command, options, data
    if command == "plot":
        return command, [("", draw(PATH_KINDS))] + ([("--x", draw(st.sampled_from(["time", "words", "z"])))]
                                                    if draw(st.booleans()) else []), data
    if command == "score":
        options = [("", draw(PATH_KINDS)), ("", draw(PATH_KINDS))]
        if draw(st.booleans()):
            options.append(("--batch-size", draw(INTS)))
        return command, options + ([("--per-word", "")] if draw(st.booleans()) else []), data
    if command in ("eval", "generate"):
        options = [("", draw(PATH_KINDS))]
        extra = {"eval": {"--model": st.sampled_from(["rnnlm", "simple", "better", "z"]), "--test-file": PATH_KINDS},
                 "generate": {"--start": st.sampled_from(["a", "zebra", "", "<eos>"]), "--length": INTS,
                              "--seed": st.integers(-1, 2**32).map(str), "--model": st.sampled_from(["rnnlm", "x"])}}
        names = draw(st.lists(st.sampled_from(sorted(extra[command])), max_size=3, unique=True))
        return command, options + [(n, draw(extra[command][n])) for n in names], data
    return draw(st.sampled_from(["", "--help", "trian", "--version"])), [], data


@FUZZ
@given(line=command_lines())
def test_a_generated_command_line(material, line):
    command, options, data = line
    where, planted = Path(tempfile.mkdtemp(prefix="fuzz-")), set()
    try:
        argv = [command] if command else []
        if command == "train":  # small and short unless the options say otherwise
            argv += ["--wordvec-size", "8", "--hidden-size", "8", "--epochs", "1", "--max-iters", "3",
                     "--batch-size", "4", "--time-size", "4", "--no-progress", "--cache-dir", str(material["cache"])]
        elif command == "eval":
            argv += ["--no-progress", "--cache-dir", str(material["cache"])]
        for name, value in options:
            if isinstance(value, Kind):
                value = make_path(value, where, material, data, planted)
            argv += [name] if name in FLAGS else [name, str(value)] if name else [str(value)]
        run = fastrnn(*argv, check=False, timeout=180)
        output = run.stdout + run.stderr
        FUZZ_STATUSES[run.returncode] = FUZZ_STATUSES.get(run.returncode, 0) + 1
        assert run.returncode in (0, 1, 2), (argv, run.returncode, output)
        assert "Traceback" not in output, (argv, output)
        errors = [x for x in run.stderr.splitlines() if "error" in x.lower()]
        assert len(errors) <= 1, (argv, run.stderr)
        if run.returncode == 2 and command != "--help":
            assert len(errors) == 1 and run.stderr.strip().splitlines()[-1] == errors[0], (argv, run.stderr)
        for root, _, names in os.walk(where):
            for name in names:
                path = Path(root) / name
                assert not name.endswith(".tmp"), (argv, name)
                if name.endswith(".npz") and path not in planted:
                    params_file.read_params(path)  # whole: a reader never sees a half-written file
    finally:
        shutil.rmtree(where, ignore_errors=True)
