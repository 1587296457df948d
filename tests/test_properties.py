"""Property-based tests: every public layer, model, optimizer and loader driven with
generated shapes, dtypes, memory orders, word ids, NaN/Inf values, empty arrays and
corrupted files.  Each case gives the float64 oracle's result, or raises TypeError /
ValueError naming the argument; none may crash the process, hang, or return garbage
(a kernel reading outside an array would show as a wrong value or a crash)."""
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import naive
from conftest import PROPERTY_CASES
from fastrnn import BetterRnnlm, Rnnlm, SimpleRnnlm, layers, optimizer
from fastrnn.datasets import sequence, text
from fastrnn.params_file import ParamsError, read_params, save_params
from fastrnn.time_layers import (GRU, LSTM, RNN, TimeAffine, TimeBiLSTM, TimeDropout, TimeEmbedding, TimeGRU,
                                 TimeLSTM, TimeRNN, TimeSigmoidWithLoss, TimeSoftmaxWithLoss)
from fastrnn.util import clip_grads
from support import TOL

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NaN and Inf inputs, on purpose
CASES = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DTYPES = [np.float32, np.float64, np.float16, np.int64, np.int32, np.uint8, np.bool_, np.complex64]
FLOATS = (np.float32, np.float64)


def count(name):
    PROPERTY_CASES[name] = PROPERTY_CASES.get(name, 0) + 1


def view(a: np.ndarray, order: str) -> np.ndarray:
    """a's values in another memory layout."""
    if a.ndim == 0 or a.size == 0:
        return a
    if order == "F":
        return np.asfortranarray(a)
    if order == "reversed":
        return np.ascontiguousarray(a[..., ::-1])[..., ::-1]
    if order == "strided":
        wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        wide[..., ::2] = a
        return wide[..., ::2]
    return a


@st.composite
def array(draw, shape, dtypes=DTYPES, nonfinite=True, low=-3, high=3):
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    if dtype.kind == "f":
        elements = st.floats(low, high, width=dtype.itemsize * 8, allow_nan=False, allow_infinity=False)
        if nonfinite and draw(st.booleans()):
            elements = elements | st.sampled_from([np.nan, np.inf, -np.inf])
    elif dtype.kind == "c":
        elements = st.complex_numbers(max_magnitude=3, width=dtype.itemsize * 8)
    elif dtype.kind == "b":
        elements = st.booleans()
    else:
        info = np.iinfo(dtype)
        elements = st.integers(max(info.min, low), min(info.max, high))
    a = draw(hnp.arrays(dtype, shape, elements=elements))
    return view(a, draw(st.sampled_from(["C", "F", "reversed", "strided"])))


@st.composite
def shape_near(draw, good):
    """``good`` (a shape), or one like it with a dimension changed, dropped or added, or empty."""
    kind = draw(st.sampled_from(["good"] * 4 + ["change", "drop", "add", "empty"]))
    shape = list(good)
    if kind == "change":
        i = draw(st.integers(0, len(shape) - 1))
        shape[i] = draw(st.integers(1, 6).filter(lambda v: v != good[i]))
    elif kind == "drop":
        shape.pop(draw(st.integers(0, len(shape) - 1)))
    elif kind == "add":
        shape.append(draw(st.integers(1, 3)))
    elif kind == "empty":
        shape[draw(st.integers(0, len(shape) - 1))] = 0
    return tuple(shape)


def attempt(fn, *args):
    """(True, result) or (False, the exception), which must be a clear one."""
    try:
        return True, fn(*args)
    except (TypeError, ValueError) as e:
        assert str(e), "an exception without a message"
        return False, e


def usable(a, shape, kinds="fiu") -> bool:
    """Whether a layer must accept ``a`` as an input of ``shape``."""
    return isinstance(a, np.ndarray) and a.dtype.kind in kinds and a.shape == tuple(shape) and a.size > 0


