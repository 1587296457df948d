"""``fastrnn eval``: the test perplexity of saved params."""
from __future__ import annotations

from pathlib import Path

from ..kernels.gemm import BF16
from .files import cache_dir_of, convert_text
from .options import UserError, int_at_least
from .saved import build_model, read_params, vocabulary, vocabulary_of
from ..training.evaluation import EVAL_BATCH, EVAL_TIME, bits


def add_parser(sub) -> None:
    ev = sub.add_parser("eval", help="print the test perplexity of saved params")
    ev.add_argument("params", type=Path, help="params.npz or checkpoint.npz of fastrnn, or the reference's "
                                              "Rnnlm.pkl / BetterRnnlm.pkl / SimpleRnnlm.pkl")
    ev.add_argument("--test-file", type=Path, help="text to evaluate (needed for params trained on your own text; "
                                                   "default: PTB's test set)")
    ev.add_argument("--model", choices=["simple", "rnnlm", "better"], help="model of the params (default: "
                                                                           "read from the file)")
    ev.add_argument("--batch-size", type=int_at_least(1), default=EVAL_BATCH,
                    help=f"rows read at once, each from its own offset and a zero state (default {EVAL_BATCH}, the "
                         "reference's; 1: one stateful pass over the whole text, AWD-LSTM's test protocol)")
    ev.add_argument("--time-size", type=int_at_least(1), default=EVAL_TIME,
                    help=f"time steps a forward (default {EVAL_TIME}); the last words of each row that do not fill "
                         "one are not scored")
    ev.add_argument("--cache-dir", type=Path, help="where converted corpora are kept")
    ev.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="of the products (default fp32, whatever the params were trained with; bf16 needs a CPU "
                         "with AVX512_BF16)")
    ev.add_argument("--no-progress", action="store_true", help="no progress bar (the default when output is not a "
                                                                "terminal)")


def run(args) -> float:
    from ..datasets import ptb
    from ..trainer import on_terminal
    from ..util import eval_perplexity

    stored = read_params(args.params)
    if args.precision == "bf16" and not BF16:
        raise UserError("--precision bf16 needs a CPU with AVX512_BF16, which this one has not")
    kind, model = build_model(stored, args.params, args.model)
    model.set_precision(args.precision)
    vocabulary_of(stored, args.params)  # (its size checked against the embedding)
    progress = False if args.no_progress else on_terminal()
    test_file = args.test_file  # never a path the params file names: it may come from elsewhere
    settings = stored.settings or {}
    if test_file is None and stored.words is not None and settings.get("train_file"):
        recorded = f" (its run's test file was {settings['test_file']})" if settings.get("test_file") else ""
        raise UserError(f"{args.params} was trained on {settings['train_file']}: give --test-file{recorded}")
    if test_file is None and stored.words is not None and stored.words != list(ptb.load_data("train")[1]):
        raise UserError(f"{args.params} carries a vocabulary that is not PTB's: give --test-file")
    if test_file is None:
        corpus, name = ptb.load_data("test")[0], "PTB's test set"
    else:
        vocab = vocabulary(stored, args.params)
        corpus, name = convert_text(Path(test_file), vocab, cache_dir_of(args.cache_dir), progress,
                                    "--test-file").ids, test_file
    need = args.batch_size * args.time_size + 1
    if len(corpus) < need:
        raise UserError(f"{name} has {len(corpus):,} words; evaluation with --batch-size {args.batch_size} and "
                        f"--time-size {args.time_size} needs at least {need:,}")
    model.reset_state()
    ppl = eval_perplexity(model, corpus, args.batch_size, args.time_size, progress=progress)
    chars = (stored.settings or {}).get("tokens") == "chars"
    protocol = ("" if (args.batch_size, args.time_size) == (EVAL_BATCH, EVAL_TIME) else
                f", batch size {args.batch_size}, {args.time_size} time steps")
    print(f"test perplexity: {ppl:.2f} ({kind}, {args.params}, on {name}{protocol}"
          + (", precision bf16)" if args.precision == "bf16" else ")")
          + (f"; bits per character: {bits(ppl):.4f}" if chars else ""))
    return ppl
