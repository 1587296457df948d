"""Faults a long run survives (issue 19): each ends in one line, and what the run did
is kept and resumes bit for bit.  Against the installed command."""
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
import zipfile

import numpy as np
import pytest

from cli_support import FASTRNN, SMALL, fastrnn, markov_files, one_error_line, start_train, text_args, wait_for
from fastrnn import params_file
from fastrnn.training import checkpoint
from fastrnn.cli.files import writable_dir
from fastrnn.util import eval_perplexity, perplexity

LONG = ("--epochs", 3, "--checkpoint-every", 5)


def params_of(directory):
    return params_file.read_params(directory / "params.npz").arrays


def assert_same_params(a, b):
    for x, y in zip(params_of(a), params_of(b)):
        np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    directory = tmp_path_factory.mktemp("corpus")
    files = markov_files(directory, sizes=(15_000, 2_000, 2_000))
    return files, directory / "cache"


@pytest.fixture(scope="module")
def whole(corpus, tmp_path_factory):
    """An uninterrupted run of ``LONG``, the reference of every resumed one."""
    files, cache = corpus
    out = tmp_path_factory.mktemp("whole")
    fastrnn("train", *text_args(files, cache), *SMALL, *LONG, "--out", out)
    return out


# -- 1. large and non-finite losses ----------------------------------------------------------


def test_perplexity_of_a_large_loss_is_inf_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert perplexity(2.0) == math.exp(2.0) and perplexity(709.0) == math.exp(709.0)
        assert perplexity(710.0) == math.inf and perplexity(1e300) == math.inf
        assert math.isnan(perplexity(math.nan))

        class Model:
            def forward(self, xs, ts):
                return 1000.0

        assert eval_perplexity(Model(), np.arange(100), 2, 5) == math.inf


def test_a_large_finite_loss_reports_inf(corpus, tmp_path):
    """lr 1e4 with clipping at 1e6: the loss grows past exp's range but stays finite."""
    files, cache = corpus
    run = fastrnn("train", *text_args(files, cache), *SMALL, "--model", "simple", "--lr", 1e4, "--max-grad", 1e6,
                  "--epochs", 1, "--eval-interval", 5, "--out", tmp_path / "a", check=False)
    assert run.returncode in (0, 1) and "Traceback" not in run.stderr and "Warning" not in run.stderr
    assert "perplexity inf" in run.stdout, run.stdout
    if run.returncode == 0:
        assert "test perplexity: " in run.stdout
        fastrnn("eval", tmp_path / "a" / "params.npz", "--test-file", files["test"], "--cache-dir", cache)
    else:  # the loss overflowed to infinity later on: diverged, nothing non-finite written
        assert "training diverged at iteration" in one_error_line(run, 1)


# -- 3. storage faults -----------------------------------------------------------------------

FAIL_AT = """
import errno, sys
from fastrnn import cli
from fastrnn.training import checkpoint
calls, at = [0], int(sys.argv[1])
save = checkpoint.save
def failing(*args, **kw):
    calls[0] += 1
    if calls[0] == at:
        raise OSError(errno.{errno}, "{strerror}")
    return save(*args, **kw)
checkpoint.save = failing
sys.exit(cli.main(sys.argv[2:]))
"""


@pytest.mark.parametrize("code,strerror", [("ENOSPC", "No space left on device"), ("EIO", "Input/output error"),
                                           ("EROFS", "Read-only file system")])
def test_a_failed_checkpoint_write_is_one_line_and_the_last_one_resumes(corpus, whole, tmp_path, code, strerror):
    files, cache = corpus
    script = tmp_path / "fail.py"
    script.write_text(FAIL_AT.format(errno=code, strerror=strerror))
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, script, "3", "train", *map(str, text_args(files, cache)),
                          *map(str, SMALL), *map(str, LONG), "--out", str(out)], capture_output=True, text=True,
                         timeout=300)
    line = one_error_line(run, 1)
    assert line == (f"fastrnn train: error: cannot write {out / checkpoint.NAME} ({strerror}); "
                    f"{out / checkpoint.NAME} holds the params of iteration 10: resume with: fastrnn train "
                    f"--resume {out}")
    assert checkpoint.load(out / checkpoint.NAME).state.progress["done"] == 10
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]
    fastrnn("train", "--resume", out)
    assert_same_params(whole, out)


