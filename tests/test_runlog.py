"""fastrnn train --log: a record a report and an evaluation, one continuous record
over stops and resumes; fastrnn plot reads it."""
import json
import signal
import subprocess
import time

import pytest

from cli_support import FASTRNN, SMALL, fastrnn, markov_files, text_args
from fastrnn.training import checkpoint
from fastrnn.runlog import read

TIMING = ("elapsed_s", "words_per_s")
"""Fields that differ between two runs of the same training."""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    directory = tmp_path_factory.mktemp("corpus")
    return markov_files(directory, sizes=(20_000, 3_000, 3_000)), directory / "cache"


def without_timing(records):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def test_the_log_holds_what_the_report_lines_say(corpus, tmp_path):
    files, cache = corpus
    log = tmp_path / "logs" / "run.jsonl"
    run = fastrnn("train", *text_args(files, cache), *SMALL, "--model", "better", "--wordvec-size", 32, "--epochs", 2,
                  "--eval-interval", 50, "--log", log)
    records = [json.loads(line) for line in log.read_text().splitlines()]  # every line strict JSON
    train = [r for r in records if r["event"] == "train"]
    printed = [float(x) for x in __import__("re").findall(r"\| perplexity ([\d.]+) \|", run.stdout)]
    assert [round(r["train_ppl"], 2) for r in train] == printed
    assert [r["step"] for r in train] == [1 + 50 * k for k in range(len(train))] or all(
        b["step"] > a["step"] for a, b in zip(train, train[1:]))
    assert all(r["grad_norm"] > 0 and r["lr"] == 2.0 and r["words"] == r["step"] * 100 for r in train)
    valid = [r for r in records if r["event"] == "valid"]
    assert [r["epoch"] for r in valid] == [1, 2]
    assert f"epoch 2: valid perplexity {valid[-1]['valid_ppl']:.2f}" in run.stdout
    end = records[-1]
    assert end["event"] == "end" and f"test perplexity: {end['test_ppl']:.2f}" in run.stdout
    assert all(b["elapsed_s"] >= a["elapsed_s"] for a, b in zip(records, records[1:]))
    png = tmp_path / "ppl.png"
    assert fastrnn("plot", log, "--x", "time", "--out", png).stdout.strip() == f"plot: {png}"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_killed_and_resumed_run_has_one_continuous_log(corpus, tmp_path):
    files, cache = corpus
    args = (*text_args(files, cache), *SMALL, "--epochs", 4, "--checkpoint-every", 7, "--eval-interval", 3)
    fastrnn("train", *args, "--out", tmp_path / "whole", "--log", tmp_path / "whole.jsonl")
    out, log = tmp_path / "killed", tmp_path / "killed.jsonl"
    kills = 0
    for attempt in range(6):
        command = (["train", "--resume", str(out)] if (out / checkpoint.NAME).exists() else
                   ["train", *map(str, args), "--out", str(out), "--log", str(log)])
        proc = subprocess.Popen([FASTRNN, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while not (out / checkpoint.NAME).exists() and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.3 * attempt / 5)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        kills += proc.returncode == -signal.SIGKILL
    fastrnn("train", "--resume", out)
    assert kills >= 3
    whole, resumed = read(tmp_path / "whole.jsonl"), read(log)
    steps = [r["step"] for r in resumed if r["event"] == "train"]
    assert len(steps) == len(set(steps)) and steps == sorted(steps)  # no iteration twice, none lost
    assert without_timing(resumed) == without_timing(whole)
    assert all(line.endswith("}") for line in log.read_text().splitlines())


def test_bad_log_paths_and_files(corpus, tmp_path):
    files, cache = corpus
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for path, expected in ((tmp_path, "is a directory: give a file"),
                           (blocker / "log.jsonl", "exists and is not a directory")):
        run = fastrnn("train", *text_args(files, cache), *SMALL, "--log", path, check=False)
        assert run.returncode == 2 and expected in run.stderr and len(run.stderr.strip().splitlines()) == 1
    fifo = tmp_path / "fifo"
    __import__("os").mkfifo(fifo)
    for command in (("train", *text_args(files, cache), *SMALL, "--log", fifo), ("plot", fifo)):
        run = fastrnn(*command, check=False, timeout=60)  # refused at once, never opened (a FIFO blocks)
        assert run.returncode == 2 and run.stderr.strip().endswith(f"{fifo} is not a regular file"), run.stderr
    notes = tmp_path / "notes.txt"
    notes.write_text("not json\n")
    for path, expected in ((notes, "is not a fastrnn train --log file"), (tmp_path / "none.jsonl", "no such file")):
        run = fastrnn("plot", path, check=False)
        assert run.returncode == 2 and expected in run.stderr and len(run.stderr.strip().splitlines()) == 1
