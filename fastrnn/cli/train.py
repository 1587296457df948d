"""``fastrnn train``: its options, turned into the run's configuration (new or
resumed, ``fastrnn.training.config``), and the run (``fastrnn.training``) with its
messages: every mistake one line."""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import fields
from pathlib import Path

from ..kernels.bf16 import engine
from ..kernels.gemm import BF16
from ..optimizer import BY_NAME as OPTIMIZERS
from ..training.average import KINDS as AVERAGES
from ..training.config import DEFAULT_MODEL, KEYS, PRESETS, SECTIONS, Preset, RunConfig
from ..training.evaluation import bits
from ..training.schedule import KINDS as SCHEDULES
from .files import absolute, writable_dir
from .options import (SEED, UserError, above_one, cutoffs, duration, error, fraction, int_at_least,
                      non_negative_float, positive_float)

RESUMABLE = ("epochs", "max_words", "max_time", "cache_dir", "overlap")
"""Settings a resumed run may change."""


UNUSED_OPTIONS = {"none": ("lr_decay", "patience", "min_lr"), "plateau": (), "step": ("patience",),
                  "linear": ("lr_decay", "patience"), "cosine": ("lr_decay", "patience")}
"""The schedule options each --lr-schedule has no use for (refused when given)."""


def _defaults_text() -> str:
    """The presets' settings and every other default, for --help."""
    preset_keys = [f.name for f in fields(Preset) if f.name not in ("model_class", "settings")]
    presets = "; ".join(f"{name}: " + ", ".join(f"{k}={v}" for k, v in [*((k, getattr(p, k)) for k in preset_keys),
                                                                      *p.settings.items()] if v is not None)
                        for name, p in PRESETS.items())
    common = [(f.name, f.default) for section in SECTIONS.values() for f in fields(section)
              if f.name not in preset_keys and f.name != "model" and f.default is not None]
    return presets + "; all: " + ", ".join(f"{k}={v}" for k, v in common)


