"""RnnlmGen.generate: sampling from the model's softmax, skips, state, bad input."""
import numpy as np
import pytest

from cli_support import fastrnn
from fastrnn import BetterRnnlmGen, RnnLanguageModelGen, RnnlmGen, SimpleRnnlm, SimpleRnnlmGen
from fastrnn.params_file import save_params


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


def test_simple_rnnlm_generates_as_its_rnn_language_model(tmp_path):
    """SimpleRnnlm params write text, through the API and ``fastrnn generate``, the same
    draws as the same params in an RnnLanguageModel of one RNN layer."""
    np.random.seed(4)
    simple = SimpleRnnlmGen(30, 6, 5)
    generic = RnnLanguageModelGen(30, 6, 5, cell="rnn", layers=1, tied=False)
    for mine, theirs in zip(generic.params, simple.params):
        mine[...] = theirs
    runs = []
    for model in (simple, generic):
        np.random.seed(9)
        runs.append(model.generate([3, 7], skip_ids=[0], sample_size=40, temperature=0.7, top_k=10))
    assert runs[0] == runs[1] and len(runs[0]) == 40 and 0 not in runs[0][2:]
    np.random.seed(0)
    save_params(tmp_path / "simple.npz", SimpleRnnlm(10_000, 4, 4).params, "SimpleRnnlm")
    text = fastrnn("generate", tmp_path / "simple.npz", "--length", 12, "--start", "the").stdout
    assert len(text.replace(".\n", " <eos> ").split()) == 12


def test_low_temperature_draws_from_the_allowed_words_only():
    """Away from the reference's settings a skipped word is left out of the distribution
    (the reference redraws: with the likeliest word skipped, at a low temperature, for
    very long): the draws are those of the allowed words' softmax, for the same seed."""
    V, T = 6, 0.5
    model = RnnlmGen(V, 4, 4)
    E, Wx, Wh, b, W, bb = model.params
    W[...] = 0  # scores bb whatever the state
    bb[...] = [0.0, 1.0, 1.2, 0.3, -0.5, 0.8]
    for skip in ([2], [2, 5]):
        allowed = np.ones(V, bool)
        allowed[skip] = False
        p = oracle_softmax(np.where(allowed, bb, -np.inf), T)
        np.random.seed(3)
        want = [1] + [int(np.random.choice(V, p=p)) for _ in range(59)]
        model.reset_state()
        np.random.seed(3)
        assert model.generate(1, skip_ids=skip, sample_size=60, temperature=T) == want


def test_bad_generate_arguments():
    model = RnnlmGen(10, 3, 3)
    with pytest.raises(ValueError, match=r"start_id must be a word id in \[0, 10\), got 10"):
        model.generate(10)
    with pytest.raises(ValueError, match="sample_size must be an integer >= 1, got 0"):
        model.generate(1, sample_size=0)
    with pytest.raises(ValueError, match="skip_ids must leave at least one word to sample"):
        model.generate(1, skip_ids=range(10))


# -- sampling controls (issue 21): temperature, top-k, top-p, prompts ------------------------


def oracle_softmax(scores, temperature=1.0):
    z = np.asarray(scores, np.float64) / temperature
    e = np.exp(z - z.max())
    return e / e.sum()


def stepwise_scores(model, ids):
    """The model's scores after each id of ``ids``, fed one at a time from a fresh state."""
    model.reset_state()
    return [model.predict(np.array([[i]])).reshape(-1).astype(np.float64) for i in ids]


def learned_model(V=40, seed=3, cls=RnnlmGen):
    np.random.seed(seed)
    model = cls(V, 8, 8)
    for p in model.params:
        p[...] = np.random.randn(*p.shape) * 1.5  # peaked, state-dependent scores
    return model


@pytest.mark.parametrize("cls", [RnnlmGen, BetterRnnlmGen])
def test_temperature_to_zero_is_greedy_decoding(cls):
    model = learned_model(cls=cls)
    greedy = [5]
    model.reset_state()
    for _ in range(25):  # the oracle: argmax of each step's scores
        greedy.append(int(np.argmax(model.predict(np.array([[greedy[-1]]])).reshape(-1))))
    for temperature in (0, 1e-8):
        model.reset_state()
        np.random.seed(0)
        assert model.generate(5, sample_size=26, temperature=temperature) == greedy


