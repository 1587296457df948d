"""precision="bf16": bfloat16 operands, float32 sums (``kernels.bf16``).

The oracle is float64 (``naive``): ``naive.bf16_round`` rounds to bfloat16 from
its own formula, and ``naive.Bf16Operands`` makes every product of the layer
oracles a product of rounded operands.  Bounds:

- a product C = A @ B of K terms: |C - oracle| <= K * 2**-24 * (|A| @ |B|) in
  every element (the rounded operands' products are exact in float32; only
  the float32 sums round, whatever their order);
- one step of a cell from given states, whose operands are all inputs:
  |h - oracle| <= (D + H) * 2**-24 * (|x| @ |Wx| + |h0| @ |Wh|) + 1e-6 |h| in
  every element (the sums' error through activations of slope <= 1, plus
  float32's own activations);
- a layer or model over T steps, against the oracle on rounded operands: a
  relative (Frobenius) error <= BF16_TOL.  Beyond float32 accumulation error
  (which alone gives 1e-7 to 1e-6 here), this covers the rare operand that is
  itself a float32 intermediate (h_t, dA) which the float64 oracle computes a
  little apart and so rounds one bfloat16 step (2**-8) away: its error then
  spreads through every product after it.  And that error is at most a third
  of the error against the unrounded float64 oracle: the rounding is seen;
- against the same layer in float32: relative error <= FP32_TOL.
"""
import numpy as np
import pytest
from numba import get_num_threads, set_num_threads

import naive
from fastrnn import BetterRnnlm, RnnLanguageModel, Rnnlm, SimpleRnnlm
from fastrnn.kernels import bf16 as K
from fastrnn.kernels.gemm import BF16
from fastrnn.kernels.packed import packed_matmul
from fastrnn.layers.recurrent import packed
from fastrnn.time_layers import GRU, LSTM, RNN, TimeAffine, TimeGRU, TimeLSTM, TimeRNN
from support import randn, rnn_params

pytestmark = pytest.mark.skipif(not BF16, reason="this CPU has no AVX512_BF16")

BF16_TOL = 1e-3
FP32_TOL = 3e-2
ENGINES = ["vdpbf16ps"] + (["amx"] if K.CAN_AMX and K._amx_granted() else [])


@pytest.fixture(params=ENGINES)
def engine(request):
    K.ready()
    before = K.engine()
    K.use_engine(request.param)
    yield request.param
    K.use_engine(before)


def fro(actual, expected) -> float:
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    return np.linalg.norm(actual - expected) / max(np.linalg.norm(expected), 1e-300)


def assert_bf16(actual, want16, want64, name=""):
    """actual against the rounded-operand oracle want16 and the unrounded want64 (the bounds above)."""
    err, err64 = fro(actual, want16), fro(actual, want64)
    assert err <= BF16_TOL, (name, err)
    assert err <= err64 / 3, (name, err, err64)


def rounded_bits(x):
    """fastrnn's rounding of the float32 array x, as float64 values."""
    x = np.ascontiguousarray(x, np.float32).reshape(-1)
    out = K.row_buffer(1, x.size)
    K.round_rows(x, 0, x.size, 1, x.size, out)
    return (out[:x.size].astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def test_rounding_is_to_nearest_even(rng):
    bits = rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32)
    ties = (rng.integers(0, 2**16, 2000, dtype=np.uint64).astype(np.uint32) << 16) | 0x8000  # exactly halfway
    edges = np.array([0, 0x80000000, 0x7F800000, 0xFF800000, 0x7F7FFFFF, 0x7F7F8000, 0x00000001, 0x00008000,
                      0x00018000, 0x007FFFFF, 0x3F808000, 0x3F818000], np.uint32)
    x = np.concatenate([bits, ties, edges]).view(np.float32)
    finite = ~np.isnan(x)
    got = rounded_bits(x)
    np.testing.assert_array_equal(got[finite], naive.bf16_round(x[finite]))
    assert np.isnan(got[~finite]).all()
    assert np.signbit(got[1 + len(bits) + len(ties)])  # -0 stays -0


