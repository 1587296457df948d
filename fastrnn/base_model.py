"""The reference's ``common.base_model``: ``BaseModel`` holds ``params`` / ``grads``
and reads and writes params files, safely.

``save_params`` writes fastrnn's ``.npz`` format atomically (``fastrnn.params_file``);
``load_params`` reads it, or the reference's pickled ``.pkl`` files, without
running any code a file might name.
"""
from __future__ import annotations

import os

from . import params_file


class BaseModel:
    """A model's ``params`` and ``grads`` lists and its params files.

    Subclasses build ``params`` / ``grads`` and define ``forward`` and
    ``backward``.  Params files carry the model's name, ``PARAMS_NAME`` (the
    class name unless a subclass, such as a text generator, shares its
    parent's params).
    """

    PARAMS_NAME = None

    def __init__(self):
        self.params, self.grads = None, None

    def forward(self, *args):
        raise NotImplementedError

    def backward(self, *args):
        raise NotImplementedError

    @property
    def _params_name(self) -> str:
        return self.PARAMS_NAME or type(self).__name__

    def _file_entries(self) -> dict:
        """Arrays a params file of this model carries beside the params, which a
        file loaded into it must hold too (none here)."""
        return {}

    def save_params(self, file_name=None) -> None:
        """Write params to ``file_name`` (default ``<ClassName>.npz``), atomically."""
        name = self._params_name
        params_file.save_params(file_name if file_name is not None else f"{name}.npz", self.params, name,
                       extra=self._file_entries())

    def load_params(self, file_name=None) -> None:
        """Read params into this model's arrays, in place (their identities are kept).

        Reads fastrnn's ``.npz`` files and the reference's ``.pkl`` files (a
        pickled list of arrays, read without running any code).  The default
        is ``<ClassName>.npz``, or ``<ClassName>.pkl`` when only that exists.
        """
        name = self._params_name
        if file_name is None:
            file_name = f"{name}.npz"
            if not os.path.exists(file_name) and os.path.exists(f"{name}.pkl"):
                file_name = f"{name}.pkl"
        params_file.load_params(file_name, self.params, name, self._file_entries())
