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


def rounded(value: int) -> str:
    """A count in at most six characters, for a narrow table: exact below 1,000, else one decimal and
    an SI prefix (``9.4K``, ``102.8M``, ``1.8G``, ``3.0T``), past 999.9T a power of ten (``1.2e15``).
    Rounded half up, in integers: a count of 10**100 rounds as exactly as 9,408."""
    magnitude = abs(value)
    sign = "-" if value < 0 else ""
    if magnitude < 1000:
        return str(value)
    for exponent, suffix in ((3, "K"), (6, "M"), (9, "G"), (12, "T")):
        tenths = (magnitude * 10 + 10**exponent // 2) // 10**exponent
        if tenths < 10_000:
            return f"{sign}{tenths // 10}.{tenths % 10}{suffix}"
    exponent = len(str(magnitude)) - 1
    tenths = (magnitude * 10 + 10**exponent // 2) // 10**exponent
    if tenths >= 100:  # 9.96e15 rounds up to 1.0e16
        exponent, tenths = exponent + 1, tenths // 10
    return f"{sign}{tenths // 10}.{tenths % 10}e{exponent}"


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
