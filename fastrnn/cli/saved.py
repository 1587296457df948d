"""The model a params file holds: its kind and sizes read from the arrays and the
names the file carries, its output head, its vocabulary."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

from .options import UserError


def read_params(path: Path):
    from .. import io

    try:
        return io.read_params(path)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a directory, not a params file") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read it ({e.strerror})") from None
    except (io.ParamsError, pickle.UnpicklingError) as e:
        raise UserError(str(e)) from None


MODEL_NAMES = {"SimpleRnnlm": "simple", "Rnnlm": "rnnlm", "BetterRnnlm": "better", "RnnLanguageModel": "custom"}


COUNTS = {"simple": 6, "rnnlm": 6, "better": 9}
"""Params of each model."""


def head_of(stored, path: Path) -> dict:
    """The output head a params file holds: ``{"head": "full"}``, or an adaptive
    head's settings with its word order (``LanguageModel._file_entries``)."""
    entries = stored.entries or {}
    if "head" not in entries:
        return {"head": "full"}
    try:
        head = json.loads(bytes(entries["head"]).decode())
        order = entries["head_order"]
        if head.get("head") != "adaptive" or order.dtype.kind not in "iu":
            raise ValueError
        return {"head": "adaptive", "cutoffs": [int(c) for c in head["cutoffs"]],
                "div_value": float(head["div_value"]), "order": order}
    except (KeyError, ValueError, TypeError, AttributeError):
        raise UserError(f"{path}: its output head's settings are damaged") from None


def structure_of(stored, path: Path) -> dict:
    """The cell, layers, tying and dropout an RnnLanguageModel's params file carries
    (``RnnLanguageModel.structure``), as its constructor's keywords."""
    try:
        s = json.loads(bytes((stored.entries or {})["structure"]).decode())
        cell, layers, tied, dropout = s["cell"], s["layers"], s["tied"], s["dropout"]
        if (cell not in ("rnn", "lstm", "gru") or type(layers) is not int or layers < 1 or type(tied) is not bool
                or not (dropout is None or isinstance(dropout, float) and 0 <= dropout < 1)):
            raise ValueError
    except (KeyError, ValueError, TypeError, AttributeError):
        raise UserError(f"{path}: its model's structure (cell, layers, tying, dropout) is missing or damaged") from None
    return {"cell": cell, "layers": layers, "tied": tied, "dropout_ratio": dropout}


def infer_model(stored, path: Path, wanted: str | None) -> tuple:
    """(model kind, (V, D, H), head) of params read from ``path``: the model the
    file names (a reference pickle names none), checked against the arrays'
    shapes."""
    a = stored.arrays
    shapes = [x.shape for x in a]
    head = head_of(stored, path)
    if stored.model is not None and stored.model not in MODEL_NAMES:
        raise UserError(f"{path} holds params of {stored.model}, not of a language model of fastrnn train")
    named = MODEL_NAMES.get(stored.model)
    kind = None
    if named == "custom":  # built from the structure it carries; io.assign checks the rest
        if wanted is not None:
            raise UserError(f"{path} holds params of a model of its own structure: leave out --model")
        if len(a) < 3 or a[0].ndim != 2 or a[2].ndim != 2:
            raise UserError(f"{path} does not hold params of an RnnLanguageModel")
        return "custom", (*a[0].shape, a[2].shape[0]), dict(head, **structure_of(stored, path))
    if head["head"] == "adaptive":  # the body's params, the tied embedding (better), the head's two, two a cluster
        body = {"simple": 4, "rnnlm": 4, "better": 8}.get(named, 0)
        if named is not None and len(a) == body + 2 + 2 * len(head["cutoffs"]) and all(x.ndim == 2 for x in a[:3]):
            kind = named
    elif len(a) in (6, 9) and all(x.ndim == 2 for x in a[:3]) and a[2].shape[0] > 0:
        ratio, rest = divmod(a[2].shape[1], a[2].shape[0])
        kind = "better" if len(a) == 9 and ratio == 4 else {1: "simple", 4: "rnnlm"}.get(ratio) if not rest else None
        if kind is not None and len(a) != COUNTS[kind]:
            kind = None
    if kind is None or (named is not None and named != kind):
        raise UserError(f"{path} does not hold params of SimpleRnnlm, Rnnlm or BetterRnnlm"
                        + (f" ({len(a)} arrays of shapes {', '.join(str(s) for s in shapes)})" if len(a) < 12 else ""))
    if wanted is not None and wanted != kind:
        raise UserError(f"{path} holds params of {kind} (--model {kind}), not {wanted}")
    V, D = shapes[0]
    return kind, (V, D, shapes[2][0]), head


def build_model(stored, path: Path, wanted: str | None, generator: bool = False):
    from .. import generation, io, models

    kind, sizes, head = infer_model(stored, path, wanted)
    if generator:
        cls = {"simple": generation.SimpleRnnlmGen, "rnnlm": generation.RnnlmGen, "better": generation.BetterRnnlmGen,
               "custom": generation.RnnLanguageModelGen}[kind]
    else:
        cls = getattr(models, {"simple": "SimpleRnnlm", "rnnlm": "Rnnlm", "better": "BetterRnnlm",
                               "custom": "RnnLanguageModel"}[kind])
    try:
        model = cls(*sizes, **head)
        io.assign(path, model.params, stored.arrays)
    except io.ParamsError as e:
        raise UserError(str(e)) from None
    except (ValueError, TypeError) as e:
        raise UserError(f"{path}: {e}") from None
    return kind, model


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
