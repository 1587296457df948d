"""The adaptive softmax layer against the float64 oracle (``naive.adaptive_loss``),
finite differences, and PyTorch's ``nn.AdaptiveLogSoftmaxWithLoss``."""
import numba
import numpy as np
import pytest

import naive
from fastrnn.layers.adaptive import (TimeAdaptiveSoftmaxWithLoss, adaptive_params, check_cutoffs, default_cutoffs,
                                     frequency_order, tail_widths)
from fastrnn.time_layers import TimeAdaptiveSoftmaxWithLoss as Exported
from support import TOL, randn


def make(rng, D, V, cutoffs, dtype, div_value=2.0, order=None, tied=False, bias=0.3):
    """A layer with random params (non-zero biases) and its params in float64."""
    np.random.seed(int(rng.integers(1 << 30)))
    W, b, tails = adaptive_params(D, V, cutoffs, div_value, dtype, tied)
    b[...] = randn(rng, b.shape, dtype, bias)
    E = randn(rng, (V, D), dtype, 0.5) if tied else None
    return TimeAdaptiveSoftmaxWithLoss(W, b, tails, cutoffs, order, E)


def full_head(layer):
    """(W (D, c0 + C), b) of the head in float64, the shortlist's columns gathered from a tied embedding."""
    if layer.tied is None:
        W, b = layer.params[:2]
        return W.astype(np.float64), b.astype(np.float64)
    E, Wc, b = layer.params[:3]
    return np.hstack([E[layer.order[:layer.cutoffs[0]]].T, Wc]).astype(np.float64), b.astype(np.float64)


def tails_of(layer):
    k = 2 if layer.tied is None else 3
    p = layer.params[k:]
    return [(p[i], p[i + 1]) for i in range(0, len(p), 2)]


def oracle(layer, h, ts, dout=1.0):
    W, b = full_head(layer)
    loss, dx, dW, db, dtails = naive.adaptive_loss(h.reshape(-1, h.shape[-1]), W, b, tails_of(layer), layer.cutoffs,
                                                   ts, layer.order, layer.ignore_label)
    return loss, dx * dout, dW * dout, db * dout, [(dP * dout, dWt * dout) for dP, dWt in dtails]


def check_grads(layer, got_dh, want, dtype):
    _, dx, dW, db, dtails = want
    tol = TOL[dtype]
    assert got_dh.dtype == dtype
    assert naive.rel_err(got_dh.reshape(dx.shape), dx) <= tol
    c0 = layer.cutoffs[0]
    if layer.tied is None:
        assert naive.rel_err(layer.grads[0], dW) <= tol
        head_grads = layer.grads[1:2]
    else:
        dE = np.zeros(layer.tied.shape)
        dE[layer.order[:c0]] = dW[:, :c0].T
        assert naive.rel_err(layer.grads[0], dE) <= tol
        assert naive.rel_err(layer.grads[1], dW[:, c0:]) <= tol
        head_grads = layer.grads[2:3]
    assert naive.rel_err(head_grads[0], db) <= tol
    k = 2 if layer.tied is None else 3
    for i, (dP, dWt) in enumerate(dtails):
        assert naive.rel_err(layer.grads[k + 2 * i], dP) <= tol, f"cluster {i} projection"
        assert naive.rel_err(layer.grads[k + 2 * i + 1], dWt) <= tol, f"cluster {i} weight"


