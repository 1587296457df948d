"""The state of a run's parts that are not the params: where the run is
(``Progress``), the recurrent layers' carried hidden states and the random
generators (``hidden_states``, ``dropout_states``, and their ``load_`` twins).

Each gives a plain dict and takes it back; ``fastrnn.training.checkpoint``
composes them into a file.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..util import perplexity


@dataclass
class Progress:
    """Where a run is: ``epoch`` (done), ``iteration`` (of the epoch in progress),
    ``time_idx`` (the batches' time index), ``done`` (steps in all); the report's
    sums since its last line and every line's perplexity (``ppl_list``);
    seconds of training before this process; the log's length; ``finished``;
    the steps a time budget of ``budget_time`` seconds allows, once planned
    (``fastrnn.training.budget``)."""

    epoch: int = 0
    iteration: int = 0
    time_idx: int = 0
    done: int = 0
    ppl_list: list = field(default_factory=list)
    total_loss: float = 0.0
    loss_count: int = 0
    norm_sum: float = 0.0
    elapsed_s: float = 0.0
    log_offset: int = 0
    finished: bool = False
    budget_steps: int | None = None
    budget_time: float | None = None

    def add_step(self, loss: float, grad_norm: float) -> None:
        self.done += 1
        self.total_loss += loss
        self.loss_count += 1
        self.norm_sum += grad_norm

    def take_report(self) -> tuple:
        """(perplexity, mean gradient norm) since the last report, appended to ``ppl_list``."""
        ppl = perplexity(self.total_loss / self.loss_count)
        norm = self.norm_sum / self.loss_count
        self.ppl_list.append(ppl)
        self.total_loss, self.loss_count, self.norm_sum = 0.0, 0, 0.0
        return ppl, norm

    def report_iterations(self, iters_per_epoch: int, interval: int) -> list:
        """The iteration of the run (counted from 1 over all epochs) of each entry of
        ``ppl_list``: reports come at an epoch's iterations 1, 1 + ``interval``, ...,
        and start again each epoch."""
        per_epoch = -(-iters_per_epoch // interval)
        return [k // per_epoch * iters_per_epoch + k % per_epoch * interval + 1 for k in range(len(self.ppl_list))]

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)


def _stateful(model):
    """(index, layer, names of its carried states) of each stateful layer of ``model``."""
    for k, layer in enumerate(model.layers):
        if getattr(layer, "stateful", False):
            yield k, layer, getattr(layer, "STATES", ())


def hidden_states(model) -> dict:
    """``{(layer index, name): array}``: the states the model's stateful layers carry."""
    return {(k, name): getattr(layer, name) for k, layer, names in _stateful(model) for name in names
            if getattr(layer, name) is not None}


def load_hidden_states(model, states: dict, rows: slice) -> None:
    """Give each stateful layer its ``rows`` of ``states`` (none held: the layer starts afresh)."""
    for k, layer, names in _stateful(model):
        for name in names:
            value = states.get((k, name))
            setattr(layer, name, None if value is None else value[rows].copy())


def dropout_states(model) -> list:
    """Each dropout layer's count of training forwards, the counter of its masks
    (NumPy's global generator, the weight initialisation's, is ``np.random.get_state()``)."""
    return [layer.calls for layer in getattr(model, "mask_layers", [])]


def load_random_states(model, np_random: tuple, dropout: list) -> None:
    """Set NumPy's global generator and the dropout layers' counts ``dropout_states`` gave."""
    np.random.set_state(np_random)
    for layer, calls in zip(getattr(model, "mask_layers", []), dropout, strict=True):
        layer.calls = calls

