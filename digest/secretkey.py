"""What makes a DIGEST_SECRET_KEY unfit: too short, a placeholder, or plainly not random.

The key signs every link in every email and keys the suppression list's
hashes, so a key copied from an example file is no secret: anyone who read
the example can forge unsubscribe links and test guessed addresses against a
leaked list. Only the problem is named here; :meth:`Settings.require_secret_key`
refuses the key with it.
"""

from __future__ import annotations

import re

MIN_SECRET_KEY_LENGTH = 32
MIN_DISTINCT_CHARACTERS = 8  # a random 32-character key has far more; "k" * 40 has one
# Keys printed where anyone can read them: .env.example, and the README's and docs' examples.
KNOWN_EXAMPLES = frozenset({"change-me-to-at-least-32-random-characters"})
_PLACEHOLDER = re.compile(
    r"(?<![a-z])(change|replace|insert|put|set)[-_ .]?(me|this|here)|^your[-_ .]|^x{8}", re.IGNORECASE
)
HOW_TO_MAKE_ONE = "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"


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