@pytest.mark.parametrize("M,Kd,N", [(1, 1, 1), (5, 7, 3), (12, 31, 33), (33, 70, 65), (40, 33, 100),
                                    (100, 650, 70), (70, 64, 32)])
def test_products_within_float32_accumulation(rng, engine, M, Kd, N):
    A, B = randn(rng, (M, Kd), np.float32), randn(rng, (Kd, N), np.float32)
    A16, B16 = naive.bf16_round(A), naive.bf16_round(B)
    want, bound = A16 @ B16, Kd * 2.0**-24 * (np.abs(A16) @ np.abs(B16))
    C = np.empty((M, N), np.float32)
    K.matmul(A, B, C)
    assert np.all(np.abs(C - want) <= bound)
    views = np.empty((M, N), np.float32)
    K.rounded_gemm(K.rounded(np.asfortranarray(A)), B.T.copy().T, views)  # strided views, products in one thread
    np.testing.assert_array_equal(views, C)
    for G in (1,) + ((2,) if N % 2 == 0 else ()):  # a recurrent product, on the weight packed once
        P = np.empty((M, N), np.float32)
        packed_matmul(A, packed(B, G, bf16=True), G, P, get_num_threads())
        np.testing.assert_array_equal(P, C)
    if Kd >= 64:  # the rounding shows: the unrounded product is far outside the bound
        assert np.any(np.abs(C - A.astype(np.float64) @ B) > bound)


def test_products_do_not_depend_on_threads_or_rows(rng, engine):
    A, B = randn(rng, (130, 97), np.float32), randn(rng, (97, 300), np.float32)
    C = np.empty((130, 300), np.float32)
    K.matmul(A, B, C)
    threads = get_num_threads()
    try:
        set_num_threads(1)
        one = np.empty_like(C)
        K.matmul(A, B, one)
    finally:
        set_num_threads(threads)
    np.testing.assert_array_equal(one, C)
    part = np.empty((17, 300), np.float32)
    K.matmul(A[40:57], B, part)  # a group of rows, as one MPI process holds it
    np.testing.assert_array_equal(part, C[40:57])


def lstm_inputs(rng, N, T, D, H):
    Wx, Wh, b = rnn_params(rng, D, H, np.float32, gates=4)
    xs, dhs = randn(rng, (N, T, D), np.float32), randn(rng, (N, T, H), np.float32)
    return Wx, Wh, b, xs, dhs, randn(rng, (N, H), np.float32, 0.5), randn(rng, (N, H), np.float32, 0.5)


SHAPES = [(3, 7, 5, 8), (20, 35, 16, 24), (13, 4, 6, 70), (12, 3, 64, 300), (40, 5, 33, 40)]


@pytest.mark.parametrize("N,T,D,H", SHAPES)
def test_time_lstm_matches_rounded_oracle(rng, engine, N, T, D, H):
    Wx, Wh, b, xs, dhs, h0, c0 = lstm_inputs(rng, N, T, D, H)
    layer = TimeLSTM(Wx, Wh, b, stateful=True, precision="bf16")
    layer.set_state(h0, c0)
    hs = layer.forward(xs)
    dxs = layer.backward(dhs)
    args16, args64 = naive.bf16_operands(xs, Wx, Wh, b, h0, c0), (xs, Wx, Wh, b, h0, c0)
    assert_bf16(hs, naive.lstm_forward(*args16)[0], naive.lstm_forward(*args64)[0], "hs")
    want16 = naive.lstm_backward(*args16, *naive.bf16_operands(dhs))
    want64 = naive.lstm_backward(*args64, dhs)
    for name, got, w16, w64 in zip(["dxs", "dWx", "dWh", "db", "dh0"], [dxs, *layer.grads, layer.dh], want16, want64):
        assert_bf16(got, w16, w64, name)
    fp32 = TimeLSTM(Wx, Wh, b, stateful=True)
    fp32.set_state(h0, c0)
    assert fro(hs, fp32.forward(xs)) <= FP32_TOL
    assert fro(dxs, fp32.backward(dhs)) <= FP32_TOL


