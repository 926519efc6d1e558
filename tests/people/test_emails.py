"""Address checking: email-validator's verdicts, and a fast path that never disagrees with it."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.errors import InputError
from digest.people.emails import _fast_path, check_address, keyed_hash, keyed_hashes
from tests.conftest import examples


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("  Amira.Khan@School.Example.ORG ", "amira.khan@school.example.org"),
        ("o'brien+digest@example.co.uk", "o'brien+digest@example.co.uk"),
        ("ann@bücher.de", "ann@bücher.de"),
        ("ann@xn--bcher-kva.de", "ann@bücher.de"),
        ("jürgen@bücher.de", "jürgen@bücher.de"),
    ],
)
def test_valid_addresses_and_their_keys(raw: str, key: str) -> None:
    address = check_address(raw)
    assert address.email == raw.strip()
    assert address.key == key


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "no email address"),
        ("bob", "An email address must have an @-sign."),
        ("bob@@example.org", "invalid characters"),
        ("bob smith@example.org", "invalid characters before the @-sign: SPACE"),
        ("bob@localhost", "It should have a period."),
        ("bob@example..org", "two periods in a row"),
        ("bob@-example.org", "hyphen"),
        ("bob.@example.org", "period"),
        ("bob@example.test", "special-use or reserved name"),
        ("a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".org", "too long"),
    ],
)
def test_invalid_addresses_give_the_librarys_reason(raw: str, reason: str) -> None:
    with pytest.raises(InputError) as caught:
        check_address(raw)
    assert reason in caught.value.reason


ATOM_CHARS = "abcXYZ019!#$%&'*+/=?^_`{|}~-.@ \"(),:;<>[\\]éü"


@pytest.mark.fuzz
@settings(max_examples=examples(3000), deadline=None)
@given(
    st.text(alphabet=ATOM_CHARS, min_size=1, max_size=70),
    st.text(alphabet="abcxyz019-.éü", min_size=1, max_size=40),
    st.sampled_from(["org", "uk", "co.uk", "test", "local", "x", "123", "example", "onion", "arpa"]),
)
def test_fast_path_never_accepts_what_the_library_refuses(local: str, domain: str, tld: str) -> None:
    email = f"{local}@{domain}.{tld}"
    fast = _fast_path(email)
    if fast is None:
        return
    try:
        library = validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:  # pragma: no cover - the property under test
        pytest.fail(f"fast path accepted {email!r}, email-validator refused it: {exc}")
    assert fast.key == library.normalized.lower()


def test_keyed_hash_depends_on_the_secret() -> None:
    assert keyed_hash(b"a" * 32, "x@example.org") == keyed_hash(b"a" * 32, "x@example.org")
    assert keyed_hash(b"a" * 32, "x@example.org") != keyed_hash(b"b" * 32, "x@example.org")
    assert len(keyed_hash(b"a" * 32, "x@example.org")) == 64


@pytest.mark.parametrize("length", [63, 64, 65])
def test_a_long_local_part_gets_the_librarys_answer(length: int) -> None:
    # Up to 64 characters the fast path answers; beyond, the library does (and, here, accepts).
    email = "a" * length + "@Example.org"
    library = validate_email(email, check_deliverability=False).normalized.lower()
    assert check_address(email).key == library
    fast = _fast_path(email)
    assert (fast.key if fast else None) == (library if length <= 64 else None)


def test_keyed_hashes_are_each_keys_keyed_hash() -> None:
    keys = ["x@example.org", "jürgen@bücher.de", "x@example.org", ""]
    assert keyed_hashes(b"a" * 32, keys) == [keyed_hash(b"a" * 32, key) for key in keys]
    assert keyed_hashes(b"b" * 32, keys[:1]) == [keyed_hash(b"b" * 32, keys[0])]
