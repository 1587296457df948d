"""The wheel a user installs carries the kernels as fastrnn.kernels and its data sets;
the sdist carries the test suite, which runs from it."""
import os
import shutil
import subprocess
import sys
import tarfile
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


def test_the_sdist_holds_the_suite_and_its_tests_run_from_it(tmp_path):
    """``python -m build --sdist`` from a checkout ships every file of tests/ (conftest,
    the oracles, the fixtures) and the project files; a wheel built from the sdist alone passes a
    quick subset of the sdist's own tests."""
    checkout = tmp_path / "checkout"  # the tracked files alone: no egg-info of an earlier build lists more
    for name in subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True,
                               check=True).stdout.splitlines():
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, checkout / name)
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "-o", str(tmp_path), str(checkout)],
                   check=True, capture_output=True)
    (sdist,) = tmp_path.glob("fastrnn-*.tar.gz")
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path / "src", filter="data")
    (src,) = (tmp_path / "src").iterdir()
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "tests", "LICENSE", "DATA.md", "CHANGELOG.md",
                              "CITATION.cff", "CONTRIBUTING.md"], capture_output=True, text=True, check=True)
    missing = [f for f in tracked.stdout.split() if not (src / f).is_file()]
    assert tracked.stdout.split() and not missing, f"not in the sdist: {missing}"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w",
                    str(tmp_path / "wheel"), str(src)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "wheel").glob("fastrnn-*.whl")
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    where = subprocess.run([sys.executable, "-c", "import fastrnn; print(fastrnn.__file__)"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, check=True)
    assert where.stdout.strip() == str(tmp_path / "site" / "fastrnn" / "__init__.py")  # the sdist's fastrnn
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                          str(src / "tests" / "test_help.py"), str(src / "tests" / "test_ptb.py")],
                         env=env, cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0 and " passed" in run.stdout, run.stdout + run.stderr
