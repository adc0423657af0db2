"""The error cnnc raises when it cannot do what was asked with the files or settings it was given
(exit code 2 on the command line): a message and a hint for the user, never a traceback."""

from __future__ import annotations


class CannotRun(Exception):
    """A file or setting cnnc cannot use: data that does not fit, a model file that does not match,
    a run that cannot be resumed. ``help`` says what to do about it."""

    def __init__(self, message: str, help: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.help = help