@pytest.mark.parametrize("cell", ["rnn", "gru"])
@pytest.mark.parametrize("N,T,D,H", SHAPES[:4])
def test_time_rnn_and_gru_match_rounded_oracle(rng, engine, cell, N, T, D, H):
    G = 1 if cell == "rnn" else 3
    Wx, Wh, b = rnn_params(rng, D, H, np.float32, gates=G)
    xs, dhs, h0 = randn(rng, (N, T, D), np.float32), randn(rng, (N, T, H), np.float32), randn(rng, (N, H),
                                                                                               np.float32, 0.5)
    layer = (TimeRNN if cell == "rnn" else TimeGRU)(Wx, Wh, b, stateful=True, precision="bf16")
    layer.set_state(h0)
    hs = layer.forward(xs)
    dxs = layer.backward(dhs)
    forward, backward = (naive.rnn_forward, naive.rnn_backward) if cell == "rnn" else (naive.gru_forward,
                                                                                       naive.gru_backward)
    args16, args64 = naive.bf16_operands(xs, Wx, Wh, b, h0), (xs, Wx, Wh, b, h0)
    assert_bf16(hs, forward(*args16), forward(*args64), "hs")
    want16, want64 = backward(*args16, *naive.bf16_operands(dhs)), backward(*args64, dhs)
    for name, got, w16, w64 in zip(["dxs", "dWx", "dWh", "db", "dh0"], [dxs, *layer.grads, layer.dh], want16, want64):
        assert_bf16(got, w16, w64, name)


@pytest.mark.parametrize("D,H", [(8, 40), (70, 33), (650, 650)])
def test_one_step_within_float32_accumulation(rng, engine, D, H):
    Wx, Wh, b = rnn_params(rng, D, H, np.float32)
    x, h = randn(rng, (5, D), np.float32), randn(rng, (5, H), np.float32)
    got = RNN(Wx, Wh, b, precision="bf16").forward(x, h)
    x16, Wx16, Wh16, h16 = (naive.bf16_round(a) for a in (x, Wx, Wh, h))
    want = np.tanh(x16 @ Wx16 + h16 @ Wh16 + b)
    bound = (D + H) * 2.0**-24 * (np.abs(x16) @ np.abs(Wx16) + np.abs(h16) @ np.abs(Wh16)) + 1e-6 * np.abs(want)
    assert np.all(np.abs(got - want) <= bound)
    assert np.any(np.abs(RNN(Wx, Wh, b).forward(x, h) - want) > bound)  # float32 is outside it


def test_one_step_cells_take_precision(rng):
    Wx, Wh, b = rnn_params(rng, 8, 40, np.float32, gates=4)
    x, h, c = randn(rng, (3, 8), np.float32), randn(rng, (3, 40), np.float32), randn(rng, (3, 40), np.float32)
    want16 = naive.lstm_forward(*naive.bf16_operands(x[:, None], Wx, Wh, b, h, c))
    want64 = naive.lstm_forward(x[:, None], Wx, Wh, b, h, c)
    h1, c1 = LSTM(Wx, Wh, b, precision="bf16").forward(x, h, c)
    assert_bf16(h1, want16[0][:, 0], want64[0][:, 0])
    assert_bf16(c1, want16[1][:, 0], want64[1][:, 0])
    assert GRU(*rnn_params(rng, 8, 40, np.float32, gates=3), precision="bf16").precision == "bf16"


