"""A secret setting (a key, a password): used where it is needed, never shown.

Settings are passed everywhere and a ``repr`` of them ends up in a log line
or a traceback sooner or later; a :class:`Secret` shows as ``Secret('***')``
there, and its value only comes out through :meth:`Secret.reveal`.
"""

from __future__ import annotations

import hmac


class Secret:
    """A value from ``.env`` that must not appear in a repr, a message or a log line."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The value itself, for the one place that uses it (a login, an HMAC key, an API header)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    @classmethod
    def from_env(cls, value: str | None) -> Secret | None:
        """A secret for a value from the environment; None when unset or empty."""
        return cls(value) if value else None
