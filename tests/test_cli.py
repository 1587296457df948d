"""``fastrnn train``, ``eval`` and ``generate`` end to end, as a user runs them."""
import re

import numpy as np
import pytest

from cli_support import SMALL, fastrnn, markov_files, text_args, value
from fastrnn import BetterRnnlm, SimpleRnnlm
from fastrnn.cli import build_parser
from fastrnn.cli.train import config_of
from fastrnn.kernels.gemm import BF16
from fastrnn.params_file import read_params
from naive import language_model_loss

BEST = 2.0
"""The best possible perplexity of the Markov corpus (its entropy rate is log 2)."""


def test_learns_own_text_to_near_its_entropy_and_saved_params_reload(tmp_path):
    files = markov_files(tmp_path)
    out = fastrnn("train", *text_args(files, tmp_path / "cache"), *SMALL, "--epochs", 2, "--out", tmp_path / "run")
    assert out.stdout.count("converted") == 3 and "train.txt: 30,000 words" in out.stdout  # each file once
    test = value("test perplexity", out.stdout)
    assert BEST * 0.98 <= test <= BEST * 1.1, test  # learned the chain (a model that learned nothing: 13)
    stored = read_params(tmp_path / "run" / "params.npz")
    tokens = files["train"].read_text().replace("\n", " <eos> ").split()
    assert stored.model == "Rnnlm" and stored.words == [*dict.fromkeys(tokens), "<unk>"]  # the vocabulary travels
    again = fastrnn("eval", tmp_path / "run" / "params.npz", "--test-file", files["test"], "--cache-dir",
                    tmp_path / "cache")
    assert f"test perplexity: {test:.2f}" in again.stdout
    assert "converted" not in again.stdout  # reused
    text = fastrnn("generate", tmp_path / "run" / "params.npz", "--start", "w3", "--length", 30, "--seed", 2).stdout
    words = text.replace(".", " ").split()
    assert words[0] == "w3" and len(words) == 30 and set(words) <= {f"w{i}" for i in range(12)}
    chain = {f"w{i}": {f"w{(i + 1) % 13}", f"w{(i + 5) % 13}"} for i in range(12)}
    follows = sum(b in chain[a] for a, b in zip(words, words[1:]) if a in chain)
    assert follows >= 0.8 * (len(words) - 1 - text.count("."))  # mostly the chain's transitions


def test_second_run_does_not_convert_and_an_edited_source_converts_again(tmp_path):
    files = markov_files(tmp_path, sizes=(3_000, 600, 600))
    args = (*text_args(files, tmp_path / "cache"), *SMALL, "--epochs", 1, "--max-iters", 3)
    assert fastrnn("train", *args).stdout.count("converted") == 3
    assert "converted" not in fastrnn("train", *args).stdout
    with open(files["valid"], "a", encoding="utf-8") as f:
        f.write("w1 w2\n")
    out = fastrnn("train", *args).stdout
    assert out.count("converted") == 1 and "converted " + str(files["valid"]) in out


def test_better_keeps_its_best_params_and_they_reload_to_its_perplexity(tmp_path):
    files = markov_files(tmp_path)
    out = fastrnn("train", "--model", "better", *text_args(files, tmp_path / "cache"), "--batch-size", 10,
                  "--time-size", 10, "--wordvec-size", 24, "--hidden-size", 24, "--lr", 8, "--epochs", 3,
                  "--max-iters", 40, "--no-progress", "--out", tmp_path / "run", "--dropout", 0.2).stdout
    valids = [float(v) for v in re.findall(r"^epoch \d: valid perplexity ([\d.]+)", out, re.M)]
    assert len(valids) == 3 and value("valid perplexity", out) == min(valids)
    assert value("test perplexity", out) <= BEST * 1.5
    reloaded = fastrnn("eval", tmp_path / "run" / "params.npz", "--test-file", files["valid"],
                       "--cache-dir", tmp_path / "cache").stdout
    assert f"test perplexity: {min(valids):.2f}" in reloaded  # what was saved is the best
    model = BetterRnnlm(13 + 1, 24, 24)
    model.load_params(tmp_path / "run" / "params.npz")
    assert model.params[-2].base is model.params[0]  # still tied after loading