def add_parser(sub) -> None:
    train = sub.add_parser("train", help="train a language model and report perplexities",
                           description="Train on the bundled Penn Treebank, or on your own text with --train-file. "
                           "Defaults depend on --model (" + _defaults_text() + "). Under mpiexec, the processes "
                           "share the batch rows (data parallel).")
    train.add_argument("--model", choices=list(PRESETS), default=None,
                       help="simple: SimpleRnnlm (RNN); rnnlm: Rnnlm (LSTM, the default); better: BetterRnnlm "
                            "(2 LSTM layers, dropout, weight tying; lr /4 when validation stops improving); awd: "
                            "AWD-LSTM's PTB settings (3 LSTM layers 1150/1150/400, tied, its regularisers, NT-ASGD)")
    train.add_argument("--epochs", type=int_at_least(1), help="passes over the training text (the first of "
                       "--epochs, --max-words and --max-time reached ends the run)")
    train.add_argument("--max-words", type=int_at_least(1), metavar="N",
                       help="train N words at most (whole steps), then evaluate and keep the params as at an epoch's "
                            "end; resume with a larger N to go on")
    train.add_argument("--max-time", type=duration, metavar="DURATION",
                       help="train for this long at most, evaluations included (45m, 2h, 1h30m, or seconds): "
                            "turned into a number of steps early in the run (logged and kept, so a resumed run "
                            "follows the same schedule); resume with a larger one to go on")
    train.add_argument("--batch-size", type=int_at_least(1), help="rows of a batch (over all processes)")
    train.add_argument("--time-size", type=int_at_least(1), help="time steps of a batch's windows: backpropagation "
                       "through time reaches this far back (the model's: 35, awd 70)")
    train.add_argument("--wordvec-size", type=int_at_least(1), help="D, the embedding's size (the model's: 100, "
                       "better 650, awd 400)")
    train.add_argument("--hidden-size", type=int_at_least(1), help="H, each recurrent layer's hidden size (the "
                       "model's: 100, better 650, awd 1150)")
    train.add_argument("--cell", choices=["rnn", "lstm", "gru"], help="the recurrent layers' cell (default: the "
                                                                       "model's: simple rnn, rnnlm and better lstm)")
    train.add_argument("--layers", type=int_at_least(1), help="recurrent layers (default: the model's: better 2)")
    train.add_argument("--tied", action=argparse.BooleanOptionalAction, default=None,
                       help="the output weight tied to the embedding (needs --wordvec-size = --hidden-size; "
                            "default: the model's: better tied)")
    train.add_argument("--dropout", type=fraction, help="dropout after the embedding and each recurrent layer "
                                                         "(default: the model's: better 0.5)")
    _add_regulariser_options(train.add_argument_group("AWD-LSTM's structure and regularisers (Merity et al. 2017; "
                                                      "default: off, but for --model awd)"))
    train.add_argument("--precision", choices=["fp32", "bf16", "auto"], help="fp32 (the default, the reference's) or "
                       "bf16: every matrix product takes bfloat16 operands and sums in float32, everything else "
                       "float32 (needs a CPU with AVX512_BF16); evaluations run in fp32. auto: bf16 where the CPU "
                       "has AVX512_BF16, else fp32 (the run records which)")
    train.add_argument("--lr", type=positive_float, help="learning rate")
    train.add_argument("--max-grad", type=positive_float, help="clip the global gradient norm to this")
    train.add_argument("--max-iters", type=int_at_least(1), help="cap on the iterations of each epoch")
    train.add_argument("--eval-interval", type=int_at_least(1), help="iterations between report lines")
    train.add_argument("--seed", type=SEED, help="seed of the weight initialisation and dropout masks")
    opt = train.add_argument_group("optimizer and learning-rate schedule")
    opt.add_argument("--optimizer", choices=list(OPTIMIZERS), help="the update (default sgd, the book's)")
    opt.add_argument("--weight-decay", type=non_negative_float, help="adds W x param to each gradient after "
                                                                     "clipping (L2; default 0)")
    opt.add_argument("--lr-schedule", choices=list(SCHEDULES),
                     help="none: a constant lr (simple, rnnlm); plateau: validate after every epoch, keep the best "
                          "params, and divide lr by --lr-decay after --patience epochs without improvement (better); "
                          "step: divide lr by --lr-decay after every epoch; linear, cosine: from lr down to --min-lr "
                          "over the run's steps (its epochs, --max-words or --max-time), step by step")
    opt.add_argument("--lr-decay", type=above_one, help="what lr is divided by (default 4)")
    opt.add_argument("--patience", type=int_at_least(1), help="plateau: epochs without improvement before lr drops "
                                                                "(default 1)")
    opt.add_argument("--average", choices=list(AVERAGES),
                     help="evaluate and keep an average of the params over the last steps: ntasgd starts it when the "
                          "validation perplexity (checked after every epoch) is worse than the best before the last "
                          "--nonmono checks (Merity et al.'s NT-ASGD); tail at --average-from of the run's steps "
                          "(default none)")
    opt.add_argument("--nonmono", type=int_at_least(1), help="ntasgd: the checks a worse one is compared past "
                                                             "(default 5)")
    opt.add_argument("--average-from", type=fraction, metavar="F", help="tail: the share of the run's steps (its "
                     "epochs, --max-words or --max-time) after which averaging starts (default 0.75)")
    opt.add_argument("--min-lr", type=non_negative_float, help="plateau, step: stop early once lr falls below this "
                                                               "(default 0: never); linear, cosine: the last lr")
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
                          f"default {SECTIONS['output']().checkpoint_every})")
    out.add_argument("--log", type=Path, metavar="FILE", help="JSON lines: a record a report line (train "
                     "perplexity, learning rate, words/s, gradient norm, time) and an evaluation, flushed as written; "
                     "a resumed run goes on with it")
    out.add_argument("--overwrite", action="store_true", help="a new run may replace the run in --out (finished "
                                                               "or not) and an existing --log file")
    out.add_argument("--resume", type=Path, metavar="DIR", help="go on with the run whose --out was DIR, exactly "
                                                                "where its last checkpoint left it")
    _add_parallel_options(train.add_argument_group("several processes (mpiexec)"))
    train.add_argument("--threads", type=int_at_least(1), help="threads of each process (default: its share of the "
                                                                "cores)")
    train.add_argument("--no-progress", action="store_true", help="report lines instead of a progress bar "
                                                                  "(the default when output is not a terminal)")


