"""With ``FASTRNN_PRODUCTS=own`` a training run's bits do not depend on the BLAS
kernel OpenBLAS picks for the CPU (``OPENBLAS_CORETYPE``) nor on the CPU the kernels
are compiled for (``NUMBA_CPU_NAME``): every product runs on fastrnn's own core
(``fastrnn._matmul``)."""
import os
import subprocess
import sys

import numpy as np
from llvmlite import binding as ll

from cli_support import FASTRNN, SMALL, markov_files, text_args
from fastrnn.kernels.bf16 import CAN_AMX
from fastrnn.kernels.gemm import BF16
from fastrnn.params_file import read_params

FEATURES = ll.get_host_cpu_features()
CORETYPES = ["Haswell", "Sandybridge"] + (["SkylakeX"] if FEATURES.get("avx512f") else [])
"""OpenBLAS kernels this CPU can run: Sandybridge's have no fused multiply-add, so
they round every product differently from Haswell's."""
ENGINES = (["vdpbf16ps"] if BF16 else []) + (["amx"] if CAN_AMX else [])


def settings():
    """(name, environment, kind) of each run, runs of one kind to end equal: in float32
    the host's kernels under each OpenBLAS kernel, then, on an AVX-512 CPU, kernels
    compiled for Haswell (AVX2: 16 vector registers of 32 bytes, other panels and
    blocks); in bf16 each engine under each OpenBLAS kernel."""
    runs = [(f"openblas-{c.lower()}", {"OPENBLAS_CORETYPE": c}, "fp32") for c in CORETYPES]
    if FEATURES.get("avx512f"):  # on an AVX2 CPU, Haswell's kernels have the host's vectors and blocks
        runs.append(("numba-haswell", {"NUMBA_CPU_NAME": "haswell", "OPENBLAS_CORETYPE": "Haswell"}, "fp32"))
    runs += [(f"openblas-{c.lower()}-{e}", {"OPENBLAS_CORETYPE": c, "FASTRNN_BF16_ENGINE": e}, f"bf16-{e}")
             for e in ENGINES for c in CORETYPES]
    return runs


def train(args, env):
    """``fastrnn train *args`` with every product on the own core, under os.environ
    without OPENBLAS_* variables, plus ``env``."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OPENBLAS_")}, "FASTRNN_PRODUCTS": "own", **env}
    run = subprocess.run([FASTRNN, "train", *map(str, args)], env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr


def test_a_run_is_the_same_whatever_blas_kernel_or_cpu_target(tmp_path):
    """Short runs of two models (rnnlm: the recurrent layer's products and weight
    gradients, the fused head; better: two layers, dropout, the tied head) end with the
    same params under every OpenBLAS kernel this CPU runs and with kernels compiled for
    Haswell; better in bf16 the same under every OpenBLAS kernel, for each engine."""
    files = markov_files(tmp_path, sizes=(8_000, 1_000, 1_000))
    for model in ("rnnlm", "better"):
        args = (*text_args(files, tmp_path / "cache"), *SMALL, "--model", model, "--wordvec-size", 32, "--epochs", 1,
                "--max-iters", 12)
        ends = {}
        for name, env, kind in settings():
            if kind != "fp32" and model == "rnnlm":
                continue
            if "NUMBA_CPU_NAME" in env:  # compiled afresh for that CPU, in a cache of its own
                env = {**env, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
            train((*args, "--precision", kind[:4], "--out", tmp_path / model / name), env)
            ends[name] = read_params(tmp_path / model / name / "params.npz").arrays
        for kind in {k for _, _, k in settings()}:
            names = [n for n, _, k in settings() if k == kind and n in ends]
            for name in names[1:]:
                for i, (a, b) in enumerate(zip(ends[names[0]], ends[name], strict=True)):
                    np.testing.assert_array_equal(a, b, err_msg=f"{model}, param {i}: {names[0]} against {name}")


def test_a_bad_setting_is_named_at_import():
    run = subprocess.run([sys.executable, "-c", "import fastrnn"], capture_output=True, text=True,
                         env={**os.environ, "FASTRNN_PRODUCTS": "mkl"})
    assert run.returncode != 0
    assert "ValueError: FASTRNN_PRODUCTS must be 'blas' or 'own', got 'mkl'" in run.stderr
