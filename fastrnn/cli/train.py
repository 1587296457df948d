"""``fastrnn train``: its options, the run's settings (new or resumed), its corpus,
and the run itself (``fastrnn.run.Run``) with its messages."""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

from ..kernels.bf16 import engine
from ..kernels.gemm import BF16
from .files import absolute, cache_dir_of, convert_text, corpus_step, hold_lock, refuse_to_replace, writable_dir
from .options import (SEED, UserError, above_one, cutoffs, error, fraction, int_at_least, non_negative_float,
                      positive_float)

COMMON = dict(batch_size=20, time_size=35, max_grad=0.25, eval_interval=20, seed=0, checkpoint_every=500,
              head="full", optimizer="sgd", weight_decay=0.0, lr_decay=4.0, patience=1, min_lr=0.0, precision="fp32")


DEFAULTS = {
    # the book's lr 20 diverges for the vanilla RNN on full PTB; 5 learns
    "simple": dict(COMMON, epochs=4, wordvec_size=100, hidden_size=100, lr=5.0, dropout=None, lr_schedule="none",
                   cell="rnn", layers=1, tied=False),
    "rnnlm": dict(COMMON, epochs=4, wordvec_size=100, hidden_size=100, lr=20.0, dropout=None, lr_schedule="none",
                  cell="lstm", layers=1, tied=False),
    "better": dict(COMMON, epochs=40, wordvec_size=650, hidden_size=650, lr=20.0, dropout=0.5,
                   lr_schedule="plateau", cell="lstm", layers=2, tied=True),
}
"""Per-model defaults: the book's chapter-5 and chapter-6 settings."""


TRAINING = ("epochs", "batch_size", "time_size", "wordvec_size", "hidden_size", "dropout", "lr", "max_grad",
            "max_iters", "eval_interval", "seed", "checkpoint_every", "head", "cutoffs", "div_value", "train_file",
            "valid_file", "test_file", "vocab_size", "min_count", "cache_dir", "log", "tokens", "optimizer",
            "weight_decay", "lr_schedule", "lr_decay", "patience", "min_lr", "cell", "layers", "tied", "precision")
"""Options that make a run's settings (fixed once it has started, but for RESUMABLE)."""


RESUMABLE = ("epochs", "cache_dir")
"""Settings a resumed run may change."""


UNUSED_OPTIONS = {"none": ("lr_decay", "patience", "min_lr"), "plateau": (), "step": ("patience",)}
"""The schedule options each --lr-schedule has no use for (refused when given)."""


OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
"""--optimizer: the classes of fastrnn.optimizer (their names in lower case), at their defaults but for lr."""