def test_a_finished_run_is_replaced_only_on_purpose(corpus, tmp_path):
    """A finished run extended with --resume --epochs N and stopped can go on: its
    checkpoints say so, and a new run refuses its --out; a new run refuses a finished
    run's --out too, and an existing --log, unless --overwrite."""
    files, cache = corpus
    out, log = tmp_path / "out", tmp_path / "train.log"
    args = (*text_args(files, cache), *SMALL, "--checkpoint-every", 5, "--max-iters", 12, "--epochs", 1)
    fastrnn("train", *args, "--out", out, "--log", log)
    finished = one_error_line(fastrnn("train", *args, "--out", out, check=False), 2)
    assert finished == (f"fastrnn train: error: --out {out} holds a finished run (1 epochs): extend it with: "
                        f"fastrnn train --resume {out} --epochs N, or give another --out, or --overwrite to start "
                        "over there")
    script = tmp_path / "fail.py"
    script.write_text(FAIL_AT.format(errno="ENOSPC", strerror="No space left on device"))
    run = subprocess.run([sys.executable, script, "2", "train", "--resume", str(out), "--epochs", "2"],
                         capture_output=True, text=True, timeout=300)
    one_error_line(run, 1)  # the second checkpoint after resuming (iteration 15, 20) failed: the first is kept
    assert not checkpoint.load(out / checkpoint.NAME).state.progress["finished"]
    stopped = one_error_line(fastrnn("train", *args, "--out", out, check=False), 2)
    assert f"--out {out} holds a run stopped in epoch 2 at iteration 3: go on with it" in stopped
    records = log.read_bytes()
    assert "--log {} exists: give a new file, or --overwrite".format(log) in one_error_line(
        fastrnn("train", *args, "--log", log, check=False), 2)
    assert log.read_bytes() == records
    fastrnn("train", *args, "--out", out, "--log", log, "--overwrite")
    assert checkpoint.load(out / checkpoint.NAME).state.progress["epoch"] == 1 and log.read_bytes() != records
    assert "--overwrite starts a new run" in one_error_line(fastrnn("train", "--resume", out, "--overwrite",
                                                                    check=False), 2)


def test_two_runs_never_write_one_log(corpus, tmp_path):
    files, cache = corpus
    log = tmp_path / "one.log"
    first = start_train([*text_args(files, cache), *SMALL, "--epochs", 1000, "--log", log])  # killed below
    try:
        deadline = time.monotonic() + 120
        while not log.exists() or log.stat().st_size == 0:
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        second = fastrnn("train", *text_args(files, cache), *SMALL, "--epochs", 1, "--log", log, "--overwrite",
                         check=False)
        assert f"--log {log}: another fastrnn train is writing it" in one_error_line(second, 2)
    finally:
        first.kill()
        first.communicate()
    assert b"\0" not in log.read_bytes()


def test_an_unwritable_plot_is_one_line(corpus, tmp_path):
    files, cache = corpus
    out = tmp_path / "out"
    (out / "ppl.png").mkdir(parents=True)
    run = fastrnn("train", *text_args(files, cache), *SMALL, "--epochs", 1, "--max-iters", 3, "--out", out,
                  check=False)
    assert one_error_line(run, 1).startswith(f"fastrnn train: error: cannot write {out / 'ppl.png'} (")
    assert "test perplexity: " in run.stdout and (out / "params.npz").exists()


def test_a_run_removes_its_own_temporaries_only(corpus, tmp_path):
    """--out may be a directory of the user's (., ~): a new run, or a resumed one, removes
    the temporaries a killed run's atomic writes left, and no other ``.*.tmp`` file."""
    files, cache = corpus
    out = tmp_path / "home"
    out.mkdir()
    users = [".bashrc.tmp", ".notes.tmp", ".params.npz.tmp", ".my.checkpoint.npz.abcd1234.tmp"]
    left = [".params.npz.k3_x9a0q.tmp", ".checkpoint.npz.0123abcd.tmp", ".checkpoint.prev.npz.link.tmp"]
    for name in users + left:
        (out / name).write_text("keep me" if name in users else "half a file")
    fastrnn("train", *text_args(files, cache), *SMALL, "--epochs", 1, "--max-iters", 3, "--out", out)
    assert sorted(p for p in os.listdir(out) if p.endswith(".tmp")) == sorted(users)
    assert all((out / name).read_text() == "keep me" for name in users)