def test_bidirectional_lstm_takes_precision(rng):
    """TimeBiLSTM in bf16: each direction is a bf16 TimeLSTM, so the whole matches the
    rounded-operand oracle of both directions."""
    from fastrnn.time_layers import TimeBiLSTM

    (Wx1, Wh1, b1), (Wx2, Wh2, b2) = (rnn_params(rng, 12, 40, np.float32, gates=4) for _ in range(2))
    xs = randn(rng, (3, 5, 12), np.float32)
    layer = TimeBiLSTM(Wx1, Wh1, b1, Wx2, Wh2, b2, precision="bf16")
    out = layer.forward(xs)
    zeros = np.zeros((3, 40))
    halves = []
    for rounding in (naive.bf16_operands, lambda *a: a):
        one = naive.lstm_forward(*rounding(xs, Wx1, Wh1, b1, zeros, zeros))[0]
        two = naive.lstm_forward(*rounding(xs[:, ::-1], Wx2, Wh2, b2, zeros, zeros))[0][:, ::-1]
        halves.append(np.concatenate([one, two], axis=2))
    assert_bf16(out, *halves)
    assert layer.precision == "bf16"
    layer.precision = "fp32"
    assert layer.forward_lstm.precision == layer.backward_lstm.precision == "fp32"


def test_time_affine_rounds_its_operands(rng, engine):
    """The bias rides in the product as a row of the weight (x carries a column of
    ones), so it is an operand too, and db sums rounded dout."""
    W, b = randn(rng, (70, 90), np.float32, 0.1), randn(rng, (90,), np.float32, 0.1)
    x, dout = randn(rng, (4, 6, 70), np.float32), randn(rng, (4, 6, 90), np.float32)
    layer = TimeAffine(W, b, precision="bf16")
    out, dx = layer.forward(x), layer.backward(dout)
    x1 = np.concatenate([x.reshape(-1, 70), np.ones((24, 1))], axis=1)
    Wb = np.concatenate([W, b[None]], axis=0)
    (x16, Wb16, d16), d64 = naive.bf16_operands(x1, Wb, dout.reshape(-1, 90)), dout.reshape(-1, 90)
    assert_bf16(out.reshape(-1, 90), x16 @ Wb16, x1 @ Wb)
    assert_bf16(dx.reshape(-1, 70), (d16 @ Wb16[:70].T), d64 @ W.T)
    dWb = x16.T @ d16
    assert_bf16(layer.grads[0], dWb[:70], x1[:, :70].T @ d64)
    assert_bf16(layer.grads[1], dWb[70], d64.sum(axis=0))


def lstm_lm_oracle(params, xs, ts, operands, layers):
    """Loss and grads of a language model of ``layers`` LSTMs from zero state, no
    dropout, params (embed_W, (Wx, Wh, b) a layer, W, b), in float64, composed from
    the layer oracles; the head as one product of [hs, 1] and [W; b] (W may be
    embed_W.T, tied: its grad is then that of the head's W alone, as the model's)."""
    E, *rest = operands(*params)
    cells, (W, bias) = [rest[3 * k:3 * k + 3] for k in range(layers)], rest[3 * layers:]
    N, T = xs.shape
    H = W.shape[0]
    zeros = operands(np.zeros((N, H)))[0]
    inputs = [E[xs]]
    for Wx, Wh, b in cells:
        inputs.append(naive.lstm_forward(inputs[-1], Wx, Wh, b, zeros, zeros)[0])
    x1 = np.concatenate([inputs[-1].reshape(-1, H), np.ones((N * T, 1))], axis=1)
    Wb = np.concatenate([W, bias[None]], axis=0)
    loss, dS = naive.softmax_cross_entropy((x1 @ Wb).reshape(N, T, -1), ts)
    dS = dS.reshape(N * T, -1)
    dWb = x1.T @ dS
    dhs = (dS @ Wb[:H].T).reshape(N, T, H)
    grads = []
    for (Wx, Wh, b), x in reversed(list(zip(cells, inputs))):
        dhs, dWx, dWh, db, _, _ = naive.lstm_backward(x, Wx, Wh, b, zeros, zeros, dhs)
        grads = [dWx, dWh, db] + grads
    return loss, [naive.embedding_backward(xs, dhs, E.shape[0]), *grads, dWb[:H], dWb[H]]