def add_parser(sub) -> None:
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
    train.add_argument("--epochs", type=int_at_least(1))
    train.add_argument("--batch-size", type=int_at_least(1), help="rows of a batch (over all processes)")
    train.add_argument("--time-size", type=int_at_least(1))
    train.add_argument("--wordvec-size", type=int_at_least(1))
    train.add_argument("--hidden-size", type=int_at_least(1))
    train.add_argument("--cell", choices=["rnn", "lstm", "gru"], help="the recurrent layers' cell (default: the "
                                                                       "model's: simple rnn, rnnlm and better lstm)")
    train.add_argument("--layers", type=int_at_least(1), help="recurrent layers (default: the model's: better 2)")
    train.add_argument("--tied", action=argparse.BooleanOptionalAction, default=None,
                       help="the output weight tied to the embedding (needs --wordvec-size = --hidden-size; "
                            "default: the model's: better tied)")
    train.add_argument("--dropout", type=fraction, help="dropout after the embedding and each recurrent layer "
                                                         "(default: the model's: better 0.5)")
    train.add_argument("--precision", choices=["fp32", "bf16"], help="fp32 (the default, the reference's) or bf16: "
                       "every matrix product takes bfloat16 operands and sums in float32, everything else float32 "
                       "(needs a CPU with AVX512_BF16); evaluations run in fp32")
    train.add_argument("--lr", type=positive_float, help="learning rate")
    train.add_argument("--max-grad", type=positive_float, help="clip the global gradient norm to this")
    train.add_argument("--max-iters", type=int_at_least(1), help="cap on the iterations of each epoch")
    train.add_argument("--eval-interval", type=int_at_least(1), help="iterations between report lines")
    train.add_argument("--seed", type=SEED, help="seed of the weight initialisation and dropout masks")
    opt = train.add_argument_group("optimizer and learning-rate schedule")
    opt.add_argument("--optimizer", choices=OPTIMIZERS, help="the update (default sgd, the book's)")
    opt.add_argument("--weight-decay", type=non_negative_float, help="adds W x param to each gradient after "
                                                                     "clipping (L2; default 0)")
    opt.add_argument("--lr-schedule", choices=["none", "plateau", "step"],
                     help="none: a constant lr (simple, rnnlm); plateau: validate after every epoch, keep the best "
                          "params, and divide lr by --lr-decay after --patience epochs without improvement (better); "
                          "step: divide lr by --lr-decay after every epoch")
    opt.add_argument("--lr-decay", type=above_one, help="what lr is divided by (default 4)")
    opt.add_argument("--patience", type=int_at_least(1), help="plateau: epochs without improvement before lr drops "
                                                                "(default 1)")
    opt.add_argument("--min-lr", type=non_negative_float, help="stop early once lr falls below this (default 0: "
                                                               "never)")
    head = train.add_argument_group("output layer")
    head.add_argument("--head", choices=["full", "adaptive"], help="full: the reference's softmax over every word "
                      "(the default); adaptive: an adaptive softmax, whose cost does not grow with the vocabulary")
    head.add_argument("--cutoffs", type=cutoffs, metavar="C0,C1,...",
                      help="--head adaptive: the shortlist's size, then where each cluster of rarer words starts "
                           "(words ranked by frequency; default 2000, 10000, 50000, ... below the vocabulary's size)")
    head.add_argument("--div-value", type=above_one, help="--head adaptive: cluster i projects to "
                                                           "hidden-size / div-value**(i+1) units (default 4)")
    data = train.add_argument_group("your own text (default: the bundled Penn Treebank)")
    data.add_argument("--train-file", type=Path, help="UTF-8 text: words split at whitespace (or characters, "
                                                      "--tokens chars), each line end an <eos>")
    data.add_argument("--tokens", choices=["words", "chars"], help="words (the default) or characters: every "
                      "character a token (spaces too), perplexity per character and bits per character")
    data.add_argument("--valid-file", type=Path, help="validation text (needed by --model better)")
    data.add_argument("--test-file", type=Path, help="test text")
    data.add_argument("--vocab-size", type=int_at_least(2),
                      help="keep the K most frequent training words (<unk> included); default: all")
    data.add_argument("--min-count", type=int_at_least(1), help="keep words seen at least C times (default 1)")
    data.add_argument("--cache-dir", type=Path, help="where converted corpora are kept (default: $FASTRNN_CACHE, "
                                                     "else ~/.cache/fastrnn)")
    out = train.add_argument_group("output and resuming")
    out.add_argument("--out", type=Path, help="directory for params.npz (after every epoch; for better, the best), "
                                              "checkpoint.npz and ppl.png")
    out.add_argument("--checkpoint-every", type=int_at_least(0),
                     help=f"iterations between checkpoints (also at each epoch end; 0: epoch ends only; "
                          f"default {COMMON['checkpoint_every']})")
    out.add_argument("--log", type=Path, metavar="FILE", help="JSON lines: a record a report line (train "
                     "perplexity, learning rate, words/s, gradient norm, time) and an evaluation, flushed as written; "
                     "a resumed run goes on with it")
    out.add_argument("--overwrite", action="store_true", help="a new run may replace the run in --out (finished "
                                                               "or not) and an existing --log file")
    out.add_argument("--resume", type=Path, metavar="DIR", help="go on with the run whose --out was DIR, exactly "
                                                                "where its last checkpoint left it")
    train.add_argument("--threads", type=int_at_least(1), help="threads of each process (default: its share of the "
                                                                "cores)")
    train.add_argument("--no-progress", action="store_true", help="report lines instead of a progress bar "
                                                                  "(the default when output is not a terminal)")


