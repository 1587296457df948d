"""Budgets (``--max-words``, ``--max-time``), the schedules that decay over them, and the
params' average (``--average``)."""
import math
import signal

import numpy as np
import pytest

from cli_support import FASTRNN, SMALL, fastrnn, markov_files, one_error_line, start_train, text_args, wait_for
from fastrnn import runlog
from fastrnn.params_file import read_params
from fastrnn.training import checkpoint
from fastrnn.training.average import Average
from fastrnn.training.budget import PLAN_AT
from fastrnn.training.config import ScheduleConfig
from fastrnn.training.schedule import Schedule
from test_parallel import mpiexec, needs_mpi

WORDS_PER_STEP = 10 * 10  # SMALL's batch and time sizes


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    directory = tmp_path_factory.mktemp("corpus")
    files = markov_files(directory, sizes=(20_000, 2_000, 2_000))
    return text_args(files, directory / "cache")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory, corpus):
    """A short run of the timed tests' model, so that their budgets are not spent
    compiling: the clock counts compiling, and a loaded machine compiling afresh in two
    processes spent all of 20 s before step PLAN_AT (the run then rightly ends unplanned)."""
    fastrnn("train", *corpus, *SMALL, "--max-words", (PLAN_AT + 1) * WORDS_PER_STEP, "--lr-schedule", "cosine",
            "--average", "tail", "--average-from", 0.5, "--out", tmp_path_factory.mktemp("compiled"))


def params_of(directory):
    return read_params(directory / "params.npz").arrays


def assert_same_params(a, b):
    for x, y in zip(params_of(a), params_of(b), strict=True):
        np.testing.assert_array_equal(x, y)


def steps_logged(log) -> list:
    return [r["step"] for r in runlog.read(log) if r["event"] == "train"]


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_the_rate_decays_to_min_lr_over_the_steps(kind):
    """lr_at against the formulas: the rate until PLAN_AT, then linearly or as half a
    cosine from lr down to min_lr at the last step."""
    total, lr, floor = PLAN_AT + 200, 2.0, 0.1
    schedule = Schedule(ScheduleConfig(lr_schedule=kind, min_lr=floor))
    for done in (0, PLAN_AT - 1, PLAN_AT, PLAN_AT + 50, PLAN_AT + 100, total - 1, total):
        f = max(0, done - PLAN_AT) / (total - PLAN_AT)
        want = floor + (lr - floor) * (1 - f if kind == "linear" else 0.5 * (1 + math.cos(math.pi * f)))
        assert schedule.lr_at(lr, done, total) == pytest.approx(want, rel=1e-12), done
    assert schedule.lr_at(lr, PLAN_AT + 5, math.inf) == lr  # a time budget not planned yet


def test_max_words_ends_the_run_and_a_larger_one_goes_on(tmp_path, corpus):
    """--max-words 2,050 trains 21 whole steps, ends with the evaluations and counts as
    finished; resumed with --max-words 4,000 it ends as a run of 4,000 words from the start."""
    args = ("train", *corpus, *SMALL, "--epochs", 5, "--checkpoint-every", 7)
    first = fastrnn(*args, "--max-words", 2_050, "--out", tmp_path / "a", "--log", tmp_path / "a.log")
    assert "test perplexity" in first.stdout
    assert checkpoint.load(tmp_path / "a" / checkpoint.NAME).state.progress["done"] == 21
    assert "is complete" in fastrnn("train", "--resume", tmp_path / "a").stdout
    fastrnn("train", "--resume", tmp_path / "a", "--max-words", 4_000)
    fastrnn(*args, "--max-words", 4_000, "--out", tmp_path / "b")
    assert checkpoint.load(tmp_path / "b" / checkpoint.NAME).state.progress["done"] == 40
    assert_same_params(tmp_path / "a", tmp_path / "b")


def test_epochs_end_a_run_before_a_larger_budget(tmp_path, corpus):
    args = ("train", *corpus, *SMALL, "--epochs", 1, "--max-iters", 12)
    fastrnn(*args, "--max-words", 10**9, "--out", tmp_path / "a")
    fastrnn(*args, "--out", tmp_path / "b")
    assert_same_params(tmp_path / "a", tmp_path / "b")


def test_a_time_budget_becomes_steps_that_max_words_repeats(tmp_path, corpus, compiled):
    """--max-time 6s with the cosine schedule: the run logs the steps it planned after
    PLAN_AT steps, stops there, near the budget; interrupted after the plan and
    resumed, it follows the same schedule; --max-words of those steps' words gives the
    same bits."""
    args = ("train", *corpus, *SMALL, "--epochs", 1000, "--lr-schedule", "cosine", "--checkpoint-every", 50)
    log = tmp_path / "timed.log"
    proc = start_train((*args[1:], "--max-time", "6s", "--log", log), tmp_path / "timed")
    wait_for(tmp_path / "timed" / checkpoint.NAME, proc)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode in (0, 128 + signal.SIGINT)  # it may end before the signal comes
    resumed = fastrnn("train", "--resume", tmp_path / "timed")
    assert "test perplexity" in resumed.stdout or "is complete" in resumed.stdout
    plans = [r for r in runlog.read(log) if r["event"] == "budget"]
    assert len(plans) == 1 and plans[0]["budget_steps"] > PLAN_AT, plans
    steps = plans[0]["budget_steps"]
    assert plans[0]["budget_words"] == steps * WORDS_PER_STEP and plans[0]["max_time"] == 6
    ended = checkpoint.load(tmp_path / "timed" / checkpoint.NAME).state
    assert ended.progress["done"] == steps and ended.progress["finished"]
    # near the budget: a shared machine's noise over steps of 2 ms, and a second process starting
    assert ended.progress["elapsed_s"] < 6 * 2
    fastrnn(*args, "--max-words", steps * WORDS_PER_STEP, "--out", tmp_path / "words")
    assert_same_params(tmp_path / "timed", tmp_path / "words")