def _add_regulariser_options(group) -> None:
    group.add_argument("--last-size", type=int_at_least(1), metavar="N", help="the last recurrent layer's hidden "
                       "size (default: --hidden-size; awd 400, the embedding's, for tying)")
    group.add_argument("--input-dropout", type=fraction, metavar="R", help="dropout after the embedding, in place "
                       "of --dropout there (awd 0.4)")
    group.add_argument("--hidden-dropout", type=fraction, metavar="R", help="dropout between recurrent layers, in "
                       "place of --dropout there (awd 0.25)")
    group.add_argument("--locked", action=argparse.BooleanOptionalAction, default=None,
                       help="locked (variational) dropout: one mask a row for every time step of a batch (awd)")
    group.add_argument("--embed-dropout", type=fraction, metavar="R", help="drop whole words of the embedding, "
                       "one mask a batch (awd 0.1)")
    group.add_argument("--weight-drop", type=fraction, metavar="R", help="DropConnect on each recurrent layer's "
                       "weight Wh, one mask a batch (awd 0.5)")
    group.add_argument("--ar", type=non_negative_float, metavar="ALPHA", help="activation regularisation: adds "
                       "ALPHA * mean(h**2) of the last layer's dropped output to the objective (awd 2)")
    group.add_argument("--tar", type=non_negative_float, metavar="BETA", help="temporal activation regularisation: "
                       "adds BETA * mean((h[t+1] - h[t])**2) of the last layer's output (awd 1)")
    group.add_argument("--variable-bptt", action=argparse.BooleanOptionalAction, default=None,
                       help="each step's windows of their own length, drawn around --time-size (the mean, or half "
                            "of it one step in 20, spread --time-size / 14), and the step's lr scaled by length / "
                            "--time-size (awd)")


def _add_parallel_options(group) -> None:
    group.add_argument("--overlap", action=argparse.BooleanOptionalAction, default=None,
                       help="under mpiexec, sum each layer's gradients over the processes while the backward pass "
                            "goes on (the default; --no-overlap: after it, in one message; the same bits either way)")
    group.add_argument("--grad-precision", choices=["fp32", "bf16"],
                       help="under mpiexec, how the gradients travel: fp32 (the default; the processes end with "
                            "one process's bits) or bf16 (half the bytes, rounded to nearest even, summed in float32: "
                            "the processes hold the same params, no longer one process's bits)")
    group.add_argument("--batch-per-process", type=int_at_least(1), metavar="R",
                       help="under mpiexec, rows of each process: the batch is R times the processes (8 machines of "
                            "20 rows train a batch of 160); instead of --batch-size, which is the whole batch")


def _given(args) -> dict:
    """The settings given on the command line (paths made absolute), by their flat names."""
    given = {k: getattr(args, k) for k in KEYS if k != "model" and getattr(args, k, None) is not None}
    if given.get("precision") == "auto":
        given["precision"] = "bf16" if BF16 else "fp32"
    return {k: str(absolute(v, f"--{k.replace('_', '-')}")) if isinstance(v, Path) else v for k, v in given.items()}


