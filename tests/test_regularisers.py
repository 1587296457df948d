"""AWD-LSTM's regularisers: weight-drop (DropConnect on the recurrent weight) against
the float64 oracle with the same mask and against PyTorch with the masked weight
swapped in; locked dropout's masks are tested with the others in test_layers_more."""
import numpy as np
import pytest

import naive
from cli_support import FASTRNN, fastrnn, markov_files, text_args
from fastrnn import RnnLanguageModel, load_model
from fastrnn.params_file import read_params
from fastrnn.time_layers import TimeDropout, TimeGRU, TimeLSTM
from fastrnn.trainer import remove_duplicate
from support import TOL, randn, rnn_params
from test_parallel import mpiexec, needs_mpi


def weight_dropped(cls, gates, rng, dtype, ratio=0.5, seed=3):
    N, T, D, H = 5, 6, 4, 7
    Wx, Wh, b = rnn_params(rng, D, H, dtype, gates)
    layer = cls(Wx, Wh, b, stateful=True)
    layer.weight_drop = TimeDropout(ratio, seed=seed)
    xs, dhs = randn(rng, (N, T, D), dtype), randn(rng, (N, T, H), dtype)
    return layer, (Wx, Wh, b), xs, dhs


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-4)])
def test_weight_drop_lstm_matches_the_oracle_with_the_masked_weight(rng, dtype, tol):
    """Two calls (two masks): h and every grad as the oracle's LSTM run with Wh * M,
    the grad of Wh masked by M; the mask M is the generator's, one a call."""
    layer, (Wx, Wh, b), xs, dhs = weight_dropped(TimeLSTM, 4, rng, dtype)
    for call in range(2):
        M = naive.dropout_mask(3, call, 0, Wh.shape, 0.5)
        h0 = np.zeros((xs.shape[0], Wh.shape[0])) if call == 0 else layer.h.astype(np.float64)
        c0 = np.zeros_like(h0) if call == 0 else layer.c.astype(np.float64)
        hs = layer.forward(xs)
        dxs = layer.backward(dhs)
        expected = naive.lstm_forward(xs, Wx, Wh * M, b, h0, c0)[0]
        dxs_, dWx, dWh, db, dh0, _ = naive.lstm_backward(xs, Wx, Wh * M, b, h0, c0, dhs)
        assert naive.rel_err(hs, expected) <= tol
        assert naive.rel_err(dxs, dxs_) <= tol and naive.rel_err(layer.dh, dh0) <= tol
        for got, want in zip(layer.grads, (dWx, dWh * M, db)):
            assert naive.rel_err(got, want) <= tol
        np.testing.assert_array_equal(layer.params[1], Wh)  # the weight itself is not touched


def test_weight_drop_gru_masks_the_recurrent_weight(rng):
    """The GRU through the same path: its output with weight-drop is the output of a
    GRU whose Wh is Wh * M, and the grad of Wh is that GRU's masked by M."""
    layer, (Wx, Wh, b), xs, dhs = weight_dropped(TimeGRU, 3, rng, np.float64, ratio=0.3, seed=8)
    hs = layer.forward(xs)
    layer.backward(dhs)
    M = naive.dropout_mask(8, 0, 0, Wh.shape, 0.3)
    h0 = np.zeros((xs.shape[0], Wh.shape[0]))
    assert naive.rel_err(hs, naive.gru_forward(xs, Wx, Wh * M, b, h0)) <= 1e-12
    dWh = naive.gru_backward(xs, Wx, Wh * M, b, h0, dhs)[2]
    assert naive.rel_err(layer.grads[1], dWh * M) <= 1e-12


def test_weight_drop_off_in_evaluation(rng):
    layer, (Wx, Wh, b), xs, _ = weight_dropped(TimeLSTM, 4, rng, np.float64)
    layer.weight_drop.train_flg = False
    h0 = np.zeros((xs.shape[0], Wh.shape[0]))
    assert naive.rel_err(layer.forward(xs), naive.lstm_forward(xs, Wx, Wh, b, h0, h0)[0]) <= 1e-12
    assert layer.weight_drop.calls == 0


def test_weight_drop_matches_pytorch_with_the_masked_weight_swapped_in(rng, torch):
    """AWD-LSTM's way: PyTorch's LSTM given weight_hh = (Wh * M) in its gate order."""
    layer, (Wx, Wh, b), xs, dhs = weight_dropped(TimeLSTM, 4, rng, np.float64)
    hs = layer.forward(xs)
    dxs = layer.backward(dhs)
    H = Wh.shape[0]
    M = naive.dropout_mask(3, 0, 0, Wh.shape, 0.5)
    to_torch = np.r_[2 * H:3 * H, 0:H, H:2 * H, 3 * H:4 * H]  # (f, g, i, o) -> torch's (i, f, g, o)
    lstm = torch.nn.LSTM(xs.shape[2], H, batch_first=True, dtype=torch.float64)
    raw = torch.from_numpy(Wh[:, to_torch].T.copy()).requires_grad_()
    mask = torch.from_numpy(M[:, to_torch].T.copy())
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(Wx[:, to_torch].T))
        lstm.bias_ih_l0.copy_(torch.from_numpy(b[to_torch]))
        lstm.bias_hh_l0.zero_()
    del lstm.weight_hh_l0  # swapped for the masked raw weight, as AWD-LSTM's WeightDrop does
    lstm.weight_hh_l0 = raw * mask
    x = torch.from_numpy(xs).requires_grad_()
    out, _ = lstm(x)
    out.backward(torch.from_numpy(dhs))
    assert naive.rel_err(hs, out.detach().numpy()) <= 1e-12
    assert naive.rel_err(dxs, x.grad.numpy()) <= 1e-12
    assert naive.rel_err(layer.grads[1], raw.grad.numpy().T[:, np.argsort(to_torch)]) <= 1e-12


