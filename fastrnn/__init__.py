"""fastrnn: the RNN layer stack of "Deep Learning from Scratch 2" as Numba kernels.

Drop-in: ``common.time_layers`` -> ``fastrnn.time_layers``, ``common.optimizer`` ->
``fastrnn.optimizer``, ``common.trainer`` -> ``fastrnn.trainer``, ``common.util`` ->
``fastrnn.util``, ``dataset.ptb`` -> ``fastrnn.datasets.ptb``.
"""
from . import _threads  # noqa: F401  (sets OpenMP's spin before Numba starts threads)
from .generation import BetterRnnlmGen, RnnLanguageModelGen, RnnlmGen, SimpleRnnlmGen
from .model_files import load_model
from .models import BetterRnnlm, Rnnlm, RnnLanguageModel, SimpleRnnlm

__version__ = "0.5.0"
"""The version: the one place it is written (``pyproject.toml`` reads it from here)."""
__all__ = ["SimpleRnnlm", "Rnnlm", "BetterRnnlm", "RnnLanguageModel", "SimpleRnnlmGen", "RnnlmGen", "BetterRnnlmGen",
           "RnnLanguageModelGen", "load_model", "__version__"]