def config_of(args) -> RunConfig:
    """A new run's configuration: the options given, else the model's defaults."""
    model = args.model or DEFAULT_MODEL
    c = RunConfig.of(model, _given(args))
    m, d, sch = c.model, c.data, c.schedule
    if m.head != "adaptive" and (m.cutoffs is not None or m.div_value is not None):
        raise UserError("--cutoffs and --div-value apply to --head adaptive only")
    if m.tied and m.wordvec_size != m.last:
        raise UserError((f"--model {model} ties weights" if args.tied is None else "--tied ties the output weight to "
                         "the embedding") + ": --wordvec-size must equal "
                        + ("--hidden-size" if m.last_size is None else "--last-size"))
    if d.train_file is None and any(v is not None for v in (d.valid_file, d.test_file, d.vocab_size, d.min_count)):
        raise UserError("--valid-file, --test-file, --vocab-size and --min-count need --train-file")
    if d.train_file is None and d.tokens == "chars":
        raise UserError("--tokens chars needs --train-file (the bundled Penn Treebank is words)")
    unused = [k for k in UNUSED_OPTIONS[sch.lr_schedule] if getattr(args, k, None) is not None]
    if unused:
        uses = [n for n, opts in UNUSED_OPTIONS.items() if unused[0] not in opts]
        listed = " and ".join([", ".join(uses[:-1]), uses[-1]] if len(uses) > 1 else uses)
        raise UserError(f"--{unused[0].replace('_', '-')} applies to --lr-schedule {listed} only; this "
                        f"run's schedule is {sch.lr_schedule}"
                        + (" (the default of --model " + model + ")" if args.lr_schedule is None else ""))
    for key, kind in (("nonmono", "ntasgd"), ("average_from", "tail")):
        if getattr(args, key) is not None and sch.average != kind:
            raise UserError(f"--{key.replace('_', '-')} applies to --average {kind} only; this run's is {sch.average}")
    if sch.average == "ntasgd" and d.train_file is not None and d.valid_file is None:
        raise UserError("--average ntasgd needs --valid-file: it starts when the validation perplexity stops improving")
    if sch.lr_schedule == "plateau" and d.train_file is not None and d.valid_file is None:
        raise UserError(("--model better" if args.lr_schedule is None else "--lr-schedule plateau")
                        + " needs --valid-file: its learning rate follows the validation perplexity")
    return c


def resume_config(args) -> tuple:
    """(configuration, checkpoint, note) of the run in ``args.resume``, with the
    options that may change; ``note`` says why an older checkpoint is taken, if one is."""
    from .. import params_file
    from ..training import checkpoint

    if not args.resume.is_dir():
        raise UserError(f"--resume {args.resume}: no such directory")
    try:
        resumed, note = checkpoint.load_latest(args.resume)
    except FileNotFoundError:
        raise UserError(f"--resume {args.resume}: no {checkpoint.NAME} there (was it a run's --out?)") from None
    except OSError as e:
        raise UserError(f"--resume {args.resume / checkpoint.NAME}: cannot read it ({e.strerror})") from None
    except params_file.ParamsError as e:
        raise UserError(f"--resume {e}") from None
    config = RunConfig.from_dict(resumed.state.settings)
    if args.model is not None and args.model != config.model.model:
        raise UserError(f"--resume {args.resume} holds a run of --model {config.model.model}, not {args.model}")
    stored, given = config.to_dict(), _given(args)
    fixed = [k for k in given if k not in RESUMABLE and given[k] != stored[k]]
    if fixed:
        raise UserError(f"--{fixed[0].replace('_', '-')} cannot change when resuming: the run in {args.resume} "
                        f"keeps its settings (only --epochs, --max-words, --max-time, --cache-dir and --overlap "
                        "may change)")
    return config.with_changes(**{k: v for k, v in given.items() if k in RESUMABLE}), resumed, note


def _world(args):
    """The processes of the run, once the options that concern them agree."""
    from .. import parallel

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
    return world


def _prepare(args, world) -> tuple:
    """(configuration, checkpoint or None, output): only rank 0 reads and writes the
    run's directory (the others may run on machines without it): they get the
    configuration and the checkpoint from it."""
    from ..training.output import Output, check_log, hold_lock, refuse_to_replace

    config = resumed = note = out = None
    if world.rank == 0:
        if args.resume is not None:
            config, resumed, note = resume_config(args)
            out = writable_dir(args.resume, "--resume")
        else:
            config = config_of(args)
            out = None if args.out is None else writable_dir(args.out, "--out")
    if world.size > 1:
        config, resumed = world.bcast((config, resumed))
    config = _per_process(args, config, resumed, world)
    if config.model.precision == "bf16" and not BF16:
        raise UserError((f"--resume: the run in {args.resume} trains with bf16" if resumed is not None else
                         "--precision bf16") + " needs a CPU with AVX512_BF16, which this one has not")
    log = Path(config.output.log) if config.output.log is not None and world.rank == 0 else None
    if log is not None:
        check_log(log, resumed is None, args.overwrite)
    if out is not None:
        hold_lock(out, "--resume" if resumed is not None else "--out")
        if resumed is None and not args.overwrite:
            refuse_to_replace(out)
    if note is not None:
        print(f"fastrnn train: {note}", file=sys.stderr, flush=True)
    return config, resumed, Output(out, log)


