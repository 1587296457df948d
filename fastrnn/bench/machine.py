"""The CPU a benchmark ran on, as one line: vendor, model, LLVM's name for it, vector
instructions, the bf16 engine and the OpenBLAS kernels in use."""
from __future__ import annotations

import os
import platform


def cpu() -> str:
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = set(info.get("flags", "").split())
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE" if flags else platform.machine()
    isa += "".join(f", {name}" for flag, name in (("avx512_bf16", "AVX512_BF16"), ("amx_bf16", "AMX-BF16"))
                   if flag in flags)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    bf16 = bf16_engine()
    return (f"{info.get('vendor_id', platform.processor() or '?')}, {info.get('model name', '?')} "
            f"(LLVM: {llvm_name()}), {isa}, {cores} cores" + (f"; bf16 products on {bf16}" if bf16 else "")
            + f"; OpenBLAS kernels: {openblas_kernels()}")


def llvm_name() -> str:
    """LLVM's name for the host CPU ("?" when llvmlite cannot tell)."""
    try:
        from llvmlite import binding
        return binding.get_host_cpu_name()
    except Exception:  # noqa: BLE001  (informational only)
        return "?"


def bf16_engine() -> str | None:
    """The engine of bf16 products (made ready), or None on a CPU without AVX512_BF16."""
    from ..kernels.bf16 import engine, ready
    from ..kernels.gemm import BF16

    if not BF16:
        return None
    ready()
    return engine()


def kind() -> str:
    """The machine kind: LLVM's CPU name, with the bf16 engine where the CPU has one."""
    bf16 = bf16_engine()
    return llvm_name() + (f"-{bf16}" if bf16 else "")


def openblas_kernels() -> str:
    """The kernels (threadpoolctl's ``architecture``) of each OpenBLAS loaded, as
    OpenBLAS chose them (or ``OPENBLAS_CORETYPE`` forced them)."""
    import scipy.linalg  # noqa: F401  (load both libraries)
    from threadpoolctl import threadpool_info

    found = sorted({i.get("architecture") or "?" for i in threadpool_info() if i.get("internal_api") == "openblas"})
    forced = os.environ.get("OPENBLAS_CORETYPE")
    return (", ".join(found) or "none loaded") + (f" (OPENBLAS_CORETYPE={forced})" if forced else "")