@pytest.mark.parametrize("value, expected", [("0", "expected a duration above 0, got 0"),
                                             ("45 minutes", "expected a duration such as 45m, 2h, 1h30m or 5400 "
                                                            "(seconds), got '45 minutes'")])
def test_a_bad_duration_is_one_line(value, expected):
    line = one_error_line(fastrnn("train", "--max-time", value, check=False), 2)
    assert line.endswith(f"argument --max-time: {expected} (see fastrnn train --help)"), line


def test_schedule_options_of_another_schedule_are_refused():
    line = one_error_line(fastrnn("train", "--lr-schedule", "cosine", "--lr-decay", 2, check=False), 2)
    assert "--lr-decay applies to --lr-schedule plateau and step only; this run's schedule is cosine" in line


def test_a_budget_keeps_the_models_schedule():
    """better keeps its plateau schedule under a budget (docs/guides/training.md measures why)."""
    line = one_error_line(fastrnn("train", "--model", "better", "--max-words", 1000, "--train-file", __file__,
                                  check=False), 2)
    assert "--model better needs --valid-file" in line  # plateau's need: the schedule is still plateau


@needs_mpi
def test_two_processes_plan_as_rank_0_and_equal_one_process(tmp_path, corpus, compiled):
    """Under mpiexec -n 2 rank 0 plans the time budget for both; one process given
    --max-words of the planned steps ends with the same params (their average over
    the last half)."""
    args = ("train", *corpus, *SMALL, "--epochs", 1000, "--lr-schedule", "linear", "--min-lr", 0.1, "--average",
            "tail", "--average-from", 0.5)
    log = tmp_path / "two.log"
    two = mpiexec(2, FASTRNN, *args, "--max-time", 20, "--log", log, "--out", tmp_path / "two")
    assert two.returncode == 0, two.stderr
    steps = [r["budget_steps"] for r in runlog.read(log) if r["event"] == "budget"]
    assert len(steps) == 1 and steps[0] > PLAN_AT, two.stdout
    assert checkpoint.load(tmp_path / "two" / checkpoint.NAME).state.progress["done"] == steps[0]
    fastrnn(*args, "--max-words", steps[0] * WORDS_PER_STEP, "--out", tmp_path / "one")
    assert_same_params(tmp_path / "one", tmp_path / "two")


def test_the_running_average_is_the_mean():
    rng = np.random.default_rng(0)
    steps = [[rng.standard_normal((7, 5)).astype(np.float32), rng.standard_normal(13).astype(np.float32)]
             for _ in range(40)]
    average = Average("tail", 5, 0.5)
    average.begin(0, steps[0])
    for params in steps[1:]:
        average.add(params)
    for k, a in enumerate(average.arrays):
        want = np.mean([s[k].astype(np.float64) for s in steps], axis=0)
        np.testing.assert_allclose(a, want, rtol=1e-5, atol=1e-6)
    assert average.count == 40


def test_ntasgd_starts_after_a_check_worse_than_the_best_before_the_last_nonmono():
    average = Average("ntasgd", 2, 0.0)
    started = []
    for ppl in (100, 90, 80, 85, 79, 81, 88, 70):
        average.checks.append(ppl)
        started.append(average.starts_now(0, math.inf))
    # check 4 (85): the best before the last 2 checks is 90 -> no; check 6 (81): the best of 100, 90, 80, 85 is 80
    assert started == [False, False, False, False, False, True, True, False]


def test_tail_averaging_keeps_the_mean_of_the_last_steps(tmp_path, corpus):
    """--average tail --average-from 0.5 over 8 steps keeps the mean of the params after
    steps 4 to 8, each of which a run of that many steps ends with (the oracle: their
    float64 mean); the checkpoint holds the last params and the average apart."""
    args = ("train", *corpus, *SMALL, "--epochs", 1)
    fastrnn(*args, "--max-words", 8 * WORDS_PER_STEP, "--average", "tail", "--average-from", 0.5,
            "--out", tmp_path / "avg")
    ends = []
    for k in range(4, 9):
        fastrnn(*args, "--max-words", k * WORDS_PER_STEP, "--out", tmp_path / f"k{k}")
        ends.append(params_of(tmp_path / f"k{k}"))
    kept = params_of(tmp_path / "avg")
    for i, a in enumerate(kept):
        np.testing.assert_allclose(a, np.mean([e[i].astype(np.float64) for e in ends], axis=0), rtol=1e-5, atol=1e-6)
    saved = checkpoint.load(tmp_path / "avg" / checkpoint.NAME)
    assert saved.state.average["count"] == 5 and saved.state.average["start"] == 4
    for last, a, p in zip(ends[-1], saved.state.average["arrays"], saved.params):
        np.testing.assert_array_equal(p, last)
    for a, k in zip(saved.state.average["arrays"], kept):
        np.testing.assert_array_equal(a, k)


def test_averaging_options_of_another_kind_are_refused():
    line = one_error_line(fastrnn("train", "--average", "tail", "--nonmono", 3, check=False), 2)
    assert line.endswith("--nonmono applies to --average ntasgd only; this run's is tail"), line
