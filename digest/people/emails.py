"""Email addresses: validation (email-validator), the comparison key and the keyed hash."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, NamedTuple

from digest.errors import InputError

# A strict subset of what email-validator accepts: plain ASCII dot-atom local
# parts and LDH domain labels with an alphabetic top-level domain. Addresses in
# this subset are accepted without calling the library (its per-character
# Unicode checks cost ~65 µs an address, which dominates a 100,000-row import);
# everything else goes to email-validator. tests/people/test_emails.py checks with
# generated addresses that the fast path never accepts what the library refuses.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_FAST_RE = re.compile(rf"^(?P<local>{_ATOM}(?:\.{_ATOM})*)@(?P<domain>(?:{_LABEL}\.)+[A-Za-z]{{2,63}})$")
MAX_LOCAL = 64
MAX_ADDRESS = 254


class Address(NamedTuple):
    """A checked address: as given (for display) and its comparison key.

    A named tuple: an import makes one per row, and a frozen dataclass costs twice as much to make.
    """

    email: str
    key: str


def _special_use_domains() -> tuple[str, ...]:
    import email_validator

    return tuple(email_validator.SPECIAL_USE_DOMAIN_NAMES)


_SPECIAL: frozenset[str] | None = None


def _fast_path(email: str) -> Address | None:
    match = _FAST_RE.match(email)
    if match is None or len(email) > MAX_ADDRESS:
        return None
    at = match.end("local")  # the local part starts the address; "@" follows it
    if at > MAX_LOCAL:
        return None
    # All ASCII (the pattern allows nothing else), so lower-casing the whole address is the
    # library's normalised form (local part kept, domain lower-cased) lower-cased as the key is.
    key = email.lower()
    if not _plain_domain(key[at + 1 :]):
        return None
    return Address(email, key)


@lru_cache(maxsize=65_536)
def _plain_domain(domain: str) -> bool:
    """A domain the fast path may accept: no punycode or double hyphens, not special-use.

    Remembered: a list repeats its domains (one school, many staff).
    """
    global _SPECIAL
    if "--" in domain or len(domain) > 253:
        return False  # punycode and other hyphen rules: let the library decide
    if _SPECIAL is None:
        _SPECIAL = frozenset(_special_use_domains())
    labels = domain.split(".")
    return not any(".".join(labels[i:]) in _SPECIAL for i in range(len(labels)))


def check_address(raw: str, *, check_deliverability: bool = False) -> Address:
    """Validate one address; raises InputError with email-validator's reason."""
    email = raw.strip()
    if not email:
        raise InputError("no email address")
    if not check_deliverability:
        fast = _fast_path(email)
        if fast is not None:
            return fast
        verdict = _library_verdict(email)  # offline: the same answer every time, so remembered
    else:
        verdict = _ask_library(email, check_deliverability=True)
    if isinstance(verdict, str):
        raise InputError(f"{email!r} is not a valid email address ({verdict})")
    return verdict


@lru_cache(maxsize=4096)
def _library_verdict(email: str) -> Address | str:
    """email-validator's verdict without the network (~50 µs an address): a file's junk repeats ("n/a", "-")."""
    return _ask_library(email, check_deliverability=False)


def _ask_library(email: str, *, check_deliverability: bool) -> Address | str:
    """The address email-validator makes of ``email``, or its reason for refusing it."""
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(email, check_deliverability=check_deliverability)
    except EmailNotValidError as exc:
        return str(exc)
    return Address(email=email, key=result.normalized.lower())


def mailbox_for_sending(address: str) -> tuple[str, bool]:
    """The address as a message's To header and an SMTP envelope carry it, and whether that needs SMTPUTF8.

    An ASCII address is itself. A non-ASCII domain (``user@münchen.example``) has an ASCII form
    (IDNA, ``user@xn--mnchen-3ya.example``) that every server takes. A non-ASCII local part
    (``ömil@example.org``) has none: such an address travels only with SMTPUTF8 (RFC 6531).
    """
    if address.isascii():
        return address, False
    local = address.rpartition("@")[0]
    if local.isascii():
        ascii_email = _ascii_form(address)
        if ascii_email is not None:
            return ascii_email, False
    return address, True


@lru_cache(maxsize=1024)
def _ascii_form(address: str) -> str | None:
    from email_validator import EmailNotValidError, validate_email

    try:
        found = validate_email(address, check_deliverability=False).ascii_email
    except EmailNotValidError:
        return None
    return str(found) if found else None


def keyed_hash(secret: bytes, key: str) -> str:
    """HMAC-SHA256 of an address key: what the suppression list stores.

    Without the secret a leaked list cannot be checked against guessed
    addresses; with it, a re-imported address is recognised.
    """
    mac = _suppression_hmac(secret).copy()  # keyed once: an import hashes every address
    mac.update(key.encode("utf-8"))
    return mac.hexdigest()


def keyed_hashes(secret: bytes, keys: Iterable[str]) -> list[str]:
    """:func:`keyed_hash` of many keys (an import's batch), in their order."""
    keyed = _suppression_hmac(secret)
    # The C object inside hmac.HMAC when there is one: its copy() skips a Python call per key.
    keyed = getattr(keyed, "_hmac", None) or keyed
    hashes = []
    for key in keys:
        mac = keyed.copy()
        mac.update(key.encode("utf-8"))
        hashes.append(mac.hexdigest())
    return hashes


@lru_cache(maxsize=4)
def _suppression_hmac(secret: bytes) -> Any:
    return hmac.new(secret, b"suppression:", hashlib.sha256)
