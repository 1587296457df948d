"""What the book's chapter 5-8 code imports from the reference's common/ and dataset/,
from fastrnn: names, semantics against float64 oracles, and the trainer's loop."""
import pickle
from pathlib import Path

import numpy as np
import pytest

import naive
from fastrnn import config, functions, layers, time_layers, util
from fastrnn.base_model import BaseModel
from fastrnn.datasets import sequence
from fastrnn.optimizer import SGD
from fastrnn.trainer import Trainer
from support import TOL, randn

REFERENCE_TIME_LAYERS = {  # what `from common.time_layers import *` gives (the interface)
    "np", "GPU", "softmax", "sigmoid", "cross_entropy_error", "MatMul", "Affine", "Softmax", "SoftmaxWithLoss",
    "Sigmoid", "SigmoidWithLoss", "Dropout", "Embedding", "RNN", "TimeRNN", "LSTM", "TimeLSTM", "GRU", "TimeGRU",
    "TimeBiLSTM", "TimeDropout", "TimeEmbedding", "TimeAffine", "TimeSoftmaxWithLoss", "TimeSigmoidWithLoss",
    "Simple_TimeAffine", "Simple_TimeSoftmaxWithLoss"}
REFERENCE_LAYERS = {"np", "GPU", "softmax", "cross_entropy_error", "MatMul", "Affine", "Softmax", "SoftmaxWithLoss",
                    "Sigmoid", "SigmoidWithLoss", "Dropout", "Embedding"}
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "sequence"


def star(module) -> set:
    namespace = {}
    exec(f"from {module} import *", namespace)
    return set(namespace) - {"__builtins__"}


def test_star_imports_give_the_reference_names():
    assert REFERENCE_TIME_LAYERS <= star("fastrnn.time_layers")
    assert REFERENCE_LAYERS <= star("fastrnn.layers")
    assert {"np", "GPU"} <= star("fastrnn.np")
    assert {"sigmoid", "relu", "softmax", "cross_entropy_error"} <= star("fastrnn.functions")
    assert time_layers.np is np and config.GPU is False
    assert time_layers.TimeLSTM.__module__ == "fastrnn.layers.lstm"  # the fused layers, not copies


def test_functions_against_formulas(rng):
    x2, x1 = rng.standard_normal((4, 7)) * 30, rng.standard_normal(5) * 30
    for x in (x2, x1):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        np.testing.assert_allclose(functions.softmax(x), e / e.sum(axis=-1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(functions.sigmoid(x1), 1 / (1 + np.exp(-x1)), rtol=1e-12)
    np.testing.assert_array_equal(functions.relu(x1), np.where(x1 > 0, x1, 0))
    y = functions.softmax(x2)
    t = rng.integers(0, 7, 4)
    want = -np.mean(np.log(y[np.arange(4), t] + 1e-7))
    assert functions.cross_entropy_error(y, t) == pytest.approx(want, rel=1e-12)
    assert functions.cross_entropy_error(y, np.eye(7)[t]) == pytest.approx(want, rel=1e-12)
    assert functions.cross_entropy_error(y[1], t[1:2]) == pytest.approx(-np.log(y[1, t[1]] + 1e-7), rel=1e-12)


def finite_difference_check(forward, backward, x, dout):
    """backward(dout) against central differences of sum(forward(x) * dout) (float64)."""
    forward(x)
    got = backward(dout)
    want = naive.numerical_grad(lambda: float(np.sum(forward(x) * dout)), x)
    assert naive.rel_err(got, want) <= 1e-7


def test_matmul_and_affine(rng):
    W, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    x, dout = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    for layer, params in ((layers.MatMul(W), [W]), (layers.Affine(W, b), [W, b])):
        assert layer.params[0] is W and all(g.shape == p.shape for g, p in zip(layer.grads, params))
        out = layer.forward(x)
        np.testing.assert_allclose(out, x @ W + (b if len(params) == 2 else 0), rtol=1e-12)
        grads = [g for g in layer.grads]
        np.testing.assert_allclose(layer.backward(dout), dout @ W.T, rtol=1e-12)
        assert all(g is h for g, h in zip(layer.grads, grads))  # written in place
        np.testing.assert_allclose(layer.grads[0], x.T @ dout, rtol=1e-12)
        if len(params) == 2:
            np.testing.assert_allclose(layer.grads[1], dout.sum(axis=0), rtol=1e-12)
        finite_difference_check(layer.forward, layer.backward, x, dout)
    with pytest.raises(ValueError, match=r"x must have shape \(\*, 4\)"):
        layers.Affine(W, b).forward(np.zeros((2, 5)))
    with pytest.raises(RuntimeError, match="Affine.backward called before forward"):
        layers.Affine(W, b).backward(dout)


def test_softmax_and_sigmoid_layers(rng):
    x, dout = rng.standard_normal((3, 6)), rng.standard_normal((3, 6))
    s = layers.Softmax()
    finite_difference_check(s.forward, s.backward, x, dout)
    g = layers.Sigmoid()
    finite_difference_check(g.forward, g.backward, x, dout)


@pytest.mark.parametrize("one_hot", [False, True])
def test_softmax_with_loss(rng, one_hot):
    x = rng.standard_normal((5, 4))
    t = rng.integers(0, 4, 5)
    layer = layers.SoftmaxWithLoss()
    labels = np.eye(4)[t] if one_hot else t
    loss = layer.forward(x, labels)
    p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(5), t] + 1e-7)), rel=1e-12)
    np.testing.assert_allclose(layer.backward(2.0), (p - np.eye(4)[t]) * 2.0 / 5, rtol=1e-10)
    with pytest.raises(ValueError, match=r"t holds word id 4, outside \[0, 4\)"):
        layer.forward(x, np.full(5, 4))


