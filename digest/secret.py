"""The project's secrets: kept out of every repr, and refused when they are no secret.

Settings are passed everywhere and a ``repr`` of them ends up in a log line
or a traceback sooner or later; a :class:`Secret` shows as ``Secret('***')``
there, and its value only comes out through :meth:`Secret.reveal`.

The secret key signs every link in every email and keys the suppression
list's hashes, so a key copied from an example file is no secret: anyone who
read the example can forge unsubscribe links and test guessed addresses
against a leaked list. :func:`key_problem` names what makes a key unfit (too
short, a placeholder, plainly not random); :meth:`Settings.require_secret_key`
refuses the key with it.
"""

from __future__ import annotations

import hmac
import re

MIN_SECRET_KEY_LENGTH = 32
MIN_DISTINCT_CHARACTERS = 8  # a random 32-character key has far more; "k" * 40 has one
# Keys printed where anyone can read them: .env.example, and the README's and docs' examples.
KNOWN_EXAMPLES = frozenset({"change-me-to-at-least-32-random-characters"})
_PLACEHOLDER = re.compile(
    r"(?<![a-z])(change|replace|insert|put|set)[-_ .]?(me|this|here)|^your[-_ .]|^x{8}", re.IGNORECASE
)
HOW_TO_MAKE_ONE = "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"


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


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot be the secret key (a phrase for 'DIGEST_SECRET_KEY in .env …'), or None."""
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return (
            f"is {len(key)} characters long; it must be at least {MIN_SECRET_KEY_LENGTH} so links and "
            "suppression hashes cannot be guessed"
        )
    if key.strip() in KNOWN_EXAMPLES:
        return "is the example value from .env.example, which anyone can read"
    if _PLACEHOLDER.search(key):
        return "is a placeholder, not a random secret"
    distinct = len(set(key))
    if distinct < MIN_DISTINCT_CHARACTERS:
        return f"has only {distinct} different characters: it is not random"
    return None