def _given(args) -> dict:
    """The training options given on the command line (paths made absolute)."""
    given = {k: getattr(args, k) for k in TRAINING if getattr(args, k, None) is not None}
    return {k: str(absolute(v, f"--{k.replace('_', '-')}")) if isinstance(v, Path) else v for k, v in given.items()}


def settings_of(args) -> dict:
    """The run's settings: the options given, else the model's defaults."""
    model = args.model or "rnnlm"
    s = dict(DEFAULTS[model], model=model, max_iters=None, train_file=None, valid_file=None, test_file=None,
             vocab_size=None, min_count=None, cache_dir=None, cutoffs=None, div_value=None, log=None,
             tokens="words")
    s.update(_given(args))
    if s["head"] != "adaptive" and (s["cutoffs"] is not None or s["div_value"] is not None):
        raise UserError("--cutoffs and --div-value apply to --head adaptive only")
    if s["head"] == "adaptive" and s["div_value"] is None:
        s["div_value"] = 4.0
    if s["tied"] and s["wordvec_size"] != s["hidden_size"]:
        raise UserError(("--model better ties weights" if args.tied is None else "--tied ties the output weight to "
                         "the embedding") + ": --wordvec-size must equal --hidden-size")
    if s["train_file"] is None and any(s[k] is not None for k in ("valid_file", "test_file", "vocab_size", "min_count")):
        raise UserError("--valid-file, --test-file, --vocab-size and --min-count need --train-file")
    if s["train_file"] is None and s["tokens"] == "chars":
        raise UserError("--tokens chars needs --train-file (the bundled Penn Treebank is words)")
    unused = [k for k in UNUSED_OPTIONS[s["lr_schedule"]] if getattr(args, k, None) is not None]
    if unused:
        uses = [n for n, opts in UNUSED_OPTIONS.items() if unused[0] not in opts]
        raise UserError(f"--{unused[0].replace('_', '-')} applies to --lr-schedule {' and '.join(uses)} only; this "
                        f"run's schedule is {s['lr_schedule']}"
                        + (" (the default of --model " + model + ")" if args.lr_schedule is None else ""))
    if s["lr_schedule"] == "plateau" and s["train_file"] is not None and s["valid_file"] is None:
        raise UserError(("--model better" if args.lr_schedule is None else "--lr-schedule plateau")
                        + " needs --valid-file: its learning rate follows the validation perplexity")
    return s


def resume_settings(args) -> tuple:
    """(settings, checkpoint, note) of the run in ``args.resume``, with the options
    that may change; ``note`` says why an older checkpoint is taken, if one is."""
    from .. import checkpoint, io

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
    old = ck.run["settings"]  # a checkpoint of an older fastrnn: the settings it then had
    s = {**{k: DEFAULTS[old["model"]][k] for k in ("cell", "layers", "tied")},
         "head": "full", "cutoffs": None, "div_value": None, "log": None, "tokens": "words", "optimizer": "sgd",
         "weight_decay": 0.0, "lr_decay": 4.0, "patience": 1, "min_lr": 0.0, "precision": "fp32",
         "lr_schedule": "plateau" if old.get("model") == "better" else "none", **old}
    if args.model is not None and args.model != s["model"]:
        raise UserError(f"--resume {args.resume} holds a run of --model {s['model']}, not {args.model}")
    fixed = [k for k in _given(args) if k not in RESUMABLE and _given(args)[k] != s.get(k)]
    if fixed:
        raise UserError(f"--{fixed[0].replace('_', '-')} cannot change when resuming: the run in {args.resume} "
                        f"keeps its settings (only --epochs and --cache-dir may change)")
    return dict(s, **{k: v for k, v in _given(args).items() if k in RESUMABLE}), ck, note