class Crash(BaseException):
    """The process stopping between two file-system calls."""


@pytest.mark.parametrize("links", [True, False])
def test_a_checkpoint_and_the_one_before_exist_whatever_call_a_crash_stops_at(tmp_path, monkeypatch, links):
    """params_file.atomic_write(keep=...) stopped before each link and rename in turn: the
    file holds the old or the new content, never nothing, and the kept file the
    content before it or the old one (without hard links: the old one alone may
    be left, in the kept file)."""
    path, keep = tmp_path / "checkpoint.npz", tmp_path / "checkpoint.prev.npz"
    real = {name: getattr(os, name) for name in ("link", "replace")}
    for stop_at in range(1, 5):
        params_file.atomic_write(path, lambda f: f.write(b"older"))
        params_file.atomic_write(path, lambda f: f.write(b"old"), keep=keep)
        calls = [0]

        def call(name, *args):
            calls[0] += 1
            if calls[0] == stop_at:
                raise Crash
            if name == "link" and not links:
                raise PermissionError(1, "Operation not permitted")
            return real[name](*args)

        monkeypatch.setattr(os, "link", lambda *a: call("link", *a))
        monkeypatch.setattr(os, "replace", lambda *a: call("replace", *a))
        try:
            params_file.atomic_write(path, lambda f: f.write(b"new"), keep=keep)
            finished = True
        except Crash:
            finished = False
        monkeypatch.undo()
        now, kept = path.read_bytes() if path.exists() else None, keep.read_bytes()
        if finished:
            assert (now, kept) == (b"new", b"old")
        elif links:
            assert (now, kept) in ((b"old", b"older"), (b"old", b"old")), stop_at
        else:
            assert (now, kept) in ((b"old", b"older"), (None, b"old")), stop_at
        path.unlink(missing_ok=True)
        keep.unlink()


def test_a_file_size_limit_is_one_line(corpus, tmp_path):
    import resource

    files, cache = corpus
    fastrnn("train", *text_args(files, cache), *SMALL, "--max-iters", 2, "--epochs", 1)  # the cache is written

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    out = tmp_path / "out"
    run = subprocess.run([FASTRNN, "train", *map(str, text_args(files, cache)), *map(str, SMALL), *map(str, LONG),
                          "--out", str(out)], capture_output=True, text=True, timeout=300, preexec_fn=limit)
    assert one_error_line(run, 1) == (f"fastrnn train: error: cannot write {out / checkpoint.NAME} (File too large); "
                                      f"{out} holds no checkpoint yet")
    assert os.listdir(out) == [".fastrnn.lock"]


def test_an_output_directory_removed_mid_run_is_made_again(corpus, whole, tmp_path):
    files, cache = corpus
    out = tmp_path / "out"
    proc = start_train((*text_args(files, cache), *SMALL, *LONG), out)
    wait_for(out / checkpoint.NAME, proc)
    while out.exists():  # as rm -rf does, while the run writes on
        shutil.rmtree(out, ignore_errors=True)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert_same_params(whole, out)


