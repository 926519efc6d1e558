"""DKIM signing (digest.providers.smtp.dkim) checked with dkimpy's own verifier: what a forger can and cannot add afterwards.

The public key is answered by a DNS function given to the verifier: the one
part of the internet a signature check needs.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from digest.issues.mime import Envelope, build_message, message_bytes
from digest.providers.smtp.dkim import make_signer

OVERSIGNED = ("From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post", "Reply-To")
FORGED = {
    "From": "Safeguarding Team <alerts@attacker.example>",
    "To": "someone.else@example.org",
    "Subject": "Urgent: confirm your account",
    "Date": "Mon, 1 Jan 2024 09:00:00 +0000",
    "Message-ID": "<forged@attacker.example>",
    "List-Unsubscribe": "<https://attacker.example/unsubscribe>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    "Reply-To": "replies@attacker.example",
}


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, Callable[..., bytes]]:
    """A private key (PEM) and the DNS answer for its public half."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    public = base64.b64encode(
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"digest._domainkey.safe.example.org."
        return f"v=DKIM1; k=rsa; p={public}".encode()

    return private, dns


def signed(settings: Any, private: bytes, *, reply_to: bool = True) -> bytes:
    """A digest message as the SMTP provider sends it, signed."""
    if reply_to:
        settings = replace(settings, email=replace(settings.email, reply_to="editor@safe.example.org"))
    envelope = Envelope(
        "lead@school.example.org",
        "Pat Lead",
        "https://news.safe.example.org/unsubscribe/1.2.abc",
        extra_headers={"Feedback-ID": "2025-04-10:1:digest:safe.example.org"},
    )
    message = build_message(
        settings, subject="SAFE Newsfeed: 10 April", html="<p>Hello</p>", text="Hello", envelope=envelope
    )
    return make_signer(private, "digest", "safe.example.org")(message_bytes(message))


def signed_names(message: bytes) -> list[str]:
    header = message.split(b"\r\n\r\n", 1)[0].decode()
    signature = re.search(r"^DKIM-Signature:(.*?)(?=\r\n\S)", header, re.S | re.M)
    assert signature
    listed = re.search(r"\bh=([^;]+)", re.sub(r"\s", "", signature.group(1)))
    assert listed
    return listed.group(1).lower().split(":")


def test_headers_readers_see_are_signed_once_more_than_they_appear(settings: Any, keys: Any) -> None:
    private, dns = keys
    message = signed(settings, private)
    assert dkim.verify(message, dnsfunc=dns)
    names = signed_names(message)
    for name in OVERSIGNED:
        present = len(re.findall(rf"(?im)^{name}:", message.split(b"\r\n\r\n", 1)[0].decode()))
        assert (present, names.count(name.lower())) == (1, 2), name


@pytest.mark.parametrize("name", OVERSIGNED)
def test_a_duplicate_header_added_above_the_signed_one_fails_verification(settings: Any, keys: Any, name: str) -> None:
    private, dns = keys
    message = signed(settings, private)
    forged = f"{name}: {FORGED[name]}\r\n".encode() + message
    assert dkim.verify(message, dnsfunc=dns)
    assert not dkim.verify(forged, dnsfunc=dns)


def test_a_header_the_message_lacks_cannot_be_added_either(settings: Any, keys: Any) -> None:
    private, dns = keys
    message = signed(settings, private, reply_to=False)
    assert signed_names(message).count("reply-to") == 1
    assert not dkim.verify(b"Reply-To: replies@attacker.example\r\n" + message, dnsfunc=dns)