def close(got, want, dtype) -> None:
    """got equals the float64 oracle within the dtype's tolerance, wherever the oracle is finite."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    finite = np.isfinite(want)
    if finite.all():
        assert naive.rel_err(got, want) <= 50 * TOL[np.dtype(dtype).type]
    else:
        assert np.isfinite(got[finite]).all() or not finite.any()  # non-finite inputs may spread; never garbage


CELLS = {TimeRNN: (1, naive.rnn_forward), TimeLSTM: (4, naive.lstm_forward), TimeGRU: (3, naive.gru_forward)}


@CASES
@given(st.data())
def test_recurrent_layers(data):
    count("recurrent")
    cls = data.draw(st.sampled_from(list(CELLS)))
    G, forward = CELLS[cls]
    dtype = data.draw(st.sampled_from(FLOATS))
    N, T, D, H = (data.draw(st.integers(1, n)) for n in (5, 4, 4, 5))
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    Wx, Wh, b = ((rng.standard_normal(s) * 0.5).astype(dtype) for s in [(D, G * H), (H, G * H), (G * H,)])
    layer = cls(Wx, Wh, b, stateful=data.draw(st.booleans()))
    layer.groups = data.draw(st.sampled_from([1, 2]))
    xs = data.draw(array(data.draw(shape_near((N, T, D)))))
    ok, hs = attempt(layer.forward, xs)
    assert ok == (usable(xs, xs.shape) and xs.ndim == 3 and xs.shape[2] == D)
    if not ok:
        assert "xs" in str(hs)
        return
    zeros = np.zeros((xs.shape[0], H))
    x64 = xs.astype(dtype).astype(np.float64)
    want = forward(x64, Wx, Wh, b, zeros, zeros)[0] if cls is TimeLSTM else forward(x64, Wx, Wh, b, zeros)
    close(hs, want, dtype)
    dhs = data.draw(array(data.draw(shape_near(hs.shape))))
    ok, dxs = attempt(layer.backward, dhs)
    assert ok == usable(dhs, hs.shape)
    if ok:
        assert dxs.shape == xs.shape and dxs.dtype == dtype and all(g.dtype == dtype for g in layer.grads)
    else:
        assert "dhs" in str(dxs)


@CASES
@given(st.data())
def test_single_steps(data):
    count("steps")
    cls, G = data.draw(st.sampled_from([(RNN, 1), (LSTM, 4), (GRU, 3)]))
    N, D, H = (data.draw(st.integers(1, n)) for n in (4, 4, 4))
    rng = np.random.default_rng(0)
    params = [(rng.standard_normal(s) * 0.5).astype(np.float32) for s in [(D, G * H), (H, G * H), (G * H,)]]
    cell = cls(*params)
    x = data.draw(array(data.draw(shape_near((N, D)))))
    h = data.draw(array(data.draw(shape_near((N, H)))))
    args = (x, h, np.zeros((N, H), np.float32)) if cls is LSTM else (x, h)
    ok, out = attempt(cell.forward, *args)
    rows = x.shape[0] if x.ndim == 2 else -1
    must = usable(x, (rows, D)) and usable(h, (rows, H)) and (cls is not LSTM or rows == N)
    assert ok == must
    if not ok:
        assert any(n in str(out) for n in ("x", "h_prev", "c_prev"))


@CASES
@given(st.data())
def test_embedding(data):
    count("embedding")
    V, D = data.draw(st.integers(1, 20)), data.draw(st.integers(1, 4))
    W = np.random.default_rng(0).standard_normal((V, D)).astype(np.float32)
    layer = TimeEmbedding(W)
    layer.groups = data.draw(st.sampled_from([1, 2]))
    ids = data.draw(array(data.draw(shape_near((3, 4))), low=-3, high=V + 3))
    ok, out = attempt(layer.forward, ids)
    valid = usable(ids, ids.shape, "iu") and ids.ndim == 2 and ((ids >= 0) & (ids < V)).all()
    assert ok == valid
    if not ok:
        assert "xs" in str(out)
        return
    np.testing.assert_array_equal(out, W[ids])
    dout = data.draw(array(data.draw(shape_near(out.shape)), dtypes=FLOATS, nonfinite=False))
    ok, _ = attempt(layer.backward, dout)
    assert ok == usable(dout, out.shape)
    if ok:
        close(layer.grads[0], naive.embedding_backward(ids, dout.astype(np.float32), V), np.float32)


@CASES
@given(st.data())
def test_affine_and_softmax_loss(data):
    count("affine_softmax")
    N, T, D, V = (data.draw(st.integers(1, n)) for n in (3, 3, 4, 12))
    rng = np.random.default_rng(1)
    W = rng.standard_normal((D, V)).astype(np.float32)
    W = view(W, data.draw(st.sampled_from(["C", "F", "strided"])))
    layer = TimeAffine(W, rng.standard_normal(V).astype(np.float32))
    x = data.draw(array(data.draw(shape_near((N, T, D)))))
    ok, scores = attempt(layer.forward, x)
    assert ok == (usable(x, x.shape) and x.ndim == 3 and x.shape[2] == D)
    if not ok:
        return
    close(scores, x.astype(np.float32).astype(np.float64) @ W + layer.params[1], np.float32)
    loss_layer = TimeSoftmaxWithLoss()
    ts = data.draw(array(data.draw(shape_near(scores.shape[:2])), dtypes=[np.int64, np.int32, np.float32],
                         low=-2, high=V + 1))
    scores = np.clip(np.nan_to_num(scores), -1e4, 1e4).astype(np.float32)  # losses that float32 can hold
    ok, loss = attempt(loss_layer.forward, scores, ts)
    one_hot = usable(ts, scores.shape) and ts.ndim == 3  # rows of scores per label: their argmax is the id
    if one_hot:
        ts = ts.argmax(axis=2)
    good = one_hot or usable(ts, scores.shape[:2], "iu") and (((ts >= 0) & (ts < V)) | (ts == -1)).all()
    assert ok == good
    if ok:
        want, dx = naive.softmax_cross_entropy(scores, ts)
        assert loss == pytest.approx(want, rel=1e-4, abs=1e-5)
        close(loss_layer.backward(), dx, np.float32)
    else:
        assert "ts" in str(loss)


@CASES
@given(st.data())
def test_models(data):
    count("models")
    cls = data.draw(st.sampled_from([SimpleRnnlm, Rnnlm, BetterRnnlm]))
    V = data.draw(st.integers(2, 15))
    np.random.seed(0)
    model = cls(V, 4, 4)
    shape = data.draw(shape_near((2, 3)))
    xs = data.draw(array(shape, low=-2, high=V + 1))
    ts = data.draw(array(data.draw(st.sampled_from([shape, (2, 3)])), low=-2, high=V + 1))
    kwargs = {"train_flg": False} if cls is BetterRnnlm else {}
    ok, loss = attempt(lambda: model.forward(xs, ts, **kwargs))
    good_x = usable(xs, xs.shape, "iu") and xs.ndim == 2 and ((xs >= 0) & (xs < V)).all()
    good_t = good_x and usable(ts, xs.shape, "iu") and (((ts >= 0) & (ts < V)) | (ts == -1)).all()
    assert ok == good_t
    if ok:
        p = [q.astype(np.float64) for q in model.params]
        kind = "rnn" if cls is SimpleRnnlm else "lstm"
        cells = [(kind, *p[1:4])] + ([("lstm", *p[4:7])] if cls is BetterRnnlm else [])
        W, b = (p[0].T, p[-1]) if cls is BetterRnnlm else (p[-2], p[-1])
        assert loss == pytest.approx(naive.language_model_loss(p[0], cells, W, b, xs, ts)[0], rel=1e-4, abs=1e-6)
        model.backward()
        assert all(np.isfinite(g).all() for g in model.grads)
    else:
        assert ("xs" if not good_x else "ts") in str(loss)


@CASES
@given(st.data())
def test_other_time_layers(data):
    count("other_layers")
    which = data.draw(st.sampled_from(["dropout", "sigmoid", "bilstm"]))
    if which == "dropout":
        ratio = data.draw(st.floats(0, 0.95))
        layer = TimeDropout(ratio, seed=data.draw(st.integers(0, 9)))
        xs = data.draw(array(data.draw(shape_near((2, 3, 4)))))
        ok, out = attempt(layer.forward, xs)
        assert ok == (isinstance(xs, np.ndarray) and xs.dtype in (np.float32, np.float64))
        if ok:
            kept = out != 0
            np.testing.assert_allclose(out[kept & np.isfinite(xs)], (xs / (1 - ratio))[kept & np.isfinite(xs)],
                                       rtol=1e-6)
    elif which == "sigmoid":
        layer = TimeSigmoidWithLoss()
        xs = data.draw(array(data.draw(shape_near((2, 3))), dtypes=FLOATS, nonfinite=False, low=-50, high=50))
        ts = data.draw(array(data.draw(st.sampled_from([xs.shape, (2, 3)])), dtypes=[np.int64], low=-1, high=2))
        ok, loss = attempt(layer.forward, xs, ts)
        good = usable(xs, xs.shape) and xs.ndim == 2 and usable(ts, xs.shape, "iu") and ((ts == 0) | (ts == 1)).all()
        assert ok == good
        if ok:
            x = xs.astype(np.float64)
            assert loss == pytest.approx(np.mean(np.logaddexp(0, np.where(ts == 1, -x, x))), rel=1e-4, abs=1e-6)
    else:
        rng = np.random.default_rng(2)
        params = [(rng.standard_normal(s) * 0.5).astype(np.float32) for s in [(3, 8), (2, 8), (8,)] * 2]
        layer = TimeBiLSTM(*params)
        xs = data.draw(array(data.draw(shape_near((2, 3, 3)))))
        ok, out = attempt(layer.forward, xs)
        assert ok == (usable(xs, xs.shape) and xs.ndim == 3 and xs.shape[2] == 3)
        if ok:
            assert out.shape == xs.shape[:2] + (4,)


@CASES
@given(st.data())
def test_optimizers_and_clipping(data):
    count("optimizers")
    make = data.draw(st.sampled_from([optimizer.SGD, optimizer.Momentum, optimizer.Nesterov, optimizer.AdaGrad,
                                      optimizer.RMSprop, optimizer.Adam]))
    shape = data.draw(st.sampled_from([(3,), (4, 5), (200, 180)]))  # (200, 180): the fused kernels' path
    dtype = data.draw(st.sampled_from(FLOATS))
    rng = np.random.default_rng(3)
    p = view(rng.standard_normal(shape).astype(dtype), data.draw(st.sampled_from(["C", "F", "strided"])))
    g = view(rng.standard_normal(data.draw(shape_near(shape)) if data.draw(st.booleans()) else shape).astype(dtype),
             data.draw(st.sampled_from(["C", "F", "strided"])))
    before = p.astype(np.float64)
    ok, err = attempt(make().update, [p], [g])
    assert ok == (g.shape == p.shape)
    if ok and make is optimizer.SGD:
        close(p, before - 0.01 * g, dtype)
    elif not ok:
        assert "grads[0]" in str(err) or "params" in str(err)
    grads = [rng.standard_normal(shape).astype(dtype) * data.draw(st.sampled_from([1e-3, 1.0, 1e3]))]
    if data.draw(st.booleans()):
        grads[0].flat[0] = data.draw(st.sampled_from([np.nan, np.inf]))
    g64 = grads[0].astype(np.float64)
    norm = clip_grads(grads, 0.5)
    if np.isfinite(g64).all():
        want = np.sqrt(np.sum(g64 ** 2))
        assert norm == pytest.approx(want, rel=1e-4)
        close(grads[0], g64 * min(1.0, 0.5 / (want + 1e-6)), dtype)
    else:
        assert not np.isfinite(norm)  # reported, the grads left as they were
        np.testing.assert_array_equal(grads[0][np.isfinite(g64)], g64[np.isfinite(g64)].astype(dtype))


@CASES
@given(st.data())
def test_basic_layers(data):
    count("basic_layers")
    which = data.draw(st.sampled_from(["Affine", "MatMul", "Softmax", "SoftmaxWithLoss", "Sigmoid"]))
    rng = np.random.default_rng(4)
    W, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    x = data.draw(array(data.draw(shape_near((2, 3))), nonfinite=False))
    if which in ("Affine", "MatMul"):
        layer = layers.Affine(W, b) if which == "Affine" else layers.MatMul(W)
        ok, out = attempt(layer.forward, x)
        good = x.dtype.kind in "fiu" and x.shape[-1:] == (3,) and (which == "MatMul" or x.ndim == 2)
        assert ok == good
        if ok and x.size:
            close(out, x.astype(np.float64) @ W + (b if which == "Affine" else 0), np.float64)
    elif which == "SoftmaxWithLoss":
        t = data.draw(array((x.shape[0],) if x.ndim else (1,), dtypes=[np.int64], low=-1, high=4))
        ok, loss = attempt(layers.SoftmaxWithLoss().forward, x, t)
        if ok:
            assert np.isfinite(loss) and x.ndim == 2 and ((t >= 0) & (t < x.shape[1])).all()
    else:
        layer = getattr(layers, which)()
        ok, out = attempt(layer.forward, x)
        assert ok == (isinstance(x, np.ndarray) and x.dtype.kind in "fiu")


@CASES
@given(st.binary(max_size=400) | st.text(max_size=200).map(lambda t: t.encode("utf-8")))
def test_text_loader_on_any_bytes(tmp_path_factory, content):
    count("text_loader")
    d = tmp_path_factory.mktemp("bytes")
    (d / "t.txt").write_bytes(content)
    try:
        words = content.decode("utf-8").removeprefix("\ufeff").replace("\n", " <eos> ").split()  # the documented rule
        text_ok = b"\0" not in content
    except UnicodeDecodeError:
        words, text_ok = [], False
    ok, result = attempt(text.load_data, d / "t.txt", "train", None, None, None, 1, d / "cache", False)
    assert ok == (text_ok and bool(words)), (content, result)
    if ok:
        corpus, word_to_id, _ = result
        np.testing.assert_array_equal(corpus, [word_to_id[w] for w in words])
    else:
        assert isinstance(result, text.CorpusError)


@pytest.fixture(scope="module")
def params_bytes(tmp_path_factory):
    np.random.seed(0)
    model = Rnnlm(12, 3, 3)
    path = tmp_path_factory.mktemp("p") / "m.npz"
    save_params(path, model.params, "Rnnlm", words=[f"w{i}" for i in range(11)] + ["<unk>"])
    pkl = pickle.dumps([p.astype(np.float16) for p in model.params])
    return model, path.read_bytes(), pkl


@CASES
@given(st.data())
def test_corrupted_params_files(tmp_path_factory, params_bytes, data):
    count("params_files")
    model, npz, pkl = params_bytes
    original = data.draw(st.sampled_from([npz, pkl]))
    raw = bytearray(original)
    how = data.draw(st.sampled_from(["truncate", "flip", "both"]))
    if how in ("truncate", "both"):
        raw = raw[:data.draw(st.integers(0, len(raw)))]
    if how in ("flip", "both") and raw:
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] = data.draw(st.integers(0, 255))
    path = tmp_path_factory.mktemp("c") / ("m.pkl" if original is pkl else "m.npz")
    path.write_bytes(bytes(raw))
    try:
        stored = read_params(path)
    except (ParamsError, pickle.UnpicklingError) as e:
        assert str(path) in str(e) or "refused" in str(e)
        return
    target = Rnnlm(12, 3, 3)
    try:
        target.load_params(path)
    except ValueError as e:
        assert str(path) in str(e) or "params" in str(e)
        return
    assert len(stored.arrays) == len(model.params)  # what loaded is whole: the same shapes


@CASES
@given(st.lists(st.tuples(st.text("0123456789+ ", min_size=0, max_size=6), st.text("0123456789 ", max_size=4)),
                min_size=0, max_size=12), st.booleans())
def test_sequence_loader_on_generated_files(tmp_path_factory, pairs, underscore):
    count("sequence_loader")
    path = tmp_path_factory.mktemp("s") / "seq.txt"
    lines = [q + ("_" if underscore else "") + a for q, a in pairs]
    path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    saved = dict(sequence.char_to_id), dict(sequence.id_to_char)
    try:
        ok, result = attempt(sequence.load_data, str(path), None)
    finally:
        sequence.char_to_id.clear(), sequence.id_to_char.clear()
        sequence.char_to_id.update(saved[0]), sequence.id_to_char.update(saved[1])
    equal = len({len(q) for q, _ in pairs}) <= 1 and len({len(a) for _, a in pairs}) <= 1
    assert ok == (bool(lines) and underscore and equal)
    if ok:
        (x_train, t_train), (x_test, t_test) = result
        assert len(x_train) + len(x_test) == len(lines) and len(x_test) == len(lines) // 10
