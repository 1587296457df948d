"""Variable-length BPTT (``--variable-bptt``, ``--model awd``'s): the window lengths
against their stated rule, and a run's steps against the loop written out with them
(``test_regularisers`` runs ``--model awd`` over threads, processes and a resume)."""
import numpy as np
import pytest

from fastrnn import optimizer, parallel
from fastrnn.cli import build_parser
from fastrnn.cli.train import config_of
from fastrnn.training import bptt, build
from fastrnn.training.corpus import Corpus
from fastrnn.training.loop import Run
from fastrnn.training.output import Output
from fastrnn.trainer import train_step
from naive import bptt_length


@pytest.mark.parametrize("mean", [1, 2, 7, 8, 21, 35, 70, 200])
def test_lengths_follow_the_stated_rule(mean):
    for seed in (0, 2**32 - 1):
        assert [bptt.length(seed, s, mean) for s in range(200)] == [bptt_length(seed, s, mean) for s in range(200)]


def test_lengths_around_70_are_awd_lstms():
    """At a mean of 70: the base halved one step in 20, else lengths spread about
    70 with a standard deviation near 5, within 5 to 80."""
    lengths = np.array([bptt.length(7, s, 70) for s in range(20_000)])
    half = lengths < 50
    assert 0.04 < half.mean() < 0.06
    assert abs(lengths[~half].mean() - 69.5) < 0.3 and 4.6 < lengths[~half].std() < 5.2
    assert lengths.min() >= 5 and lengths.max() == 80
    assert len({bptt.length(seed, 0, 70) for seed in range(50)}) > 10  # the seed matters


def test_a_run_steps_with_the_lengths_windows_and_rates_written_out():
    """Twelve steps of ``--variable-bptt`` equal the loop written out: step s reads
    windows of ``bptt_length(seed, s)`` words moving on by that much, at lr * length / mean."""
    ids = np.random.default_rng(0).integers(0, 20, 3000)
    options = ["train", "--wordvec-size", "4", "--hidden-size", "4", "--variable-bptt", "--time-size", "9",
               "--batch-size", "4", "--epochs", "1", "--max-iters", "12", "--lr", "3", "--seed", "5"]
    config = config_of(build_parser().parse_args(options))
    run = Run(config, Corpus(ids, None, None, [f"w{i}" for i in range(20)], "test", {}), Output(None),
              parallel.Single(), False)
    run.train()
    model = build.model_of(config, 20, None, parallel.Single(), slice(0, 4))
    sgd, xs, ts = optimizer.SGD(3.0), ids[:-1], ids[1:]
    jump, position, lengths = len(xs) // 4, 0, []
    for step in range(12):
        length = bptt_length(5, step, 9)
        window = (np.arange(4)[:, None] * jump + position + np.arange(length)) % len(xs)
        sgd.lr = 3.0 * length / 9
        train_step(model, sgd, xs[window], ts[window], 0.25, step + 1)
        position += length
        lengths.append(length)
    assert len(set(lengths)) > 1 and run.progress.time_idx == position
    for x, y in zip(run.model.params, model.params, strict=True):
        np.testing.assert_array_equal(x, y)
    assert run.optimizer.lr == 3.0
