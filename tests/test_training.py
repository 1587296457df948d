import numpy as np
import pytest

import naive
from fastrnn import SimpleRnnlm
from fastrnn.optimizer import SGD
from fastrnn.trainer import RnnlmTrainer, remove_duplicate
from fastrnn.util import clip_grads, eval_perplexity
from support import TOL, randn


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_update_in_place(rng, dtype):
    p = randn(rng, (30, 40), dtype)
    tied = p.T  # Fortran-ordered view
    view = randn(rng, (10, 8), dtype)[:, ::2]  # neither C nor Fortran contiguous
    params = [p, randn(rng, (5,), dtype), view]
    grads = [randn(rng, (30, 40), dtype), randn(rng, (5,), dtype), randn(rng, (10, 4), dtype)]
    before = [x.astype(np.float64) for x in params]
    SGD(lr=0.3).update(params, grads)
    for x, b, g in zip(params, before, grads):
        assert naive.rel_err(x, b - 0.3 * g) <= TOL[dtype]
    g_tied = np.asfortranarray(randn(rng, (40, 30), dtype))
    expected = tied.astype(np.float64) - 0.5 * g_tied
    SGD(lr=0.5).update([tied], [g_tied])
    assert naive.rel_err(tied, expected) <= TOL[dtype]


@pytest.mark.parametrize("max_norm", [1e-3, 0.25, 1e6])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_grads(rng, max_norm, dtype):
    """Small grads go through NumPy, grads of 2**15 elements and more through the
    fused kernels (C- or F-ordered); the norm covers all of them."""
    grads = [randn(rng, (100, 30), dtype), randn(rng, (7,), dtype), randn(rng, (9, 5), dtype).T,
             randn(rng, (300, 200), dtype, 0.01), randn(rng, (250, 170), dtype, 3.0).T, randn(rng, (40_000,), dtype)]
    assert grads[4].flags.f_contiguous and not grads[4].flags.c_contiguous
    before = [g.astype(np.float64) for g in grads]
    norm = np.sqrt(sum(np.sum(g ** 2) for g in before))
    rate = max_norm / (norm + 1e-6)
    clip_grads(grads, max_norm)
    for g, b in zip(grads, before):
        assert naive.rel_err(g, b * min(rate, 1.0)) <= TOL[dtype]


def test_remove_duplicate_shared_and_tied(rng):
    W = randn(rng, (6, 4), np.float32)
    b = randn(rng, (4,), np.float32)
    twin = W.copy()  # equal values, separate array: not merged
    params = [W, b, W, W.T, twin]
    grads = [randn(rng, p.shape, np.float32) for p in params]
    g0 = grads[0].astype(np.float64) + grads[2] + grads[3].T
    kept_params, kept_grads = remove_duplicate(params, grads)
    assert len(kept_params) == 3 and kept_params[0] is W and kept_params[1] is b and kept_params[2] is twin
    assert kept_grads[0] is grads[0]
    assert naive.rel_err(kept_grads[0], g0) <= TOL[np.float32]
    assert len(params) == 5  # the caller's lists are left alone