def _per_process(args, config, resumed, world):
    """The configuration with its batch made of ``--batch-per-process`` rows a process."""
    rows = config.parallel.batch_per_process
    if rows is None:
        return config
    if resumed is not None and resumed.state.processes != world.size:
        raise UserError(f"--resume {args.resume}: the run gives each of its {resumed.state.processes} processes "
                        f"{rows} rows (--batch-per-process); resume it with as many processes, not {world.size}")
    if resumed is None and args.batch_size is not None:
        raise UserError("--batch-per-process gives the rows of each process: leave out --batch-size (the whole "
                        "batch), or give --batch-size alone")
    return config.with_changes(batch_size=rows * world.size)


def _start(config, corpus, output, world, progress):
    """The run, or one line when its model does not fit in memory."""
    from ..training import build
    from ..training.loop import Run

    build.check_memory(config, len(corpus.words))
    try:
        return Run(config, corpus, output, world, progress)
    except MemoryError:
        raise build.too_large(config, len(corpus.words)) from None
    except ValueError as e:
        if "Maximum allowed dimension exceeded" not in str(e):  # NumPy's words for a shape past its index range
            raise
        raise build.too_large(config, len(corpus.words)) from None


def _resume(run, resumed, where) -> bool:
    """Take up the checkpoint's run; False when it has nothing left to do."""
    from .. import params_file

    try:
        run.restore(resumed)
    except params_file.ParamsError as e:
        raise UserError(f"--resume {where}: {e}") from None
    p, epochs = run.progress, run.config.schedule.epochs
    if p.finished and (p.epoch >= epochs or run.budget_spent()):
        run.say(f"the run in {where} is complete ({p.epoch} epochs, {p.done:,} steps); a larger --epochs, "
                "--max-words or --max-time goes on")
        return False
    p.finished = False  # it goes on: its checkpoints until the end are of a run that can be resumed
    reached = p.epoch + (p.iteration > 0)
    if epochs < reached:
        raise UserError(f"--epochs {epochs}: the run in {where} has reached epoch {reached} "
                        f"(iteration {p.iteration}); give --epochs {reached} or more")
    return True


def run(args) -> dict:
    from ..training import corpus as corpora
    from ..trainer import on_terminal

    world = _world(args)
    config, resumed, output = _prepare(args, world)
    progress = False if args.no_progress else on_terminal()
    corpus = corpora.load(config.data, world, progress, verify=resumed is not None)
    if resumed is not None:
        corpora.check_unchanged(resumed.state.corpus, corpus, args.resume)
    corpora.check_fits(config, corpus, world.size)
    run = _start(config, corpus, output, world, progress)
    if resumed is not None and not _resume(run, resumed, args.resume):
        return {}
    run.say(("resuming " if resumed else "training ") + _describe_run(run, world)
            + (f"; from epoch {run.progress.epoch + 1}, iteration {run.progress.iteration + 1}" if resumed else ""))
    start = time.perf_counter()
    results = _train(run, world)
    if world.rank == 0:
        _print_results(run, results, time.perf_counter() - start)
    return results


