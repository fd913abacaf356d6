"""The one exception the local stack raises: a failure with a one-line reason for the user."""

from __future__ import annotations


class StackError(RuntimeError):
    """A stack operation failed; ``str(exc)`` is a one-line reason, ``details`` the evidence."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details