def test_sigmoid_with_loss(rng):
    x, t = rng.standard_normal(6), rng.integers(0, 2, 6)
    layer = layers.SigmoidWithLoss()
    y = 1 / (1 + np.exp(-x))
    want = -np.mean(np.log(np.where(t == 1, y, 1 - y) + 1e-7))
    assert layer.forward(x, t) == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(layer.backward(), (y - t) / 6, rtol=1e-12)


def test_dropout_is_the_references(rng):
    x = rng.standard_normal((40, 50))
    layer = layers.Dropout(0.3)
    np.random.seed(7)
    out = layer.forward(x)
    np.random.seed(7)
    mask = np.random.rand(40, 50) > 0.3  # the reference's draw from NumPy's global generator
    np.testing.assert_array_equal(out, x * mask)
    np.testing.assert_array_equal(layer.backward(x), x * mask)
    np.testing.assert_allclose(layer.forward(x, train_flg=False), x * 0.7)


def test_simple_time_layers(rng):
    N, T, D, M = 3, 4, 5, 6
    W, b = randn(rng, (D, M), np.float32), randn(rng, (M,), np.float32)
    xs, dout = randn(rng, (N, T, D), np.float32), randn(rng, (N, T, M), np.float32)
    affine = time_layers.Simple_TimeAffine(W, b)
    assert naive.rel_err(affine.forward(xs), xs.astype(np.float64) @ W + b) <= TOL[np.float32]
    assert naive.rel_err(affine.backward(dout), dout.astype(np.float64) @ W.T.astype(np.float64)) <= TOL[np.float32]
    assert naive.rel_err(affine.dW, np.einsum("ntd,ntm->dm", xs.astype(np.float64), dout)) <= TOL[np.float32]
    assert naive.rel_err(affine.db, dout.astype(np.float64).sum(axis=(0, 1))) <= TOL[np.float32]
    loss_layer = time_layers.Simple_TimeSoftmaxWithLoss()
    scores, ts = rng.standard_normal((N, T, M)), rng.integers(0, M, (N, T))
    p = np.exp(scores) / np.exp(scores).sum(axis=2, keepdims=True)
    want = np.mean([-np.mean(np.log(p[np.arange(N), t, ts[:, t]] + 1e-7)) for t in range(T)])
    assert loss_layer.forward(scores, ts) == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(loss_layer.backward(), (p - np.eye(M)[ts]) / (N * T), rtol=1e-10)


class RecordingModel:
    """Loss = the mean of the batch's x, so the reported losses reveal the batches."""

    def __init__(self):
        self.params, self.grads, self.batches = [np.zeros(2)], [np.zeros(2)], []

    def forward(self, x, t):
        self.batches.append(x.copy())
        return float(x.mean())

    def backward(self, dout=1):
        return None


