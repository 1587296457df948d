"""A batch computed in two groups of rows equals, bit for bit, two processes that each
hold one group and add their gradients (what data-parallel training over MPI does).

Each test builds one layer or model with ``groups=2`` over N rows, and two with
``groups=1`` over the halves of those rows; the halves' backward passes get each
their share of the batch (1/2, a power of two: an exact scaling), and their
gradients are added, lower half first."""
import numpy as np
import pytest

from fastrnn import BetterRnnlm, Rnnlm, SimpleRnnlm
from fastrnn.time_layers import TimeEmbedding, TimeGRU, TimeLSTM, TimeRNN
from support import randn, rnn_params


def halves(N):
    return slice(0, N // 2), slice(N // 2, N)


@pytest.mark.parametrize("cls,gates", [(TimeRNN, 1), (TimeLSTM, 4), (TimeGRU, 3)])
@pytest.mark.parametrize("N,H", [(20, 24), (21, 9), (20, 260), (40, 70)])  # H=260: the LSTM's halves split over units
def test_recurrent_layer_in_two_groups_equals_two_halves(rng, cls, gates, N, H):
    T, D = 6, 5
    Wx, Wh, b = rnn_params(rng, D, H, np.float32, gates)
    xs, dhs = randn(rng, (N, T, D), np.float32), randn(rng, (N, T, H), np.float32)
    h0 = randn(rng, (N, H), np.float32, 0.5)
    whole = cls(Wx, Wh, b, stateful=True)
    whole.groups = 2
    whole.set_state(h0)
    hs = whole.forward(xs)
    dxs = whole.backward(dhs)
    parts = []
    for rows in halves(N):
        layer = cls(Wx, Wh, b, stateful=True)
        layer.set_state(h0[rows])
        np.testing.assert_array_equal(layer.forward(xs[rows]), hs[rows])
        np.testing.assert_array_equal(layer.backward(dhs[rows] * np.float32(0.5)), dxs[rows] * np.float32(0.5))
        np.testing.assert_array_equal(layer.dh, whole.dh[rows] * np.float32(0.5))
        parts.append([g.copy() for g in layer.grads])
    for got, (a, b_) in zip(whole.grads, zip(*parts)):
        np.testing.assert_array_equal(got * np.float32(0.5), a + b_)


def test_embedding_in_two_groups_equals_two_halves(rng):
    V, D, N, T = 50, 6, 20, 35
    W = randn(rng, (V, D), np.float32)
    ids, dout = rng.integers(0, V, (N, T)), randn(rng, (N, T, D), np.float32)
    ids[:, 0] = 7  # an id in both halves, many times
    whole = TimeEmbedding(W)
    whole.groups = 2
    whole.forward(ids)
    whole.backward(dout)
    parts = []
    for rows in halves(N):
        layer = TimeEmbedding(W)
        layer.forward(ids[rows])
        layer.backward(dout[rows])
        parts.append(layer.grads[0].copy())
    np.testing.assert_array_equal(whole.grads[0], parts[0] + parts[1])


@pytest.mark.parametrize("cls", [SimpleRnnlm, Rnnlm, BetterRnnlm])
@pytest.mark.parametrize("head", [{}, dict(head="adaptive", cutoffs=[30, 100], div_value=2)])
def test_model_in_two_groups_equals_two_processes(rng, cls, head):
    N, T, V = 20, 9, 300
    order = rng.permutation(V) if head else None

    def build():
        np.random.seed(4)
        return cls(V, 16, 16, **head, **({"order": order} if head else {}))

    model = build()
    assert model.groups == 2
    halves_ = [build() for _ in range(2)]
    for m, rows in zip(halves_, halves(N)):
        m.set_groups(1)
        for layer in getattr(m, "drop_layers", []):  # BetterRnnlm's dropout 0.5: masks keyed by the rows' places
            layer.row0 = rows.start
    for step in range(3):  # stateful: the carried states must stay split alike
        xs, ts = rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))
        model.forward(xs, ts)
        model.backward()
        grads = []
        for m, rows in zip(halves_, halves(N)):
            m.forward(xs[rows], ts[rows])
            m.backward(0.5)
            grads.append(m.grads)
        for i, (got, a, b) in enumerate(zip(model.grads, *grads)):
            np.testing.assert_array_equal(got, a + b, err_msg=f"step {step}, grad {i}")
