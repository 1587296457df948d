"""``load_model``: the language model a fastrnn params file holds, built from what
the file records (the model's class, an adaptive head's settings and word order, a
custom model's cell, layers, tying and dropout) and the sizes of its arrays.

The reference's pickles record none of that: ``fastrnn eval`` infers their model
from the arrays' shapes (``fastrnn.cli.saved``).
"""
from __future__ import annotations

import json

from . import generation, models, params_file
from .params_file import ParamsError

CLASSES = {"SimpleRnnlm": (models.SimpleRnnlm, generation.SimpleRnnlmGen),
           "Rnnlm": (models.Rnnlm, generation.RnnlmGen),
           "BetterRnnlm": (models.BetterRnnlm, generation.BetterRnnlmGen),
           "RnnLanguageModel": (models.RnnLanguageModel, generation.RnnLanguageModelGen)}
"""The language models a params file may name: (model class, its generator)."""


def head_of(stored: params_file.ParamsFile, path) -> dict:
    """The output head a params file records: ``{"head": "full"}``, or an adaptive
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
        raise ParamsError(f"{path}: its output head's settings are damaged") from None


REGULARISERS = {"last_size": int, "input_dropout": float, "hidden_dropout": float, "locked": bool,
                "embed_dropout": float, "weight_drop": float, "ar": float, "tar": float}
"""The keywords of RnnLanguageModel a params file records when they are not the defaults."""


def structure_of(stored: params_file.ParamsFile, path) -> dict:
    """The cell, layers, tying, dropout and regularisers an RnnLanguageModel's file
    records (``RnnLanguageModel.structure``), as its constructor's keywords."""
    try:
        s = json.loads(bytes((stored.entries or {})["structure"]).decode())
        cell, layers, tied, dropout = s["cell"], s["layers"], s["tied"], s["dropout"]
        extra = {k: s[k] for k in REGULARISERS if k in s}
        if (cell not in models.CELLS or type(layers) is not int or layers < 1 or type(tied) is not bool
                or not (dropout is None or isinstance(dropout, float) and 0 <= dropout < 1)
                or any(type(x) is not REGULARISERS[k] for k, x in extra.items())):
            raise ValueError
    except (KeyError, ValueError, TypeError, AttributeError):
        raise ParamsError(f"{path}: its model's structure (cell, layers, tying, dropout) is missing or "
                          "damaged") from None
    return {"cell": cell, "layers": layers, "tied": tied, "dropout_ratio": dropout, **extra}


def model_from(stored: params_file.ParamsFile, path, generator: bool = False, name: str | None = None):
    """The model of params ``stored`` (read from ``path``) with its params copied
    in; its generator class with ``generator``; ``name``: the class, when the file
    names none (a reference pickle).  ParamsError when the file names no language
    model of fastrnn or its arrays do not fit what it records."""
    name = name or stored.model
    if name not in CLASSES:
        raise ParamsError(f"{path} holds params of {name or 'an unnamed model'}, not of a language model "
                          "of fastrnn train")
    a = stored.arrays
    if len(a) < 3 or a[0].ndim != 2 or a[2].ndim != 2:
        raise ParamsError(f"{path} does not hold params of {name}")
    (V, D), H = a[0].shape, a[2].shape[0]  # the embedding, then the first recurrent layer's Wx and Wh
    keywords = head_of(stored, path)
    if name == "RnnLanguageModel":
        keywords.update(structure_of(stored, path))
    try:
        model = CLASSES[name][generator](V, D, H, **keywords)
    except (ValueError, TypeError) as e:
        raise ParamsError(f"{path}: {e}") from None
    params_file.assign(path, model.params, a)
    return model


def load_model(path, generator: bool = False):
    """The language model saved in ``path`` (a ``params.npz`` or ``checkpoint.npz``
    of fastrnn), ready to evaluate, score or (``generator``: its ``...Gen`` class)
    generate.  OSError when the file cannot be read, ParamsError when it is not such
    a file."""
    return model_from(params_file.read_params(path), path, generator)
