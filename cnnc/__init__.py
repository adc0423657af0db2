"""cnnc: a compiler for convolutional networks written as text."""

from cnnc.api import Network, load, loads
from cnnc.diagnostics import Diagnostic, Severity, SpecError

__all__ = ["Diagnostic", "Network", "Severity", "SpecError", "load", "loads"]
