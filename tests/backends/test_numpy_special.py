"""The NumPy backend's error function against C's erf (Python's math.erf)."""

from __future__ import annotations

import math

import numpy as np

from cnnc.backends.numpy.special import erf


def test_erf_matches_math_erf_to_float64_rounding() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 2, 50_000), rng.uniform(-7, 7, 50_000), np.linspace(-6.5, 6.5, 20_001),
                        [0.0, 1e-300, 5e-324, 1 / 128, 6.0, 6.0 - 1e-12, 6.0 + 1e-12, 30.0, 1e300]])
    x = np.concatenate([x, -x])
    expected = np.array([math.erf(value) for value in x])
    assert np.abs(erf(x) - expected).max() <= 2.3e-16  # one rounding step of values near 1
    tiny = x[np.abs(x) < 1e-3]
    np.testing.assert_allclose(erf(tiny), [math.erf(value) for value in tiny], rtol=1e-15, atol=0)


def test_erf_keeps_the_dtype_the_sign_and_nan() -> None:
    x = np.array([-np.inf, -0.0, 0.0, np.inf, np.nan], dtype=np.float32)
    result = erf(x)
    assert result.dtype == np.float32
    assert result[:4].tolist() == [-1.0, -0.0, 0.0, 1.0] and np.signbit(result[1])
    assert np.isnan(result[4])
    assert erf(np.zeros((2, 3, 4))).shape == (2, 3, 4)
