import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    return torch
