import re
import subprocess
import sys

import numpy as np

from fastrnn import SimpleRnnlm


def test_train_short_run_writes_params_and_plot(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "fastrnn", "train", "--model", "simple", "--epochs", "1", "--max-iters", "12",
         "--eval-interval", "4", "--wordvec-size", "16", "--hidden-size", "16", "--out", str(tmp_path),
         "--no-progress"], capture_output=True, text=True, check=True).stdout
    valid = float(re.search(r"^valid perplexity: ([\d.]+)$", out, re.M).group(1))
    test = float(re.search(r"^test perplexity: ([\d.]+)$", out, re.M).group(1))
    assert 100 < test < 10_000 and 100 < valid < 10_000
    assert (tmp_path / "ppl.png").stat().st_size > 0
    model = SimpleRnnlm(10_000, 16, 16)
    model.load_params(tmp_path / "params.npz")
    assert np.isfinite(model.params[0]).all()


def test_bad_option_is_a_usage_error():
    run = subprocess.run([sys.executable, "-m", "fastrnn", "train", "--lr", "-3"], capture_output=True, text=True)
    assert run.returncode == 2 and "expected a number > 0" in run.stderr


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "fastrnn", *args], capture_output=True, text=True, check=True).stdout


def test_better_short_run_keeps_best_params_and_generates(tmp_path):
    out = run_cli("train", "--model", "better", "--epochs", "2", "--max-iters", "3", "--eval-interval", "2",
                  "--wordvec-size", "24", "--hidden-size", "24", "--out", str(tmp_path), "--no-progress")
    valids = [float(v) for v in re.findall(r"^epoch \d: valid perplexity ([\d.]+)", out, re.M)]
    assert len(valids) == 2
    assert float(re.search(r"^valid perplexity: ([\d.]+)$", out, re.M).group(1)) == min(valids)
    assert 100 < float(re.search(r"^test perplexity: ([\d.]+)$", out, re.M).group(1)) < 10_000
    from fastrnn import BetterRnnlm
    model = BetterRnnlm(10_000, 24, 24)
    model.load_params(tmp_path / "params.npz")
    text = run_cli("generate", str(tmp_path / "params.npz"), "--start", "the", "--length", "12", "--seed", "1")
    words = text.split()
    assert words[0] == "the" and len([w for w in words if w != "."]) >= 8
    assert text == run_cli("generate", str(tmp_path / "params.npz"), "--start", "the", "--length", "12",
                           "--seed", "1")  # seeded sampling


def test_rnnlm_is_the_default_model(tmp_path):
    out = run_cli("train", "--epochs", "1", "--max-iters", "2", "--no-progress", "--eval-interval", "1")
    assert out.startswith("training Rnnlm") and "lr 20.0" in out and "D=100, H=100" in out
