"""Formatting counts and sizes for people."""

from __future__ import annotations


def count(value: int) -> str:
    """``138,357,544``."""
    return f"{value:,}"


def short(value: int) -> str:
    """``138.4M``, ``15.47G``: a count at a glance (SI prefixes)."""
    for factor, suffix in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")):
        if abs(value) >= factor:
            return f"{value / factor:.4g}{suffix}"
    return str(value)


def size(value: int) -> str:
    """Bytes in binary units: ``527.8 MiB``."""
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(amount) < 1024 or unit == "PiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    raise AssertionError  # pragma: no cover