@pytest.mark.parametrize("make,layers", [
    (lambda: Rnnlm(50, 24, 40, precision="bf16"), 1),
    (lambda: BetterRnnlm(50, 32, 32, dropout_ratio=0.0, precision="bf16"), 2),  # two layers, tied
])
def test_models_match_rounded_oracle(rng, engine, make, layers):
    """The whole model: embedding, LSTMs, the fused affine-softmax head (its gradient
    dS made whole, then rounded), loss and every grad."""
    np.random.seed(3)
    model = make()
    model.params[0][...] *= 30  # the embedding (and a tied head) well above the book's 0.01 scale: scores that vary
    xs, ts = rng.integers(0, 50, (4, 6)), rng.integers(0, 50, (4, 6))
    loss = model.forward(xs, ts)
    model.backward()
    params = [p.astype(np.float64) for p in model.params]
    loss16, grads16 = lstm_lm_oracle(params, xs, ts, naive.bf16_operands, layers)
    loss64, grads64 = lstm_lm_oracle(params, xs, ts, lambda *a: a, layers)
    assert abs(loss - loss16) <= 2e-7 * loss16 < abs(loss64 - loss16)  # float32 scores' error; rounding shows
    assert len(model.grads) == len(grads16)
    for k, (got, w16, w64) in enumerate(zip(model.grads, grads16, grads64)):
        assert_bf16(got, w16, w64, k)


@pytest.mark.parametrize("make", [
    lambda p: SimpleRnnlm(40, 16, 24, precision=p),
    lambda p: BetterRnnlm(40, 32, 32, precision=p),
    lambda p: RnnLanguageModel(40, 16, 24, cell="gru", layers=2, precision=p),
    lambda p: Rnnlm(300, 16, 24, head="adaptive", cutoffs=[20, 100], precision=p),
    lambda p: BetterRnnlm(300, 32, 32, head="adaptive", cutoffs=[20, 100], precision=p),
])
def test_models_stay_near_float32(rng, make):
    """Every model and head: loss and grads in bf16 within FP32_TOL of float32's,
    and not equal to them (the products did round)."""
    xs, ts = rng.integers(0, 40, (4, 6)), rng.integers(0, 40, (4, 6))
    results = []
    for precision in ("fp32", "bf16"):
        np.random.seed(5)
        model = make(precision)
        for layer in getattr(model, "drop_layers", []):
            layer.seed = 1
        loss = model.forward(xs, ts)
        model.backward()
        results.append((loss, [g.copy() for g in model.grads]))
    (l32, g32), (l16, g16) = results
    assert abs(l16 - l32) <= FP32_TOL * l32 and l16 != l32
    for a, b in zip(g16, g32):
        assert fro(a, b) <= FP32_TOL


def test_precision_is_checked(rng):
    Wx, Wh, b = rnn_params(rng, 4, 5, np.float32, gates=4)
    with pytest.raises(ValueError, match="precision must be one of 'fp32', 'bf16', got 'fp16'"):
        TimeLSTM(Wx, Wh, b, precision="fp16")
    with pytest.raises(ValueError, match="TimeLSTM: precision='bf16' needs float32 params, got float64"):
        TimeLSTM(*(a.astype(np.float64) for a in (Wx, Wh, b)), precision="bf16")
    model = Rnnlm(20, 4, 5)
    with pytest.raises(ValueError, match="precision must be one of"):
        model.set_precision("half")
    model.set_precision("bf16")
    assert {layer.precision for layer in model.layers[1:]} == {"bf16"} and model.precision == "bf16"


