"""The ``fastrnn`` command.

``fastrnn train`` trains a language model on the bundled Penn Treebank or on your
own text, with checkpoints that resume exactly and, under ``mpiexec``, several
processes; ``fastrnn eval`` prints the test perplexity of saved params;
``fastrnn generate`` writes text with them.  A mistake in the input (a bad
file, word, size or path) ends a command with one line,
``fastrnn <command>: error: ...``, and exit status 2.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

COMMON = dict(batch_size=20, time_size=35, max_grad=0.25, eval_interval=20, seed=0, checkpoint_every=500,
              head="full")
DEFAULTS = {
    # the book's lr 20 diverges for the vanilla RNN on full PTB; 5 learns
    "simple": dict(COMMON, epochs=4, wordvec_size=100, hidden_size=100, lr=5.0, dropout=None),
    "rnnlm": dict(COMMON, epochs=4, wordvec_size=100, hidden_size=100, lr=20.0, dropout=None),
    "better": dict(COMMON, epochs=40, wordvec_size=650, hidden_size=650, lr=20.0, dropout=0.5),
}
"""Per-model defaults: the book's chapter-5 and chapter-6 settings."""
TRAINING = ("epochs", "batch_size", "time_size", "wordvec_size", "hidden_size", "dropout", "lr", "max_grad",
            "max_iters", "eval_interval", "seed", "checkpoint_every", "head", "cutoffs", "div_value", "train_file",
            "valid_file", "test_file", "vocab_size", "min_count", "cache_dir")
"""Options that make a run's settings (fixed once it has started, but for RESUMABLE)."""
RESUMABLE = ("epochs", "cache_dir")
"""Settings a resumed run may change."""


class UserError(Exception):
    """A mistake in the command's input: reported as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse, its usage errors one line long."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _int_at_least(low: int, high: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}" + ("" if high is None else
                                                                                f" and <= {high}") + f", got {text}")
        return value
    return parse


SEED = _int_at_least(0, 2**32 - 1)
"""A seed NumPy's generators take."""


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < np.inf:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text}")
    return value


