"""Runs that survive a stop: SIGKILL at a random moment, SIGINT, and divergence."""
import random
import re
import signal
import time

import numpy as np
import pytest

from cli_support import SMALL, fastrnn, markov_files, start_train, text_args, wait_for
from fastrnn.training import checkpoint
from fastrnn.params_file import read_params

EPOCHS = ("--epochs", 3, "--checkpoint-every", 5)


def params_of(directory):
    return read_params(directory / "params.npz").arrays


def checkpoint_arrays(directory):
    stored = read_params(directory / checkpoint.NAME)
    return stored.arrays, {k: a for k, a in stored.entries.items() if k != "run"}  # (the run document holds times)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    directory = tmp_path_factory.mktemp("corpus")
    files = markov_files(directory, sizes=(40_000, 4_000, 4_000))
    return files, directory / "cache"


@pytest.mark.parametrize("model", ["rnnlm", "better", "gru"])
def test_killed_at_a_random_moment_resumes_bit_identical(tmp_path, corpus, model):
    files, cache = corpus
    structure = {"rnnlm": ["--model", "rnnlm"], "better": ["--model", "better", "--wordvec-size", 32],
                 "gru": ["--cell", "gru", "--layers", 2, "--dropout", 0.2, "--average", "tail", "--average-from",
                         0.3]}[model]
    args = (*text_args(files, cache), *SMALL, *EPOCHS, *structure)
    fastrnn("train", *args, "--out", tmp_path / "whole")
    for attempt in range(5):
        out = tmp_path / f"killed{attempt}"
        proc = start_train(args, out)
        wait_for(out / checkpoint.NAME, proc)
        time.sleep(random.uniform(0, 1.0 / (attempt + 1)))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        if proc.returncode == -signal.SIGKILL:
            break
    else:
        pytest.fail("every run ended before it could be killed")
    ck = checkpoint.load(out / checkpoint.NAME)
    done = ck.state.progress["done"]
    resumed = fastrnn("train", "--resume", out)
    assert f"iteration {ck.state.progress['iteration'] + 1}" in resumed.stdout.splitlines()[0]
    for a, b in zip(params_of(tmp_path / "whole"), params_of(out)):
        np.testing.assert_array_equal(a, b)
    (p1, a1), (p2, a2) = checkpoint_arrays(tmp_path / "whole"), checkpoint_arrays(out)
    assert a1.keys() == a2.keys() and done < checkpoint.load(out / checkpoint.NAME).state.progress["done"]
    for key in a1:
        np.testing.assert_array_equal(a1[key], a2[key], err_msg=key)
    for a, b in zip(p1, p2):
        np.testing.assert_array_equal(a, b)


def test_sigint_writes_a_checkpoint_that_resumes(tmp_path, corpus):
    files, cache = corpus
    args = (*text_args(files, cache), *SMALL, *EPOCHS)
    fastrnn("train", *args, "--out", tmp_path / "whole")
    out = tmp_path / "stopped"
    proc = start_train(args, out)
    wait_for(out / checkpoint.NAME, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGINT
    lines = err.strip().splitlines()
    assert lines[-1].startswith("fastrnn train: interrupted at epoch ")
    assert lines[-1].endswith(f"checkpoint written: resume with: fastrnn train --resume {out}")
    fastrnn("train", "--resume", out)
    for a, b in zip(params_of(tmp_path / "whole"), params_of(out)):
        np.testing.assert_array_equal(a, b)


def test_a_finished_run_says_so_and_more_epochs_go_on(tmp_path, corpus):
    files, cache = corpus
    args = (*text_args(files, cache), *SMALL, "--epochs", 1, "--max-iters", 5)
    fastrnn("train", *args, "--out", tmp_path / "a")
    assert "is complete (1 epochs, " in fastrnn("train", "--resume", tmp_path / "a").stdout
    fastrnn("train", "--resume", tmp_path / "a", "--epochs", 2)
    fastrnn("train", *args[:-4], "--epochs", 2, "--max-iters", 5, "--out", tmp_path / "b")
    for a, b in zip(params_of(tmp_path / "a"), params_of(tmp_path / "b")):
        np.testing.assert_array_equal(a, b)


def test_an_exploding_learning_rate_stops_at_once_and_leaves_finite_params(tmp_path, corpus):
    files, cache = corpus
    # lr 1e38: clipped updates leave huge but finite params, until one overflows
    run = fastrnn("train", *text_args(files, cache), *SMALL, "--lr", 1e38, "--checkpoint-every", 1,
                  "--out", tmp_path / "a", check=False)
    line = run.stderr.strip().splitlines()[-1]
    assert run.returncode == 1 and "Traceback" not in run.stderr
    found = re.match(r"fastrnn train: error: training diverged at iteration (\d+): ", line)
    assert found and line.endswith(f"{tmp_path / 'a' / checkpoint.NAME} holds the params of iteration "
                                   f"{int(found.group(1)) - 1}, all finite"), line
    ck = checkpoint.load(tmp_path / "a" / checkpoint.NAME)  # written after the iteration before: finite
    assert ck.state.progress["done"] == int(found.group(1)) - 1 and all(np.isfinite(p).all() for p in ck.params)
    # lr 1e39 is infinite in float32: the first update makes params infinite, and nothing is written
    run = fastrnn("train", *text_args(files, cache), *SMALL, "--lr", 1e39, "--checkpoint-every", 1,
                  "--out", tmp_path / "b", check=False)
    assert run.returncode == 1 and "Warning" not in run.stderr, run.stderr
    assert run.stderr.strip().endswith("diverged at iteration 1: an update made a param infinite or NaN (a smaller "
                                       "learning rate or gradient clipping, max_grad, may help); "
                                       f"{tmp_path / 'b'} holds no checkpoint yet")
    assert not (tmp_path / "b" / checkpoint.NAME).exists() and not (tmp_path / "b" / "params.npz").exists()


def test_adaptive_head_killed_and_resumed_is_bit_identical(tmp_path, corpus):
    """--head adaptive --model better (a shortlist tied to the embedding, row-sparse
    embedding gradients): kill -9 after a checkpoint, --resume, same params."""
    files, cache = corpus
    args = (*text_args(files, cache), *SMALL, *EPOCHS, "--model", "better", "--wordvec-size", 32, "--head", "adaptive",
            "--cutoffs", "3,7")
    fastrnn("train", *args, "--out", tmp_path / "whole")
    out = tmp_path / "killed"
    proc = start_train(args, out)
    wait_for(out / checkpoint.NAME, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    fastrnn("train", "--resume", out)
    for a, b in zip(params_of(tmp_path / "whole"), params_of(out)):
        np.testing.assert_array_equal(a, b)
