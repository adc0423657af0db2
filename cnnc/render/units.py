"""Formatting counts and sizes for people."""

from __future__ import annotations


def count(value: int) -> str:
    """``138,357,544``."""
    return f"{value:,}"


def short(value: int) -> str:
    """``138.4M``, ``15.47G``: a count at a glance (SI prefixes)."""
    if abs(value) >= 10**300:  # past what a float holds
        digits = str(abs(value))
        return f"{'-' if value < 0 else ''}{digits[0]}.{digits[1:4]}e+{len(digits) - 1}"
    for factor, suffix in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")):
        if abs(value) >= factor:
            return f"{value / factor:.4g}{suffix}"
    return str(value)


def size(value: int) -> str:
    """Bytes in binary units: ``527.8 MiB``."""
    for power, unit in enumerate(("B", "KiB", "MiB", "GiB", "TiB", "PiB")):
        if abs(value) < 1024 ** (power + 1) or unit == "PiB":
            if power == 0:
                return f"{value} {unit}"
            whole = value // 1024**power
            if abs(whole) >= 2**53:  # past what a float holds exactly: whole units, in digits
                return f"{whole:,} {unit}"
            return f"{value / 1024**power:.1f} {unit}"
    raise AssertionError  # pragma: no cover
