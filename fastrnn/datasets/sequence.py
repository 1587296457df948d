"""The book's character sequence data sets, shipped with fastrnn (the reference's
``dataset.sequence``): ``addition.txt`` (``16+75  _91  ``) and ``date.txt``.

Each line is a question, then ``_`` and its answer.  ``load_data`` numbers the
characters in order of first appearance (questions and answers of each line in
turn) into one vocabulary kept for the whole process, as the reference does:
``get_vocab()`` returns it, and a second file extends it.
"""
from __future__ import annotations

import gzip
from importlib import resources
from pathlib import Path

import numpy as np

char_to_id: dict = {}
id_to_char: dict = {}

BUNDLED = ("addition.txt", "date.txt")


def _read_lines(file_name) -> list:
    if str(file_name) in BUNDLED:
        with resources.files(__package__).joinpath("data", f"{file_name}.gz").open("rb") as raw:
            text = gzip.decompress(raw.read()).decode("utf-8")
    else:
        path = Path(file_name)
        if not path.is_file():
            raise FileNotFoundError(f"file_name: no file {file_name} (the bundled ones: {', '.join(BUNDLED)})")
        text = path.read_text(encoding="utf-8")
    return text.splitlines()


def _update_vocab(text: str) -> None:
    for char in text:
        if char not in char_to_id:
            char_to_id[char] = len(char_to_id)
            id_to_char[char_to_id[char]] = char


def load_data(file_name="addition.txt", seed: int | None = 1984):
    """``(x_train, t_train), (x_test, t_test)``: question and answer character ids.

    ``file_name`` is a bundled set (``addition.txt``, ``date.txt``) or the path of
    a file of such lines, every question of one length and every answer of one
    length.  The lines are shuffled with ``numpy.random.seed(seed)`` (no reseeding
    when seed is None) and ``numpy.random.shuffle``; the last ``len // 10`` are the
    test split.  Reseeding NumPy's global generator is part of the interface:
    the book's scripts draw their initial weights after it.
    """
    questions, answers = [], []
    for number, line in enumerate(_read_lines(file_name), 1):
        idx = line.find("_")
        if idx < 0:
            raise ValueError(f"{file_name}, line {number}: no '_' between question and answer: {line!r}")
        questions.append(line[:idx])
        answers.append(line[idx:])
    if not questions:
        raise ValueError(f"{file_name} holds no lines")
    for texts, what in ((questions, "questions"), (answers, "answers")):
        lengths = {len(s) for s in texts}
        if len(lengths) != 1:
            raise ValueError(f"{file_name}: all {what} must have one length, got lengths {sorted(lengths)}")
    for q, a in zip(questions, answers):
        _update_vocab(q)
        _update_vocab(a)

    x = np.array([[char_to_id[c] for c in q] for q in questions], dtype=int)
    t = np.array([[char_to_id[c] for c in a] for a in answers], dtype=int)
    indices = np.arange(len(x))
    if seed is not None:
        np.random.seed(seed)
    np.random.shuffle(indices)
    x, t = x[indices], t[indices]
    split_at = len(x) - len(x) // 10
    return (x[:split_at], t[:split_at]), (x[split_at:], t[split_at:])


def get_vocab():
    """``(char_to_id, id_to_char)`` of every character loaded so far."""
    return char_to_id, id_to_char
