"""``fastrnn score``: the log-probability and perplexity of each line of a text."""
from __future__ import annotations

import math
import sys
from pathlib import Path

from .options import UserError, int_at_least
from .saved import build_model, read_params, vocabulary

BLOCK = 4096
"""Lines read, scored and written at a time (memory stays bounded for any file)."""


def add_parser(sub) -> None:
    sc = sub.add_parser("score", help="print the log-probability and perplexity of each line of a text",
                        description="Each line is scored on its own, from a fresh state: its words split at "
                                    "whitespace (words the vocabulary lacks as <unk>), the first predicted after "
                                    "an <eos>, and the line's end as an <eos>. Writes a line per line: natural "
                                    "log-probability, perplexity (per token, the <eos> counted), tokens, the "
                                    "line (with --per-word, each token=its log-probability instead); the totals "
                                    "go to stderr.")
    sc.add_argument("params", type=Path, help="params of a fastrnn language model, or a reference .pkl")
    sc.add_argument("file", type=Path, help="UTF-8 text to score, a line at a time ('-': standard input)")
    sc.add_argument("--per-word", action="store_true", help="each token's log-probability instead of the line")
    sc.add_argument("--model", choices=["simple", "rnnlm", "better"], help="model of the params (default: read "
                                                                           "from the file)")
    sc.add_argument("--batch-size", type=int_at_least(1), default=32, help="lines scored together (default: 32)")


def _lines(path: Path):
    """The lines of ``path`` (or standard input), decoded strictly as UTF-8."""
    if str(path) == "-":
        stream = sys.stdin.buffer
    else:
        if not path.is_file():
            raise UserError(f"{path}: no such file" if not path.exists() else f"{path} is not a regular file")
        try:
            stream = open(path, "rb")
        except OSError as e:
            raise UserError(f"{path}: cannot read it ({e.strerror})") from None
    with stream:
        for number, raw in enumerate(stream, 1):
            try:
                text = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise UserError(f"{path} is not UTF-8 text (line {number:,})") from None
            if "\0" in text:
                raise UserError(f"{path} is not a text file: a NUL byte on line {number:,}")
            yield text.removeprefix("\ufeff") if number == 1 else text


def run(args) -> float:
    import numpy as np

    from ..scoring import line_log_probs
    from ..util import perplexity

    stored = read_params(args.params)
    _, model = build_model(stored, args.params, args.model)
    vocab = vocabulary(stored, args.params)
    words, word_to_id = vocab.words, vocab.word_to_id
    if "<eos>" not in word_to_id or "<unk>" not in word_to_id:
        raise UserError(f"{args.params}: its vocabulary lacks <eos> or <unk>, which scoring a line needs")
    eos, unk = word_to_id["<eos>"], word_to_id["<unk>"]
    total, tokens, count = 0.0, 0, 0
    block = []

    def flush():
        nonlocal total, tokens, count
        ids = [np.array([word_to_id.get(w, unk) for w in vocab.split(line)], np.int64) for line in block]
        for line, token_ids, logp in zip(block, ids, line_log_probs(model, ids, eos, args.batch_size)):
            s = float(logp.sum())
            total, tokens, count = total + s, tokens + logp.size, count + 1
            shown = (" ".join(f"{words[i]!r}={p:.4f}" if vocab.tokens == "chars" and words[i] != "<eos>" else
                              f"{words[i]}={p:.4f}" for i, p in zip([*token_ids, eos], logp)) if args.per_word
                     else line)
            print(f"{s:.4f}\t{perplexity(-s / logp.size):.2f}\t{logp.size}\t{shown}")
        block.clear()

    for line in _lines(args.file):
        block.append(line)
        if len(block) == BLOCK:
            flush()
    flush()
    ppl = perplexity(-total / tokens) if tokens else math.nan
    print(f"fastrnn score: {count:,} lines, {tokens:,} tokens (line ends included), log-probability {total:.4f}, "
          f"perplexity {ppl:.2f}", file=sys.stderr)
    return total