def test_command_line_trains_resumes_and_evaluates_in_bf16(tmp_path):
    """--precision bf16: recorded in the checkpoint, kept by --resume (a run resumed
    after one epoch ends with the bits of one run straight through), learns the
    Markov corpus as float32 does; eval runs in float32 unless told otherwise."""
    from cli_support import SMALL, fastrnn, markov_files, text_args, value

    from fastrnn.training import checkpoint
    from fastrnn.params_file import read_params

    files = markov_files(tmp_path, sizes=(8_000, 1_000, 1_000))
    args = ("train", *text_args(files, tmp_path / "cache"), *SMALL, "--model", "rnnlm")
    runs = {p: fastrnn(*args, "--epochs", 2, "--precision", p, "--out", tmp_path / p) for p in ("fp32", "bf16")}
    assert "precision bf16" in runs["bf16"].stdout
    ppl32, ppl16 = (value("test perplexity", runs[p].stdout) for p in ("fp32", "bf16"))
    assert abs(ppl16 - ppl32) <= 0.05 * ppl32 and ppl16 < 4  # the best possible is 2, knowing nothing 13
    fastrnn(*args, "--epochs", 1, "--precision", "bf16", "--out", tmp_path / "half")
    assert checkpoint.load(tmp_path / "half" / checkpoint.NAME).state.settings["precision"] == "bf16"
    resumed = fastrnn("train", "--resume", tmp_path / "half", "--epochs", 2)
    assert "precision bf16" in resumed.stdout
    for x, y in zip(read_params(tmp_path / "bf16" / "params.npz").arrays,
                    read_params(tmp_path / "half" / "params.npz").arrays, strict=True):
        np.testing.assert_array_equal(x, y)
    params = tmp_path / "bf16" / "params.npz"
    plain = fastrnn("eval", params, "--test-file", files["test"], "--cache-dir", tmp_path / "cache")
    assert value("test perplexity", plain.stdout) == value("test perplexity", runs["bf16"].stdout)  # both fp32
    half = fastrnn("eval", params, "--test-file", files["test"], "--cache-dir", tmp_path / "cache",
                   "--precision", "bf16")
    assert "precision bf16)" in half.stdout and "precision" not in plain.stdout
    assert abs(value("test perplexity", half.stdout) - value("test perplexity", plain.stdout)) <= 0.05
    changed = fastrnn("train", "--resume", tmp_path / "half", "--precision", "fp32", "--epochs", 3, check=False)
    assert changed.returncode == 2 and changed.stderr.strip().splitlines() == [
        f"fastrnn train: error: --precision cannot change when resuming: the run in {tmp_path / 'half'} keeps its "
        "settings (only --epochs, --max-words, --max-time, --cache-dir and --overlap may change)"]
    bad = fastrnn("train", "--precision", "fp16", check=False)
    assert bad.returncode == 2 and "invalid choice: 'fp16'" in bad.stderr


PERMISSION = """
import ctypes, sys
import numpy as np
import fastrnn
from fastrnn.kernels import bf16

def tiles_permitted():
    features = ctypes.c_uint64()
    ctypes.CDLL(None).syscall(158, 0x1022, ctypes.byref(features))  # ARCH_GET_XCOMP_PERM
    return bool(features.value >> 18 & 1)  # XFEATURE_XTILEDATA

model = fastrnn.Rnnlm(30, 4, 5)
model.forward(np.zeros((2, 3), int), np.zeros((2, 3), int))
before = tiles_permitted()
model.set_precision("bf16")
print(before, tiles_permitted(), bf16.engine())
"""


def test_tiles_are_asked_for_at_the_first_bf16_layer_and_the_engine_can_be_chosen():
    """Importing fastrnn and running float32 leaves the process's AMX permission
    alone; the first bf16 layer asks for it (where the CPU has AMX) and chooses the
    engine, which FASTRNN_BF16_ENGINE overrides."""
    import os
    import subprocess
    import sys

    for chosen in (None, "vdpbf16ps"):
        env = {k: v for k, v in os.environ.items() if k != "FASTRNN_BF16_ENGINE"}
        if chosen:
            env["FASTRNN_BF16_ENGINE"] = chosen
        run = subprocess.run([sys.executable, "-c", PERMISSION], capture_output=True, text=True, env=env, check=True)
        before, after, engine = run.stdout.split()
        amx = K.CAN_AMX and K._amx_granted()
        assert before == "False" or not K.CAN_AMX  # (a CPU without AMX: nothing to ask for)
        assert engine == (chosen or ("amx" if amx else "vdpbf16ps"))
        assert after == str(amx and chosen is None or before == "True")
