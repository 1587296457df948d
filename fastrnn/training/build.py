"""The model and optimizer of a run's configuration, and whether they fit in memory."""
from __future__ import annotations

import os

import numpy as np

from .. import models, optimizer
from ..cli.options import UserError
from .config import REGULARISERS


def model_of(config, V: int, word_order, world, rows: slice):
    """The model of ``config.model`` (``RunConfig``) over ``V`` words, its weights
    drawn from NumPy's global generator seeded with the run's seed: the preset's
    class (SimpleRnnlm, Rnnlm, BetterRnnlm) when the structure is the preset's, else
    an RnnLanguageModel (the same draws: the same bits where both could be built).
    A process holds ``rows`` of the batch, one group of them (``fastrnn._groups``),
    and draws the dropout masks of those rows as one process holding the whole batch would."""
    m = config.model
    np.random.seed(m.seed)
    head = ({"head": "adaptive", "cutoffs": m.cutoffs, "div_value": m.div_value, "order": word_order()}
            if m.head == "adaptive" else {})
    if m.is_preset():
        cls = getattr(models, m.preset.model_class)
        model = cls(V, m.wordvec_size, m.hidden_size, *([] if m.dropout is None else [m.dropout]), **head)
    else:
        model = models.RnnLanguageModel(V, m.wordvec_size, m.hidden_size, cell=m.cell, layers=m.layers, tied=m.tied,
                                        dropout_ratio=m.dropout, **head, **{k: getattr(m, k) for k in REGULARISERS})
    model.set_precision(m.precision)
    for layer in getattr(model, "drop_layers", []):
        layer.row0 = rows.start
    if world.size > 1:
        model.set_groups(1)
    return model


def optimizer_of(config):
    """The optimizer ``config.optim`` names, at its defaults but for the learning rate."""
    return optimizer.BY_NAME[config.optim.optimizer](config.optim.lr)


def param_count(config, V: int) -> int:
    """Distinct params of the run's model (the full softmax's count, an upper bound
    for the adaptive head's): embedding, each recurrent layer (Wx, Wh, b), and the
    output bias with its weight unless tied to the embedding."""
    m = config.model
    D, G = m.wordvec_size, models.CELLS[m.cell].GATES
    sizes = [m.hidden_size] * (m.layers - 1) + [m.last]
    body = sum(G * H * ((D if k == 0 else sizes[k - 1]) + H + 1) for k, H in enumerate(sizes))
    return V * D + body + (0 if m.tied else m.last * V) + V


def memory() -> int:
    """Bytes of this machine's memory."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 1 << 62


def too_large(config, V: int) -> UserError:
    m = config.model
    return UserError(f"the model (--wordvec-size {m.wordvec_size}, --hidden-size {m.hidden_size}, vocabulary {V:,}) "
                     "does not fit in this machine's memory")


def check_memory(config, V: int) -> None:
    """UserError when the params, their grads and one more copy (float32) exceed the memory."""
    if 3 * 4 * param_count(config, V) > memory():
        raise too_large(config, V)
