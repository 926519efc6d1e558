"""One error tree for the whole library.

Library code raises these; the CLI turns any of them into ``Error: <message>``
and exit status 1. Messages say what went wrong and how to fix it.
"""

from __future__ import annotations

from pathlib import Path


class DigestError(Exception):
    """Base class for every error a user can cause or fix."""


class ConfigError(DigestError):
    """A setting in digest.toml or .env is missing or wrong."""


class InputError(DigestError):
    """A file or argument given to a command cannot be used."""

    def __init__(self, reason: str, *, path: str | Path | None = None, line: int | None = None) -> None:
        self.reason = reason
        self.path = str(path) if path is not None else None
        self.line = line
        super().__init__(self._format())

    def _format(self) -> str:
        if self.path and self.line:
            return f"{self.path}, line {self.line}: {self.reason}"
        if self.path:
            return f"{self.path}: {self.reason}"
        return self.reason


class NotFoundError(DigestError):
    """Something named on the command line does not exist."""


class StateError(DigestError):
    """The request conflicts with the current state (a lock, a finished send...)."""


class ProviderError(DigestError):
    """The email provider refused or failed a request."""