def _mount_tmpfs(path, size):
    path.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root")


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_a_full_or_read_only_file_system(corpus, whole, tmp_path, fault):
    """A small tmpfs: filled up, or remounted read-only, after the first checkpoint."""
    files, cache = corpus
    mount = tmp_path / "fs"
    _mount_tmpfs(mount, "2m")
    try:
        out = mount / "out"
        proc = start_train((*text_args(files, cache), *SMALL, *LONG, "--checkpoint-every", 3), out)
        wait_for(out / checkpoint.NAME, proc)
        if fault == "full":
            with open(mount / "filler", "wb") as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
                except OSError:
                    pass
        else:  # refused (busy) while the run has a file open for writing: try again
            for _ in range(200):
                if subprocess.run(["mount", "-o", "remount,ro", str(mount)], capture_output=True).returncode == 0:
                    break
                time.sleep(0.02)
            else:
                pytest.fail("the tmpfs could not be remounted read-only")
        _, err = proc.communicate(timeout=300)
        line = err.strip().splitlines()[-1]
        assert proc.returncode == 1 and "Traceback" not in err, err
        expected = "No space left on device" if fault == "full" else "Read-only file system"
        assert line.startswith("fastrnn train: error: cannot write ") and f"({expected}); " in line, line
        assert line.endswith(f"resume with: fastrnn train --resume {out}"), line
        if fault == "full":
            os.unlink(mount / "filler")
        else:
            subprocess.run(["mount", "-o", "remount,rw", str(mount)], check=True)
        fastrnn("train", "--resume", out)
        assert_same_params(whole, out)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


# -- 4. damaged files ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_params(tmp_path_factory):
    from fastrnn import Rnnlm

    path = tmp_path_factory.mktemp("small") / "params.npz"
    np.random.seed(0)
    params_file.save_params(path, Rnnlm(30, 4, 6).params, "Rnnlm", words=[f"w{i}" for i in range(29)] + ["<unk>"],
                   settings={"lr": 1})
    return path


def test_every_flipped_byte_is_detected_or_harmless(small_params, tmp_path):
    """A flip anywhere: the file is refused (ParamsError), or it reads exactly as
    before (a byte no reader uses, such as a time stamp)."""
    data = small_params.read_bytes()
    good = params_file.read_params(small_params)
    damaged, path = 0, tmp_path / "p.npz"
    for pos in range(len(data)):
        path.write_bytes(data[:pos] + bytes([data[pos] ^ 0x20]) + data[pos + 1:])
        try:
            got = params_file.read_params(path)
        except params_file.ParamsError:
            damaged += 1
            continue
        assert got.model == good.model and got.words == good.words and got.settings == good.settings, pos
        assert len(got.arrays) == len(good.arrays), pos
        for a, b in zip(got.arrays, good.arrays):
            np.testing.assert_array_equal(a, b, err_msg=str(pos))
    assert damaged > 0.8 * len(data)


def test_every_truncation_is_detected(small_params, tmp_path):
    data = small_params.read_bytes()
    path = tmp_path / "p.npz"
    for size in range(len(data)):
        path.write_bytes(data[:size])
        with pytest.raises(params_file.ParamsError):
            params_file.read_params(path)


def test_a_flip_in_param_data_names_the_checksum(small_params, tmp_path):
    data = bytearray(small_params.read_bytes())
    with zipfile.ZipFile(small_params) as z:
        info = z.getinfo("param_2.npy")
    data[info.header_offset + 30 + len(info.filename) + len(info.extra) + 200] ^= 1  # inside param_2's values
    path = tmp_path / "p.npz"
    path.write_bytes(bytes(data))
    with pytest.raises(params_file.ParamsError, match="damaged"):
        params_file.read_params(path)


def test_a_crafted_header_cannot_allocate_what_the_file_does_not_hold(tmp_path):
    """param_0 declares 10^5 x 10^5 float64 (80 GB) but stores 16 bytes."""
    path = tmp_path / "crafted.npz"
    with zipfile.ZipFile(path, "w") as z:
        for name, value in (("format", np.array(params_file.FORMAT)), ("model", np.array("Rnnlm"))):
            with z.open(f"{name}.npy", "w") as f:
                np.lib.format.write_array(f, value)
        header = {"descr": "<f8", "fortran_order": False, "shape": (100_000, 100_000)}
        with z.open("param_0.npy", "w") as f:
            np.lib.format.write_array_header_1_0(f, header)
            f.write(b"\0" * 16)
    start_time = time.monotonic()
    for command in ("eval", "generate"):
        line = one_error_line(fastrnn(command, path, check=False), 2)
        assert "is damaged: its entry param_0 declares (100000, 100000) values of float64" in line, line
    assert time.monotonic() - start_time < 60


