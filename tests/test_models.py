"""Rnnlm and BetterRnnlm: losses against the oracle, weight tying, reference params."""
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

import naive
from fastrnn import BetterRnnlm, Rnnlm, SimpleRnnlm
from fastrnn.datasets import ptb
from fastrnn.params_file import ParamsError
from fastrnn.models import scaled_randn
from fastrnn.trainer import remove_duplicate
from fastrnn.util import eval_perplexity

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "reference-weights" / "Rnnlm.pkl"


def lstm_lm_loss(embed_W, lstms, affine_W, affine_b, xs, ts):
    """Mean cross-entropy of stacked LSTMs over the embedding, from zero states (float64)."""
    hs = np.asarray(embed_W, np.float64)[xs]
    for Wx, Wh, b in lstms:
        zeros = np.zeros((xs.shape[0], Wh.shape[0]))
        hs = naive.lstm_forward(hs, Wx, Wh, b, zeros, zeros)[0]
    return naive.softmax_cross_entropy(hs @ affine_W + affine_b, ts)[0]


def test_rnnlm_loss_and_layout(rng):
    np.random.seed(0)
    V, D, H = 40, 6, 7
    model = Rnnlm(V, D, H)
    assert [p.shape for p in model.params] == [(V, D), (D, 4 * H), (H, 4 * H), (4 * H,), (H, V), (V,)]
    assert all(p.dtype == np.float32 for p in model.params)
    np.random.seed(0)  # the reference's draws, in its order
    assert np.array_equal(model.params[0], (np.random.randn(V, D) / 100).astype("f"))
    assert np.array_equal(model.params[1], (np.random.randn(D, 4 * H) / np.sqrt(D)).astype("f"))
    xs, ts = rng.integers(0, V, (3, 5)), rng.integers(0, V, (3, 5))
    E, Wx, Wh, b, W, bb = model.params
    want = lstm_lm_loss(E, [(Wx, Wh, b)], W, bb, xs, ts)
    assert model.forward(xs, ts) == pytest.approx(want, rel=1e-5)
    assert model.forward(xs, ts) != pytest.approx(want, rel=1e-5)  # stateful: carries h, c
    model.reset_state()
    assert model.forward(xs, ts) == pytest.approx(want, rel=1e-5)
    assert model.predict(xs).shape == (3, 5, V)


def test_better_rnnlm_ties_weights_and_drops_out_only_in_training(rng):
    np.random.seed(1)
    V, H = 30, 8
    model = BetterRnnlm(V, H, H, dropout_ratio=0.5)
    embed_W, affine_W = model.params[0], model.params[-2]
    assert affine_W.base is embed_W and affine_W.shape == (H, V)
    xs, ts = rng.integers(0, V, (2, 6)), rng.integers(0, V, (2, 6))
    E, Wx1, Wh1, b1, Wx2, Wh2, b2, W, bb = model.params
    want = lstm_lm_loss(E, [(Wx1, Wh1, b1), (Wx2, Wh2, b2)], W, bb, xs, ts)
    assert model.forward(xs, ts, train_flg=False) == pytest.approx(want, rel=1e-5)
    model.reset_state()
    s_eval = model.predict(xs)
    model.reset_state()
    assert np.max(np.abs(model.predict(xs, train_flg=True) - s_eval)) > 1e-4
    model.reset_state()
    model.forward(xs, ts, train_flg=True)
    model.backward()
    g_embed, g_affine = model.grads[0].copy(), model.grads[-2].copy()
    params, grads = remove_duplicate(model.params, model.grads)
    assert len(params) == len(model.params) - 1 and params[0] is embed_W
    assert not any(p is affine_W for p in params)
    np.testing.assert_allclose(grads[0], g_embed + g_affine.T, rtol=1e-6)
    with pytest.raises(ValueError, match="wordvec_size"):
        BetterRnnlm(V, 6, 8)


def test_chunked_initialisation_draws_the_reference_values():
    np.random.seed(9)
    want = (np.random.randn(3000, 700) / 100).astype("f")
    np.random.seed(9)
    np.testing.assert_array_equal(scaled_randn((3000, 700), 100), want)


def test_better_rnnlm_params_roundtrip(tmp_path):
    np.random.seed(2)
    a, b = BetterRnnlm(20, 4, 4), BetterRnnlm(20, 4, 4)
    a.save_params(tmp_path / "m.npz")
    b.load_params(tmp_path / "m.npz")
    for p, q in zip(a.params, b.params):
        np.testing.assert_array_equal(p, q)
    assert b.params[-2].base is b.params[0]


