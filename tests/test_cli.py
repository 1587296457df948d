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
