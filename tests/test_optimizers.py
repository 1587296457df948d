"""Every optimizer against its formula, written here in float64 NumPy, over several steps."""
import numpy as np
import pytest

from fastrnn.optimizer import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop


def momentum(p, g, s, lr=0.01, mu=0.9):
    s.setdefault("v", np.zeros_like(p))
    s["v"] = mu * s["v"] - lr * g
    return p + s["v"]


def nesterov(p, g, s, lr=0.01, mu=0.9):
    s.setdefault("v", np.zeros_like(p))
    s["v"] = mu * s["v"] - lr * g
    return p + mu * mu * s["v"] - (1 + mu) * lr * g


def adagrad(p, g, s, lr=0.01):
    s["h"] = s.get("h", 0) + g * g
    return p - lr * g / (np.sqrt(s["h"]) + 1e-7)


def rmsprop(p, g, s, lr=0.01, rho=0.99):
    s["h"] = rho * s.get("h", 0) + (1 - rho) * g * g
    return p - lr * g / (np.sqrt(s["h"]) + 1e-7)


def adam(p, g, s, lr=0.001, b1=0.9, b2=0.999):
    s["t"] = s.get("t", 0) + 1
    s["m"] = s.get("m", 0) + (1 - b1) * (g - s.get("m", 0))
    s["v"] = s.get("v", 0) + (1 - b2) * (g * g - s.get("v", 0))
    lr_t = lr * np.sqrt(1 - b2 ** s["t"]) / (1 - b1 ** s["t"])
    return p - lr_t * s["m"] / (np.sqrt(s["v"]) + 1e-7)


def sgd(p, g, s, lr=0.01):
    return p - lr * g


CASES = [(SGD, sgd), (Momentum, momentum), (Nesterov, nesterov), (AdaGrad, adagrad), (RMSprop, rmsprop),
         (Adam, adam), (lambda: Adam(lr=0.01, beta1=0.5, beta2=0.9), lambda p, g, s: adam(p, g, s, 0.01, 0.5, 0.9))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make,formula", CASES)
def test_matches_formula_in_place(rng, dtype, make, formula):
    opt = make()
    big = rng.standard_normal((301, 199)).astype(dtype)  # above the kernel threshold, an odd size
    view = big.T  # another view of big, which must see big's updates
    embed = rng.standard_normal((250, 160)).astype(dtype)
    tied = embed.T  # an F-ordered param, as in weight tying, updated through the view
    small = rng.standard_normal(7).astype(dtype)
    strided = rng.standard_normal((6, 8)).astype(dtype)[:, ::2]  # neither C nor F contiguous
    params = [big, small, strided, tied]
    expect = [p.astype(np.float64) for p in params]
    states = [{} for _ in params]
    for step in range(3):
        grads = [rng.standard_normal(p.shape).astype(dtype) for p in params]
        opt.update(params, grads)
        expect = [formula(e, g.astype(np.float64), s) for e, g, s in zip(expect, grads, states)]
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for p, e in zip(params, expect):
        np.testing.assert_allclose(p, e, rtol=tol, atol=tol)
    assert params[3] is tied and tied.base is embed  # updated in place, through the view
    np.testing.assert_allclose(embed, expect[3].T, rtol=tol, atol=tol)
    np.testing.assert_array_equal(view, big.T)


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\), got 1.5"):
        Momentum(momentum=1.5)
    with pytest.raises(ValueError, match="lr must be a finite number > 0, got -1"):
        Adam(lr=-1)
    with pytest.raises(ValueError, match=r"grads\[0\] has shape \(4,\), params\[0\] has \(3,\)"):
        Adam().update([np.zeros(3, np.float32)], [np.zeros(4, np.float32)])
