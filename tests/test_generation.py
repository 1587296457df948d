"""RnnlmGen.generate: sampling from the model's softmax, skips, state, bad input."""
import numpy as np
import pytest

from fastrnn import BetterRnnlmGen, RnnlmGen


def test_generate_samples_the_softmax_of_a_learned_chain():
    np.random.seed(0)
    model = RnnlmGen(5, 4, 4)
    E, Wx, Wh, b, W, bb = model.params
    W[...] = 0
    bb[...] = [0, 0, 50, 0, 0]  # every next word is id 2, whatever the state
    ids = model.generate(1, sample_size=6)
    assert ids == [1, 2, 2, 2, 2, 2]
    bb[...] = [0, 0, 50, 49, -50]  # 2 or 3 (p 0.73 / 0.27); skipping 2 leaves 3
    assert model.generate(0, skip_ids=[2], sample_size=4) == [0, 3, 3, 3]
    bb[...] = 0  # uniform: the empirical frequencies follow
    np.random.seed(1)
    counts = np.bincount(model.generate(0, sample_size=4001)[1:], minlength=5)
    assert counts.min() > 650 and counts.max() < 950


def test_generation_is_seeded_and_keeps_state():
    np.random.seed(2)
    model = BetterRnnlmGen(30, 8, 8)
    np.random.seed(5)
    a = model.generate(3, sample_size=10)
    model.reset_state()
    np.random.seed(5)
    assert model.generate(3, sample_size=10) == a
    state = model.get_state()
    assert len(state) == 2 and state[0][0].shape == (1, 8)


def test_bad_generate_arguments():
    model = RnnlmGen(10, 3, 3)
    with pytest.raises(ValueError, match=r"start_id must be a word id in \[0, 10\), got 10"):
        model.generate(10)
    with pytest.raises(ValueError, match="sample_size must be an integer >= 1, got 0"):
        model.generate(1, sample_size=0)
    with pytest.raises(ValueError, match="skip_ids must leave at least one word to sample"):
        model.generate(1, skip_ids=range(10))
