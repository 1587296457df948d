"""The models' whole backward (head, recurrent layers, dropout, embedding, tied weight)
against float64 central differences of the oracle's loss, ``naive.language_model_loss``.

Each test runs two stateful training calls, so the second starts from the state the
first carried; the oracle carries its own float64 state the same way.
"""
import numpy as np
import pytest

import naive
from fastrnn import BetterRnnlm, Rnnlm, SimpleRnnlm
from fastrnn.trainer import remove_duplicate
from support import TOL

V, D, H, N, T = 11, 4, 4, 3, 5


def cells_of(model, params):
    """The oracle's (kind, Wx, Wh, b) cells and (affine W, b) of a model, from ``params``
    (float64 copies of the model's params, in its order), the tied weight as embed_W.T."""
    if isinstance(model, BetterRnnlm):
        E, Wx1, Wh1, b1, Wx2, Wh2, b2, _, bias = params
        return [("lstm", Wx1, Wh1, b1), ("lstm", Wx2, Wh2, b2)], E.T, bias
    E, Wx, Wh, b, W, bias = params
    return [("rnn" if isinstance(model, SimpleRnnlm) else "lstm", Wx, Wh, b)], W, bias


def masks_of(model):
    """The dropout masks of the model's last forward (None without dropout)."""
    return [layer.mask for layer in model.drop_layers] if getattr(model, "drop_layers", None) else None


def assert_grads_match(model, loss, oracle, p64):
    """The loss and the merged grads of the model's last backward against the oracle's
    loss and its central differences in each kept param (p64, float64 copies)."""
    params, grads = remove_duplicate(model.params, model.grads)
    assert loss == pytest.approx(oracle(), rel=1e-5)
    kept = [i for i, p in enumerate(model.params) if any(p is q for q in params)
            and not any(p is q for q in model.params[:i])]
    assert len(kept) == len(params)
    for i, got in zip(kept, grads):
        want = naive.numerical_grad(oracle, p64[i])
        assert naive.rel_err(got, want) <= TOL[np.float32], f"grad of param {i}"


def two_calls(rng, model, xs0, ts0, xs, ts) -> tuple:
    """Non-zero biases (no gradient trivially small), then two stateful training calls
    and the second's backward: (loss, masks of the first call, of the second)."""
    for p in model.params:
        if p.ndim == 1:
            p[...] = rng.standard_normal(p.shape) * 0.3
    model.forward(xs0, ts0)
    masks0 = masks_of(model)
    loss = model.forward(xs, ts)
    masks = masks_of(model)
    model.backward()
    return loss, masks0, masks


def batches(rng):
    xs0, ts0 = rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))
    xs, ts = rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))
    xs[0, :3] = 7  # a repeated id, several times in one row
    ts[1, 2] = -1  # an ignored label: it counts neither in the loss nor in the mean
    return xs0, ts0, xs, ts


@pytest.mark.parametrize("cls", [SimpleRnnlm, Rnnlm, BetterRnnlm])
def test_model_backward_matches_finite_differences(rng, cls):
    np.random.seed(5)
    model = cls(V, D, H)
    xs0, ts0, xs, ts = batches(rng)
    loss, masks0, masks = two_calls(rng, model, xs0, ts0, xs, ts)

    p64 = [p.astype(np.float64) for p in model.params]
    if isinstance(model, BetterRnnlm):
        p64[-2] = p64[0].T  # one array, tied, as in the model

    cells, W, b = cells_of(model, p64)
    _, states = naive.language_model_loss(p64[0], cells, W, b, xs0, ts0, masks=masks0)  # truncated BPTT:
    # the carried state is a constant of the second call

    def oracle():
        cells, W, b = cells_of(model, p64)
        return naive.language_model_loss(p64[0], cells, W, b, xs, ts, states=states, masks=masks)[0]

    assert_grads_match(model, loss, oracle, p64)


def test_backward_scales_by_dout(rng):
    np.random.seed(6)
    model = Rnnlm(V, D, H)
    xs, ts = rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))
    model.forward(xs, ts)
    model.backward()
    once = [g.copy() for g in model.grads]
    model.reset_state()
    model.forward(xs, ts)
    model.backward(2.5)
    for g, g1 in zip(model.grads, once):
        assert naive.rel_err(g, 2.5 * g1.astype(np.float64)) <= TOL[np.float32]