def test_resume_falls_back_to_the_checkpoint_before_a_damaged_one(corpus, whole, tmp_path):
    files, cache = corpus
    out = tmp_path / "out"
    proc = start_train((*text_args(files, cache), *SMALL, *LONG), out)
    wait_for(out / checkpoint.PREVIOUS, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    newest = out / checkpoint.NAME
    older = checkpoint.load(out / checkpoint.PREVIOUS).state.progress["done"]
    data = bytearray(newest.read_bytes())
    data[len(data) // 3] ^= 0xFF
    newest.write_bytes(bytes(data))
    run = fastrnn("train", "--resume", out)
    note = [line for line in run.stderr.splitlines() if line.startswith("fastrnn train: ")]
    assert len(note) == 1 and note[0].startswith(f"fastrnn train: {newest} cannot be used (") and note[0].endswith(
        f"going on from the checkpoint before it, {checkpoint.PREVIOUS} (iteration {older})"), run.stderr
    assert_same_params(whole, out)


# -- 5. changed inputs -----------------------------------------------------------------------


def test_a_corpus_edited_between_stop_and_resume_is_refused(tmp_path):
    files = markov_files(tmp_path, sizes=(8_000, 2_000, 2_000))
    cache = tmp_path / "cache"
    out = tmp_path / "out"
    fastrnn("train", *text_args(files, cache), *SMALL, "--epochs", 2, "--max-iters", 5, "--out", out)
    fastrnn("train", "--resume", out, "--epochs", 3)  # unchanged: goes on
    lines = files["train"].read_text().split("\n")
    files["train"].write_text("\n".join(lines[1:] + lines[:1]))  # the same words and count, reordered
    line = one_error_line(fastrnn("train", "--resume", out, "--epochs", 4, check=False), 2)
    assert line == (f"fastrnn train: error: --resume {out}: the training file changed since the run started "
                    "(train.txt now gives another content): the run's position in it would mean nothing")
    files["train"].write_text("\n".join(lines))
    files["test"].write_text(files["test"].read_text() + "a b\n")
    line = one_error_line(fastrnn("train", "--resume", out, "--epochs", 4, check=False), 2)
    assert "the test file changed since the run started" in line
    files["test"].write_text(files["test"].read_text()[:-4])  # back to the run's test file
    fastrnn("train", "--resume", out, "--epochs", 4)


def test_an_edit_that_keeps_size_and_times_is_found_on_resume(tmp_path):
    """``cp -p``, ``rsync -t``, ``touch -r``: the same size and modification time, another
    text; a resumed run hashes its files again and refuses it."""
    files = markov_files(tmp_path, sizes=(8_000, 2_000, 2_000))
    out = tmp_path / "out"
    fastrnn("train", *text_args(files, tmp_path / "cache"), *SMALL, "--epochs", 1, "--max-iters", 5, "--out", out)
    for name, what in (("test", "the test file"), ("train", "the training file")):
        before = files[name].stat()
        words = files[name].read_text().split(" ")
        i = next(i for i in range(1, len(words)) if words[i] != words[i - 1] and len(words[i]) == len(words[i - 1]))
        words[i - 1], words[i] = words[i], words[i - 1]
        files[name].write_text(" ".join(words))
        os.utime(files[name], ns=(before.st_atime_ns, before.st_mtime_ns))
        assert files[name].stat().st_size == before.st_size
        line = one_error_line(fastrnn("train", "--resume", out, "--epochs", 2, check=False), 2)
        assert f"{what} changed since the run started" in line
        words[i - 1], words[i] = words[i], words[i - 1]
        files[name].write_text(" ".join(words))
        os.utime(files[name], ns=(before.st_atime_ns, before.st_mtime_ns))


def test_resume_with_fewer_epochs_than_reached_is_refused(corpus, tmp_path):
    files, cache = corpus
    out = tmp_path / "out"
    proc = start_train((*text_args(files, cache), *SMALL, "--epochs", 3, "--checkpoint-every", 1), out)
    deadline = time.monotonic() + 120
    while True:  # until a checkpoint inside the second epoch
        try:
            p = checkpoint.load(out / checkpoint.NAME).state.progress
            if p["epoch"] == 1 and p["iteration"] > 0:
                break
        except (OSError, params_file.ParamsError):
            pass
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    p = checkpoint.load(out / checkpoint.NAME).state.progress
    assert p["epoch"] == 1 and p["iteration"] > 0
    line = one_error_line(fastrnn("train", "--resume", out, "--epochs", 1, check=False), 2)
    assert line == (f"fastrnn train: error: --epochs 1: the run in {out} has reached epoch 2 (iteration "
                    f"{p['iteration']}); give --epochs 2 or more")
    fastrnn("train", "--resume", out, "--epochs", 2)  # goes on to the end of the second epoch


# -- one writer a directory ------------------------------------------------------------------


def test_two_runs_never_share_an_output_directory(corpus, tmp_path):
    files, cache = corpus
    out = tmp_path / "out"
    proc = start_train((*text_args(files, cache), *SMALL, "--epochs", 50, "--checkpoint-every", 5), out)
    wait_for(out / checkpoint.NAME, proc)
    try:
        line = one_error_line(fastrnn("train", *text_args(files, cache), *SMALL, "--out", out, check=False), 2)
        assert line == f"fastrnn train: error: --out {out}: another fastrnn train is writing there (process {proc.pid})"
        line = one_error_line(fastrnn("train", "--resume", out, check=False), 2)
        assert line.startswith(f"fastrnn train: error: --resume {out}: another fastrnn train is writing there")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    p = checkpoint.load(out / checkpoint.NAME).state.progress
    line = one_error_line(fastrnn("train", *text_args(files, cache), *SMALL, "--out", out, check=False), 2)
    assert line == (f"fastrnn train: error: --out {out} holds a run stopped in epoch {p['epoch'] + 1} at iteration "
                    f"{p['iteration']}: go on with it with: fastrnn train --resume {out}, or give another --out, or "
                    "--overwrite to start over there")
    fastrnn("train", "--resume", out, "--epochs", p["epoch"] + 1)  # the run goes on, and ends
    fastrnn("train", *text_args(files, cache), *SMALL, "--epochs", 1, "--max-iters", 3, "--out", out,
            "--overwrite")  # replaces it, on purpose


# -- the defects the issue lists ----------------------------------------------------------------


@pytest.mark.parametrize("seed", ["-1", "4294967296"])
def test_seed_out_of_range(seed, tmp_path, small_params):
    for command in (("train",), ("generate", small_params)):
        line = one_error_line(fastrnn(*command, "--seed", seed, check=False), 2)
        assert f"argument --seed: expected an integer >= 0 and <= 4294967295, got {seed}" in line


@pytest.mark.parametrize("option", ["--train-file", "--valid-file", "--test-file", "--cache-dir", "--out"])
def test_a_symlink_loop(corpus, tmp_path, option):
    files, cache = corpus
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    args = {"--train-file": files["train"], "--cache-dir": cache}
    args[option] = loop
    if option == "--out":
        (tmp_path / "run").mkdir()
        line = one_error_line(fastrnn("train", "--resume", tmp_path / "run", "--out", loop, check=False), 2)
    else:
        line = one_error_line(fastrnn("train", *[str(x) for kv in args.items() for x in kv], "--max-iters", 2,
                                      check=False), 2)
    assert line.startswith(f"fastrnn train: error: {option} {loop}: ") and ("ymbolic link" in line or "loop" in line)


def test_a_model_too_large_for_memory(corpus):
    files, cache = corpus
    line = one_error_line(fastrnn("train", *text_args(files, cache), "--hidden-size", 100_000_000, check=False), 2)
    assert "does not fit in this machine's memory" in line


def test_no_home_and_no_password_entry_asks_for_a_cache_dir(corpus, tmp_path):
    """$HOME unset, and a user id the password database lacks (its lookup patched to
    fail as it does for such a user)."""
    files, _ = corpus
    env = {k: v for k, v in os.environ.items() if k not in ("HOME", "XDG_CACHE_HOME", "FASTRNN_CACHE")}
    script = ("import pwd, sys\n"
              "def missing(uid): raise KeyError(f'getpwuid(): uid not found: {uid}')\n"
              "pwd.getpwuid = missing\n"
              "from fastrnn import cli\n"
              "sys.exit(cli.main(sys.argv[1:]))\n")
    run = subprocess.run([sys.executable, "-c", script, "train", "--train-file", files["train"], "--no-progress"],
                         capture_output=True, text=True, env=env, timeout=120)
    line = one_error_line(run, 2)
    assert line == ("fastrnn train: error: no cache directory: $HOME is not set and this user has no home "
                    "directory; give --cache-dir (or set $FASTRNN_CACHE)")


def test_an_unwritable_cache_is_named_as_the_cache(corpus, tmp_path):
    files, _ = corpus
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    line = one_error_line(fastrnn("train", "--train-file", files["train"], "--cache-dir", blocker / "sub",
                                  "--no-progress", check=False), 2)
    assert line.startswith(f"fastrnn train: error: --cache-dir {blocker / 'sub'}: cannot write there ("), line


def test_a_long_source_name(tmp_path):
    files = markov_files(tmp_path, sizes=(3_000, 600, 600))
    long = tmp_path / ("x" * 240 + ".txt")
    files["train"].rename(long)
    run = fastrnn("train", "--train-file", long, "--cache-dir", tmp_path / "cache", *SMALL, "--epochs", 1,
                  "--max-iters", 2)
    assert "training time" in run.stdout
    assert all(len(name.encode()) < 200 for _, _, names in os.walk(tmp_path / "cache") for name in names)


def test_eval_of_a_foreign_vocabulary_without_settings_asks_for_a_test_file(tmp_path, small_params):
    from fastrnn import Rnnlm

    path = tmp_path / "foreign.npz"
    params_file.save_params(path, Rnnlm(10_000, 4, 4).params, "Rnnlm",
                            words=[f"w{i}" for i in range(9_999)] + ["<unk>"])
    line = one_error_line(fastrnn("eval", path, check=False), 2)
    assert line == f"fastrnn eval: error: {path} carries a vocabulary that is not PTB's: give --test-file"


@pytest.mark.parametrize("command", ["eval", "generate"])
def test_a_fifo_as_params_is_refused_at_once(tmp_path, command):
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    line = one_error_line(fastrnn(command, fifo, check=False, timeout=60), 2)
    assert line == f"fastrnn {command}: error: {fifo} is not a regular file"


def test_the_writability_probe_follows_no_planted_link(tmp_path, monkeypatch):
    """The probe's name is not predictable, and an existing name is never opened."""
    target = tmp_path / "precious"
    target.write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(os, "getpid", lambda: 4242)
    for pid in (4242,):
        os.symlink(target, out / f".fastrnn-probe-{pid}")
    writable_dir(out, "--out")
    assert target.read_text() == "keep me"
    assert sorted(os.listdir(out)) == [".fastrnn-probe-4242"]


# -- 6. soak: killed at random moments, resumed each time ----------------------------------------


KILLS = 8
"""Kills of the soak test (``python -m fastrnn.bench.soak`` makes as many as it is told)."""


def test_killed_at_random_moments_ends_bit_identical(corpus, tmp_path):
    files, cache = corpus
    args = (*text_args(files, cache), *SMALL, "--epochs", 30, "--checkpoint-every", 3)
    fastrnn("train", *args, "--out", tmp_path / "whole")
    out = tmp_path / "soak"
    rng = np.random.default_rng(19)
    kills = 0
    while kills < KILLS:
        resume = (out / checkpoint.NAME).exists() or (out / checkpoint.PREVIOUS).exists()
        proc = start_train(["--resume", out]) if resume else start_train(args, out)
        proc.stdout.readline()  # "training ..." or "resuming ...": started (however slow the machine is today)
        try:
            proc.wait(timeout=rng.uniform(0.05, 0.5))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
        assert proc.returncode in (0, -signal.SIGKILL), err
        if proc.returncode == 0:
            assert (out / "params.npz").exists()
            break
        kills += 1
    fastrnn("train", "--resume", out)
    assert kills == KILLS
    assert_same_params(tmp_path / "whole", out)
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]
