"""Progress that suits where it goes: report lines into a file or a pipe, a bar on a terminal."""
import fcntl
import os
import pty
import struct
import subprocess
import termios
import sys
import textwrap

import pytest

from cli_support import SMALL, fastrnn, markov_files, text_args

FIT = textwrap.dedent("""
    import numpy as np
    from fastrnn import SimpleRnnlm
    from fastrnn.optimizer import SGD
    from fastrnn.trainer import RnnlmTrainer
    np.random.seed(0)
    corpus = np.tile(np.arange(12), 400)
    RnnlmTrainer(SimpleRnnlm(12, 8, 8), SGD(0.5)).fit(corpus[:-1], corpus[1:], max_epoch=2, batch_size=4,
                                                       time_size=5, eval_interval=40)
""")


def test_a_piped_run_writes_report_lines_without_carriage_returns():
    run = subprocess.run([sys.executable, "-c", FIT], capture_output=True, text=True, timeout=120, check=True)
    assert "\r" not in run.stdout + run.stderr
    assert run.stdout.count("| perplexity ") == 2 * 6 and run.stdout.startswith("| epoch 1 |  iter 1 / 239 |")


def test_the_command_line_piped_to_a_file(tmp_path):
    files = markov_files(tmp_path, sizes=(3_000, 600, 600))
    log = tmp_path / "log.txt"
    args = ("train", *text_args(files, tmp_path / "cache"), *SMALL[:-3], "--epochs", 1, "--eval-interval", 5)
    with open(log, "w") as f:
        subprocess.run([sys.executable, "-m", "fastrnn", *map(str, args)], stdout=f, stderr=subprocess.STDOUT,
                       check=True, timeout=120)
    text = log.read_text()
    assert "\r" not in text and text.count("| perplexity ") == 6 and "test perplexity:" in text


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_a_terminal_gets_a_bar():
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # a terminal's size
    proc = subprocess.Popen([sys.executable, "-c", FIT], stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the process has ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait(timeout=120) == 0
    out = b"".join(chunks).decode()
    assert "\r" in out and "epoch 2:" in out and "/239 [" in out  # tqdm's bar
    assert "| epoch 2 |  iter 201 / 239 |" in out  # report lines stay visible above it
    fastrnn("--help")  # the installed command is there too