def load_corpus(s: dict, world, cache_dir, progress, verify: bool = False):
    """The run's data: PTB, or the files of the settings (rank 0 converts them first;
    with ``verify``, a resumed run's, each file is hashed again: an edit that kept its
    size and times is found)."""
    from ..datasets import ptb, text
    from ..run import Corpus

    if s["train_file"] is None:
        train, word_to_id, _ = ptb.load_data("train")
        return Corpus(train, ptb.load_data("val")[0], ptb.load_data("test")[0], list(word_to_id),
                      "the Penn Treebank", {"name": "ptb"})
    cache_dir = cache_dir_of(cache_dir)
    if world.rank > 0:
        world.barrier()  # rank 0 converts; the others then find the files in the cache
    progress = progress and world.rank == 0
    vocab = corpus_step("--train-file", s["train_file"], lambda: text.build_vocabulary(
        s["train_file"], s["vocab_size"], s["min_count"] or 1, cache_dir, progress, s["tokens"]))
    names = ("train_file", "valid_file", "test_file")
    files = [convert_text(Path(s[k]), vocab, cache_dir, progress, f"--{k.replace('_', '-')}", verify)
             if s[k] is not None else None for k in names]
    if world.rank == 0:
        world.barrier()
    return Corpus(*(None if f is None else f.ids for f in files), vocab.words, Path(s["train_file"]).name,
                  {"name": "text", "vocabulary": vocab.checksum, "train_words": int(files[0].tokens),
                   **{f"{k}_sha256": None if f is None else f.sha256 for k, f in zip(names, files)}})


def param_count(s: dict, V: int) -> int:
    """Distinct params of the run's model (the full softmax's count, an upper bound
    for the adaptive head's): embedding, each recurrent layer (Wx, Wh, b), and the
    output bias with its weight unless tied to the embedding."""
    from ..models import CELLS

    D, H, G = s["wordvec_size"], s["hidden_size"], CELLS[s["cell"]].GATES
    body = sum(G * H * ((D if k == 0 else H) + H + 1) for k in range(s["layers"]))
    return V * D + body + (0 if s["tied"] else H * V) + V