def _train(run, world) -> dict:
    """``run.train()``, its failures as messages and exit statuses."""
    from ..runlog import LogBusy
    from ..trainer import TrainingDiverged
    from ..training.loop import Interrupted
    from ..training.output import WriteFailed

    try:
        return run.train()
    except LogBusy as e:
        raise UserError(f"--log {e}") from None
    except Interrupted as e:
        how = (f"checkpoint written: resume with: fastrnn train --resume {run.output.out}" if e.saved else
               "nothing saved (no --out)")
        if world.rank == 0:
            print(f"fastrnn train: interrupted at {e}; {how}", file=sys.stderr, flush=True)
        raise SystemExit(128 + e.signum) from None
    except TrainingDiverged as e:
        raise SystemExit(_fail(world, f"fastrnn train: error: {e}; {run.output.saved_note(False)}", 1)) from None
    except WriteFailed as e:
        raise SystemExit(error("train", f"{e}; {run.output.saved_note()}", 1)) from None


def _print_results(run, results: dict, seconds: float) -> None:
    from ..training.output import WriteFailed

    ppl_list, out, chars = run.progress.ppl_list, run.output.out, run.config.data.tokens == "chars"
    print(f"training time: {seconds:.1f} s" + (f" (last train perplexity {ppl_list[-1]:.2f})" if ppl_list else ""))
    for key in ("valid", "test"):
        if key in results:
            print(f"{key} perplexity: {results[key]:.2f}"
                  + (f" (bits per character: {bits(results[key]):.4f})" if chars else ""))
    if out is not None:
        print(f"params: {out / 'params.npz'}")
    try:
        run.output.plot(run.progress.report_iterations(run.iters_per_epoch, run.config.output.eval_interval),
                        ppl_list)
    except WriteFailed as e:
        raise SystemExit(error("train", f"{e}; {run.output.saved_note()}", 1)) from None


def _describe_run(run, world) -> str:
    from ..datasets.text import UNITS

    c, corpus, model = run.config, run.corpus, run.model
    m, o = c.model, c.optim
    threads = _threads()
    return (f"{describe(model)} on {corpus.name} ({len(corpus.train):,} {UNITS[c.data.tokens]}, vocabulary "
            f"{len(corpus.words):,}): {c.schedule.epochs} epochs of {run.iters_per_epoch} iterations"
            + "".join(f", at most {v}" for v in _budget_text(c.schedule)) + ", batch "
            f"{o.batch_size}" + (f" over {world.size} processes ({threads} thread{'s' if threads > 1 else ''} each)"
                                 if world.size > 1 else "")
            + f", {o.time_size} steps" + (" (variable)" if o.variable_bptt else "") + f", D={m.wordvec_size}, H={m.hidden_size}"
            + ("" if m.last_size is None else f" (last {m.last_size})") + f", lr {run.optimizer.lr:g}, "
            f"{c.schedule.lr_schedule} schedule, "
            f"max_grad {o.max_grad}" + (f", dropout {m.dropout}" if m.model == "better" else "")
            + (f", adaptive softmax (cutoffs {','.join(map(str, model.loss_layer.cutoffs))}, div value "
               f"{m.div_value:g})" if m.head == "adaptive" else "")
            + (f", precision bf16 ({engine()})" if m.precision == "bf16" else ""))


def _budget_text(schedule) -> list:
    """The budget's limits, as words."""
    texts = [] if schedule.max_words is None else [f"{schedule.max_words:,} words"]
    if schedule.max_time is not None:
        minutes, seconds = divmod(round(schedule.max_time), 60)
        texts.append(f"{minutes} min {seconds} s" if minutes else f"{seconds} s")
    return texts


def describe(model) -> str:
    """The model's class, with its structure when it is not a preset's."""
    structure = getattr(model, "structure", None)
    if structure is None or type(model).__name__ != "RnnLanguageModel":
        return model._params_name
    st = structure()
    regularisers = [f"{k.replace('_', ' ')} {st[k]}" for k in ("input_dropout", "hidden_dropout", "embed_dropout",
                                                               "weight_drop", "ar", "tar") if k in st]
    return (f"RnnLanguageModel ({st['layers']} {st['cell'].upper()} layer{'s' if st['layers'] > 1 else ''}"
            + (", tied" if st["tied"] else "") + (f", dropout {st['dropout']}" if st["dropout"] is not None else "")
            + (", locked" if st.get("locked") else "") + "".join(", " + r for r in regularisers) + ")")


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
