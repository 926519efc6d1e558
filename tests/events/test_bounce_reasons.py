"""Signed VERP return paths and the classification of bounces by reason."""

from __future__ import annotations

from dataclasses import replace

import pytest

from digest.errors import ConfigError
from digest.events.bounce_reasons import HARD_REASONS, SOFT_REASONS, classify, find_status, reason_from_status
from digest.providers.smtp.verp import find, return_path, tag
from digest.secret import Secret


def test_return_paths_are_signed_and_checked(settings) -> None:  # type: ignore[no-untyped-def]
    address = return_path(settings, 12)
    local, _, domain = address.partition("@")
    assert domain == "safe.example.org" and local.startswith("bounces+12-") and len(local.split("-")[1]) == 16
    assert return_path(settings, None) == "bounces+test@safe.example.org"
    found = find(settings, f"Delivered-To: {address}")
    assert found is not None and (found.delivery_id, found.signed) == (12, True)
    # Mail systems may upper-case a local part; the tag is hex, so the signature still holds.
    assert find(settings, address.upper()).signed  # type: ignore[union-attr]
    assert not find(settings, address.replace("bounces+12-", "bounces+13-")).signed  # type: ignore[union-attr]
    assert not find(settings, "bounces+12@safe.example.org").signed  # type: ignore[union-attr]
    assert find(settings, "xbounces+12@safe.example.org") is None  # another local part
    assert find(settings, "bounces+12-abc@other.example") is None  # another domain
    # A signed address wins over an unsigned one anywhere in the same text.
    both = find(settings, f"To: bounces+99@safe.example.org\nDelivered-To: {address}")
    assert both is not None and (both.delivery_id, both.signed) == (12, True)
    other = replace(settings, secret_key=Secret("a-different-secret-key-0123456789abcdef"))
    assert tag(other.require_secret_key(), 12) != tag(settings.require_secret_key(), 12)
    assert not find(settings, return_path(other, 12)).signed  # type: ignore[union-attr]


def test_no_key_no_return_path(settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="DIGEST_SECRET_KEY is not set"):
        return_path(replace(settings, secret_key=None), 1)


@pytest.mark.parametrize(
    ("status", "diagnostic", "reason", "hard"),
    [
        ("5.1.1", "550 5.1.1 <a@b.example>: Recipient address rejected: User unknown", "user-unknown", True),
        ("5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found", "user-unknown", True),
        ("5.1.2", "550 5.1.2 Host unknown (Name server: x.example: host not found)", "host-unknown", True),
        ("5.1.6", "550 5.1.6 mailbox has moved", "has-moved", True),
        ("5.0.0", "556 5.1.10 Host does not accept mail (null MX)", "not-accepting", True),
        # 4.x.x is never hard, whatever the words say.
        ("4.1.1", "450 4.1.1 <a@b.example>: Recipient address rejected: User unknown", "user-unknown", False),
        ("", "450 Mailbox unavailable, user unknown, try again later", "user-unknown", False),
        # 5.x.x that is about a full box, us, or a policy: soft.
        ("5.2.2", "552 5.2.2 Mailbox full", "mailbox-full", False),
        ("5.7.1", "554 5.7.1 Client host [192.0.2.5] blocked using zen.spamhaus.example", "blocked", False),
        ("5.7.1", "550 5.7.1 Message rejected as spam by Content Filtering", "spam-detected", False),
        ("5.7.26", "550 5.7.26 Unauthenticated email is not accepted due to DMARC policy", "policy", False),
        ("5.1.8", "553 5.1.8 Domain of sender address x@y.example does not exist", "rejected", False),
        ("5.0.0", "550 5.1.0 <bounce@x.example> sender rejected", "rejected", False),
        (
            "5.1.1",
            "550 5.1.1 <a@b.example> - 192.0.2.5 has sent to too many recipients this hour",
            "too-many-connections",
            False,
        ),
        ("5.2.1", "550 5.2.1 This mailbox has been suspended", "suspended", False),
        ("", "retry timeout exceeded", "expired", False),
        ("", "Name service error for domain x.example: Host not found, try again", "network-error", False),
        ("5.3.4", "552 5.3.4 Message too big for system", "exceeds-limit", False),
        ("5.0.0", "554 delivery failed", "undefined", False),
        # The words beat the code (issue 23).
        ("5.0.0", "X-Notes; User Jo Bloggs (jo@b.example) not listed in Domino Directory", "user-unknown", True),
        (
            "5.0.0",
            "X-Notes; Utilisateur Jo Bloggs (jo@b.example) non répertorié dans l'annuaire Domino",
            "user-unknown",
            True,
        ),
        (
            "5.0.0",
            "X-Notes; ユーザー Jo Bloggs (jo@b.example) は Domino ディレクトリには見つかりません",
            "user-unknown",
            True,
        ),
        (
            "5.0.0",
            "550 Requested action not taken: mailbox unavailable (-1970470913:2104:-2147467259)",
            "user-unknown",
            True,
        ),
        ("5.5.0", "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302).", "user-unknown", True),
        ("5.1.1", "550 max message size exceeded", "exceeds-limit", False),
        ("5.1.1", "552 5.1.1 Message size exceeds fixed maximum message size", "exceeds-limit", False),
        ("5.0.0", "552 exceeded maximum inbound message size", "exceeds-limit", False),
        ("", "550 Requested action not taken: mailbox unavailable (not enough free space)", "mailbox-full", False),
        # qmail's words for a refusal of our MAIL FROM: about us, whatever the server adds.
        (
            "",
            "Connected to 192.0.2.88 but sender was rejected. Remote host said: 550 Address does not exist",
            "rejected",
            False,
        ),
        # A 4xx reply anywhere in the words, behind a generic status or none, is temporary.
        (
            "",
            "<a@b.example>: 192.0.2.88 does not like recipient. Remote host said: 450 user unknown",
            "user-unknown",
            False,
        ),
        ("5.0.0", "Remote host said: 450 user unknown Giving up on 192.0.2.88.", "user-unknown", False),
    ],
)
def test_classification_by_reason(status: str, diagnostic: str, reason: str, hard: bool) -> None:
    verdict = classify(status, diagnostic)
    assert (verdict.reason, verdict.hard) == (reason, hard)


def test_a_report_that_says_temporary_is_never_hard() -> None:
    assert classify("5.1.1", "550 5.1.1 user unknown").hard
    assert not classify("5.1.1", "550 5.1.1 user unknown", permanent=False).hard


def test_status_codes() -> None:
    assert find_status("Remote said: 450 4.2.2 Mailbox full") == "4.2.2"
    assert find_status("from 192.168.5.1.1 and version 2.0.12") == ""  # inside an address, or not a failure
    assert reason_from_status("5.1.1") == "user-unknown" and reason_from_status("5.0.0") == ""
    assert reason_from_status("5.7.99") == "policy"  # the subject's own meaning
    assert not set(HARD_REASONS) & set(SOFT_REASONS)
