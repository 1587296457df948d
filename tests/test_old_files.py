"""Files written by an older fastrnn (16d2605, ``tests/fixtures/16d2605``) load, and
the runs they hold go on: with the bits that fastrnn itself gave, but for dropout's
masks, drawn by NumPy then and by fastrnn's own generator now."""
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import fastrnn
from cli_support import fastrnn as run_fastrnn
from fastrnn.params_file import read_params
from fastrnn.training import checkpoint

FIXTURES = Path(__file__).parent / "fixtures" / "16d2605"
RUNS = {"better": (), "gru": ("--epochs", "2")}
"""Each fixture run and the options that extend it."""


def resumed(name, tmp_path):
    """The fixture run ``name`` resumed and extended: (its directory, the old fastrnn's final state)."""
    out = tmp_path / name
    out.mkdir()
    shutil.copy(FIXTURES / name / checkpoint.NAME, out / checkpoint.NAME)
    run_fastrnn("train", "--resume", out, *RUNS[name], "--no-progress")
    return out, json.loads((FIXTURES / name / "resumed-checkpoint.json").read_text())


def test_a_run_with_dropout_resumes_with_its_history_and_new_masks(tmp_path):
    """better (dropout 0.5, 3 of 10 steps made): the position, the history up to the
    checkpoint and the dropout layers' counts (its steps) carry over; the steps after
    it draw other masks, so their perplexities are near the old run's, not equal."""
    before = checkpoint.load(FIXTURES / "better" / checkpoint.NAME).state.progress
    out, final = resumed("better", tmp_path)
    state = checkpoint.load(out / checkpoint.NAME).state
    assert {k: state.progress[k] for k in final["position"]} == final["position"] and state.progress["finished"]
    assert state.dropout == [final["position"]["done"]] * 3
    old, new = final["ppl_list"], state.progress["ppl_list"]
    kept = len(before["ppl_list"])
    assert new[:kept] == old[:kept] and len(new) == len(old) and new[kept:] != old[kept:]
    np.testing.assert_allclose(new[kept:], old[kept:], rtol=0.05)
    np.testing.assert_allclose(state.schedule["valid_ppls"], final["valid_ppls"], rtol=0.01)


def test_a_run_without_dropout_resumes_with_its_bits(tmp_path):
    out, final = resumed("gru", tmp_path)
    expected = read_params(FIXTURES / "gru" / "resumed-params.npz").arrays
    for x, y in zip(read_params(out / "params.npz").arrays, expected, strict=True):
        np.testing.assert_array_equal(x, y)
    stored = read_params(out / checkpoint.NAME)
    entries = dict(stored.entries, **{f"param_{i}": a for i, a in enumerate(stored.arrays)})
    hashes = {k: hashlib.sha256(entries[k].tobytes()).hexdigest() for k in final["arrays_sha256"]}
    assert hashes == final["arrays_sha256"]
    state = checkpoint.load(out / checkpoint.NAME).state
    assert {k: state.progress[k] for k in final["position"]} == final["position"]
    assert state.progress["ppl_list"] == final["ppl_list"] and state.progress["finished"]
    assert state.schedule["valid_ppls"] == final["valid_ppls"] and state.optimizer["lr"] == final["lr"]


@pytest.mark.parametrize("name,cls", [("better", "BetterRnnlm"), ("gru", "RnnLanguageModel")])
def test_load_model_builds_what_an_old_params_file_records(name, cls):
    path = FIXTURES / name / "resumed-params.npz"
    model = fastrnn.load_model(path)
    assert type(model).__name__ == cls
    for p, a in zip(model.params, read_params(path).arrays, strict=True):
        np.testing.assert_array_equal(p, a)
    assert type(fastrnn.load_model(path, generator=True)).__name__ == cls + "Gen"
    if name == "gru":
        assert model.structure() == {"cell": "gru", "layers": 2, "tied": False, "dropout": None}
    else:
        assert model.head["head"] == "adaptive" and model.head["cutoffs"] == [100, 1000]
