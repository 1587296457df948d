"""A model call with bad input raises before any kernel runs, and leaves every
layer's state and cache exactly as they were: values and array identities."""
import numpy as np
import pytest

from fastrnn import BetterRnnlm, Rnnlm, SimpleRnnlm

V = 20


def snapshot(obj, seen=None):
    """Everything reachable from ``obj`` through attributes, lists, tuples and
    dicts: arrays as (identity, copy), generators as their state, other values
    as themselves."""
    seen = set() if seen is None else seen
    if isinstance(obj, np.ndarray):
        return ("array", id(obj), obj.copy())
    if isinstance(obj, np.random.Generator):
        return ("rng", repr(obj.bit_generator.state))
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, [snapshot(x, seen) for x in obj])
    if isinstance(obj, dict):
        return ("dict", {k: snapshot(x, seen) for k, x in obj.items()})
    if hasattr(obj, "__dict__") and not callable(obj):
        if id(obj) in seen:
            return ("seen", id(obj))
        seen.add(id(obj))
        return (type(obj).__name__, id(obj), {k: snapshot(x, seen) for k, x in vars(obj).items()})
    return ("value", obj)


def assert_same(a, b, path="model"):
    assert type(a) is type(b), path
    if isinstance(a, tuple) and a and a[0] == "array":
        assert a[1] == b[1], f"{path} was replaced"
        assert a[2].dtype == b[2].dtype and a[2].shape == b[2].shape, path
        assert np.array_equal(a[2], b[2], equal_nan=True), f"{path} changed"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), f"{path}: attributes {set(a) ^ set(b)} appeared or went"
        for k in a:
            assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} became {b!r}"


def trained(cls):
    """A model after one training step, so every cache is filled and a state carried."""
    np.random.seed(0)
    model = cls(V, 6, 6)
    rng = np.random.default_rng(0)
    model.forward(rng.integers(0, V, (2, 4)), rng.integers(0, V, (2, 4)))
    model.backward()
    return model


GOOD = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
BAD_CALLS = [  # (xs, ts, exception, message naming the argument)
    (np.array([[1, 2, 3, 4], [5, 6, 7, V]]), GOOD, ValueError, r"xs holds word id 20, outside \[0, 20\)"),
    (np.array([[1, 2, 3, 4], [5, 6, 7, -1]]), GOOD, ValueError, r"xs holds word id -1"),
    (GOOD.astype(np.float32), GOOD, TypeError, "xs must hold integer word ids"),
    (GOOD[:, :, None], GOOD, ValueError, r"xs must have shape \(\*, \*\)"),
    (GOOD, np.array([[1, 2, 3, 4], [5, 6, 7, V]]), ValueError, r"ts holds word id 20, outside \[0, 20\) or the ignore"),
    (GOOD, np.array([[1, 2, 3, 4], [5, 6, 7, -2]]), ValueError, r"ts holds word id -2"),
    (GOOD, GOOD[:, :3], ValueError, r"ts must have shape \(2, 4\), got \(2, 3\)"),
    (GOOD, np.zeros((2, 4, V + 1)), ValueError, r"ts \(one-hot\) must have shape \(2, 4, 20\)"),
    (GOOD, GOOD.astype(float), TypeError, "ts must hold integer word ids"),
    (np.zeros((3, 4), int), np.zeros((3, 4), int), ValueError, "xs has batch size 3 but the carried state h has 2"),
]


@pytest.mark.parametrize("cls", [SimpleRnnlm, Rnnlm, BetterRnnlm])
@pytest.mark.parametrize("xs,ts,exc,msg", BAD_CALLS)
def test_failed_forward_changes_nothing(cls, xs, ts, exc, msg):
    model = trained(cls)
    before = snapshot(model)
    with pytest.raises(exc, match=msg):
        model.forward(xs, ts)
    assert_same(before, snapshot(model))


@pytest.mark.parametrize("cls", [SimpleRnnlm, Rnnlm, BetterRnnlm])
def test_failed_predict_changes_nothing(cls):
    model = trained(cls)
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"xs holds word id 20"):
        model.predict(np.array([[1, 2, 3, 20], [1, 2, 3, 4]]))
    with pytest.raises(ValueError, match="xs has batch size 1 but the carried state h has 2"):
        model.predict(np.array([[1, 2, 3, 4]]))
    assert_same(before, snapshot(model))


def test_a_good_call_after_a_failed_one_gives_the_untouched_result():
    a, b = trained(Rnnlm), trained(Rnnlm)
    with pytest.raises(ValueError):
        b.forward(GOOD, np.array([[1, 2, 3, 4], [5, 6, 7, 99]]))
    assert a.forward(GOOD, GOOD) == b.forward(GOOD, GOOD)


def test_snapshot_sees_a_change():
    """The comparison above can fail: a model whose carried state moved is caught."""
    model = trained(Rnnlm)
    before = snapshot(model)
    model.forward(GOOD, GOOD)
    with pytest.raises(AssertionError):
        assert_same(before, snapshot(model))