def test_awd_model_backward_matches_finite_differences(rng):
    """Three LSTM layers of different sizes (the last the embedding's, tied), locked
    dropout after the embedding, between layers and after the last (three ratios),
    embedding dropout, weight-drop, AR and TAR: two stateful training calls, the
    second's grads against central differences of the float64 oracle's loss with
    the same masks (the oracle's loss is the cross-entropy plus both penalties)."""
    V, D, H, N, T = 11, 4, 6, 3, 5
    np.random.seed(2)
    model = RnnLanguageModel(V, D, H, layers=3, last_size=D, tied=True, dropout_ratio=0.4, input_dropout=0.3,
                             hidden_dropout=0.25, locked=True, embed_dropout=0.2, weight_drop=0.5, ar=2.0, tar=1.0)
    assert len(model.drop_layers) == 4 and len(model.mask_layers) == 8 and len(model.penalties) == 2
    for p in model.params:
        if p.ndim == 1:
            p[...] = rng.standard_normal(p.shape) * 0.3

    def masks_now():
        return ([layer.mask for layer in model.drop_layers], [layer.weight_drop.mask for layer in
                model.recurrent_layers], model.layers[0].word_drop.mask[0])

    xs0, ts0, xs, ts = (rng.integers(0, V, (N, T)) for _ in range(4))
    xs[0, :3] = 7
    model.forward(xs0, ts0)
    first = masks_now()
    loss = model.forward(xs, ts) + sum(p.loss for p in model.penalties)
    second = masks_now()
    model.backward()
    params, grads = remove_duplicate(model.params, model.grads)
    p64 = [p.astype(np.float64) for p in model.params]
    p64[-2] = p64[0].T  # the tied output weight: the embedding's own array

    def oracle(masks, xs, ts, states=None):
        drops, weights, words = masks
        cells = [("lstm", p64[1 + 3 * k], p64[2 + 3 * k] * weights[k], p64[3 + 3 * k]) for k in range(3)]
        return naive.language_model_loss(p64[0], cells, p64[-2], p64[-1], xs, ts, states=states, masks=drops,
                                         word_scales=words, ar=2.0, tar=1.0)

    states = oracle(first, xs0, ts0)[1]
    assert loss == pytest.approx(oracle(second, xs, ts, states)[0], rel=1e-5)
    kept = [i for i, p in enumerate(model.params) if any(p is q for q in params)
            and not any(p is q for q in model.params[:i])]
    for i, got in zip(kept, grads, strict=True):
        want = naive.numerical_grad(lambda: oracle(second, xs, ts, states)[0], p64[i])
        assert naive.rel_err(got, want) <= TOL[np.float32], f"grad of param {i}"


def test_a_params_file_rebuilds_the_awd_model(rng, tmp_path):
    """save_params then load_model: the same structure (sizes, ratios, penalties) and
    params, and the same predictions (evaluation: no mask drawn)."""
    np.random.seed(3)
    model = RnnLanguageModel(30, 6, 9, layers=3, last_size=6, tied=True, dropout_ratio=0.4, input_dropout=0.3,
                             hidden_dropout=0.2, locked=True, embed_dropout=0.1, weight_drop=0.5, ar=2.0, tar=1.0)
    model.save_params(tmp_path / "awd.npz")
    loaded = load_model(tmp_path / "awd.npz")
    assert loaded.structure() == model.structure() and loaded.regularisers == model.regularisers
    for p, q in zip(model.params, loaded.params, strict=True):
        np.testing.assert_array_equal(p, q)
    xs = rng.integers(0, 30, (2, 5))
    np.testing.assert_array_equal(model.predict(xs), loaded.predict(xs))
    assert all(layer.calls == 0 for layer in model.mask_layers)


AWD_SMALL = ("--model", "awd", "--wordvec-size", 12, "--hidden-size", 20, "--last-size", 12, "--epochs", 2,
             "--max-iters", 6, "--batch-size", 6, "--time-size", 8, "--lr", 5, "--checkpoint-every", 4)


@needs_mpi
def test_awd_runs_give_one_bits_whatever_the_threads_processes_and_stops(tmp_path):
    """--model awd (every regulariser, NT-ASGD), small: one thread, two threads,
    two processes, and a run stopped within its first epoch then resumed end with
    the same params, bit for bit."""
    files = markov_files(tmp_path, sizes=(3_000, 600, 600))
    args = ("train", *text_args(files, tmp_path / "cache"), *AWD_SMALL, "--no-progress")
    fastrnn(*args, "--threads", 1, "--out", tmp_path / "one")
    fastrnn(*args, "--threads", 2, "--out", tmp_path / "threads")
    two = mpiexec(2, FASTRNN, *args, "--out", tmp_path / "two")
    assert two.returncode == 0, two.stderr
    fastrnn(*args, "--max-words", 5 * 6 * 8, "--out", tmp_path / "stopped")  # ended mid-epoch, after step 5
    fastrnn("train", "--resume", tmp_path / "stopped", "--max-words", 10**6)
    first = read_params(tmp_path / "one" / "params.npz").arrays
    for run in ("threads", "two", "stopped"):
        for x, y in zip(first, read_params(tmp_path / run / "params.npz").arrays, strict=True):
            np.testing.assert_array_equal(x, y, err_msg=run)
