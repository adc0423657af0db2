"""Executable backends that the IR is lowered to."""
