"""The ``fastrnn`` command (``DESCRIPTION``, its help)."""
from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from . import evaluate, generate, plot, score, train
from .options import Parser, UserError, error

DESCRIPTION = """\
fastrnn train trains a language model on the bundled Penn Treebank or on your own
text, with checkpoints that resume exactly and, under mpiexec, several processes;
fastrnn eval prints the test perplexity of saved params; fastrnn generate writes
text with them; fastrnn score gives each line of a text its log-probability;
fastrnn plot draws the perplexities of a run's --log. A mistake in the input (a
bad file, word, size or path) ends a command with one line, "fastrnn <command>:
error: ...", and exit status 2."""

COMMANDS = {"train": train, "eval": evaluate, "generate": generate, "score": score, "plot": plot}
"""Each command's module: ``add_parser(subparsers)`` and ``run(args)``."""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="fastrnn", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"fastrnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS.values():
        command.add_parser(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _check_environment()
        COMMANDS[args.command].run(args)
    except UserError as e:
        return error(args.command, str(e), 2)
    except KeyboardInterrupt:
        return error(args.command, "interrupted", 130)
    except BrokenPipeError:  # output piped to a reader that stopped (`| head`)
        sys.stderr.close()
        return 1
    except SystemExit:
        raise
    except BaseException:
        _abort_others()
        raise
    return 0


def _check_environment() -> None:
    """UserError for an environment variable of fastrnn's with a value it cannot take."""
    from ..kernels.bf16 import CAN_AMX, ENGINES

    engine = os.environ.get("FASTRNN_BF16_ENGINE")
    if engine and engine not in ENGINES:
        raise UserError(f"the environment variable FASTRNN_BF16_ENGINE must be one of {', '.join(ENGINES)}, "
                        f"got {engine!r}")
    if engine == "amx" and not CAN_AMX:
        raise UserError("the environment variable FASTRNN_BF16_ENGINE is amx, but this CPU has no AMX-BF16")


def _abort_others() -> None:
    """An unexpected error under mpiexec: end the whole job, not this process alone."""
    from .. import parallel

    world = parallel._world
    if world is not None and world.size > 1:
        import traceback
        traceback.print_exc()
        world.abort(1)


if __name__ == "__main__":
    sys.exit(main())