@pytest.mark.parametrize("cls", [SimpleRnnlm, Rnnlm, BetterRnnlm])
def test_adaptive_models_predict_log_probabilities(rng, cls):
    np.random.seed(1)
    V = 300
    model = cls(V, 16, 16, head="adaptive", cutoffs=[20, 90], order=rng.permutation(V))
    assert model.adaptive and model.loss_layer.vocab_size == V
    lp = model.predict(rng.integers(0, V, (3, 4)))
    assert lp.shape == (3, 4, V)
    np.testing.assert_allclose(np.exp(lp.astype(np.float64)).sum(axis=-1), 1, rtol=1e-5)


def test_adaptive_params_roundtrip_and_need_the_same_word_order(rng, tmp_path):
    np.random.seed(2)
    order = rng.permutation(40)
    a, b = BetterRnnlm(40, 4, 4, head="adaptive", cutoffs=[5, 20], order=order), \
        BetterRnnlm(40, 4, 4, head="adaptive", cutoffs=[5, 20], order=order)
    a.save_params(tmp_path / "m.npz")
    b.load_params(tmp_path / "m.npz")
    for p, q in zip(a.params, b.params):
        np.testing.assert_array_equal(p, q)
    assert b.params[7] is b.params[0]
    other = BetterRnnlm(40, 4, 4, head="adaptive", cutoffs=[5, 20], order=np.roll(order, 1))
    with pytest.raises(ParamsError, match="not saved by a model with this head order"):
        other.load_params(tmp_path / "m.npz")
    with pytest.raises(ParamsError, match="it holds no head"):
        b.load_params(_saved(BetterRnnlm(40, 4, 4), tmp_path / "full.npz"))


def _saved(model, path):
    model.save_params(path)
    return path


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(head="softmax"), ValueError, "head must be one of 'full', 'adaptive'"),
    (dict(head="full", cutoffs=[5]), ValueError, "apply to head='adaptive' only"),
    (dict(head="adaptive", cutoffs=[5, 3]), ValueError, "cutoffs must be increasing"),
    (dict(head="adaptive", cutoffs=[5, 40]), ValueError, r"cutoffs must lie in \[1, 40\)"),
    (dict(head="adaptive", div_value=1), ValueError, "div_value must be > 1"),
    (dict(head="adaptive", div_value="x"), TypeError, "div_value must be a number"),
    (dict(head="adaptive", order=np.arange(40)[::-1] % 39), ValueError, "permutation"),
])
def test_bad_head_settings_name_the_argument(kwargs, error, match):
    for cls in (SimpleRnnlm, Rnnlm, BetterRnnlm):
        with pytest.raises(error, match=match):
            cls(40, 4, 4, **kwargs)


def reference_pickle(path, arrays):
    with open(path, "wb") as f:
        pickle.dump([a.astype(np.float16) for a in arrays], f)


def test_reads_reference_pickles_of_float16(tmp_path, monkeypatch):
    np.random.seed(3)
    src, dst = Rnnlm(25, 4, 5), Rnnlm(25, 4, 5)
    monkeypatch.chdir(tmp_path)
    reference_pickle("Rnnlm.pkl", src.params)
    ids = [id(p) for p in dst.params]
    dst.load_params()  # no Rnnlm.npz here: the default falls back to the reference's name
    assert [id(p) for p in dst.params] == ids
    for p, q in zip(src.params, dst.params):
        assert q.dtype == np.float32
        np.testing.assert_array_equal(q, p.astype(np.float16).astype(np.float32))
    reference_pickle("short.pkl", src.params[:-1])
    with pytest.raises(ValueError, match="short.pkl holds 5 params, the model has 6"):
        dst.load_params("short.pkl")


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open("Rnnlm.pkl", "wb") as f:
        pickle.dump([np.zeros(3, np.float16), _Boom()], f)
    with pytest.raises(pickle.UnpicklingError, match="refused"):
        Rnnlm(10, 2, 2).load_params("Rnnlm.pkl")
    assert not (tmp_path / "pwned").exists()


@pytest.mark.skipif(not REFERENCE.exists(), reason="the shared reference weights are not beside this checkout")
def test_reference_rnnlm_weights_reproduce_the_published_perplexity():
    model = Rnnlm()
    model.load_params(REFERENCE)
    corpus, _, _ = ptb.load_data("test")
    model.reset_state()
    assert eval_perplexity(model, corpus) == pytest.approx(136.0776, abs=5e-4)
