"""Shared test settings: tolerances and seeded inputs."""
import numpy as np

TOL = {np.float32: 1e-4, np.float64: 1e-10}
"""Largest accepted naive.rel_err against the float64 oracle, by dtype."""


def randn(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def rnn_params(rng, D, H, dtype):
    return (randn(rng, (D, H), dtype, 1 / np.sqrt(D)), randn(rng, (H, H), dtype, 1 / np.sqrt(H)),
            randn(rng, (H,), dtype, 0.1))
