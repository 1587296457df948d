"""The ``fastrnn`` command: ``fastrnn train`` trains a language model on the bundled PTB."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

MODELS = {"simple": "SimpleRnnlm"}

DEFAULTS = dict(epochs=4, batch_size=20, time_size=35, wordvec_size=100, hidden_size=100,
                lr=5.0, max_grad=0.25, eval_interval=20, seed=0)


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
    train = sub.add_parser("train", help="train a language model on the Penn Treebank and report perplexities",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    train.add_argument("--model", choices=sorted(MODELS), default="simple")
    train.add_argument("--epochs", type=_positive_int, default=DEFAULTS["epochs"])
    train.add_argument("--batch-size", type=_positive_int, default=DEFAULTS["batch_size"])
    train.add_argument("--time-size", type=_positive_int, default=DEFAULTS["time_size"])
    train.add_argument("--wordvec-size", type=_positive_int, default=DEFAULTS["wordvec_size"])
    train.add_argument("--hidden-size", type=_positive_int, default=DEFAULTS["hidden_size"])
    train.add_argument("--lr", type=_positive_float, default=DEFAULTS["lr"], help="SGD learning rate")
    train.add_argument("--max-grad", type=_positive_float, default=DEFAULTS["max_grad"],
                       help="clip the global gradient norm to this")
    train.add_argument("--max-iters", type=_positive_int, default=None,
                       help="cap on the iterations of each epoch (default: the whole corpus)")
    train.add_argument("--eval-interval", type=_positive_int, default=DEFAULTS["eval_interval"])
    train.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="seed of the weight initialisation")
    train.add_argument("--out", type=Path, default=None,
                       help="directory for the trained params (params.npz, after every epoch) and ppl.png")
    train.add_argument("--no-progress", action="store_true", help="print report lines instead of a progress bar")
    return parser


def train(args) -> dict:
    from . import models
    from .datasets import ptb
    from .optimizer import SGD
    from .trainer import RnnlmTrainer
    from .util import eval_perplexity

    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    corpus, word_to_id, _ = ptb.load_data("train")
    corpus_val, _, _ = ptb.load_data("val")
    corpus_test, _, _ = ptb.load_data("test")
    np.random.seed(args.seed)
    model = getattr(models, MODELS[args.model])(len(word_to_id), args.wordvec_size, args.hidden_size)
    trainer = RnnlmTrainer(model, SGD(args.lr))

    def checkpoint(tr):
        if args.out is not None:
            model.save_params(args.out / "params.npz")

    print(f"training {MODELS[args.model]} on PTB ({len(corpus):,} words): {args.epochs} epochs, "
          f"batch {args.batch_size}, {args.time_size} steps, lr {args.lr}, max_grad {args.max_grad}")
    start = time.perf_counter()
    trainer.fit(corpus[:-1], corpus[1:], max_epoch=args.epochs, batch_size=args.batch_size,
                time_size=args.time_size, max_grad=args.max_grad, eval_interval=args.eval_interval,
                max_iters=args.max_iters, progress=not args.no_progress, on_epoch_end=checkpoint)
    train_time = time.perf_counter() - start
    last = trainer.ppl_list[-1] if trainer.ppl_list else float("nan")
    print(f"training time: {train_time:.1f} s (last train perplexity {last:.2f})")
    if args.out is not None and trainer.ppl_list:
        trainer.plot(file_name=args.out / "ppl.png")

    results = {"train_time": train_time}
    for name, data in (("valid", corpus_val), ("test", corpus_test)):
        model.reset_state()
        results[name] = eval_perplexity(model, data, progress=not args.no_progress)
        print(f"{name} perplexity: {results[name]:.2f}")
    return results


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        if args.out is not None:
            import matplotlib
            matplotlib.use("Agg")
        train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
