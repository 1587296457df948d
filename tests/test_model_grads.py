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
    return [layer.mask for layer in model.drop_layers] if isinstance(model, BetterRnnlm) else None


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
    for p in model.params:  # non-zero biases, so that no gradient is trivially small
        if p.ndim == 1:
            p[...] = rng.standard_normal(p.shape) * 0.3
    xs0, ts0, xs, ts = batches(rng)

    model.forward(xs0, ts0)
    masks0 = masks_of(model)
    loss = model.forward(xs, ts)
    masks = masks_of(model)
    model.backward()
    params, grads = remove_duplicate(model.params, model.grads)

    p64 = [p.astype(np.float64) for p in model.params]
    if isinstance(model, BetterRnnlm):
        p64[-2] = p64[0].T  # one array, tied, as in the model

    cells, W, b = cells_of(model, p64)
    _, states = naive.language_model_loss(p64[0], cells, W, b, xs0, ts0, masks=masks0)  # truncated BPTT:
    # the carried state is a constant of the second call

    def oracle():
        cells, W, b = cells_of(model, p64)
        return naive.language_model_loss(p64[0], cells, W, b, xs, ts, states=states, masks=masks)[0]

    assert loss == pytest.approx(oracle(), rel=1e-5)
    kept = [i for i, p in enumerate(model.params) if any(p is q for q in params)]
    assert len(kept) == len(params)
    for i, got in zip(kept, grads):
        want = naive.numerical_grad(oracle, p64[i])
        assert naive.rel_err(got, want) <= TOL[np.float32], f"grad of param {i}"


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