def test_ptb_short_run_writes_params_plot_and_checkpoint(tmp_path):
    out = fastrnn("train", "--model", "simple", "--epochs", 1, "--max-iters", 12, "--eval-interval", 4,
                  "--wordvec-size", 16, "--hidden-size", 16, "--out", tmp_path, "--no-progress").stdout
    assert out.startswith("training SimpleRnnlm on the Penn Treebank (929,589 words, vocabulary 10,000)")
    assert len(re.findall(r"^\| epoch 1 \|  iter \d+ / 12 \| time \d+\[s\] \| perplexity", out, re.M)) == 3
    assert value("test perplexity", out) < 0.5 * 10_000  # 12 steps: learned the word frequencies a little
    assert (tmp_path / "ppl.png").stat().st_size > 0 and (tmp_path / "checkpoint.npz").exists()
    model = SimpleRnnlm(10_000, 16, 16)
    model.load_params(tmp_path / "params.npz")
    ppl = fastrnn("eval", tmp_path / "params.npz").stdout
    assert f"test perplexity: {value('test perplexity', out):.2f}" in ppl


def test_rnnlm_is_the_default_model():
    out = fastrnn("train", "--epochs", 1, "--max-iters", 2, "--no-progress", "--eval-interval", 1).stdout
    assert out.startswith("training Rnnlm on the Penn Treebank") and "lr 20," in out and "D=100, H=100" in out


def test_reference_pickle_evaluates_and_generates(tmp_path):
    np.random.seed(0)
    from fastrnn import Rnnlm
    import pickle
    model = Rnnlm(10_000, 8, 8)
    with open(tmp_path / "Rnnlm.pkl", "wb") as f:
        pickle.dump([p.astype(np.float16) for p in model.params], f)
    out = fastrnn("eval", tmp_path / "Rnnlm.pkl").stdout
    assert "test perplexity:" in out and "(rnnlm," in out
    text = fastrnn("generate", tmp_path / "Rnnlm.pkl", "--start", "the", "--length", 5).stdout
    assert text.split()[0] == "the"


def test_adaptive_head_trains_evaluates_and_generates(tmp_path):
    """An adaptive head on a small vocabulary of the Markov corpus (13 words: a
    shortlist of 4, clusters of 4 and 5) learns it, and its params evaluate to the
    same perplexity and generate text."""
    files = markov_files(tmp_path)
    out = tmp_path / "run"
    run = fastrnn("train", *text_args(files, tmp_path / "cache"), *SMALL, "--epochs", 4, "--head", "adaptive",
                  "--cutoffs", "4,8", "--div-value", "2", "--out", out)
    assert "adaptive softmax (cutoffs 4,8, div value 2)" in run.stdout
    test = value("test perplexity", run.stdout)
    assert test < 2.3  # the best possible is 2.0; a model that learned nothing scores 13
    evaluated = fastrnn("eval", out / "params.npz", "--test-file", files["test"], "--cache-dir", tmp_path / "cache",
                        "--no-progress")
    assert value("test perplexity", evaluated.stdout) == test
    text = fastrnn("generate", out / "params.npz", "--start", "w1", "--length", 30).stdout
    assert text.startswith("w1 ") and len(text.split()) >= 25