def test_get_batch_follows_reference_offsets():
    xs, ts = np.arange(103), np.arange(103) + 1000
    trainer = RnnlmTrainer(None, None)
    trainer.time_idx = 0
    for _ in range(3):
        start = trainer.time_idx
        bx, bt = trainer.get_batch(xs, ts, 4, 5)
        for i in range(4):
            for t in range(5):
                assert bx[i, t] == xs[(i * (103 // 4) + start + t) % 103]
                assert bt[i, t] == ts[(i * (103 // 4) + start + t) % 103]
    assert trainer.time_idx == 15


class RecordingModel:
    """Returns a known loss and records the batches it sees."""

    def __init__(self):
        self.batches = []

    def forward(self, xs, ts, train_flg=True):
        assert train_flg is False
        self.batches.append((xs.copy(), ts.copy()))
        return float(len(self.batches))


def test_eval_perplexity_batches_and_value():
    corpus = np.arange(50) * 7
    model = RecordingModel()
    ppl = eval_perplexity(model, corpus, batch_size=3, time_size=4)
    max_iters, jump = 49 // 12, 49 // 3
    assert len(model.batches) == max_iters
    for it, (xs, ts) in enumerate(model.batches):
        for i in range(3):
            for t in range(4):
                pos = it * 4 + i * jump + t
                assert xs[i, t] == corpus[pos % 50] and ts[i, t] == corpus[(pos + 1) % 50]
    assert ppl == pytest.approx(np.exp(np.mean(np.arange(1, max_iters + 1))))


def _naive_model_loss(model, xs, ts, h0):
    """Loss of SimpleRnnlm from its params by the float64 oracle."""
    embed_W, Wx, Wh, b, W, bias = (p.astype(np.float64) for p in model.params)
    hs = naive.rnn_forward(embed_W[xs], Wx, Wh, b, h0)
    scores = hs @ W + bias
    return naive.softmax_cross_entropy(scores, ts), hs


def test_simple_rnnlm_matches_oracle_and_carries_state(rng):
    np.random.seed(3)
    model = SimpleRnnlm(30, 5, 6)
    xs, ts = rng.integers(0, 30, (4, 7)), rng.integers(0, 30, (4, 7))
    (loss, _), hs = _naive_model_loss(model, xs, ts, np.zeros((4, 6)))
    assert model.forward(xs, ts) == pytest.approx(loss, rel=1e-5)
    (loss2, _), _ = _naive_model_loss(model, xs, ts, hs[:, -1])
    assert model.forward(xs, ts) == pytest.approx(loss2, rel=1e-5)  # stateful: starts from the last h
    model.reset_state()
    assert model.forward(xs, ts) == pytest.approx(loss, rel=1e-5)
    assert model.predict(xs).shape == (4, 7, 30)


def test_trainer_learns_a_repeating_corpus(capsys):
    np.random.seed(0)
    corpus = np.tile(np.arange(12), 100)
    model = SimpleRnnlm(12, 8, 16)
    trainer = RnnlmTrainer(model, SGD(lr=1.0))
    trainer.fit(corpus[:-1], corpus[1:], max_epoch=3, batch_size=4, time_size=5, max_grad=1.0,
                eval_interval=10, progress=False)
    assert len(trainer.ppl_list) == 3 * 6  # 59 iterations an epoch, a report every 10
    assert trainer.ppl_list[-1] < 1.5 < 10 < trainer.ppl_list[0]
    assert "| epoch 3 |  iter 51 / 59 |" in capsys.readouterr().out
    model.reset_state()
    assert eval_perplexity(model, corpus, batch_size=4, time_size=5) < 1.5


def test_trainer_max_iters_and_identity():
    np.random.seed(0)
    model = SimpleRnnlm(12, 4, 4)
    params, grads = list(model.params), list(model.grads)
    before = [p.copy() for p in params]
    trainer = RnnlmTrainer(model, SGD(0.1))
    corpus = np.tile(np.arange(12), 50)
    trainer.fit(corpus[:-1], corpus[1:], max_epoch=2, batch_size=2, time_size=3, eval_interval=1,
                max_iters=4, progress=False)
    assert len(trainer.ppl_list) == 8 and trainer.time_idx == 8 * 3
    assert trainer.ppl_iters == list(range(1, 9))
    assert all(a is b for a, b in zip(model.params, params)) and all(a is b for a, b in zip(model.grads, grads))
    assert all(not np.array_equal(a, b) for a, b in zip(params, before))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the divergence it provokes
def test_a_non_finite_loss_stops_training_at_its_iteration():
    """No clipping, so only the loss can give the divergence away; the iteration named
    is the first whose loss is not finite, found here by a plain loop."""
    from fastrnn.trainer import TrainingDiverged

    corpus = np.tile(np.arange(12), 50)

    def fresh():
        np.random.seed(0)
        return SimpleRnnlm(12, 4, 4)

    model, first = fresh(), None
    trainer = RnnlmTrainer(model, SGD(lr=1e38))
    trainer.time_idx = 0
    for k in range(1, 60):
        loss = model.forward(*trainer.get_batch(corpus[:-1], corpus[1:], 2, 3))
        if not np.isfinite(loss):
            first = k
            break
        model.backward()
        SGD(lr=1e38).update(model.params, model.grads)
    assert first is not None and first > 1
    with pytest.raises(TrainingDiverged, match=rf"training diverged at iteration {first}: the loss is "):
        RnnlmTrainer(fresh(), SGD(lr=1e38)).fit(corpus[:-1], corpus[1:], max_epoch=1, batch_size=2, time_size=3,
                                                 eval_interval=None, progress=False)
