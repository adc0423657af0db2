"""``python -m cnnc``."""

from cnnc.cli import run

run()
