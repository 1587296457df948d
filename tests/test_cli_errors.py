"""Every mistake a user can make on the command line: one line on stderr, naming it,
and exit status 2; never a traceback."""
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from cli_support import SMALL, fastrnn, markov_files, text_args
from fastrnn import Rnnlm, SimpleRnnlm
from fastrnn.training import checkpoint
from fastrnn.params_file import read_params, save_params


def error_line(*args) -> str:
    """The one error line of a command that must fail with status 2."""
    run = fastrnn(*args, check=False, timeout=120)
    assert run.returncode == 2, (run.returncode, run.stderr)
    assert "Traceback" not in run.stderr + run.stdout
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    return lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("text")
    made = markov_files(d, sizes=(3_000, 600, 600))
    made["cache"] = d / "cache"
    made["binary"] = d / "binary.txt"
    made["binary"].write_bytes(b"some\x00binary\x01bytes\n")
    made["empty"] = d / "empty.txt"
    made["empty"].write_bytes(b"")
    made["latin1"] = d / "latin1.txt"
    made["latin1"].write_bytes("caf\u00e9 au lait\n".encode("latin-1"))
    made["short"] = d / "short.txt"
    made["short"].write_text("just a few words\n")
    made["file"] = d / "a-file"
    made["file"].write_text("x")
    return made


def train_error(files, *args):
    return error_line("train", "--cache-dir", files["cache"], "--no-progress", *args)


@pytest.mark.parametrize("kind,expected", [
    ("binary", "is not a text file: a NUL byte at offset 4"),
    ("empty", "holds no words"),
    ("latin1", "is not UTF-8 text: an invalid byte at offset 3"),
])
def test_bad_training_files(files, kind, expected):
    line = train_error(files, "--train-file", files[kind])
    assert line.startswith("fastrnn train: error: --train-file ") and line.endswith(expected)


def test_bad_validation_file_names_its_option(files):
    line = train_error(files, "--train-file", files["train"], "--valid-file", files["latin1"])
    assert line.startswith("fastrnn train: error: --valid-file ") and "not UTF-8" in line


@pytest.mark.parametrize("args,expected", [
    (("--train-file", "{short}"), "--batch-size 20 x --time-size 35 needs at least 701 words of training text; "
                                  "short.txt has 5"),
    (("--train-file", "{train}", "--batch-size", "500"), "needs at least 17,501 words"),
    (("--batch-size", "100000"), "needs at least 3,500,001 words of training text; the Penn Treebank has 929,589"),
    (("--train-file", "{train}", "--valid-file", "{short}"), "--valid-file has 5 words; evaluation reads 10 rows"),
    (("--train-file", "{train}", "--vocab-size", "1"), "argument --vocab-size: expected an integer >= 2, got 1"),
    (("--train-file", "{missing}"), "--train-file {missing}: no such file"),
    (("--train-file", "{cache}/../"), "is not a regular file"),
    (("--out", "{file}/sub"), "--out {file}/sub: cannot write there"),
    (("--out", "{file}"), "--out {file}: exists and is not a directory"),
    (("--valid-file", "{train}"), "--valid-file, --test-file, --vocab-size and --min-count need --train-file"),
    (("--model", "better", "--train-file", "{train}"), "--model better needs --valid-file"),
    (("--model", "better", "--wordvec-size", "10", "--hidden-size", "12"), "--wordvec-size must equal --hidden-size"),
    (("--tied", "--wordvec-size", "10", "--hidden-size", "12"), "--tied ties the output weight to the embedding: "
                                                                "--wordvec-size must equal --hidden-size"),
    (("--cell", "transformer"), "argument --cell: invalid choice: 'transformer'"),
    (("--layers", "0"), "argument --layers: expected an integer >= 1, got 0"),
    (("--dropout", "1.5", "--model", "better"), "argument --dropout: expected a number in [0, 1), got 1.5"),
    (("--lr", "-3"), "argument --lr: expected a number > 0, got -3"),
    (("--epochs", "two"), "argument --epochs: expected an integer, got 'two'"),
    (("--resume", "{missing}"), "--resume {missing}: no such directory"),
    (("--head", "adaptive", "--cutoffs", "10,5"), "argument --cutoffs: expected increasing cutoffs, got 10,5"),
    (("--head", "adaptive", "--cutoffs", "0,5"), "argument --cutoffs: expected cutoffs >= 1, got 0,5"),
    (("--head", "adaptive", "--cutoffs", "5,x"), "argument --cutoffs: expected increasing integers separated by "
                                                 "commas, got '5,x'"),
    (("--head", "adaptive", "--cutoffs", "2000,10000"), "--cutoffs 2000,10000: every cutoff must be below the "
                                                        "vocabulary's 10,000 words"),
    (("--head", "adaptive", "--train-file", "{train}", "--cutoffs", "5,14"), "--cutoffs 5,14: every cutoff must "
                                                                             "be below the vocabulary's 14 words"),
    (("--head", "adaptive", "--div-value", "1"), "argument --div-value: expected a number > 1, got 1"),
    (("--cutoffs", "5"), "--cutoffs and --div-value apply to --head adaptive only"),
    (("--div-value", "3"), "--cutoffs and --div-value apply to --head adaptive only"),
    (("--head", "hierarchical"), "argument --head: invalid choice: 'hierarchical'"),
    (("--resume", "{cache}"), "no checkpoint.npz there"),
])
def test_bad_training_options(files, args, expected):
    values = {k: str(v) for k, v in files.items()} | {"missing": str(files["cache"].parent / "missing.txt")}
    line = train_error(files, *(a.format(**values) for a in args))
    assert line.startswith("fastrnn train: error: ") and expected.format(**values) in line, line


