"""The reference's ``common.np``: ``from fastrnn.np import *`` gives ``np`` (NumPy) and ``GPU``."""
import numpy as np

from .config import GPU

__all__ = ["np", "GPU"]
