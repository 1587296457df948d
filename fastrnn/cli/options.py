"""The ``fastrnn`` command's own argparse: one-line usage errors and the types of
its options' values (each names what it expected)."""
from __future__ import annotations

import argparse
import sys

import numpy as np


class UserError(Exception):
    """A mistake in the command's input: reported as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse, its usage errors one line long."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def int_at_least(low: int, high: int | None = None):
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


SEED = int_at_least(0, 2**32 - 1)
"""A seed NumPy's generators take."""


def number(accept, expected: str):
    """A parser of the numbers ``accept`` takes; any other value is named with
    what was ``expected``."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
        return value
    return parse


positive_float = number(lambda x: 0 < x < np.inf, "a number > 0")
fraction = number(lambda x: 0 <= x < 1, "a number in [0, 1)")
non_negative_float = number(lambda x: 0 <= x < np.inf, "a finite number >= 0")
probability = number(lambda x: 0 < x <= 1, "a number in (0, 1]")
above_one = number(lambda x: 1 < x < np.inf, "a number > 1")


_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}


def duration(text: str) -> float:
    """Seconds of a duration: ``5400``, ``90s``, ``45m``, ``2h``, ``1h30m``, ``1.5h``;
    above 0."""
    import re

    parts = re.fullmatch(r"\s*(?:(\d+(?:\.\d*)?)h)?(?:(\d+(?:\.\d*)?)m)?(?:(\d+(?:\.\d*)?)s?)?\s*", text.lower())
    if not text.strip() or parts is None or not any(parts.groups()):
        raise argparse.ArgumentTypeError(f"expected a duration such as 45m, 2h, 1h30m or 5400 (seconds), got {text!r}")
    seconds = sum(float(v) * unit for v, unit in zip(parts.groups(), _DURATION_UNITS.values()) if v)
    if not 0 < seconds < np.inf:
        raise argparse.ArgumentTypeError(f"expected a duration above 0, got {text}")
    return seconds


def cutoffs(text: str) -> list:
    try:
        values = [int(c) for c in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected increasing integers separated by commas, got {text!r}") from None
    if any(c < 1 for c in values):
        raise argparse.ArgumentTypeError(f"expected cutoffs >= 1, got {text}")
    if any(a >= b for a, b in zip(values, values[1:])):
        raise argparse.ArgumentTypeError(f"expected increasing cutoffs, got {text}")
    return values


def error(command: str, message: str, code: int) -> int:
    """Print ``fastrnn <command>: error: <message>`` (naming this process under
    mpiexec, where the others are ended too); returns ``code``."""
    from .. import parallel

    world = parallel._world
    rank = "" if world is None or world.size == 1 or world.rank == 0 else f" (process {world.rank})"
    print(f"fastrnn {command}: error{rank}: {message}", file=sys.stderr, flush=True)
    if world is not None and world.size > 1:  # the other processes may be waiting in a collective
        world.abort(code)
    return code