def test_trainer_follows_the_reference_loop(capsys):
    x, t = np.arange(10.0), np.arange(10)
    model = RecordingModel()
    np.random.seed(3)
    Trainer(model, SGD(0.1)).fit(x, t, max_epoch=2, batch_size=3, eval_interval=2, progress=False)
    np.random.seed(3)
    expected = []
    xs = x
    for _ in range(2):
        xs = xs[np.random.permutation(np.arange(10))]  # each epoch permutes the already permuted data
        expected += [xs[i * 3:(i + 1) * 3] for i in range(3)]
    for got, want in zip(model.batches, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    lines = capsys.readouterr().out.splitlines()
    m = [batch.mean() for batch in expected]  # each report: the mean loss since the last one
    assert [line.split("| loss ")[1] for line in lines] == [f"{v:.2f}" for v in (m[0], (m[1] + m[2]) / 2, m[3],
                                                                                  (m[4] + m[5]) / 2)]
    assert lines[0].startswith("| epoch 1 |  iter 1 / 3 | time 0[s] | loss ")
    assert lines[1].startswith("| epoch 1 |  iter 3 / 3 |") and lines[2].startswith("| epoch 2 |  iter 1 / 3 |")


def test_base_model_files(tmp_path, monkeypatch):
    class Net(BaseModel):
        def __init__(self):
            self.params = [np.arange(6, dtype="f").reshape(2, 3), np.ones(3, "f")]
            self.grads = [np.zeros_like(p) for p in self.params]

    monkeypatch.chdir(tmp_path)
    a, b = Net(), Net()
    a.params[0] += 1.5
    a.save_params()
    assert (tmp_path / "Net.npz").exists()
    ids = [id(p) for p in b.params]
    b.load_params()
    assert [id(p) for p in b.params] == ids
    np.testing.assert_array_equal(b.params[0], a.params[0])
    with open("Net.pkl", "wb") as f:  # the reference's own format: float16, pickled
        pickle.dump([p.astype(np.float16) + 1 for p in a.params], f)
    b.load_params("Net.pkl")
    np.testing.assert_array_equal(b.params[0], a.params[0].astype(np.float16) + 1)
    with pytest.raises(NotImplementedError):
        BaseModel().forward()


class Echo:
    def __init__(self, answer):
        self.answer = answer

    def generate(self, xs, start_id, sample_size):
        assert start_id == 9
        return self.answer[:sample_size]


def test_eval_seq2seq_output(capsys, monkeypatch):
    id_to_char = {0: "1", 1: "+", 2: "2", 3: " ", 4: "3", 9: "_"}
    question, correct = np.array([[2, 1, 0]]), np.array([[9, 4, 3]])
    assert util.eval_seq2seq(Echo([4, 3]), question, correct, id_to_char, verbose=True, is_reverse=True) == 1
    assert capsys.readouterr().out == "Q 1+2\nT 3 \n\033[92m\u2611\033[0m 3 \n---\n"
    assert util.eval_seq2seq(Echo([0, 3]), question, correct, id_to_char, verbose=True) == 0
    assert capsys.readouterr().out == "Q 2+1\nT 3 \n\033[91m\u2612\033[0m 1 \n---\n"
    monkeypatch.setattr(util.os, "name", "nt")
    util.eval_seq2seq(Echo([0, 3]), question, correct, id_to_char, verbose=True)
    assert capsys.readouterr().out.splitlines()[2] == "X 1 "
    assert util.to_gpu(question) is question and util.to_cpu(question) is question


def sequence_oracle(path: Path, seed: int):
    """The loader's rules (../shared/data/sequence/README.md), written out."""
    lines = path.read_text().splitlines()
    qs = [line[:line.index("_")] for line in lines]
    ans = [line[line.index("_"):] for line in lines]
    vocab = {}
    for q, a in zip(qs, ans):
        for c in q + a:
            vocab.setdefault(c, len(vocab))
    x = np.array([[vocab[c] for c in q] for q in qs])
    t = np.array([[vocab[c] for c in a] for a in ans])
    rng_state = np.random.get_state()
    np.random.seed(seed)
    idx = np.arange(len(x))
    np.random.shuffle(idx)
    np.random.set_state(rng_state)
    cut = len(x) - len(x) // 10
    return vocab, (x[idx][:cut], t[idx][:cut]), (x[idx][cut:], t[idx][cut:])


@pytest.mark.skipif(not SHARED.exists(), reason="the shared sequence data is not beside this checkout")
def test_sequence_loader_against_its_rules(monkeypatch):
    monkeypatch.setattr(sequence, "char_to_id", {})
    monkeypatch.setattr(sequence, "id_to_char", {})
    vocab, train, test = sequence_oracle(SHARED / "addition.txt", 1984)
    got_train, got_test = sequence.load_data("addition.txt")
    for got, want in zip((*got_train, *got_test), (*train, *test)):
        np.testing.assert_array_equal(got, want)
    assert got_train[0].shape == (45_000, 7) and got_test[1].shape == (5_000, 5)
    char_to_id, id_to_char = sequence.get_vocab()
    assert char_to_id == vocab and id_to_char == {i: c for c, i in vocab.items()}
    sequence.load_data("date.txt")
    assert len(sequence.get_vocab()[0]) > len(vocab)  # one vocabulary for the process, as the reference's
    with pytest.raises(FileNotFoundError, match="file_name: no file nope.txt"):
        sequence.load_data("nope.txt")