@pytest.fixture(scope="module")
def run_dir(files, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    fastrnn("train", *text_args(files, files["cache"]), *SMALL, "--epochs", 1, "--max-iters", 3, "--out", out)
    return out


def test_resume_of_another_model_or_version_or_changed_settings(files, run_dir, tmp_path):
    assert "holds a run of --model rnnlm, not simple" in train_error(files, "--resume", run_dir, "--model", "simple")
    assert "--lr cannot change when resuming" in train_error(files, "--resume", run_dir, "--lr", "3")
    assert "leave out --out, or give the same directory" in train_error(files, "--resume", run_dir,
                                                                        "--out", tmp_path)
    stored = read_params(run_dir / checkpoint.NAME)
    entries = dict(stored.entries)
    old = tmp_path / "old"
    old.mkdir()
    run = dict(json.loads(bytes(entries.pop("run")).decode()), version=99, fastrnn="9.9.9")
    save_params(old / checkpoint.NAME, stored.arrays, stored.model, stored.words, run["settings"],
                extra={"run": np.frombuffer(json.dumps(run).encode(), np.uint8), **entries},
                fmt="fastrnn-checkpoint-1")
    assert "written by fastrnn 9.9.9 (checkpoint version 99)" in train_error(files, "--resume", old)
    (old / checkpoint.NAME).write_bytes(b"PK\x03\x04 truncated")
    assert "not a readable params file" in train_error(files, "--resume", old)


@pytest.fixture(scope="module")
def bad_params(tmp_path_factory):
    d = tmp_path_factory.mktemp("params")
    np.random.seed(0)
    made = {"empty": d / "empty.npz", "truncated": d / "Rnnlm.pkl", "broken": d / "broken.npz", "text": d / "notes.txt",
            "other": d / "other.npz", "simple": d / "simple.npz", "shapes": d / "shapes.npz", "odd": d / "odd.pkl"}
    made["empty"].write_bytes(b"")
    good = pickle.dumps([p.astype(np.float16) for p in Rnnlm(50, 4, 4).params])
    made["truncated"].write_bytes(good[:len(good) // 2])
    save_params(made["simple"], SimpleRnnlm(10_000, 4, 4).params, "SimpleRnnlm")
    made["broken"].write_bytes(made["simple"].read_bytes()[:300])
    made["text"].write_text("not params\n")
    np.savez(made["other"], a=np.zeros(3))
    save_params(made["shapes"], Rnnlm(50, 4, 4).params[:5], "Rnnlm")
    made["odd"].write_bytes(pickle.dumps([p.astype(np.float16) for p in Rnnlm(50, 4, 4).params[:5]]))
    made["dir"] = d
    return made


@pytest.mark.parametrize("command", ["generate", "eval"])
@pytest.mark.parametrize("kind,expected", [
    ("missing", "{path}: no such file"),
    ("dir", "is a directory, not a params file"),
    ("empty", "{path} is empty"),
    ("truncated", "is not a readable params pickle ("),
    ("broken", "is not a readable params file (truncated or damaged"),
    ("text", "is not a params file (neither fastrnn's .npz nor the reference's .pkl)"),
    ("other", "is not a fastrnn params file"),
    ("shapes", "holds 5 params, the model has 6"),
    ("odd", "does not hold params of SimpleRnnlm, Rnnlm or BetterRnnlm (5 arrays of shapes (50, 4), "),
])
def test_bad_params_files(bad_params, command, kind, expected):
    path = bad_params[kind] if kind != "missing" else bad_params["dir"] / "missing.npz"
    line = error_line(command, path)
    assert line.startswith(f"fastrnn {command}: error: ") and expected.format(path=path) in line, line


def test_generate_needs_a_known_word_and_a_generating_model(bad_params, run_dir):
    assert "--start 'zebra' is not in the vocabulary of" in error_line("generate", run_dir / "params.npz",
                                                                       "--start", "zebra")
    assert "holds params of rnnlm (--model rnnlm), not better" in error_line("generate", run_dir / "params.npz",
                                                                             "--model", "better")
    assert "argument --length: expected an integer >= 1, got 0" in error_line("generate", run_dir / "params.npz",
                                                                              "--length", "0")


def test_eval_of_a_short_or_bad_test_file(files, run_dir):
    assert "has 5 words; evaluation with --batch-size 10 and --time-size 35 needs at least 351" in error_line(
        "eval", run_dir / "params.npz", "--test-file", files["short"])
    assert "evaluation with --batch-size 1 and --time-size 5 needs at least 6" in error_line(
        "eval", run_dir / "params.npz", "--test-file", files["short"], "--batch-size", 1, "--time-size", 5)
    assert "--test-file " in error_line("eval", run_dir / "params.npz", "--test-file", files["binary"])
    line = error_line("eval", run_dir / "params.npz", "--test-file", files["cache"].parent / "nope.txt")
    assert line.endswith("nope.txt: no such file")


def test_no_command_and_unknown_options():
    assert error_line().startswith("fastrnn: error: the following arguments are required: command")
    assert error_line("train", "--learning-rate", "3").startswith("fastrnn: error: unrecognized arguments")


@pytest.mark.parametrize("args,expected", [
    (("generate", "{params}", "--samples", "0"), "argument --samples: expected an integer >= 1, got 0"),
    (("generate", "{params}", "--temperature", "inf"), "argument --temperature: expected a finite number >= 0"),
    (("score", "{params}", "{missing}"), "{missing}: no such file"),
    (("score", "{params}", "{dir}"), "is not a regular file"),
    (("score", "{params}", "{train}", "--batch-size", "0"), "argument --batch-size: expected an integer >= 1, got 0"),
    (("plot", "{train}", "--x", "z"), "argument --x: invalid choice: 'z'"),
    (("plot", "{train}"), "is not a fastrnn train --log file"),
    (("train", "--tokens", "bytes"), "argument --tokens: invalid choice: 'bytes'"),
])
def test_bad_values_of_the_newer_commands_and_options(files, run_dir, args, expected):
    values = {"params": run_dir / "params.npz", "missing": files["cache"].parent / "missing.txt",
              "dir": files["cache"].parent, "train": files["train"]}
    line = error_line(*(a.format(**values) for a in args))
    assert line.startswith(f"fastrnn {args[0]}: error: ") or line.startswith("fastrnn: error: ")
    assert expected.format(**values) in line, line


def test_bf16_on_a_cpu_without_avx512_bf16(tmp_path):
    """Compiled for a CPU without AVX512_BF16 (Haswell), precision="bf16" is refused at
    once, by the command line in one line (exit status 2) and by the classes with a
    RuntimeError naming the instruction set; float32 runs as before."""
    env = {"NUMBA_CPU_NAME": "haswell", "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    run = fastrnn("train", "--precision", "bf16", "--epochs", 1, check=False, env=env)
    assert run.returncode == 2
    assert run.stderr.splitlines() == ["fastrnn train: error: --precision bf16 needs a CPU with AVX512_BF16, "
                                       "which this one has not"]
    probe = ("import numpy as np\nfrom fastrnn import Rnnlm\nfrom fastrnn.kernels.gemm import BF16\n"
             "assert not BF16\ntry:\n    Rnnlm(20, 4, 5, precision='bf16')\nexcept RuntimeError as e:\n"
             "    print(e)\nRnnlm(20, 4, 5)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=os.environ | env)
    assert done.returncode == 0, done.stderr
    assert "precision='bf16' needs a CPU with AVX512_BF16" in done.stdout and "use precision='fp32'" in done.stdout


@pytest.mark.parametrize("model,cell,layers,tied,D,H", [
    ("simple", "rnn", 1, False, 6, 5), ("rnnlm", "lstm", 1, False, 6, 5), ("better", "lstm", 2, True, 5, 5),
    ("rnnlm", "gru", 3, False, 4, 7), ("simple", "lstm", 4, True, 6, 6), ("better", "rnn", 1, False, 3, 9)])
def test_the_memory_estimate_counts_the_models_params(model, cell, layers, tied, D, H):
    """The memory check's count of params is the model's own: every --cell, --layers
    and --tied (a tied weight counted once)."""
    from fastrnn.parallel import Single
    from fastrnn.training.build import model_of, param_count
    from fastrnn.training.config import RunConfig

    config = RunConfig.of(model, {"cell": cell, "layers": layers, "tied": tied, "wordvec_size": D, "hidden_size": H})
    distinct = []
    for p in model_of(config, 11, None, Single(), slice(0, config.optim.batch_size)).params:
        if not any(np.shares_memory(p, q) for q in distinct):
            distinct.append(p)
    assert param_count(config, 11) == sum(p.size for p in distinct)


@pytest.mark.parametrize("value,expected", [
    ("bogus", "the environment variable FASTRNN_BF16_ENGINE must be one of vdpbf16ps, amx, got 'bogus'"),
    ("AMX", "must be one of vdpbf16ps, amx, got 'AMX'")])
def test_a_bad_bf16_engine_variable_is_one_line(run_dir, value, expected):
    for args in (("eval", run_dir / "params.npz"), ("generate", run_dir / "params.npz", "--length", 3)):
        run = fastrnn(*args, check=False, env={"FASTRNN_BF16_ENGINE": value})
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 2 and len(lines) == 1, run.stderr
        assert lines[0].startswith(f"fastrnn {args[0]}: error: ") and expected in lines[0]