def test_generation_controls(tmp_path):
    """Greedy decoding two ways, samples, prompts, seeds and skips with the params'
    own vocabulary."""
    files = markov_files(tmp_path, sizes=(20_000, 2_000, 2_000))
    fastrnn("train", *text_args(files, tmp_path / "cache"), *SMALL, "--epochs", 1, "--out", tmp_path / "run")
    params = tmp_path / "run" / "params.npz"

    def generate(*args):
        return fastrnn("generate", params, *args).stdout

    greedy = generate("--prompt", "w3 w4", "--length", 20, "--temperature", 0, "--seed", 1)
    assert greedy == generate("--prompt", "w3 w4", "--length", 20, "--top-k", 1, "--seed", 2)
    assert greedy.split()[:2] == ["w3", "w4"] and len(greedy.split()) <= 20
    samples = generate("--prompt", "w3 w4", "--length", 15, "--samples", 3, "--seed", 5, "--top-p", 0.9)
    texts = samples.strip().split("\n\n")
    assert len(texts) == 3 and all(t.split()[:2] == ["w3", "w4"] for t in texts)
    assert samples == generate("--prompt", "w3 w4", "--length", 15, "--samples", 3, "--seed", 5, "--top-p", 0.9)
    assert len(set(texts)) > 1
    hot = generate("--start", "w1", "--length", 200, "--temperature", 5, "--skip", "w2,w7", "--seed", 3)
    assert "w2" not in hot.split() and "w7" not in hot.split() and "<unk>" not in hot
    for args, expected in ((("--prompt", "w3 zebra"), "--prompt 'zebra' is not in the vocabulary of"),
                           (("--temperature", "-1"), "argument --temperature: expected a finite number >= 0, got -1"),
                           (("--top-p", "0"), "argument --top-p: expected a number in (0, 1], got 0"),
                           (("--top-k", "0"), "argument --top-k: expected an integer >= 1, got 0"),
                           (("--prompt", "w1 w2", "--length", "2"), "--length 2: the prompt has 2 words already")):
        run = fastrnn("generate", params, *args, check=False)
        assert run.returncode == 2 and expected in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_cells_layers_and_tying_train_evaluate_generate_and_score(tmp_path):
    """--cell/--layers/--tied/--dropout: a preset's structure gives the preset's bits
    (rnnlm's through the generic class), and any other trains, resumes, evaluates,
    generates and scores."""
    files = markov_files(tmp_path, sizes=(8_000, 1_000, 1_000))
    args = (*text_args(files, tmp_path / "cache"), *SMALL, "--epochs", 1)
    fastrnn("train", *args, "--model", "rnnlm", "--out", tmp_path / "rnnlm")
    fastrnn("train", *args, "--model", "simple", "--cell", "lstm", "--out", tmp_path / "generic")
    a, b = read_params(tmp_path / "rnnlm" / "params.npz"), read_params(tmp_path / "generic" / "params.npz")
    assert (a.model, b.model) == ("Rnnlm", "RnnLanguageModel")
    for x, y in zip(a.arrays, b.arrays, strict=True):
        np.testing.assert_array_equal(x, y)
    # AWD-LSTM's test protocol: one stateful pass over the text (batch size 1), in windows of 9 words
    one = fastrnn("eval", tmp_path / "generic" / "params.npz", "--test-file", files["test"], "--cache-dir",
                  tmp_path / "cache", "--batch-size", 1, "--time-size", 9).stdout
    assert ", batch size 1, 9 time steps)" in one
    index = {w: i for i, w in enumerate(b.words)}
    ids = np.array([index[w] for line in files["test"].read_text().splitlines() for w in [*line.split(), "<eos>"]])
    scored = (len(ids) - 1) // 9 * 9
    E, Wx, Wh, bias, W, bW = b.arrays
    loss, _ = language_model_loss(E, [("lstm", Wx, Wh, bias)], W, bW, ids[None, :scored], ids[None, 1:scored + 1])
    assert value("test perplexity", one) == pytest.approx(np.exp(loss), abs=0.006)
    out = tmp_path / "gru"
    run = fastrnn("train", *args, "--cell", "gru", "--layers", 3, "--tied", "--wordvec-size", 32, "--dropout", 0.1,
                  "--out", out)
    assert "RnnLanguageModel (3 GRU layers, tied, dropout 0.1)" in run.stdout
    test = value("test perplexity", run.stdout)
    assert f"test perplexity: {test:.2f} (custom" in fastrnn("eval", out / "params.npz", "--test-file", files["test"],
                                                             "--cache-dir", tmp_path / "cache").stdout
    refused = fastrnn("eval", out / "params.npz", check=False)  # a params file never chooses what eval reads
    assert refused.returncode == 2 and refused.stderr.strip() == (
        f"fastrnn eval: error: {out / 'params.npz'} was trained on {files['train']}: give --test-file (its run's "
        f"test file was {files['test']})")
    assert fastrnn("generate", out / "params.npz", "--start", "w1", "--length", 5).stdout.split()[0] == "w1"
    assert fastrnn("score", out / "params.npz", "-", input="w1 w2\n").stdout.count("\t") == 3
    assert "is complete" in fastrnn("train", "--resume", out).stdout


def test_the_plot_puts_each_report_at_its_iteration(tmp_path, monkeypatch):
    """Reports start again each epoch (13 iterations, every 5th: 1, 6, 11): ppl.png's
    x axis puts the second epoch's at 14, 19, 24."""
    from fastrnn import cli, trainer

    drawn = {}
    monkeypatch.setattr(trainer, "_plot", lambda x, y, *args, **kw: drawn.update(x=list(x), y=list(y)))
    files = markov_files(tmp_path, sizes=(8_000, 1_000, 1_000))
    args = [*text_args(files, tmp_path / "cache"), *SMALL, "--epochs", 2, "--max-iters", 13, "--eval-interval", 5]
    assert cli.main(["train", *map(str, args), "--out", str(tmp_path / "run")]) == 0
    assert drawn["x"] == [1, 6, 11, 14, 19, 24] and len(drawn["y"]) == 6


def test_precision_auto_is_bf16_where_the_cpu_has_it():
    """--precision auto becomes the precision this CPU runs fastest, recorded as such."""
    config = config_of(build_parser().parse_args(["train", "--precision", "auto"]))
    assert config.model.precision == ("bf16" if BF16 else "fp32")
