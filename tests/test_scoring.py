"""Scoring lines (fastrnn.scoring and fastrnn score): each line's log-probabilities
against a float64 oracle, batched equal to one line at a time."""
import numpy as np
import pytest

import naive
from cli_support import SMALL, fastrnn, markov_files, text_args
from fastrnn import BetterRnnlm, Rnnlm
from fastrnn.scoring import line_log_probs


def random_lines(rng, V, count=9):
    return [rng.integers(0, V, size=n) for n in rng.integers(0, 30, size=count)] + [rng.integers(0, V, size=80), []]


def test_each_line_against_the_float64_oracle():
    """Rnnlm: log p of each token, from a fresh state after an <eos>, written from the
    formulas (embedding, LSTM, affine, log-softmax) in float64."""
    rng = np.random.default_rng(0)
    np.random.seed(0)
    V, eos = 23, 4
    model = Rnnlm(V, 6, 8)
    E, Wx, Wh, b, W, bias = [p.astype(np.float64) for p in model.params]
    lines = random_lines(rng, V)
    got = line_log_probs(model, lines, eos, batch_size=3, time_size=7)  # batches of 3, long lines in 7-step pieces
    for line, logp in zip(lines, got):
        xs = np.array([[eos, *line]])
        ts = np.array([[*line, eos]])
        hs, _ = naive.lstm_forward(E[xs], Wx, Wh, b, np.zeros((1, 8)), np.zeros((1, 8)))
        want = np.take_along_axis(naive.log_softmax(hs[0] @ W + bias), ts.T, axis=1)[:, 0]
        assert logp.shape == (len(line) + 1,)
        np.testing.assert_allclose(logp, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("head", ["full", "adaptive"])
def test_batched_equals_one_line_at_a_time_and_the_training_loss(head):
    rng = np.random.default_rng(1)
    np.random.seed(1)
    V, eos = 40, 0
    kwargs = {"head": "adaptive", "cutoffs": [10, 25]} if head == "adaptive" else {}
    model = BetterRnnlm(V, 8, 8, 0.5, **kwargs)
    lines = random_lines(rng, V)
    batched = line_log_probs(model, lines, eos, batch_size=4, time_size=9)
    for line, logp in zip(lines, batched):
        alone = line_log_probs(model, [line], eos, batch_size=1)[0]
        np.testing.assert_allclose(logp, alone, rtol=1e-5, atol=1e-6)
        model.reset_state()  # the training loss (fused softmax + cross-entropy), no dropout
        loss = model.forward(np.array([[eos, *line]]), np.array([[*line, eos]]), train_flg=False)
        assert -logp.mean() == pytest.approx(loss, rel=1e-5)


def test_bad_arguments():
    model = Rnnlm(10, 3, 3)
    with pytest.raises(ValueError, match="batch_size"):
        line_log_probs(model, [[1]], 0, batch_size=0)
    with pytest.raises(ValueError):
        line_log_probs(model, [[1, 10]], 0)  # an id outside the vocabulary


def test_fastrnn_score_file_equals_its_lines_scored_one_by_one(tmp_path):
    files = markov_files(tmp_path, sizes=(8_000, 600, 600))
    fastrnn("train", *text_args(files, tmp_path / "cache"), *SMALL, "--epochs", 1, "--out", tmp_path / "run")
    params = tmp_path / "run" / "params.npz"
    lines = files["test"].read_text().split("\n")[:40] + ["", "w1 zebra w2", "w3 " * 60]
    whole = tmp_path / "lines.txt"
    whole.write_text("\n".join(lines) + "\n")
    run = fastrnn("score", params, whole, "--batch-size", 7)
    rows = [r.split("\t") for r in run.stdout.strip("\n").split("\n")]
    assert len(rows) == len(lines) and [r[3] for r in rows] == lines
    for k in (0, 5, 40, 41, 42):
        one = tmp_path / f"line{k}.txt"
        one.write_text(lines[k] + "\n")
        alone = fastrnn("score", params, one).stdout.split("\t")
        assert float(rows[k][0]) == pytest.approx(float(alone[0]), rel=1e-5, abs=1e-4)
        assert int(rows[k][2]) == len(lines[k].split()) + 1
    per_word = fastrnn("score", params, whole, "--per-word").stdout.strip("\n").split("\n")
    for row, detail in zip(rows, per_word):
        pairs = detail.split("\t")[3].split(" ")
        assert sum(float(p.rsplit("=", 1)[1]) for p in pairs) == pytest.approx(float(row[0]), abs=1e-3)
        assert pairs[-1].startswith("<eos>=")
    assert "w1 zebra w2" in run.stdout and "<unk>=" in per_word[41]
    total = sum(float(r[0]) for r in rows)
    assert f"{len(lines)} lines" in run.stderr and f"log-probability {total:.1f}" in run.stderr.replace(
        f"{total:.4f}", f"{total:.1f}")
    piped = fastrnn("score", params, "-", input=whole.read_text())
    assert piped.stdout == run.stdout
    binary = tmp_path / "bad.txt"
    binary.write_bytes(b"w1 w2\n\xff\xfe\n")
    bad = fastrnn("score", params, binary, check=False)
    assert bad.returncode == 2 and bad.stderr.strip() == f"fastrnn score: error: {binary} is not UTF-8 text (line 2)"