def test_samples_at_temperature_one_follow_the_softmax_chi_square():
    """A model whose scores do not depend on its state (W = 0): 20,000 draws from one
    distribution, compared with its softmax by a chi-square test; a false alarm has
    probability 1e-4 (and the seed is fixed)."""
    from scipy import stats

    V = 12
    model = learned_model(V)
    model.params[4][...] = 0
    bias = model.params[5]
    bias[...] = np.linspace(-2, 2, V)
    for temperature, top_k in ((1.0, None), (0.7, None), (1.0, 5)):
        np.random.seed(7)
        model.reset_state()
        ids = model.generate(0, sample_size=20_001, temperature=temperature, top_k=top_k)[1:]
        p = oracle_softmax(bias, temperature)
        if top_k is not None:
            keep = np.argsort(-p)[:top_k]
            q = np.zeros(V)
            q[keep] = p[keep]
            p = q / q.sum()
        counts = np.bincount(ids, minlength=V)
        assert counts[p == 0].sum() == 0
        support = p > 0
        assert stats.chisquare(counts[support], 20_000 * p[support]).pvalue > 1e-4, (temperature, top_k, counts)


@pytest.mark.parametrize("top_k,top_p", [(1, None), (3, None), (None, 0.5), (None, 0.9), (4, 0.8)])
def test_top_k_and_top_p_never_leave_their_set(top_k, top_p):
    V = 40
    model = learned_model(V)
    np.random.seed(11)
    model.reset_state()
    ids = model.generate(2, skip_ids=[0], sample_size=300, top_k=top_k, top_p=top_p)
    for step, (scores, drawn) in enumerate(zip(stepwise_scores(model, ids[:-1]), ids[1:])):
        p = oracle_softmax(np.where(np.arange(V) == 0, -np.inf, scores))
        ranked = sorted(range(V), key=lambda i: (-p[i], i))
        k = top_k or V
        if top_p is not None:  # the smallest most-probable set holding top_p of the (top-k) mass
            mass, total, kept = 0.0, sum(p[i] for i in ranked[:k]), 0
            while kept < k and mass < top_p * total * (1 - 1e-12):
                mass += p[ranked[kept]]
                kept += 1
            k = kept
        assert drawn in ranked[:k] and drawn != 0, (step, drawn, ranked[:k])


def test_a_prompt_conditions_the_state_with_every_word():
    model = learned_model()
    prompt = [3, 17, 8, 21]
    np.random.seed(4)
    model.reset_state()
    out = model.generate(prompt, sample_size=12, temperature=0)
    assert out[:4] == prompt
    expected = stepwise_scores(model, prompt)[-1]
    assert out[4] == int(np.argmax(expected))
    states = set()
    for first in (3, 4, 5):  # each word of the prompt changes what follows it
        model.reset_state()
        model.generate([first, 17, 8, 21], sample_size=4)
        states.add(model.get_state()[0][0].tobytes())
    assert len(states) == 3


def test_bad_sampling_arguments():
    model = RnnlmGen(10, 3, 3)
    for kwargs, message in (({"temperature": -1}, "temperature must be a finite number >= 0, got -1"),
                            ({"temperature": float("inf")}, "temperature must be a finite number >= 0"),
                            ({"top_k": 0}, "top_k must be an integer >= 1 or None, got 0"),
                            ({"top_p": 0}, r"top_p must be a number in \(0, 1\] or None, got 0"),
                            ({"top_p": 1.5}, r"top_p must be a number in \(0, 1\] or None, got 1.5")):
        with pytest.raises(ValueError, match=message):
            model.generate(1, **kwargs)
    with pytest.raises(ValueError, match="or a prompt"):
        model.generate([1, 10])
    with pytest.raises(ValueError, match="or a prompt"):
        model.generate([])
