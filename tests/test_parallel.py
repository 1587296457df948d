"""Data-parallel training over MPI (skipped where mpi4py and mpiexec are missing)."""
import importlib.util
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from cli_support import FASTRNN, SMALL, fastrnn, markov_files, one_error_line, text_args
from fastrnn import runlog
from fastrnn.training import checkpoint
from fastrnn.params_file import read_params
from fastrnn.kernels.gemm import BF16

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
needs_mpi = pytest.mark.skipif(MPIEXEC is None or importlib.util.find_spec("mpi4py") is None,
                               reason="needs the MPI extra: pip install \"fastrnn[mpi]\"")


def mpiexec(n, *args, timeout=300):
    return subprocess.run([MPIEXEC, "-n", str(n), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def max_rel_diff(a, b):
    return max(np.max(np.abs(x.astype(np.float64) - y)) / np.max(np.abs(x)) for x, y in zip(a, b))


@needs_mpi
def test_two_processes_equal_one(tmp_path):
    """rnnlm at its default lr 20, where a difference of one rounding grows ten-fold
    every few steps: only the same arithmetic ends equal after 50 iterations."""
    args = ("train", "--model", "rnnlm", "--batch-size", 20, "--epochs", 1, "--max-iters", 50, "--seed", 1,
            "--no-progress", "--checkpoint-every", 25)
    one = fastrnn(*args, "--out", tmp_path / "one")
    two = mpiexec(2, FASTRNN, *args, "--out", tmp_path / "two")
    assert two.returncode == 0, two.stderr
    assert "batch 20 over 2 processes (1 thread each)" in two.stdout
    assert two.stdout.count("training Rnnlm") == 1  # rank 0 alone prints
    a, b = read_params(tmp_path / "one" / "params.npz").arrays, read_params(tmp_path / "two" / "params.npz").arrays
    assert max_rel_diff(a, b) <= 1e-5
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)  # in fact, bit for bit
    ppl = [line for line in one.stdout.splitlines() if "perplexity:" in line]
    assert ppl == [line for line in two.stdout.splitlines() if "perplexity:" in line]


needs_root = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                                reason="needs root and unshare for a private mount namespace")


@needs_mpi
@needs_root
def test_only_rank_0_needs_the_run_directory(tmp_path):
    """Machines without a shared file system: process 1 runs in a mount namespace where
    --out's parent is an empty read-only tmpfs; a new run and its --resume still train,
    as one process does (the corpus and its cache stay needed on every machine)."""
    (tmp_path / "data").mkdir()
    files = markov_files(tmp_path / "data", sizes=(8_000, 2_000, 2_000))
    shared = tmp_path / "shared"
    shared.mkdir()
    out = shared / "run"
    args = ["train", *map(str, text_args(files, tmp_path / "cache")), *map(str, SMALL), "--max-iters", "10",
            "--checkpoint-every", "5", "--seed", "2"]
    fastrnn(*args, "--epochs", 2, "--out", tmp_path / "one")

    def split(*tail):
        hidden = (f"mount -t tmpfs -o ro tmpfs {shared} && exec {FASTRNN} "
                  + " ".join(f"'{a}'" for a in [*args, *tail]))
        return mpiexec(1, FASTRNN, *args, *tail, ":", "-n", 1, "unshare", "--mount", "--propagation", "private",
                       "sh", "-c", hidden)

    first = split("--epochs", 1, "--out", out)
    assert first.returncode == 0, first.stderr
    resumed = mpiexec(1, FASTRNN, "train", "--resume", out, "--epochs", 2, ":", "-n", 1, "unshare", "--mount",
                      "--propagation", "private", "sh", "-c",
                      f"mount -t tmpfs -o ro tmpfs {shared} && exec {FASTRNN} train --resume '{out}' --epochs 2")
    assert resumed.returncode == 0, resumed.stderr
    for x, y in zip(read_params(tmp_path / "one" / "params.npz").arrays, read_params(out / "params.npz").arrays):
        np.testing.assert_array_equal(x, y)
    assert not os.path.ismount(shared)


