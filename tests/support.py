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


def markov_text(rng, tokens: int) -> str:
    """Text whose token stream (words and the <eos> of each line end) is a Markov
    chain in which every token has exactly two equally likely successors: its
    entropy rate is log 2 a token, so the best possible perplexity is 2.0; a
    model that learned nothing (uniform over its 13 words) scores 13."""
    words = [f"w{i}" for i in range(12)] + ["<eos>"]
    successors = {w: (words[(i + 1) % 13], words[(i + 5) % 13]) for i, w in enumerate(words)}
    out, w = [], "<eos>"
    for _ in range(tokens):
        w = successors[w][rng.integers(0, 2)]
        out.append("\n" if w == "<eos>" else w + " ")
    return "".join(out)