def _memory() -> int:
    """Bytes of this machine's memory."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 1 << 62


def check_sizes(s: dict, corpus, world) -> None:
    from ..run import EVAL_BATCH, EVAL_TIME

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


def run(args) -> dict:
    from .. import io, parallel
    from ..datasets.text import UNITS
    from ..run import Interrupted, Run, WriteFailed
    from ..runlog import LogBusy
    from ..trainer import TrainingDiverged, on_terminal

    if args.resume is not None and args.out is not None and absolute(args.out, "--out") != absolute(args.resume,
                                                                                                 "--resume"):
        raise UserError("--resume DIR writes to DIR: leave out --out, or give the same directory")
    if args.resume is not None and args.overwrite:
        raise UserError("--overwrite starts a new run: it does not go with --resume")
    try:
        world = parallel.world()
    except parallel.MPIUnavailable as e:
        raise UserError(str(e)) from None
    _limit_threads(args.threads or (parallel.share_of_cores(world.local_size) if world.size > 1 else None))
    # Only rank 0 reads and writes the run's directory (the others may run on machines
    # without it): they get the settings and the checkpoint from it.
    if args.resume is not None:
        s, ck, note = resume_settings(args) if world.rank == 0 else (None, None, None)
        out = writable_dir(args.resume, "--resume") if world.rank == 0 else None
    else:
        s, ck, note = settings_of(args), None, None
        out = None if args.out is None or world.rank > 0 else writable_dir(args.out, "--out")
    if world.size > 1:
        s, ck = world.bcast((s, ck))
    if s["precision"] == "bf16" and not BF16:
        raise UserError(("--resume: the run in {} trains with bf16".format(args.resume) if ck is not None else
                         "--precision bf16") + " needs a CPU with AVX512_BF16, which this one has not")
    if s["log"] is not None and world.rank == 0:
        log = Path(s["log"])
        if log.is_dir():
            raise UserError(f"--log {log} is a directory: give a file")
        if log.exists() and not log.is_file():
            raise UserError(f"--log {log} is not a regular file")
        if ck is None and not args.overwrite and log.exists() and log.stat().st_size > 0:
            raise UserError(f"--log {log} exists: give a new file, or --overwrite to replace it")
        writable_dir(log.parent, "--log")
    if out is not None and world.rank == 0:
        hold_lock(out, "--resume" if ck is not None else "--out")
        if ck is None and not args.overwrite:
            refuse_to_replace(out)
    if note is not None and world.rank == 0:
        print(f"fastrnn train: {note}", file=sys.stderr, flush=True)
    progress = False if args.no_progress else on_terminal()
    corpus = load_corpus(s, world, s.get("cache_dir"), progress, verify=ck is not None)
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
        run.finished = False  # it goes on: its checkpoints until the end are of a run that can be resumed
        reached = run.epoch + (run.iteration > 0)
        if s["epochs"] < reached:
            raise UserError(f"--epochs {s['epochs']}: the run in {args.resume} has reached epoch {reached} "
                            f"(iteration {run.iteration}); give --epochs {reached} or more")
    run.say(f"{'resuming' if ck else 'training'} {describe(run.model)} on {corpus.name} ({len(corpus.train):,} "
            f"{UNITS[s['tokens']]}, "
            f"vocabulary {len(corpus.words):,}): {s['epochs']} epochs of {run.iters_per_epoch} iterations, batch "
            f"{s['batch_size']}" + (f" over {world.size} processes ({_threads()} thread"
                                     f"{'s' if _threads() > 1 else ''} each)" if world.size > 1 else "")
            + f", {s['time_size']} steps, D={s['wordvec_size']}, H={s['hidden_size']}, lr {run.optimizer.lr:g}, "
            f"max_grad {s['max_grad']}" + (f", dropout {s['dropout']}" if s["model"] == "better" else "")
            + (f", adaptive softmax (cutoffs {','.join(map(str, run.model.loss_layer.cutoffs))}, div value "
               f"{s['div_value']:g})" if s["head"] == "adaptive" else "")
            + (f", precision bf16 ({engine()})" if s["precision"] == "bf16" else "")
            + (f"; from epoch {run.epoch + 1}, iteration {run.iteration + 1}" if ck else ""))
    start = time.perf_counter()
    try:
        results = run.train()
    except LogBusy as e:
        raise UserError(f"--log {e}") from None
    except Interrupted as e:
        how = (f"checkpoint written: resume with: fastrnn train --resume {out}" if e.saved else
               "nothing saved (no --out)")
        if world.rank == 0:
            print(f"fastrnn train: interrupted at {e}; {how}", file=sys.stderr, flush=True)
        raise SystemExit(128 + e.signum) from None
    except TrainingDiverged as e:
        raise SystemExit(_fail(world, f"fastrnn train: error: {e}; {run.kept(False)}", 1)) from None
    except WriteFailed as e:
        raise SystemExit(error("train", f"{e}; {run.kept()}", 1)) from None
    seconds = time.perf_counter() - start
    if world.rank == 0:
        print(f"training time: {seconds:.1f} s" + (f" (last train perplexity {run.ppl_list[-1]:.2f})" if run.ppl_list
                                                   else ""))
        for key in ("valid", "test"):
            if key in results:
                print(f"{key} perplexity: {results[key]:.2f}" + (f" (bits per character: {bits(results[key]):.4f})"
                                                                 if s["tokens"] == "chars" else ""))
        if out is not None:
            print(f"params: {out / 'params.npz'}")
        if out is not None and run.ppl_list:
            try:
                _plot(run.report_iterations(), run.ppl_list, out / "ppl.png")
            except OSError as e:
                raise SystemExit(error("train", f"{WriteFailed(out / 'ppl.png', e)}; {run.kept()}", 1)) from None
    return results


def describe(model) -> str:
    """The model's class, with its structure when it is not a preset's."""
    structure = getattr(model, "structure", None)
    if structure is None or type(model).__name__ != "RnnLanguageModel":
        return model._params_name
    st = structure()
    return (f"RnnLanguageModel ({st['layers']} {st['cell'].upper()} layer{'s' if st['layers'] > 1 else ''}"
            + (", tied" if st["tied"] else "") + ")")


def bits(ppl: float) -> float:
    """Bits per token of a perplexity."""
    return math.log2(ppl) if ppl > 0 else math.nan


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


def _plot(iterations: list, ppl_list: list, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    from ..trainer import _plot

    _plot(iterations, ppl_list, "iterations", "training perplexity", None, path, log=True)
