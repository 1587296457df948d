"""Optimizers, weight decay and learning-rate schedules of fastrnn train."""
import signal

import numpy as np
import pytest

from cli_support import SMALL, fastrnn, markov_files, start_train, text_args, wait_for
from fastrnn import Rnnlm, optimizer, parallel
from fastrnn.cli import build_parser
from fastrnn.cli.train import config_of
from fastrnn.params_file import read_params
from fastrnn.training.corpus import Corpus
from fastrnn.training.loop import Run
from fastrnn.training.output import Output
from fastrnn.trainer import train_step
from fastrnn.util import clip_grads


def small_run(*options):
    """A Run of a 20-word corpus whose validation perplexities the test scripts."""
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 20, 3000)
    words = [f"w{i}" for i in range(19)] + ["<unk>"]
    config = config_of(build_parser().parse_args(["train", "--wordvec-size", "4", "--hidden-size", "4", *options]))
    return Run(config, Corpus(ids, ids[:800], ids[:800], words, "test", {}), Output(None), parallel.Single(), False)


@pytest.mark.parametrize("options,ppls,lrs,stop", [
    (("--lr-schedule", "plateau", "--lr", "1"), [10, 9, 9.5, 8, 8, 8], [1, 1, 0.25, 0.25, 0.0625, 0.015625], None),
    (("--lr-schedule", "plateau", "--lr", "1", "--patience", "2", "--lr-decay", "2"), [10, 11, 12, 9, 9.5, 9.9],
     [1, 1, 0.5, 0.5, 0.5, 0.25], None),
    (("--lr-schedule", "step", "--lr", "1", "--lr-decay", "2"), [None] * 3, [0.5, 0.25, 0.125], None),
    (("--lr-schedule", "none", "--lr", "3"), [None] * 3, [3, 3, 3], None),
    (("--lr-schedule", "plateau", "--lr", "1", "--lr-decay", "2", "--min-lr", "0.3"), [10, 11, 12, 13],
     [1, 0.5, 0.25], 3),
])
def test_the_schedule_follows_the_validation_perplexities(options, ppls, lrs, stop):
    run = small_run("--epochs", str(len(ppls)), *options)
    scripted = iter(ppls)
    run.evaluate = lambda data: next(scripted)
    got = []
    for _ in ppls:
        run._end_of_epoch(0.0)
        got.append(run.optimizer.lr)
        if run.schedule.stopped_early:
            break
    assert got == lrs
    assert run.schedule.stopped_early == (stop is not None) and (stop is None or run.progress.epoch == stop)
    if "plateau" in options:  # the best params are kept: those of the best epoch
        assert run.schedule.best_ppl == min(ppls[:len(got)])


def test_weight_decay_is_added_after_clipping():
    np.random.seed(3)
    xs, ts = np.random.randint(0, 30, (4, 5)), np.random.randint(0, 30, (4, 5))
    a, b = Rnnlm(30, 6, 6), Rnnlm(30, 6, 6)
    for p, q in zip(a.params, b.params):
        q[...] = p
    train_step(a, optimizer.SGD(0.5), xs, ts, 0.1, 1, weight_decay=0.01)
    b.forward(xs, ts)  # the oracle: the steps written out on the reference API's dense grads
    b.backward()
    grads = [g.astype(np.float64) for g in b.grads]
    norm = np.sqrt(sum((g ** 2).sum() for g in grads))
    start = [p.astype(np.float64) for p in b.params]
    for p, g, p0 in zip(a.params, grads, start):
        g = g * (0.1 / (norm + 1e-6) if norm > 0.1 else 1.0) + 0.01 * p0
        np.testing.assert_allclose(p, p0 - 0.5 * g, rtol=1e-5, atol=1e-7)
    assert clip_grads  # (the function the trainer clips with)


def test_adam_killed_and_resumed_is_bit_identical(tmp_path):
    from fastrnn.training import checkpoint

    files = markov_files(tmp_path, sizes=(20_000, 2_000, 2_000))
    args = (*text_args(files, tmp_path / "cache"), *SMALL, "--lr", "0.01", "--optimizer", "adam", "--weight-decay",
            "0.0001", "--lr-schedule", "step", "--lr-decay", "2", "--epochs", 3, "--checkpoint-every", 5)
    fastrnn("train", *args, "--out", tmp_path / "whole")
    out = tmp_path / "killed"
    proc = start_train(args, out)
    wait_for(out / checkpoint.PREVIOUS, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    ck = checkpoint.load_latest(out)[0]
    assert len(ck.state.optimizer["slots"]) == 2 and ck.state.optimizer["iter"] > 0
    fastrnn("train", "--resume", out)
    for x, y in zip(read_params(tmp_path / "whole" / "params.npz").arrays, read_params(out / "params.npz").arrays):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("args,expected", [
    (("--optimizer", "lbfgs"), "argument --optimizer: invalid choice: 'lbfgs'"),
    (("--weight-decay", "-1"), "argument --weight-decay: expected a finite number >= 0, got -1"),
    (("--lr-decay", "1"), "argument --lr-decay: expected a number > 1, got 1"),
    (("--patience", "0"), "argument --patience: expected an integer >= 1, got 0"),
    (("--min-lr", "nan"), "argument --min-lr: expected a finite number >= 0, got nan"),
    (("--lr-schedule", "exponential"), "argument --lr-schedule: invalid choice: 'exponential'"),
    (("--lr-schedule", "plateau", "--train-file", "{train}"), "--lr-schedule plateau needs --valid-file"),
    (("--lr-decay", "2"), "--lr-decay applies to --lr-schedule plateau and step only; this run's schedule is none "
                          "(the default of --model rnnlm)"),
    (("--model", "simple", "--min-lr", "0.1"), "--min-lr applies to --lr-schedule plateau, step, linear and cosine "
                                                    "only"),
    (("--lr-schedule", "none", "--model", "better", "--patience", "2"), "--patience applies to --lr-schedule "
                                                                           "plateau only; this run's schedule is none"),
    (("--lr-schedule", "step", "--patience", "2"), "--patience applies to --lr-schedule plateau only; this run's "
                                                    "schedule is step"),
])
def test_bad_schedule_and_optimizer_options(tmp_path, args, expected):
    files = markov_files(tmp_path, sizes=(2_000, 600, 600))
    run = fastrnn("train", *(a.format(train=files["train"]) for a in args), "--cache-dir", tmp_path / "c",
                  check=False)
    assert run.returncode == 2 and expected in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
