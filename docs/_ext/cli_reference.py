"""Writes ``reference/cli.md`` from the ``fastrnn`` command's argparse parsers when
a build starts: every command's ``--help``, as a user sees it at 100 columns."""
import argparse
import os
from pathlib import Path

INTRO = """\
Generated from the parsers at every build of this site: each command's `--help`, as
`fastrnn <command> --help` prints it. Every mistake in a command's input ends it with one line,
`fastrnn <command>: error: ...`, and exit status 2.
"""


def text() -> str:
    from fastrnn.cli import build_parser

    os.environ["COLUMNS"] = "100"  # argparse wraps at the terminal's width
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    parts = ["# Command line\n", INTRO, "## fastrnn\n", "```text\n" + parser.format_help() + "```\n"]
    for name, command in sub.choices.items():
        parts += [f"## fastrnn {name}\n", "```text\n" + command.format_help() + "```\n"]
    return "\n".join(parts)


def write(app) -> None:
    path = Path(app.srcdir) / "reference" / "cli.md"
    new = text()
    if not path.is_file() or path.read_text() != new:  # unchanged: Sphinx need not read it again
        path.write_text(new)


def setup(app):
    app.connect("builder-inited", write)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