CASES = [  # N, T, D, V, cutoffs
    (2, 3, 5, 9, [3]),
    (3, 4, 8, 40, [5, 12, 30]),
    (4, 5, 12, 300, [20, 100]),
    (30, 35, 6, 9011, [50, 700]),  # many column tiles in the last cluster
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N,T,D,V,cutoffs", CASES)
@pytest.mark.parametrize("groups", [1, 2])
def test_loss_and_grads_match_oracle(rng, dtype, N, T, D, V, cutoffs, groups):
    layer = make(rng, D, V, cutoffs, dtype, order=rng.permutation(V))
    layer.groups = groups
    h = randn(rng, (N, T, D), dtype, 1.5)
    ts = rng.integers(0, V, (N, T))
    ts[0, 0] = -1  # ignored
    ts[-1, -1] = layer.order[V - 1]  # the rarest word: the last cluster's last column
    loss = layer.forward(h, ts)
    dh = layer.backward(dout=2.5)
    want = oracle(layer, h, ts, dout=2.5)
    assert abs(loss - want[0]) <= TOL[dtype] * abs(want[0])
    check_grads(layer, dh, want, dtype)
    check_grads(layer, layer.backward(), oracle(layer, h, ts), dtype)  # backward again, dout 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tied_shortlist_matches_oracle(rng, dtype, products):
    V, D = 60, 7
    layer = make(rng, D, V, [10, 25], dtype, order=rng.permutation(V), tied=True)
    layer.groups = 2
    h = randn(rng, (3, 4, D), dtype)
    ts = rng.integers(0, V, (3, 4))
    loss = layer.forward(h, ts)
    want = oracle(layer, h, ts)
    assert abs(loss - want[0]) <= TOL[dtype] * abs(want[0])
    check_grads(layer, layer.backward(), want, dtype)


def test_oracle_matches_finite_differences(rng):
    V, D, cutoffs = 15, 4, [4, 9]
    x = rng.standard_normal((6, D))
    W, b = rng.standard_normal((D, 6)), rng.standard_normal(6)
    tails = [(rng.standard_normal((D, 3)), rng.standard_normal((3, 5))),
             (rng.standard_normal((D, 2)), rng.standard_normal((2, 6)))]
    order = rng.permutation(V)
    ts = np.array([order[0], order[5], order[14], -1, order[9], order[3]])

    def loss():
        return naive.adaptive_loss(x, W, b, tails, cutoffs, ts, order)[0]

    _, dx, dW, db, dtails = naive.adaptive_loss(x, W, b, tails, cutoffs, ts, order)
    for got, wrt in [(dx, x), (dW, W), (db, b), *zip(dtails[0], tails[0]), *zip(dtails[1], tails[1])]:
        assert naive.rel_err(got, naive.numerical_grad(loss, wrt)) <= 1e-7


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_prob_matches_oracle_and_sums_to_one(rng, dtype):
    V, D, cutoffs = 500, 9, [30, 120, 400]
    layer = make(rng, D, V, cutoffs, dtype, order=rng.permutation(V), tied=True)
    h = randn(rng, (3, 7, D), dtype, 2.0)
    lp = layer.log_prob(h)
    assert lp.shape == (3, 7, V) and lp.dtype == dtype
    W, b = full_head(layer)
    want = naive.adaptive_log_prob(h.reshape(-1, D), W, b, tails_of(layer), cutoffs, layer.order)
    assert naive.rel_err(lp.reshape(-1, V), want) <= TOL[dtype]
    total = np.exp(lp.astype(np.float64)).sum(axis=-1)
    assert np.all(np.abs(total - 1) <= (1e-5 if dtype == np.float32 else 1e-12))
    ts = np.arange(21).reshape(3, 7) * 23 % V  # the loss is the mean of -log_prob at the labels
    loss = layer.forward(h, ts)
    assert abs(loss + lp.reshape(-1, V)[np.arange(21), ts.ravel()].astype(np.float64).mean()) <= TOL[dtype] * loss


def test_matches_pytorch(rng, torch):
    N, T, D, V, cutoffs = 5, 7, 64, 3000, [100, 600, 2000]
    layer = make(rng, D, V, cutoffs, np.float64, div_value=4.0)
    h = randn(rng, (N, T, D), np.float64, 1.5)
    ts = rng.integers(0, V, (N, T))
    loss = layer.forward(h, ts)
    dh = layer.backward()
    ref = torch.nn.AdaptiveLogSoftmaxWithLoss(D, V, cutoffs, div_value=4.0, head_bias=True).double()
    W, b = layer.params[:2]
    with torch.no_grad():
        ref.head.weight.copy_(torch.from_numpy(W.T.copy()))
        ref.head.bias.copy_(torch.from_numpy(b))
        for i, (P, Wt) in enumerate(tails_of(layer)):
            assert ref.tail[i][0].weight.shape == P.T.shape  # PyTorch's widths: D // 4**(i+1)
            ref.tail[i][0].weight.copy_(torch.from_numpy(P.T.copy()))
            ref.tail[i][1].weight.copy_(torch.from_numpy(Wt.T.copy()))
    x = torch.from_numpy(h.reshape(-1, D).copy()).requires_grad_()
    out = ref(x, torch.from_numpy(ts.reshape(-1)))
    out.loss.backward()
    assert abs(loss - out.loss.item()) <= 1e-12 * loss
    assert naive.rel_err(dh.reshape(-1, D), x.grad.numpy()) <= 1e-10
    assert naive.rel_err(layer.log_prob(h).reshape(-1, V), ref.log_prob(x).detach().numpy()) <= 1e-10
    assert naive.rel_err(layer.grads[0], ref.head.weight.grad.numpy().T) <= 1e-10
    assert naive.rel_err(layer.grads[-1], ref.tail[-1][1].weight.grad.numpy().T) <= 1e-10


def test_float32_matches_pytorch_float32(rng, torch):
    N, T, D, V, cutoffs = 20, 35, 64, 5000, [200, 1000]
    layer = make(rng, D, V, cutoffs, np.float32, div_value=4.0)
    layer.groups = 2
    h = randn(rng, (N, T, D), np.float32)
    ts = rng.integers(0, V, (N, T))
    loss = layer.forward(h, ts)
    dh = layer.backward()
    ref = torch.nn.AdaptiveLogSoftmaxWithLoss(D, V, cutoffs, div_value=4.0, head_bias=True)
    with torch.no_grad():
        ref.head.weight.copy_(torch.from_numpy(layer.params[0].T.copy()))
        ref.head.bias.copy_(torch.from_numpy(layer.params[1]))
        for i, (P, Wt) in enumerate(tails_of(layer)):
            ref.tail[i][0].weight.copy_(torch.from_numpy(P.T.copy()))
            ref.tail[i][1].weight.copy_(torch.from_numpy(Wt.T.copy()))
    x = torch.from_numpy(h.reshape(-1, D)).requires_grad_()
    out = ref(x, torch.from_numpy(ts.reshape(-1)))
    out.loss.backward()
    assert abs(loss - out.loss.item()) <= 1e-5 * loss
    assert naive.rel_err(dh.reshape(-1, D), x.grad.numpy()) <= 1e-4


def test_a_cluster_without_rows_gets_zero_grads(rng):
    layer = make(rng, 6, 50, [10, 30], np.float32)
    for g in layer.grads:
        g[...] = 7  # what an earlier step left
    layer.forward(randn(rng, (2, 3, 6), np.float32), np.full((2, 3), 15))  # every label in cluster 0
    layer.backward()
    for g in layer.grads[2:4]:
        assert np.any(g != 7) and np.any(g != 0)
    for g in layer.grads[4:]:
        assert not np.any(g)


def test_every_label_ignored_gives_zero_loss_and_grads(rng):
    layer = make(rng, 6, 50, [10, 30], np.float64)
    assert layer.forward(randn(rng, (2, 3, 6), np.float64), np.full((2, 3), -1)) == 0.0
    assert not np.any(layer.backward())
    assert not any(np.any(g) for g in layer.grads)


def test_results_do_not_depend_on_the_thread_count(rng, products):
    layer = make(rng, 16, 20000, [300, 4000], np.float32, tied=True, order=rng.permutation(20000))
    layer.groups = 2
    h = randn(rng, (20, 35, 16), np.float32)
    ts = rng.integers(0, 20000, (20, 35))
    runs = []
    threads = numba.get_num_threads()
    try:
        for n in (1, threads):
            numba.set_num_threads(n)
            loss = layer.forward(h, ts)
            runs.append([loss, layer.backward(), *(g.copy() for g in layer.grads), layer.log_prob(h[:2])])
    finally:
        numba.set_num_threads(threads)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_exported_by_time_layers():
    assert Exported is TimeAdaptiveSoftmaxWithLoss


def test_default_cutoffs():
    assert default_cutoffs(50_000) == [2000, 10000]
    assert default_cutoffs(10_000) == [2000]
    assert default_cutoffs(250_000) == [2000, 10000, 50000]
    assert default_cutoffs(1000) == [200]
    assert default_cutoffs(2) == [1]
    for V in (2, 7, 1999, 2000, 2001, 800_000):
        assert check_cutoffs(default_cutoffs(V), V)


def test_tail_widths_are_pytorchs_and_at_least_one():
    assert tail_widths(650, 3, 4) == [162, 40, 10]
    assert tail_widths(100, 4, 4) == [25, 6, 1, 1]


def test_frequency_order_ranks_ties_by_id():
    np.testing.assert_array_equal(frequency_order([3, 9, 3, 0, 9]), [1, 4, 0, 2, 3])


@pytest.mark.parametrize("bad,error,match", [
    (dict(cutoffs=[10, 5]), ValueError, "cutoffs must be increasing"),
    (dict(cutoffs=[0, 5]), ValueError, r"cutoffs must lie in \[1, "),
    (dict(cutoffs=[5, 5]), ValueError, "increasing"),
    (dict(cutoffs=[5.0, 9]), TypeError, "cutoffs must be integers"),
    (dict(cutoffs=[]), ValueError, "at least one"),
    (dict(cutoffs=[5]), ValueError, "one value a cluster"),
    (dict(order=np.zeros(40, int)), ValueError, "permutation"),
    (dict(order=np.arange(39)), ValueError, r"order must have shape \(40,\)"),
    (dict(order=np.arange(40) + 1), ValueError, "outside"),
])
def test_bad_settings_name_the_argument(rng, bad, error, match):
    np.random.seed(0)
    W, b, tails = adaptive_params(6, 40, [5, 20], 2.0)
    args = dict(cutoffs=[5, 20], order=None) | bad
    with pytest.raises(error, match=match):
        TimeAdaptiveSoftmaxWithLoss(W, b, tails, **args)


def test_bad_shapes_and_dtypes_name_the_argument(rng):
    np.random.seed(0)
    W, b, tails = adaptive_params(6, 40, [5, 20], 2.0)
    with pytest.raises(ValueError, match=r"W must have shape \(6, 7\)"):
        TimeAdaptiveSoftmaxWithLoss(W[:, :6], b, tails, [5, 20])
    with pytest.raises(ValueError, match=r"tails\[0\]\[1\] \(W\) must have shape \(3, 15\)"):
        TimeAdaptiveSoftmaxWithLoss(W, b, [(tails[0][0], tails[0][1][:, :14]), tails[1]], [5, 20])
    with pytest.raises(TypeError, match="share one dtype"):
        TimeAdaptiveSoftmaxWithLoss(W, b.astype(np.float64), tails, [5, 20])
    with pytest.raises(ValueError, match=r"tied must have shape \(40, 6\)"):
        TimeAdaptiveSoftmaxWithLoss(W[:, 5:], b, tails, [5, 20], tied=np.zeros((41, 6), np.float32))
    with pytest.raises(ValueError, match="div_value must be > 1"):
        adaptive_params(6, 40, [5, 20], 1.0)


def test_bad_inputs_raise_before_anything_changes(rng):
    layer = make(rng, 6, 40, [5, 20], np.float32)
    h = randn(rng, (2, 3, 6), np.float32)
    layer.forward(h, np.ones((2, 3), int))
    layer.backward()
    before = [g.copy() for g in layer.grads]
    cache = layer._cache
    for ts, match in ((np.full((2, 3), 40), "outside"), (np.ones((2, 4), int), r"ts must have shape \(2, 3\)"),
                      (np.ones((2, 3)), "integer word ids")):
        with pytest.raises((ValueError, TypeError), match=match):
            layer.forward(h, ts)
    with pytest.raises(ValueError, match=r"h must have shape \(\*, \*, 6\)"):
        layer.forward(h[..., :5], np.ones((2, 3), int))
    assert layer._cache is cache
    layer.backward()
    for a, b in zip(before, layer.grads):
        np.testing.assert_array_equal(a, b)
