"""``fastrnn plot``: train and validation perplexity of a run's ``--log``, against
words, time or steps."""
from __future__ import annotations

from pathlib import Path

from .options import UserError

AXES = {"words": ("words", "words trained"), "time": ("elapsed_s", "seconds of training"),
        "step": ("step", "iterations")}


def add_parser(sub) -> None:
    pl = sub.add_parser("plot", help="plot the perplexities of a run's --log",
                        description="Train perplexity (each report) and validation perplexity (each evaluation) "
                                    "of a fastrnn train --log file, on a log scale, into a PNG file.")
    pl.add_argument("log", type=Path, help="the JSON-lines file of fastrnn train --log")
    pl.add_argument("--x", choices=sorted(AXES), default="words", help="the horizontal axis (default: words)")
    pl.add_argument("--out", type=Path, help="the PNG file (default: the log's name with .png)")


def run(args) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..params_file import atomic_write
    from ..runlog import read

    if not args.log.is_file():
        raise UserError(f"{args.log}: no such file" if not args.log.exists() else f"{args.log} is not a regular file")
    try:
        records = read(args.log)
    except FileNotFoundError:
        raise UserError(f"{args.log}: no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UserError(f"{args.log} is not a fastrnn train --log file ({getattr(e, 'strerror', None) or e})") from None
    if not all(isinstance(r, dict) and "event" in r for r in records):
        raise UserError(f"{args.log} is not a fastrnn train --log file (a line is not a record of one)")
    key, label = AXES[args.x]
    fig, ax = plt.subplots()
    for event, name, field in (("train", "train", "train_ppl"), ("valid", "validation", "valid_ppl")):
        points = [(r[key], r[field]) for r in records if r["event"] == event and r.get(field) is not None]
        if points:
            ax.plot(*zip(*points), marker="." if event == "valid" else None, label=f"{name} perplexity")
    if not ax.lines:
        plt.close(fig)
        raise UserError(f"{args.log} holds no perplexities yet")
    ax.set_yscale("log")
    ax.set_xlabel(label)
    ax.set_ylabel("perplexity")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    out = args.out or args.log.with_suffix(".png")
    try:
        atomic_write(out, lambda f: fig.savefig(f, format="png"))
    except OSError as e:
        raise UserError(f"--out {out}: cannot write it ({e.strerror})") from None
    finally:
        plt.close(fig)
    print(f"plot: {out}")
    return out
