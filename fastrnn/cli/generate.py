"""``fastrnn generate``: text from saved params, a prompt and sampling controls."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .options import SEED, UserError, int_at_least, non_negative_float, probability
from .saved import build_model, read_params, vocabulary


def add_parser(sub) -> None:
    gen = sub.add_parser("generate", help="write text with trained params, from a start word or a prompt",
                         description="Write text with trained params, from a start word or a prompt.")
    gen.add_argument("params", type=Path, help="params of a language model of fastrnn train: fastrnn's .npz or the "
                                               "reference's Rnnlm.pkl or BetterRnnlm.pkl")
    gen.add_argument("--model", choices=["simple", "rnnlm", "better"], default=None,
                     help="model of the params (default: read from the file)")
    gen.add_argument("--prompt", help="words the text starts with, each fed to the model (default: --start)")
    gen.add_argument("--start", default="you", help="the first word, when there is no --prompt (default: you)")
    gen.add_argument("--length", type=int_at_least(1), default=100, help="words to write, the prompt's included (default: 100)")
    gen.add_argument("--samples", type=int_at_least(1), default=1, help="texts to write, each from the prompt (default: 1)")
    gen.add_argument("--temperature", type=non_negative_float, default=1.0,
                     help="divides the scores before the softmax: below 1 surer, above 1 more varied; 0: the most "
                          "probable word every time (default: 1)")
    gen.add_argument("--top-k", type=int_at_least(1), default=None, help="draw from the K most probable words only (default: all)")
    gen.add_argument("--top-p", type=probability, default=None,
                     help="draw from the fewest most probable words whose probabilities add up to P "
                          "(default: 1, all)")
    gen.add_argument("--skip", default=None, metavar="W1,W2,...",
                     help="words never written besides <unk> (default: none; N and $ for PTB's vocabulary, as the "
                          "book does)")
    gen.add_argument("--seed", type=SEED, default=0, help="seed of the sampling (default: 0)")


PTB_SKIPS = ("N", "$")
"""Words the book's generation script never writes with PTB's vocabulary (and <unk>)."""


def _text_of(tokens: list, line_end: str, space: str = " ") -> str:
    """Tokens separated by ``space``, each ``<eos>`` a ``line_end``."""
    pieces = []
    for w in tokens:
        if w == "<eos>":
            pieces.append(line_end)
        else:
            pieces.append(w if not pieces or pieces[-1].endswith("\n") else space + w)
    return "".join(pieces).rstrip("\n")


def run(args) -> str:
    from ..datasets import ptb

    stored = read_params(args.params)
    _, model = build_model(stored, args.params, args.model, generator=True)
    vocab = vocabulary(stored, args.params)
    words, word_to_id, chars = vocab.words, vocab.word_to_id, vocab.tokens == "chars"
    ptb_words = words == list(ptb.load_data("train")[1])
    prompt = vocab.split(args.prompt if args.prompt is not None else args.start)
    if not chars and args.prompt is None:
        prompt = [args.start]
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
        texts.append(_text_of([words[i] for i in ids], line_end, "" if chars else " "))
    text = "\n\n".join(texts)
    print(text)
    return text
