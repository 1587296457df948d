"""The ``fastrnn`` command: ``fastrnn train`` trains a language model on the bundled PTB;
``fastrnn generate`` writes text with trained params."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

MODELS = {"simple": "SimpleRnnlm", "rnnlm": "Rnnlm", "better": "BetterRnnlm"}

COMMON = dict(batch_size=20, time_size=35, max_grad=0.25, eval_interval=20, seed=0)
DEFAULTS = {
    # the book's lr 20 diverges for the vanilla RNN on full PTB; 5 learns
    "simple": dict(COMMON, epochs=4, wordvec_size=100, hidden_size=100, lr=5.0),
    "rnnlm": dict(COMMON, epochs=4, wordvec_size=100, hidden_size=100, lr=20.0),
    "better": dict(COMMON, epochs=40, wordvec_size=650, hidden_size=650, lr=20.0, dropout=0.5),
}
"""Per-model defaults: the book's chapter-5 and chapter-6 settings."""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastrnn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    table = "; ".join(f"{m}: " + ", ".join(f"{k}={v}" for k, v in d.items() if k not in COMMON)
                      for m, d in DEFAULTS.items())
    train = sub.add_parser("train", help="train a language model on the Penn Treebank and report perplexities",
                           description="Defaults depend on --model (" + table + "; all: "
                           + ", ".join(f"{k}={v}" for k, v in COMMON.items()) + ").")
    train.add_argument("--model", choices=sorted(MODELS), default="rnnlm",
                       help="simple: SimpleRnnlm (RNN); rnnlm: Rnnlm (LSTM); better: BetterRnnlm "
                            "(2 LSTM layers, dropout, weight tying; lr /4 when validation stops improving)")
    train.add_argument("--epochs", type=_positive_int)
    train.add_argument("--batch-size", type=_positive_int)
    train.add_argument("--time-size", type=_positive_int)
    train.add_argument("--wordvec-size", type=_positive_int)
    train.add_argument("--hidden-size", type=_positive_int)
    train.add_argument("--dropout", type=float, help="dropout ratio (better only)")
    train.add_argument("--lr", type=_positive_float, help="SGD learning rate")
    train.add_argument("--max-grad", type=_positive_float, help="clip the global gradient norm to this")
    train.add_argument("--max-iters", type=_positive_int, default=None,
                       help="cap on the iterations of each epoch (default: the whole corpus)")
    train.add_argument("--eval-interval", type=_positive_int)
    train.add_argument("--seed", type=int, help="seed of the weight initialisation and dropout masks")
    train.add_argument("--out", type=Path, default=None,
                       help="directory for the trained params (params.npz: after every epoch, for better "
                            "the best so far) and ppl.png")
    train.add_argument("--no-progress", action="store_true", help="print report lines instead of a progress bar")

    gen = sub.add_parser("generate", help="write text from a start word with trained params",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    gen.add_argument("params", type=Path, help="params file: fastrnn's params.npz or the reference's Rnnlm.pkl "
                                                "or BetterRnnlm.pkl")
    gen.add_argument("--model", choices=["rnnlm", "better"], default=None,
                     help="model of the params (default: read from a .npz file, else from the file name)")
    gen.add_argument("--start", default="you", help="the first word")
    gen.add_argument("--length", type=_positive_int, default=100, help="words to write, the first included")
    gen.add_argument("--seed", type=int, default=0, help="seed of the sampling")
    return parser


def _settings(args) -> argparse.Namespace:
    """args with every option left unset taken from the model's defaults."""
    for key, value in DEFAULTS[args.model].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.model == "better" and args.wordvec_size != args.hidden_size:
        raise SystemExit("fastrnn train: --model better ties weights: --wordvec-size must equal --hidden-size")
    if args.dropout is not None and not 0 <= args.dropout < 1:
        raise SystemExit(f"fastrnn train: --dropout must be in [0, 1), got {args.dropout}")
    return args


def train(args) -> dict:
    from . import models
    from .datasets import ptb
    from .optimizer import SGD
    from .trainer import RnnlmTrainer
    from .util import eval_perplexity

    args = _settings(args)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    corpus, word_to_id, _ = ptb.load_data("train")
    corpus_val, _, _ = ptb.load_data("val")
    corpus_test, _, _ = ptb.load_data("test")
    np.random.seed(args.seed)
    sizes = (len(word_to_id), args.wordvec_size, args.hidden_size)
    model = getattr(models, MODELS[args.model])(*sizes, *([args.dropout] if args.model == "better" else []))
    optimizer = SGD(args.lr)
    trainer = RnnlmTrainer(model, optimizer)
    progress = not args.no_progress
    params_file = None if args.out is None else args.out / "params.npz"

    def evaluate(data) -> float:
        model.reset_state()
        ppl = eval_perplexity(model, data, progress=progress)
        model.reset_state()
        return ppl

    print(f"training {MODELS[args.model]} on PTB ({len(corpus):,} words): {args.epochs} epochs, "
          f"batch {args.batch_size}, {args.time_size} steps, D={args.wordvec_size}, H={args.hidden_size}, "
          f"lr {args.lr}, max_grad {args.max_grad}" + (f", dropout {args.dropout}" if args.model == "better" else ""))
    fit = dict(batch_size=args.batch_size, time_size=args.time_size, max_grad=args.max_grad,
               eval_interval=args.eval_interval, max_iters=args.max_iters, progress=progress)
    start = time.perf_counter()
    ppl_list, results = [], {}
    if args.model == "better":  # the book's schedule: one epoch at a time, keep the best params
        best_ppl, best = float("inf"), None
        for epoch in range(args.epochs):
            trainer.fit(corpus[:-1], corpus[1:], max_epoch=1, **fit)
            ppl_list += trainer.ppl_list
            ppl = evaluate(corpus_val)
            print(f"epoch {epoch + 1}: valid perplexity {ppl:.2f}, lr {optimizer.lr:g}, "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
            if ppl < best_ppl:
                best_ppl, best = ppl, [p.copy() for p in model.params]
                if params_file is not None:
                    model.save_params(params_file)
            else:
                optimizer.lr /= 4.0
        for p, b in zip(model.params, best):
            p[...] = b
        results["valid"] = best_ppl
    else:
        trainer.fit(corpus[:-1], corpus[1:], max_epoch=args.epochs,
                    on_epoch_end=lambda tr: params_file and model.save_params(params_file), **fit)
        ppl_list = trainer.ppl_list
    train_time = time.perf_counter() - start
    print(f"training time: {train_time:.1f} s (last train perplexity {ppl_list[-1] if ppl_list else float('nan'):.2f})")
    if args.out is not None and ppl_list:
        trainer.ppl_list = ppl_list
        trainer.ppl_iters = list(range(1, len(ppl_list) + 1))
        trainer.plot(file_name=args.out / "ppl.png")

    results["train_time"] = train_time
    if "valid" not in results:
        results["valid"] = evaluate(corpus_val)
    print(f"valid perplexity: {results['valid']:.2f}")
    results["test"] = evaluate(corpus_test)
    print(f"test perplexity: {results['test']:.2f}")
    print(f"total time: {time.perf_counter() - start:.1f} s")
    return results


def generate(args) -> str:
    from . import generation, io
    from .datasets import ptb

    arrays, stored = io.read_params(args.params)
    names = {"Rnnlm": "rnnlm", "BetterRnnlm": "better"}
    model_name = args.model or (names.get(stored) if stored is not None else
                                "better" if "better" in args.params.name.lower() else "rnnlm")
    if model_name is None or (stored is not None and names.get(stored) != model_name):
        raise SystemExit(f"fastrnn generate: {args.params} holds params of {stored}; "
                         f"text generation needs {args.model or 'rnnlm or better'} params")
    embed, Wh = arrays[0], arrays[2]
    cls = {"rnnlm": generation.RnnlmGen, "better": generation.BetterRnnlmGen}[model_name]
    model = cls(embed.shape[0], embed.shape[1], Wh.shape[0])
    io.assign(args.params, model.params, arrays)
    _, word_to_id, id_to_word = ptb.load_data("train")
    if args.start not in word_to_id:
        raise SystemExit(f"fastrnn generate: {args.start!r} is not in the PTB vocabulary")
    skip_ids = [word_to_id[w] for w in ("N", "<unk>", "$")]
    np.random.seed(args.seed)
    model.reset_state()
    ids = model.generate(word_to_id[args.start], skip_ids, args.length)
    text = " ".join(id_to_word[i] for i in ids).replace(" <eos>", ".\n")
    print(text)
    return text


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        if args.out is not None:
            import matplotlib
            matplotlib.use("Agg")
        train(args)
    elif args.command == "generate":
        generate(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