@needs_mpi
def test_two_processes_evaluate_as_one(tmp_path):
    """Rank 0 evaluates as one process does (its groups of rows): the logged validation
    and test perplexities, which drive the plateau schedule, are the same numbers."""
    files = markov_files(tmp_path, sizes=(20_000, 4_000, 4_000))
    args = ("train", *text_args(files, tmp_path / "cache"), *SMALL, "--model", "better",
            "--wordvec-size", 32, "--epochs", 2, "--max-iters", 20, "--seed", 3)
    fastrnn(*args, "--log", tmp_path / "one.log")
    two = mpiexec(2, FASTRNN, *args, "--log", tmp_path / "two.log")
    assert two.returncode == 0, two.stderr
    evaluations = [[(r["event"], r.get("valid_ppl"), r.get("test_ppl")) for r in runlog.read(tmp_path / log)
                    if r["event"] != "train"] for log in ("one.log", "two.log")]
    assert len(evaluations[0]) == 3 and evaluations[0] == evaluations[1]


@needs_mpi
@pytest.mark.parametrize("model", ["rnnlm", "better"])
def test_two_processes_equal_one_with_an_adaptive_head(tmp_path, model):
    """--head adaptive: the embedding's rows go through the allreduce as the union of
    both processes' rows; better (dropout masks keyed by each row's place in the batch)
    ties the shortlist to the embedding, whose head gradient is rows too."""
    args = ("train", "--model", model, "--head", "adaptive", "--cutoffs", "500,3000", "--batch-size", 20, "--epochs",
            1, "--max-iters", 50, "--seed", 1, "--no-progress", "--eval-interval", 25,
            *(["--wordvec-size", 64, "--hidden-size", 64] if model == "better" else []))
    fastrnn(*args, "--out", tmp_path / "one")
    two = mpiexec(2, FASTRNN, *args, "--out", tmp_path / "two")
    assert two.returncode == 0, two.stderr
    for x, y in zip(read_params(tmp_path / "one" / "params.npz").arrays,
                    read_params(tmp_path / "two" / "params.npz").arrays):
        np.testing.assert_array_equal(x, y)