def _cutoffs(text: str) -> list:
    try:
        values = [int(c) for c in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected increasing integers separated by commas, got {text!r}") from None
    if any(c < 1 for c in values):
        raise argparse.ArgumentTypeError(f"expected cutoffs >= 1, got {text}")
    if any(a >= b for a, b in zip(values, values[1:])):
        raise argparse.ArgumentTypeError(f"expected increasing cutoffs, got {text}")
    return values


def _above_one(text: str) -> float:
    value = _positive_float(text)
    if not value > 1:
        raise argparse.ArgumentTypeError(f"expected a number > 1, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="fastrnn", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    table = "; ".join(f"{m}: " + ", ".join(f"{k}={v}" for k, v in d.items() if k not in COMMON and v is not None)
                      for m, d in DEFAULTS.items())
    train = sub.add_parser("train", help="train a language model and report perplexities",
                           description="Train on the bundled Penn Treebank, or on your own text with --train-file. "
                           "Defaults depend on --model (" + table + "; all: "
                           + ", ".join(f"{k}={v}" for k, v in COMMON.items()) + "). Under mpiexec, the processes "
                           "share the batch rows (data parallel).")
    train.add_argument("--model", choices=["simple", "rnnlm", "better"], default=None,
                       help="simple: SimpleRnnlm (RNN); rnnlm: Rnnlm (LSTM, the default); better: BetterRnnlm "
                            "(2 LSTM layers, dropout, weight tying; lr /4 when validation stops improving)")
    train.add_argument("--epochs", type=_int_at_least(1))
    train.add_argument("--batch-size", type=_int_at_least(1), help="rows of a batch (over all processes)")
    train.add_argument("--time-size", type=_int_at_least(1))
    train.add_argument("--wordvec-size", type=_int_at_least(1))
    train.add_argument("--hidden-size", type=_int_at_least(1))
    train.add_argument("--dropout", type=_fraction, help="dropout ratio (better only)")
    train.add_argument("--lr", type=_positive_float, help="SGD learning rate")
    train.add_argument("--max-grad", type=_positive_float, help="clip the global gradient norm to this")
    train.add_argument("--max-iters", type=_int_at_least(1), help="cap on the iterations of each epoch")
    train.add_argument("--eval-interval", type=_int_at_least(1), help="iterations between report lines")
    train.add_argument("--seed", type=SEED, help="seed of the weight initialisation and dropout masks")
    head = train.add_argument_group("output layer")
    head.add_argument("--head", choices=["full", "adaptive"], help="full: the reference's softmax over every word "
                      "(the default); adaptive: an adaptive softmax, whose cost does not grow with the vocabulary")
    head.add_argument("--cutoffs", type=_cutoffs, metavar="C0,C1,...",
                      help="--head adaptive: the shortlist's size, then where each cluster of rarer words starts "
                           "(words ranked by frequency; default 2000, 10000, 50000, ... below the vocabulary's size)")
    head.add_argument("--div-value", type=_above_one, help="--head adaptive: cluster i projects to "
                                                           "hidden-size / div-value**(i+1) units (default 4)")
    data = train.add_argument_group("your own text (default: the bundled Penn Treebank)")
    data.add_argument("--train-file", type=Path, help="UTF-8 text: words split at whitespace, each line end an <eos>")
    data.add_argument("--valid-file", type=Path, help="validation text (needed by --model better)")
    data.add_argument("--test-file", type=Path, help="test text")
    data.add_argument("--vocab-size", type=_int_at_least(2),
                      help="keep the K most frequent training words (<unk> included); default: all")
    data.add_argument("--min-count", type=_int_at_least(1), help="keep words seen at least C times (default 1)")
    data.add_argument("--cache-dir", type=Path, help="where converted corpora are kept (default: $FASTRNN_CACHE, "
                                                     "else ~/.cache/fastrnn)")
    out = train.add_argument_group("output and resuming")
    out.add_argument("--out", type=Path, help="directory for params.npz (after every epoch; for better, the best), "
                                              "checkpoint.npz and ppl.png")
    out.add_argument("--checkpoint-every", type=_int_at_least(0),
                     help=f"iterations between checkpoints (also at each epoch end; 0: epoch ends only; "
                          f"default {COMMON['checkpoint_every']})")
    out.add_argument("--resume", type=Path, metavar="DIR", help="go on with the run whose --out was DIR, exactly "
                                                                "where its last checkpoint left it")
    train.add_argument("--threads", type=_int_at_least(1), help="threads of each process (default: its share of the "
                                                                "cores)")
    train.add_argument("--no-progress", action="store_true", help="report lines instead of a progress bar "
                                                                  "(the default when output is not a terminal)")

    ev = sub.add_parser("eval", help="print the test perplexity of saved params")
    ev.add_argument("params", type=Path, help="params.npz or checkpoint.npz of fastrnn, or the reference's "
                                              "Rnnlm.pkl / BetterRnnlm.pkl / SimpleRnnlm.pkl")
    ev.add_argument("--test-file", type=Path, help="text to evaluate (default: the params' own test file, else "
                                                   "PTB's test set)")
    ev.add_argument("--model", choices=["simple", "rnnlm", "better"], help="model of the params (default: "
                                                                           "read from the file)")
    ev.add_argument("--cache-dir", type=Path, help="where converted corpora are kept")
    ev.add_argument("--no-progress", action="store_true")

    gen = sub.add_parser("generate", help="write text with trained params, from a start word or a prompt",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    gen.add_argument("params", type=Path, help="params of an rnnlm or better model: fastrnn's .npz or the "
                                               "reference's Rnnlm.pkl or BetterRnnlm.pkl")
    gen.add_argument("--model", choices=["rnnlm", "better"], default=None,
                     help="model of the params (default: read from the file)")
    gen.add_argument("--prompt", help="words the text starts with, each fed to the model (default: --start)")
    gen.add_argument("--start", default="you", help="the first word, when there is no --prompt")
    gen.add_argument("--length", type=_int_at_least(1), default=100, help="words to write, the prompt's included")
    gen.add_argument("--samples", type=_int_at_least(1), default=1, help="texts to write, each from the prompt")
    gen.add_argument("--temperature", type=_non_negative_float, default=1.0,
                     help="divides the scores before the softmax: below 1 surer, above 1 more varied; 0: the most "
                          "probable word every time")
    gen.add_argument("--top-k", type=_int_at_least(1), default=None, help="draw from the K most probable words only")
    gen.add_argument("--top-p", type=_probability, default=None,
                     help="draw from the fewest most probable words whose probabilities add up to P")
    gen.add_argument("--skip", default=None, metavar="W1,W2,...",
                     help="words never written besides <unk> (default: none; N and $ for PTB's vocabulary, as the "
                          "book does)")
    gen.add_argument("--seed", type=SEED, default=0, help="seed of the sampling")
    return parser


# -- files --------------------------------------------------------------------------


def writable_dir(path: Path, option: str) -> Path:
    """``path`` created if needed, once a file can be written in it (probed with a
    file of a random name, created exclusively: a planted link is not followed)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".fastrnn-probe-")
        os.close(fd)
        os.unlink(probe)
    except FileExistsError:
        raise UserError(f"{option} {path}: exists and is not a directory") from None
    except OSError as e:
        raise UserError(f"{option} {path}: cannot write there ({e.strerror or e})") from None
    return path


def cache_dir_of(cache_dir) -> Path:
    """The cache directory a command uses (``--cache-dir``, else the default of
    ``fastrnn.datasets.text.cache_root``), once it can be written."""
    from .datasets import text

    try:
        root = text.cache_root(cache_dir)
    except text.CacheError as e:
        raise UserError(str(e)) from None
    return writable_dir(root, "--cache-dir" if cache_dir is not None else "the cache directory (give --cache-dir)")


def read_params(path: Path):
    from . import io

    try:
        return io.read_params(path)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a directory, not a params file") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read it ({e.strerror})") from None
    except (io.ParamsError, pickle.UnpicklingError) as e:
        raise UserError(str(e)) from None


MODEL_NAMES = {"SimpleRnnlm": "simple", "Rnnlm": "rnnlm", "BetterRnnlm": "better"}


COUNTS = {"simple": 6, "rnnlm": 6, "better": 9}
"""Params of each model."""


def head_of(stored, path: Path) -> dict:
    """The output head a params file holds: ``{"head": "full"}``, or an adaptive
    head's settings with its word order (``LanguageModel._file_entries``)."""
    entries = stored.entries or {}
    if "head" not in entries:
        return {"head": "full"}
    try:
        head = json.loads(bytes(entries["head"]).decode())
        order = entries["head_order"]
        if head.get("head") != "adaptive" or order.dtype.kind not in "iu":
            raise ValueError
        return {"head": "adaptive", "cutoffs": [int(c) for c in head["cutoffs"]],
                "div_value": float(head["div_value"]), "order": order}
    except (KeyError, ValueError, TypeError, AttributeError):
        raise UserError(f"{path}: its output head's settings are damaged") from None


def infer_model(stored, path: Path, wanted: str | None) -> tuple:
    """(model kind, (V, D, H), head) of params read from ``path``: the model the
    file names (a reference pickle names none), checked against the arrays'
    shapes."""
    a = stored.arrays
    shapes = [x.shape for x in a]
    head = head_of(stored, path)
    if stored.model is not None and stored.model not in MODEL_NAMES:
        raise UserError(f"{path} holds params of {stored.model}, not of a language model of fastrnn train")
    named = MODEL_NAMES.get(stored.model)
    kind = None
    if head["head"] == "adaptive":  # the body's params, the tied embedding (better), the head's two, two a cluster
        body = {"simple": 4, "rnnlm": 4, "better": 8}.get(named, 0)
        if named is not None and len(a) == body + 2 + 2 * len(head["cutoffs"]) and all(x.ndim == 2 for x in a[:3]):
            kind = named
    elif len(a) in (6, 9) and all(x.ndim == 2 for x in a[:3]) and a[2].shape[0] > 0:
        ratio, rest = divmod(a[2].shape[1], a[2].shape[0])
        kind = "better" if len(a) == 9 and ratio == 4 else {1: "simple", 4: "rnnlm"}.get(ratio) if not rest else None
        if kind is not None and len(a) != COUNTS[kind]:
            kind = None
    if kind is None or (named is not None and named != kind):
        raise UserError(f"{path} does not hold params of SimpleRnnlm, Rnnlm or BetterRnnlm"
                        + (f" ({len(a)} arrays of shapes {', '.join(str(s) for s in shapes)})" if len(a) < 12 else ""))
    if wanted is not None and wanted != kind:
        raise UserError(f"{path} holds params of {kind} (--model {kind}), not {wanted}")
    V, D = shapes[0]
    return kind, (V, D, shapes[2][0]), head


def build_model(stored, path: Path, wanted: str | None, generator: bool = False):
    from . import generation, io, models

    kind, sizes, head = infer_model(stored, path, wanted)
    if generator:
        if kind == "simple":
            raise UserError(f"{path} holds SimpleRnnlm params: text generation needs rnnlm or better params")
        cls = {"rnnlm": generation.RnnlmGen, "better": generation.BetterRnnlmGen}[kind]
    else:
        cls = getattr(models, {"simple": "SimpleRnnlm", "rnnlm": "Rnnlm", "better": "BetterRnnlm"}[kind])
    try:
        model = cls(*sizes, **head)
        io.assign(path, model.params, stored.arrays)
    except io.ParamsError as e:
        raise UserError(str(e)) from None
    except (ValueError, TypeError) as e:
        raise UserError(f"{path}: {e}") from None
    return kind, model


def vocabulary_of(stored, path: Path) -> list:
    """The params' vocabulary: stored in the file, else PTB's (which has V = 10000)."""
    from .datasets import ptb

    V = stored.arrays[0].shape[0]
    if stored.words is not None:
        if len(stored.words) != V:
            raise UserError(f"{path}: its vocabulary has {len(stored.words)} words, its embedding {V} rows")
        return stored.words
    _, word_to_id, _ = ptb.load_data("train")
    if V != len(word_to_id):
        raise UserError(f"{path} carries no vocabulary and its {V} words are not PTB's {len(word_to_id)}")
    return list(word_to_id)


def convert_text(path: Path, vocab, cache_dir, progress, option: str):
    """The ids of text file ``path`` under ``vocab`` (converted once, then cached)."""
    from .datasets import text

    try:
        done = text.convert(path, vocab, cache_dir, progress)
    except text.CacheError as e:
        raise UserError(str(e)) from None
    except text.CorpusError as e:
        raise UserError(f"{option} {e}") from None
    except OSError as e:
        raise UserError(f"{option} {path}: {e.strerror or e}") from None
    if done.seconds is not None:
        print(f"converted {path}: {done.tokens:,} words ({done.unks / done.tokens:.1%} <unk>) in "
              f"{done.seconds:.1f} s", flush=True)
    return done


# -- train -------------------------------------------------------------------------


def absolute(path: Path, option: str) -> Path:
    """``path`` made absolute, its links resolved (a link loop is the user's mistake)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as e:  # RuntimeError: Python 3.11's "Symlink loop"
        raise UserError(f"{option} {path}: {getattr(e, 'strerror', None) or e}") from None


def _given(args) -> dict:
    """The training options given on the command line (paths made absolute)."""
    given = {k: getattr(args, k) for k in TRAINING if getattr(args, k, None) is not None}
    return {k: str(absolute(v, f"--{k.replace('_', '-')}")) if isinstance(v, Path) else v for k, v in given.items()}


def settings_of(args) -> dict:
    """The run's settings: the options given, else the model's defaults."""
    model = args.model or "rnnlm"
    s = dict(DEFAULTS[model], model=model, max_iters=None, train_file=None, valid_file=None, test_file=None,
             vocab_size=None, min_count=None, cache_dir=None, cutoffs=None, div_value=None)
    s.update(_given(args))
    if s["head"] != "adaptive" and (s["cutoffs"] is not None or s["div_value"] is not None):
        raise UserError("--cutoffs and --div-value apply to --head adaptive only")
    if s["head"] == "adaptive" and s["div_value"] is None:
        s["div_value"] = 4.0
    if model == "better" and s["wordvec_size"] != s["hidden_size"]:
        raise UserError("--model better ties weights: --wordvec-size must equal --hidden-size")
    if model != "better" and args.dropout is not None:
        raise UserError(f"--dropout applies to --model better only, not {model}")
    if s["train_file"] is None and any(s[k] is not None for k in ("valid_file", "test_file", "vocab_size", "min_count")):
        raise UserError("--valid-file, --test-file, --vocab-size and --min-count need --train-file")
    if model == "better" and s["train_file"] is not None and s["valid_file"] is None:
        raise UserError("--model better needs --valid-file: its learning rate follows the validation perplexity")
    return s


def load_corpus(s: dict, world, cache_dir, progress):
    """The run's data: PTB, or the files of the settings (rank 0 converts them first)."""
    from .datasets import ptb, text
    from .run import Corpus

    if s["train_file"] is None:
        train, word_to_id, _ = ptb.load_data("train")
        return Corpus(train, ptb.load_data("val")[0], ptb.load_data("test")[0], list(word_to_id),
                      "the Penn Treebank", {"name": "ptb"})
    cache_dir = cache_dir_of(cache_dir)
    if world.rank > 0:
        world.barrier()  # rank 0 converts; the others then find the files in the cache
    progress = progress and world.rank == 0
    try:
        vocab = text.build_vocabulary(s["train_file"], s["vocab_size"], s["min_count"] or 1, cache_dir, progress)
    except text.CacheError as e:
        raise UserError(str(e)) from None
    except text.CorpusError as e:
        raise UserError(f"--train-file {e}") from None
    except OSError as e:
        raise UserError(f"--train-file {s['train_file']}: {e.strerror or e}") from None
    names = ("train_file", "valid_file", "test_file")
    files = [convert_text(Path(s[k]), vocab, cache_dir, progress, f"--{k.replace('_', '-')}")
             if s[k] is not None else None for k in names]
    if world.rank == 0:
        world.barrier()
    return Corpus(*(None if f is None else f.ids for f in files), vocab.words, Path(s["train_file"]).name,
                  {"name": "text", "vocabulary": vocab.checksum, "train_words": int(files[0].tokens),
                   **{f"{k}_sha256": None if f is None else f.sha256 for k, f in zip(names, files)}})


def param_count(s: dict, V: int) -> int:
    """Params of the run's model (the full softmax's count, an upper bound for the
    adaptive head's)."""
    D, H = s["wordvec_size"], s["hidden_size"]
    gates = 1 if s["model"] == "simple" else 4
    body = gates * (D * H + H * H + H) + (gates * (2 * H * H + H) if s["model"] == "better" else 0)
    return V * D + body + H * V + V


def _memory() -> int:
    """Bytes of this machine's memory."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 1 << 62


def check_sizes(s: dict, corpus, world) -> None:
    from .run import EVAL_BATCH, EVAL_TIME

    need = s["batch_size"] * s["time_size"] + 1
    if len(corpus.train) < need:
        raise UserError(f"--batch-size {s['batch_size']} x --time-size {s['time_size']} needs at least {need:,} words "
                        f"of training text; {corpus.name} has {len(corpus.train):,}")
    if s["batch_size"] < world.size:
        raise UserError(f"--batch-size {s['batch_size']} is smaller than the {world.size} processes: each needs a row")
    V = len(corpus.words)
    if s["head"] == "adaptive" and s["cutoffs"] is not None and s["cutoffs"][-1] >= V:
        raise UserError(f"--cutoffs {','.join(map(str, s['cutoffs']))}: every cutoff must be below the vocabulary's "
                        f"{V:,} words")
    for data, option in ((corpus.valid, "--valid-file"), (corpus.test, "--test-file")):
        if data is not None and len(data) < EVAL_BATCH * EVAL_TIME + 1:
            raise UserError(f"{option} has {len(data):,} words; evaluation reads {EVAL_BATCH} rows of "
                            f"{EVAL_TIME} steps, so it needs at least {EVAL_BATCH * EVAL_TIME + 1}")


def resume_settings(args) -> tuple:
    """(settings, checkpoint, note) of the run in ``args.resume``, with the options
    that may change; ``note`` says why an older checkpoint is taken, if one is."""
    from . import checkpoint, io

    if not args.resume.is_dir():
        raise UserError(f"--resume {args.resume}: no such directory")
    try:
        ck, note = checkpoint.load_latest(args.resume)
    except FileNotFoundError:
        raise UserError(f"--resume {args.resume}: no {checkpoint.NAME} there (was it a run's --out?)") from None
    except OSError as e:
        raise UserError(f"--resume {args.resume / checkpoint.NAME}: cannot read it ({e.strerror})") from None
    except io.ParamsError as e:
        raise UserError(f"--resume {e}") from None
    s = dict({"head": "full", "cutoffs": None, "div_value": None}, **ck.run["settings"])  # older runs: a full head
    if args.model is not None and args.model != s["model"]:
        raise UserError(f"--resume {args.resume} holds a run of --model {s['model']}, not {args.model}")
    fixed = [k for k in _given(args) if k not in RESUMABLE and _given(args)[k] != s.get(k)]
    if fixed:
        raise UserError(f"--{fixed[0].replace('_', '-')} cannot change when resuming: the run in {args.resume} "
                        f"keeps its settings (only --epochs and --cache-dir may change)")
    return dict(s, **{k: v for k, v in _given(args).items() if k in RESUMABLE}), ck, note


def hold_lock(out: Path, option: str) -> None:
    """Hold ``out/.fastrnn.lock`` (an advisory lock, released when this process
    ends) so that two runs never write the same directory; it names the holder.
    Then remove what writes of a killed run left half done (their temporary files)."""
    import fcntl

    path = out / ".fastrnn.lock"
    try:  # held read-only: a file open for writing would keep its file system from going read-only
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise UserError(f"{option} {out}: cannot lock it ({path}: {e.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
        os.close(fd)
        raise UserError(f"{option} {out}: another fastrnn train is writing there"
                        + (f" (process {holder})" if holder.isdigit() else "")) from None
    _LOCKS.append(fd)
    try:
        with open(path, "w") as f:
            f.write(f"{os.getpid()}\n")
        for stale in out.glob(".*.tmp"):  # io.atomic_write's names
            stale.unlink()
    except OSError as e:
        raise UserError(f"{option} {out}: cannot write there ({e.strerror})") from None


_LOCKS = []
"""Descriptors of the locks this process holds (open until it ends)."""


def refuse_to_replace(out: Path) -> None:
    """A new run must not overwrite a run in ``out`` that could go on."""
    from . import checkpoint, io

    try:
        ck, _ = checkpoint.load_latest(out)
    except (OSError, io.ParamsError):  # none, or none readable: nothing to lose
        return
    if not ck.run.get("finished"):
        p = ck.run["position"]
        raise UserError(f"--out {out} holds a run stopped in epoch {p['epoch'] + 1} at iteration {p['iteration']}: "
                        f"go on with it with: fastrnn train --resume {out}, or give another --out")


def train(args) -> dict:
    from . import io, parallel
    from .run import MODELS, Interrupted, Run, WriteFailed
    from .trainer import TrainingDiverged, on_terminal

    if args.resume is not None and args.out is not None and absolute(args.out, "--out") != absolute(args.resume,
                                                                                                 "--resume"):
        raise UserError("--resume DIR writes to DIR: leave out --out, or give the same directory")
    try:
        world = parallel.world()
    except parallel.MPIUnavailable as e:
        raise UserError(str(e)) from None
    _limit_threads(args.threads or (parallel.share_of_cores(world.local_size) if world.size > 1 else None))
    if args.resume is not None:
        s, ck, note = resume_settings(args)
        out = writable_dir(args.resume, "--resume")
    else:
        s, ck, note = settings_of(args), None, None
        out = None if args.out is None else writable_dir(args.out, "--out")
    if out is not None and world.rank == 0:
        hold_lock(out, "--resume" if ck is not None else "--out")
        if ck is None:
            refuse_to_replace(out)
    if note is not None and world.rank == 0:
        print(f"fastrnn train: {note}", file=sys.stderr, flush=True)
    progress = False if args.no_progress else on_terminal()
    corpus = load_corpus(s, world, s.get("cache_dir"), progress)
    what = {"train_file_sha256": "the training file", "valid_file_sha256": "the validation file",
            "test_file_sha256": "the test file"}
    changed = sorted((k for k, v in ck.run["corpus"].items() if corpus.key.get(k) != v),
                     key=lambda k: k not in what) if ck is not None else []
    if changed:  # (a checkpoint of an older fastrnn holds fewer keys)
        raise UserError(f"--resume {args.resume}: {what.get(changed[0], 'the training data')} changed since the run "
                        f"started ({corpus.name} now gives another "
                        + ("content" if changed[0] in what else "vocabulary or length")
                        + "): the run's position in it would mean nothing")
    check_sizes(s, corpus, world)
    too_large = UserError(f"the model (--wordvec-size {s['wordvec_size']}, --hidden-size {s['hidden_size']}, "
                          f"vocabulary {len(corpus.words):,}) does not fit in this machine's memory")
    if 3 * 4 * param_count(s, len(corpus.words)) > _memory():  # params, grads and one more copy, float32
        raise too_large
    try:
        run = Run(s, corpus, out, world, progress)
    except MemoryError:
        raise too_large from None
    except ValueError as e:
        if "Maximum allowed dimension exceeded" not in str(e):  # NumPy's words for a shape past its index range
            raise
        raise too_large from None
    if ck is not None:
        try:
            run.restore(ck)
        except io.ParamsError as e:
            raise UserError(f"--resume {args.resume}: {e}") from None
        if run.finished and run.epoch >= s["epochs"]:
            run.say(f"the run in {args.resume} is complete ({run.epoch} epochs); --epochs N goes on to epoch N")
            return {}
        reached = run.epoch + (run.iteration > 0)
        if s["epochs"] < reached:
            raise UserError(f"--epochs {s['epochs']}: the run in {args.resume} has reached epoch {reached} "
                            f"(iteration {run.iteration}); give --epochs {reached} or more")
    run.say(f"{'resuming' if ck else 'training'} {MODELS[s['model']]} on {corpus.name} ({len(corpus.train):,} words, "
            f"vocabulary {len(corpus.words):,}): {s['epochs']} epochs of {run.iters_per_epoch} iterations, batch "
            f"{s['batch_size']}" + (f" over {world.size} processes ({_threads()} thread"
                                     f"{'s' if _threads() > 1 else ''} each)" if world.size > 1 else "")
            + f", {s['time_size']} steps, D={s['wordvec_size']}, H={s['hidden_size']}, lr {run.optimizer.lr:g}, "
            f"max_grad {s['max_grad']}" + (f", dropout {s['dropout']}" if s["model"] == "better" else "")
            + (f", adaptive softmax (cutoffs {','.join(map(str, run.model.loss_layer.cutoffs))}, div value "
               f"{s['div_value']:g})" if s["head"] == "adaptive" else "")
            + (f"; from epoch {run.epoch + 1}, iteration {run.iteration + 1}" if ck else ""))
    start = time.perf_counter()
    try:
        results = run.train()
    except Interrupted as e:
        how = (f"checkpoint written: resume with: fastrnn train --resume {out}" if e.saved else
               "nothing saved (no --out)")
        if world.rank == 0:
            print(f"fastrnn train: interrupted at {e}; {how}", file=sys.stderr, flush=True)
        raise SystemExit(128 + e.signum) from None
    except TrainingDiverged as e:
        raise SystemExit(_fail(world, f"fastrnn train: error: {e}; {run.kept(False)}", 1)) from None
    except WriteFailed as e:
        raise SystemExit(_error("train", f"{e}; {run.kept()}", 1)) from None
    seconds = time.perf_counter() - start
    if world.rank == 0:
        if out is not None and run.ppl_list:
            _plot(run.ppl_list, s["eval_interval"], out / "ppl.png")
        print(f"training time: {seconds:.1f} s" + (f" (last train perplexity {run.ppl_list[-1]:.2f})" if run.ppl_list
                                                   else ""))
        for key in ("valid", "test"):
            if key in results:
                print(f"{key} perplexity: {results[key]:.2f}")
        if out is not None:
            print(f"params: {out / 'params.npz'}")
    return results


def _fail(world, line: str, code: int) -> int:
    if world.rank == 0:
        print(line, file=sys.stderr, flush=True)
    return code


def _threads() -> int:
    import numba
    return numba.get_num_threads()


def _limit_threads(threads: int | None) -> None:
    if threads is None:
        return
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    threadpool_limits(threads)


def _plot(ppl_list: list, interval: int, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    from .trainer import _plot

    _plot(np.arange(len(ppl_list)) * interval + 1, ppl_list, "iterations", "training perplexity", None, path,
          log=True)


# -- eval and generate ----------------------------------------------------------------


def evaluate(args) -> float:
    from .datasets import ptb, text
    from .run import EVAL_BATCH, EVAL_TIME
    from .trainer import on_terminal
    from .util import eval_perplexity

    stored = read_params(args.params)
    kind, model = build_model(stored, args.params, args.model)
    words = vocabulary_of(stored, args.params)
    progress = False if args.no_progress else on_terminal()
    test_file = args.test_file or (stored.settings or {}).get("test_file")
    if test_file is None and stored.words is not None and stored.settings and stored.settings.get("train_file"):
        raise UserError(f"{args.params} was trained on {stored.settings['train_file']}: give --test-file")
    if test_file is None and stored.words is not None and stored.words != list(ptb.load_data("train")[1]):
        raise UserError(f"{args.params} carries a vocabulary that is not PTB's: give --test-file")
    if test_file is None:
        corpus, name = ptb.load_data("test")[0], "PTB's test set"
    else:
        try:
            vocab = text.Vocabulary(words)
        except text.CorpusError as e:
            raise UserError(f"{args.params}: {e}") from None
        corpus, name = convert_text(Path(test_file), vocab, cache_dir_of(args.cache_dir), progress,
                                    "--test-file").ids, test_file
    if len(corpus) < EVAL_BATCH * EVAL_TIME + 1:
        raise UserError(f"{name} has {len(corpus):,} words; evaluation needs at least {EVAL_BATCH * EVAL_TIME + 1}")
    model.reset_state()
    ppl = eval_perplexity(model, corpus, EVAL_BATCH, EVAL_TIME, progress=progress)
    print(f"test perplexity: {ppl:.2f} ({kind}, {args.params}, on {name})")
    return ppl


PTB_SKIPS = ("N", "$")
"""Words the book's generation script never writes with PTB's vocabulary (and <unk>)."""


def _text_of(tokens: list, line_end: str) -> str:
    """Words separated by spaces, each ``<eos>`` a ``line_end``."""
    pieces = []
    for w in tokens:
        if w == "<eos>":
            pieces.append(line_end)
        else:
            pieces.append(w if not pieces or pieces[-1].endswith("\n") else " " + w)
    return "".join(pieces).rstrip("\n")


def generate(args) -> str:
    from .datasets import ptb

    stored = read_params(args.params)
    _, model = build_model(stored, args.params, args.model, generator=True)
    words = vocabulary_of(stored, args.params)
    word_to_id = {w: i for i, w in enumerate(words)}
    ptb_words = words == list(ptb.load_data("train")[1])
    prompt = args.prompt.split() if args.prompt is not None else [args.start]
    option = "--prompt" if args.prompt is not None else "--start"
    if not prompt:
        raise UserError("--prompt holds no words")
    unknown = [w for w in prompt if w not in word_to_id]
    if unknown:
        raise UserError(f"{option} {unknown[0]!r} is not in the vocabulary of {args.params} ({len(words):,} words)")
    if args.length <= len(prompt) and args.prompt is not None:
        raise UserError(f"--length {args.length}: the prompt has {len(prompt)} words already; give more")
    skips = ["<unk>", *(args.skip.split(",") if args.skip is not None else PTB_SKIPS if ptb_words else ())]
    skip_ids = sorted({word_to_id[w] for w in skips if w in word_to_id})
    if len(set(skip_ids)) >= len(words):
        raise UserError(f"{args.params}: its vocabulary holds nothing to write but {', '.join(words)}")
    np.random.seed(args.seed)
    line_end = ".\n" if ptb_words else "\n"  # the book writes PTB's sentence ends as periods
    texts = []
    for _ in range(args.samples):
        model.reset_state()
        ids = model.generate([word_to_id[w] for w in prompt], skip_ids, args.length, temperature=args.temperature,
                             top_k=args.top_k, top_p=args.top_p)
        texts.append(_text_of([words[i] for i in ids], line_end))
    text = "\n\n".join(texts)
    print(text)
    return text


COMMANDS = {"train": train, "eval": evaluate, "generate": generate}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except UserError as e:
        return _error(args.command, str(e), 2)
    except KeyboardInterrupt:
        return _error(args.command, "interrupted", 130)
    except BrokenPipeError:  # output piped to a reader that stopped (`| head`)
        sys.stderr.close()
        return 1
    except SystemExit:
        raise
    except BaseException:
        _abort_others()
        raise
    return 0


def _error(command: str, message: str, code: int) -> int:
    from . import parallel

    world = parallel._world
    rank = "" if world is None or world.size == 1 or world.rank == 0 else f" (process {world.rank})"
    print(f"fastrnn {command}: error{rank}: {message}", file=sys.stderr, flush=True)
    if world is not None and world.size > 1:  # the other processes may be waiting in a collective
        world.abort(code)
    return code


def _abort_others() -> None:
    """An unexpected error under mpiexec: end the whole job, not this process alone."""
    from . import parallel

    world = parallel._world
    if world is not None and world.size > 1:
        import traceback
        traceback.print_exc()
        world.abort(1)


if __name__ == "__main__":
    sys.exit(main())
