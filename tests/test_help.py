"""The command line's help: every option of every command explained, each default
said once, no markup; ``fastrnn --version``."""
import argparse
import re

import pytest

import fastrnn
from cli_support import fastrnn as run_fastrnn
from fastrnn.cli import COMMANDS, build_parser


def commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, sub.choices


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_option_has_help_with_one_default(name):
    parser = commands()[1][name]
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help and action.help.strip(), f"{name} {action.option_strings or action.dest}: no help"
    text = parser.format_help()
    assert "None" not in text and "``" not in text, text
    for option in re.split(r"\n(?=  -|\S)", text):  # an option's entry, or a group's heading, at a time
        assert option.count("(default") <= 1, option


def test_the_top_level_help_has_no_markup():
    text = commands()[0].format_help()
    assert "``" not in text and all(command in text for command in COMMANDS)


def test_version():
    run = run_fastrnn("--version")
    assert run.stdout.strip() == f"fastrnn {fastrnn.__version__}"
