"""The benchmarks' line on numpy's BLAS (``cnnc.blas_threads.kernels_report``): the kernels OpenBLAS runs and,
when the environment pins them, the ones it would choose by itself."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from cnnc import blas_threads

pytestmark = [
    pytest.mark.skipif(not blas_threads.controllable(), reason="NumPy's BLAS is not an OpenBLAS cnnc can query"),
    pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="OpenBLAS core names of x86-64"),
]
REPORT = "from cnnc import blas_threads; print(blas_threads.kernels_report())"


def _report(**pins: str) -> str:
    env = {name: value for name, value in os.environ.items() if name not in blas_threads.PIN_VARIABLES}
    return subprocess.run([sys.executable, "-c", REPORT], env={**env, **pins}, capture_output=True, text=True,
                          check=True, timeout=120).stdout.strip()


def test_a_pinned_openblas_is_reported_with_its_own_choice_and_the_command_to_measure_it() -> None:
    own = _report()
    assert own.startswith("numpy's OpenBLAS runs its ") and own.endswith("(its own choice for this processor)")
    chosen = own.removeprefix("numpy's OpenBLAS runs its ").split(" kernels")[0]
    assert chosen not in ("", "unknown")
    pinned = _report(OPENBLAS_CORETYPE="Prescott")  # SSE3, on every x86-64; OpenBLAS may run it as Katmai
    running = pinned.removeprefix("numpy's OpenBLAS runs its ").split(" kernels")[0]
    assert running in ("Prescott", "Katmai")
    assert pinned == (f"numpy's OpenBLAS runs its {running} kernels, as OPENBLAS_CORETYPE=Prescott says; by itself "
                      f"it would run its {chosen} kernels here: `env -u OPENBLAS_CORETYPE python bench/...` "
                      f"measures those")
