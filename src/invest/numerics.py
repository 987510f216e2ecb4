"""Pin the CPU's numeric code paths so that every x86-64 machine computes the same bits.

numpy, PyTorch (ATen, oneDNN, MKL) and OpenBLAS pick their kernels at run time by the CPU's
instruction set: the same seed gives different simulated prices, features and weights on a
CPU with AVX-512 than on one with AVX2 only (measured: every output hash of ``dvc repro``
changes). Capping all of them at AVX2 (every x86-64 CPU since 2013 has it) makes the bits
independent of the machine, at no measurable cost for this workload (docs/reproducibility.md).

The variables are read when each library loads, so :func:`pin` must run before numpy or torch
is imported; ``import invest`` does it. A value already in the environment is kept: set, for
example, ``ATEN_CPU_CAPABILITY=avx512`` to trade reproducibility for speed. Non-x86 CPUs
(Apple silicon, ARM servers) ignore these settings and compute their own, different bits.
"""

from __future__ import annotations

import os

PINNED = {
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # numpy's AVX-512 ufunc loops (exp, log, ...)
    "ATEN_CPU_CAPABILITY": "avx2",  # PyTorch's vectorised CPU kernels
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN (linear layers, LSTM)
    "MKL_CBWR": "AVX2",  # MKL's conditional numerical reproducibility: the AVX2 code path on any CPU
    "OPENBLAS_CORETYPE": "Haswell",  # numpy/scipy's OpenBLAS kernels (AVX2 + FMA)
}


def pin() -> dict[str, str]:
    """Set each variable not already set; return the values in effect."""
    for name, value in PINNED.items():
        os.environ.setdefault(name, value)
    return {name: os.environ[name] for name in PINNED}
