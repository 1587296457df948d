"""Shared test settings: tolerances and seeded inputs."""
import numpy as np

TOL = {np.float32: 1e-4, np.float64: 1e-10}
"""Largest accepted naive.rel_err against the float64 oracle, by dtype."""


def randn(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def rnn_params(rng, D, H, dtype, gates=1):
    """Wx (D, G*H), Wh (H, G*H), b (G*H,) of a cell with G gates, at the reference's scales."""
    G = gates
    return (randn(rng, (D, G * H), dtype, 1 / np.sqrt(D)), randn(rng, (H, G * H), dtype, 1 / np.sqrt(H)),
            randn(rng, (G * H,), dtype, 0.1))
