"""The model a params file holds, for the commands that read one: fastrnn's files
through ``fastrnn.model_files``, the reference's pickles by their arrays' shapes;
its vocabulary."""
from __future__ import annotations

import pickle
from pathlib import Path

from .options import UserError


def read_params(path: Path):
    from .. import params_file

    try:
        return params_file.read_params(path)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a directory, not a params file") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read it ({e.strerror})") from None
    except (params_file.ParamsError, pickle.UnpicklingError) as e:
        raise UserError(str(e)) from None


COUNTS = {"simple": 6, "rnnlm": 6, "better": 9}
"""Params of each model of the reference (a pickle holds a full head)."""
KINDS = {"SimpleRnnlm": "simple", "Rnnlm": "rnnlm", "BetterRnnlm": "better", "RnnLanguageModel": None}
"""The --model of each class a params file names (None: a structure of its own)."""


def infer_pickle(arrays: list, path: Path) -> str:
    """The model of the reference's pickled params: SimpleRnnlm, Rnnlm and
    BetterRnnlm told apart by their counts of arrays and the ratio of Wh's columns
    to its rows (1 for an RNN, 4 for an LSTM)."""
    kind = None
    if len(arrays) in (6, 9) and all(x.ndim == 2 for x in arrays[:3]) and arrays[2].shape[0] > 0:
        ratio, rest = divmod(arrays[2].shape[1], arrays[2].shape[0])
        kind = None if rest else "better" if len(arrays) == 9 and ratio == 4 else {1: "simple", 4: "rnnlm"}.get(ratio)
        if kind is not None and len(arrays) != COUNTS[kind]:
            kind = None
    if kind is None:
        raise UserError(f"{path} does not hold params of SimpleRnnlm, Rnnlm or BetterRnnlm"
                        + (f" ({len(arrays)} arrays of shapes {', '.join(str(x.shape) for x in arrays)})"
                           if len(arrays) < 12 else ""))
    return kind


def build_model(stored, path: Path, wanted: str | None, generator: bool = False):
    """(--model kind or "custom", model) of params read from ``path``: the model a
    fastrnn file records (``fastrnn.model_files``), or a reference pickle's inferred."""
    from .. import params_file
    from ..model_files import model_from
    from ..training.config import PRESETS

    name = stored.model
    if name is None:  # a reference pickle
        kind = infer_pickle(stored.arrays, path)
        name = PRESETS[kind].model_class
    elif name in KINDS:
        kind = KINDS[name] or "custom"
    else:
        raise UserError(f"{path} holds params of {name}, not of a language model of fastrnn train")
    if wanted is not None and kind == "custom":
        raise UserError(f"{path} holds params of a model of its own structure: leave out --model")
    if wanted is not None and wanted != kind:
        raise UserError(f"{path} holds params of {kind} (--model {kind}), not {wanted}")
    try:
        return kind, model_from(stored, path, generator, name)
    except params_file.ParamsError as e:
        raise UserError(str(e)) from None


def vocabulary_of(stored, path: Path) -> list:
    """The params' vocabulary: stored in the file, else PTB's (which has V = 10000)."""
    from ..datasets import ptb

    V = stored.arrays[0].shape[0]
    if stored.words is not None:
        if len(stored.words) != V:
            raise UserError(f"{path}: its vocabulary has {len(stored.words)} words, its embedding {V} rows")
        return stored.words
    _, word_to_id, _ = ptb.load_data("train")
    if V != len(word_to_id):
        raise UserError(f"{path} carries no vocabulary and its {V} words are not PTB's {len(word_to_id)}")
    return list(word_to_id)


def vocabulary(stored, path: Path):
    """The params' vocabulary as a ``fastrnn.datasets.text.Vocabulary`` split as
    its training text was (words, or characters: the settings' ``tokens``)."""
    from ..datasets import text

    try:
        return text.Vocabulary(vocabulary_of(stored, path), (stored.settings or {}).get("tokens", "words"))
    except text.CorpusError as e:
        raise UserError(f"{path}: {e}") from None
