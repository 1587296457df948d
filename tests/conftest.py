import os

if "PYTEST_XDIST_WORKER" in os.environ:  # two workers share the cores: OpenMP threads that wait sleep
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # (spinning, they took the cores from the other worker)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

PROPERTY_CASES = {}
"""Generated cases run by each property-based test (tests/test_properties.py)."""
FUZZ_STATUSES = {}
"""Generated command lines run (tests/test_cli_fuzz.py), by exit status."""


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    return torch


def pytest_terminal_summary(terminalreporter):
    if PROPERTY_CASES:
        terminalreporter.write_line(f"property-based cases run: {sum(PROPERTY_CASES.values()):,} "
                                    f"in {len(PROPERTY_CASES)} tests")
    if FUZZ_STATUSES:
        terminalreporter.write_line(f"fastrnn command lines fuzzed: {sum(FUZZ_STATUSES.values()):,} (exit status "
                                    + ", ".join(f"{k}: {v}" for k, v in sorted(FUZZ_STATUSES.items())) + ")")


@pytest.fixture(params=["blas", "own"])
def products(request, monkeypatch):
    """Where the float products that may go to BLAS run (``fastrnn._matmul.OWN``,
    FASTRNN_PRODUCTS): each test using it runs once each way."""
    from fastrnn import _matmul

    monkeypatch.setattr(_matmul, "OWN", request.param == "own")
    return request.param