@pytest.mark.parametrize("cls", [SimpleRnnlm, Rnnlm, BetterRnnlm])
def test_adaptive_head_models_match_finite_differences(rng, cls):
    """The same with an adaptive head (words in a shuffled frequency order; BetterRnnlm
    ties the shortlist to the embedding): every param's gradient against
    central differences of the oracle's loss, ``naive.adaptive_loss``."""
    Va, cutoffs = 23, [4, 12]
    np.random.seed(7)
    order = rng.permutation(Va)
    model = cls(Va, D, H, head="adaptive", cutoffs=cutoffs, div_value=2, order=order)
    xs0, ts0 = rng.integers(0, Va, (N, T)), rng.integers(0, Va, (N, T))
    xs, ts = rng.integers(0, Va, (N, T)), order[rng.integers(0, Va, (N, T)) % Va]
    ts[0, :3] = order[Va - 1]  # the last cluster's last word
    ts[1, 2] = -1
    loss, masks0, masks = two_calls(rng, model, xs0, ts0, xs, ts)

    p64 = [p.astype(np.float64) for p in model.params]
    better = isinstance(model, BetterRnnlm)
    if better:
        p64[7] = p64[0]  # one array: the shortlist's columns are its rows
    k = 7 if better else 4
    cells = ([("lstm", *p64[1:4]), ("lstm", *p64[4:7])] if better
             else [("rnn" if cls is SimpleRnnlm else "lstm", *p64[1:4])])

    def head(hs, labels):
        if better:
            W = np.hstack([p64[0][order[:cutoffs[0]]].T, p64[k + 1]])
            b, rest = p64[k + 2], p64[k + 3:]
        else:
            W, b, rest = p64[k], p64[k + 1], p64[k + 2:]
        tails = [(rest[i], rest[i + 1]) for i in range(0, len(rest), 2)]
        return naive.adaptive_loss(hs, W, b, tails, cutoffs, labels, order)[0]

    _, states = naive.language_model_loss(p64[0], cells, None, None, xs0, ts0, masks=masks0, head=head)

    def oracle():
        return naive.language_model_loss(p64[0], cells, None, None, xs, ts, states=states, masks=masks, head=head)[0]

    assert_grads_match(model, loss, oracle, p64)


@pytest.mark.parametrize("cell,layers,tied,dropout", [
    ("gru", 1, False, None), ("rnn", 2, True, None), ("gru", 3, False, 0.3), ("lstm", 3, True, 0.2),
    ("rnn", 1, False, 0.5),
])
def test_any_cell_layers_and_tying_match_finite_differences(rng, cell, layers, tied, dropout):
    """RnnLanguageModel (fastrnn train --cell --layers --tied --dropout): the loss and
    every param's gradient against central differences of the oracle's loss."""
    from fastrnn import RnnLanguageModel

    np.random.seed(8)
    model = RnnLanguageModel(V, D, H, cell=cell, layers=layers, tied=tied, dropout_ratio=dropout)
    model.params[0][...] = rng.standard_normal(model.params[0].shape)  # gradients large enough to difference
    xs0, ts0, xs, ts = batches(rng)
    loss, masks0, masks = two_calls(rng, model, xs0, ts0, xs, ts)
    p64 = [p.astype(np.float64) for p in model.params]
    if tied:
        p64[-2] = p64[0].T

    def cells():
        return [(cell, *p64[1 + 3 * k:4 + 3 * k]) for k in range(layers)]

    _, states = naive.language_model_loss(p64[0], cells(), p64[-2], p64[-1], xs0, ts0, masks=masks0)

    def oracle():
        return naive.language_model_loss(p64[0], cells(), p64[-2], p64[-1], xs, ts, states=states, masks=masks)[0]

    assert_grads_match(model, loss, oracle, p64)


@pytest.mark.parametrize("preset,kwargs", [
    (SimpleRnnlm, {"cell": "rnn"}), (Rnnlm, {"cell": "lstm"}),
    (BetterRnnlm, {"cell": "lstm", "layers": 2, "tied": True, "dropout_ratio": 0.5}),
])
def test_the_presets_are_their_generic_models_bit_for_bit(rng, preset, kwargs):
    """Same draws, same layers: SimpleRnnlm, Rnnlm and BetterRnnlm equal
    RnnLanguageModel with their cell, layers, tying and dropout, to the bit."""
    from fastrnn import RnnLanguageModel

    np.random.seed(9)
    a = preset(V, D, H, *([0.5] if preset is BetterRnnlm else []))
    np.random.seed(9)
    b = RnnLanguageModel(V, D, H, **kwargs)
    assert [p.shape for p in a.params] == [p.shape for p in b.params]
    for p, q in zip(a.params, b.params):
        np.testing.assert_array_equal(p, q)
    xs, ts = rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))
    for model in (a, b):
        for k, layer in enumerate(getattr(model, "drop_layers", [])):
            layer.seed = k
    assert a.forward(xs, ts) == b.forward(xs, ts)
    a.backward()
    b.backward()
    for g, h in zip(a.grads, b.grads):
        np.testing.assert_array_equal(g, h)
