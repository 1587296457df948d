"""The wheel a user installs carries the kernels as fastrnn.kernels and its data sets."""
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contents(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    (wheel,) = tmp_path.glob("fastrnn-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    kernels = {p.name for p in (ROOT / "kernels").glob("*.py")}
    assert {f"fastrnn/kernels/{k}" for k in kernels} <= names
    assert not any(n.startswith("kernels/") for n in names)  # no generic top-level module
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "fastrnn").rglob("*.py")}
    assert modules <= names, f"not in the wheel: {sorted(modules - names)}"  # every subpackage listed
    assert {f"fastrnn/datasets/data/ptb.{s}.txt.gz" for s in ("train", "valid", "test")} <= names
    assert {"fastrnn/datasets/data/addition.txt.gz", "fastrnn/datasets/data/date.txt.gz"} <= names
    assert any(n.endswith("entry_points.txt") for n in names)


def test_the_kernels_have_one_name():
    """From a checkout, ``import kernels`` is refused: a second name for the same files
    would be a second copy of every kernel sharing one Numba cache (an entry
    compiled under one name then fails to load under the other)."""
    code = "import sys; sys.path.insert(0, sys.argv[1]); import kernels.bf16"
    run = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == (
        "ImportError: fastrnn's kernels are imported as fastrnn.kernels, not as kernels")
    from fastrnn.kernels import bf16
    assert bf16.__name__ == "fastrnn.kernels.bf16"  # the one name works
