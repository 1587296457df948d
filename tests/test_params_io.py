import os

import numpy as np
import pytest

from fastrnn import SimpleRnnlm


def test_save_load_roundtrip_keeps_identity(tmp_path):
    np.random.seed(1)
    a = SimpleRnnlm(20, 3, 4)
    path = tmp_path / "m.npz"
    a.save_params(path)
    np.random.seed(2)
    b = SimpleRnnlm(20, 3, 4)
    ids = [id(p) for p in b.params]
    b.load_params(path)
    assert [id(p) for p in b.params] == ids
    for p, q in zip(a.params, b.params):
        np.testing.assert_array_equal(p, q)
        assert q.dtype == np.float32
    assert os.listdir(tmp_path) == ["m.npz"]  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_default_file_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.random.seed(1)
    SimpleRnnlm(5, 2, 2).save_params()
    assert (tmp_path / "SimpleRnnlm.npz").exists()
    SimpleRnnlm(5, 2, 2).load_params()


def test_load_rejects_wrong_shapes_and_foreign_files(tmp_path):
    np.random.seed(1)
    SimpleRnnlm(20, 3, 4).save_params(tmp_path / "m.npz")
    with pytest.raises(ValueError, match=r"param 0 has shape \(20, 3\)"):
        SimpleRnnlm(21, 3, 4).load_params(tmp_path / "m.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a fastrnn params file"):
        SimpleRnnlm(20, 3, 4).load_params(tmp_path / "other.npz")


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_pickled_payload_never_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = np.empty(1, dtype=object)
    evil[0] = _Boom()
    with open("evil.npz", "wb") as f:
        np.savez(f, format=np.array("fastrnn-params-1"), model=np.array("SimpleRnnlm"), param_0=evil)
    with pytest.raises(ValueError):
        SimpleRnnlm(5, 2, 2).load_params("evil.npz")
    assert not (tmp_path / "pwned").exists()