@needs_mpi
def test_resume_under_mpi_and_own_text(tmp_path):
    files = markov_files(tmp_path, sizes=(6_000, 600, 600))
    args = ("train", *text_args(files, tmp_path / "cache"), *SMALL, "--epochs", 2, "--checkpoint-every", 7)
    whole = mpiexec(2, FASTRNN, *args, "--out", tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    first = mpiexec(2, FASTRNN, *args, "--epochs", 1, "--out", tmp_path / "part")
    assert first.returncode == 0, first.stderr
    resumed = mpiexec(2, FASTRNN, "train", "--resume", tmp_path / "part", "--epochs", 2)
    assert resumed.returncode == 0, resumed.stderr
    for x, y in zip(read_params(tmp_path / "whole" / "params.npz").arrays,
                    read_params(tmp_path / "part" / "params.npz").arrays):
        np.testing.assert_array_equal(x, y)


@needs_mpi
def test_an_exception_on_rank_1_ends_the_job(tmp_path):
    """Rank 1 fails inside its training step while rank 0 waits in the step's allreduce."""
    script = tmp_path / "fail_on_rank_1.py"
    script.write_text(textwrap.dedent("""
        import sys
        from fastrnn import cli, parallel
        from fastrnn.training import batches

        if parallel.world().rank == 1:
            def broken(*args):
                raise RuntimeError("a fault on rank 1")
            batches.windows = broken
        sys.exit(cli.main(["train", "--epochs", "1", "--max-iters", "20", "--no-progress",
                           "--wordvec-size", "8", "--hidden-size", "8"]))
    """))
    start = time.monotonic()
    failed = mpiexec(2, sys.executable, script, timeout=60)
    assert failed.returncode != 0
    assert time.monotonic() - start < 30
    assert "a fault on rank 1" in failed.stderr


@needs_mpi
def test_a_user_error_on_every_rank_is_one_line(tmp_path):
    failed = mpiexec(2, FASTRNN, "train", "--train-file", tmp_path / "missing.txt", timeout=60)
    assert failed.returncode != 0
    assert failed.stderr.count("fastrnn train: error: --train-file") >= 1 and "Traceback" not in failed.stderr


def test_without_mpiexec_mpi4py_is_not_imported(tmp_path):
    code = ("import sys; from fastrnn import cli; cli.main(['train', '--epochs', '1', '--max-iters', '2', "
            "'--no-progress', '--wordvec-size', '8', '--hidden-size', '8']); "
            "assert 'mpi4py' not in sys.modules, 'mpi4py was imported'")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr


def _ranks(out) -> dict:
    """{rank: pid} of the processes of a job whose command line names ``out``."""
    ranks = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        rank = [e[len(b"PMI_RANK="):] for e in environ if e.startswith(b"PMI_RANK=")]
        if str(out).encode() in cmdline and rank:
            ranks[int(rank[0])] = int(pid)
    return ranks


@needs_mpi
@pytest.mark.parametrize("victim, options", [(0, ("--overlap",)), (1, ("--no-overlap", "--head", "adaptive"))])
def test_a_rank_killed_mid_step_ends_the_job_and_the_run_resumes(tmp_path, victim, options):
    """SIGKILL to one process of two while they train: mpiexec ends the job at once,
    saying so, with no process left; --resume under mpiexec then ends with the
    params of one process's uninterrupted run (a full head with overlapped sums,
    an adaptive one without)."""
    files = markov_files(tmp_path, sizes=(20_000, 2_000, 2_000))
    args = ("train", *text_args(files, tmp_path / "cache"), *SMALL, "--epochs", 3, "--checkpoint-every", 3)
    fastrnn(*args, *options[1:], "--out", tmp_path / "whole")
    out = tmp_path / "killed"
    job = subprocess.Popen([MPIEXEC, "-n", "2", FASTRNN, *map(str, args), *options, "--out", str(out)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / checkpoint.PREVIOUS).exists() or len(_ranks(out)) < 2:
        assert job.poll() is None and time.monotonic() < deadline, job.communicate()
        time.sleep(0.01)
    time.sleep(random.uniform(0, 0.5))
    os.kill(_ranks(out)[victim], signal.SIGKILL)
    start = time.monotonic()
    stdout, stderr = job.communicate(timeout=30)
    assert time.monotonic() - start < 30 and job.returncode != 0
    assert "Killed (signal 9)" in stdout + stderr
    assert not _ranks(out)
    resumed = mpiexec(2, FASTRNN, "train", "--resume", out)
    assert resumed.returncode == 0, resumed.stderr
    for x, y in zip(read_params(tmp_path / "whole" / "params.npz").arrays, read_params(out / "params.npz").arrays):
        np.testing.assert_array_equal(x, y)


def assert_two_processes_equal_one(tmp_path, *options, two_options=()):
    """``fastrnn train`` on a small Markov corpus with ``options``, in one process and
    under ``mpiexec -n 2`` (with ``two_options`` too): the same params, bit for bit."""
    files = markov_files(tmp_path, sizes=(8_000, 1_000, 1_000))
    args = ("train", *text_args(files, tmp_path / "cache"), *SMALL, "--epochs", 1, *options)
    fastrnn(*args, "--out", tmp_path / "one")
    two = mpiexec(2, FASTRNN, *args, *two_options, "--out", tmp_path / "two")
    assert two.returncode == 0, two.stderr
    for x, y in zip(read_params(tmp_path / "one" / "params.npz").arrays,
                    read_params(tmp_path / "two" / "params.npz").arrays, strict=True):
        np.testing.assert_array_equal(x, y)


@needs_mpi
@pytest.mark.parametrize("overlap", ["--overlap", "--no-overlap"])
def test_two_processes_equal_one_with_any_cell(tmp_path, overlap):
    """A structure of no preset (GRU, 2 layers, tied, no dropout) through the same
    sums, layer by layer while the backward pass goes on or in one message after
    it: two processes end with the params of one."""
    assert_two_processes_equal_one(tmp_path, "--cell", "gru", "--layers", 2, "--tied", "--wordvec-size", 32,
                                   two_options=(overlap,))


@needs_mpi
def test_rows_per_process(tmp_path):
    """--batch-per-process 5 under mpiexec -n 2 is --batch-size 10 of one process, bit
    for bit; given with --batch-size, or resumed with another number of processes,
    it is refused in one line."""
    files = markov_files(tmp_path, sizes=(8_000, 1_000, 1_000))
    assert SMALL[:2] == ("--batch-size", 10)
    args = ("train", *text_args(files, tmp_path / "cache"), *SMALL[2:], "--epochs", 1)
    fastrnn(*args, "--batch-size", 10, "--out", tmp_path / "one")
    two = mpiexec(2, FASTRNN, *args, "--batch-per-process", 5, "--out", tmp_path / "two")
    assert two.returncode == 0, two.stderr
    for x, y in zip(read_params(tmp_path / "one" / "params.npz").arrays,
                    read_params(tmp_path / "two" / "params.npz").arrays, strict=True):
        np.testing.assert_array_equal(x, y)
    both = mpiexec(2, FASTRNN, "train", *text_args(files, tmp_path / "cache"), "--batch-per-process", 5,
                   "--batch-size", 10)
    assert "--batch-per-process gives the rows of each process: leave out --batch-size" in both.stderr
    run = mpiexec(2, FASTRNN, *args, "--max-iters", 3, "--batch-per-process", 4, "--out", tmp_path / "rows")
    assert run.returncode == 0 and "batch 8 over 2 processes" in run.stdout, run.stderr
    line = one_error_line(fastrnn("train", "--resume", tmp_path / "rows", "--epochs", 2, check=False), 2)
    assert line.endswith("gives each of its 2 processes 4 rows (--batch-per-process); resume it with as many "
                         "processes, not 1"), line


@needs_mpi
@pytest.mark.skipif(not BF16, reason="this CPU has no AVX512_BF16")
def test_two_processes_equal_one_in_bf16(tmp_path):
    """--precision bf16 (two LSTM layers, tied): every product makes each of its rows
    on its own and sums each group's gradient in a fixed order, so two processes
    end with the params of one, bit for bit."""
    assert_two_processes_equal_one(tmp_path, "--model", "better", "--wordvec-size", 32,
                                   "--precision", "bf16")


@needs_mpi
def test_bf16_transfer_trains_as_float32(tmp_path):
    """--grad-precision bf16 (the processes' sums exact to bfloat16, tested in
    test_reducer): a small model learns as with float32 transfer, its validation
    perplexity within 2%, and the log counts half the bytes a step."""
    files = markov_files(tmp_path, sizes=(8_000, 1_000, 1_000))
    args = ("train", *text_args(files, tmp_path / "cache"), *SMALL, "--epochs", 2, "--eval-interval", 5)
    ppl = {}
    for precision in ("fp32", "bf16"):
        log = tmp_path / f"{precision}.log"
        run = mpiexec(2, FASTRNN, *args, "--grad-precision", precision, "--log", log)
        assert run.returncode == 0, run.stderr
        ppl[precision] = float(re.search(r"^valid perplexity: ([\d.]+)", run.stdout, re.M).group(1))
        sent = [r["allreduce_bytes_per_step"] for r in runlog.read(log) if r["event"] == "train"]
        ppl[precision + " bytes"] = sent[-1]
    assert abs(ppl["bf16"] / ppl["fp32"] - 1) < 0.02, ppl
    assert abs(ppl["bf16 bytes"] / ppl["fp32 bytes"] - 0.5) < 0.02, ppl
