"""A copy built as the chosen provider builds it, for a made-up reader, and its headers checked.

RFC 8058: a one-click unsubscribe is a ``List-Unsubscribe`` header holding an
https address plus ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``,
and both must be covered by a valid DKIM signature (§4), or receivers will
not offer it. Gmail and Yahoo require it of bulk senders since February 2024.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from email import message_from_bytes, policy
from urllib.parse import urlsplit

from digest.config import Settings
from digest.doctor.report import Check, error, ok, skipped, warning
from digest.errors import DigestError
from digest.issues.mime import LIST_UNSUBSCRIBE_POST
from digest.secret import Secret

ONE_CLICK_HEADERS = ("list-unsubscribe", "list-unsubscribe-post")
# Only the copy's headers are judged; its body is a stand-in.
_BODY = "Unsubscribe: %%unsubscribe_url%%"


@dataclass(frozen=True)
class Copy:
    """The headers one reader's copy carries, and its DKIM signature when digest signs it."""

    headers: dict[str, str]
    dkim_signature: str = ""  # the DKIM-Signature header digest added ("" when digest does not sign)
    data: bytes = b""  # the whole message as SMTP would send it (SendGrid builds its own)


def build_copy(settings: Settings, provider: str) -> Copy:
    """The headers a reader's copy gets from ``provider`` (SendGrid: those in its request)."""
    from digest.issues.render import RenderedEmail
    from digest.providers.base import Batch, Recipient, recipient_message
    from digest.sending.runner import personal_values

    # The secret key has its own check; any key makes the copy.
    secret = (settings.secret_key.reveal() if settings.secret_key else "").encode() or b"doctor"
    variant = RenderedEmail("doctor", None, "digest doctor", "", f"<p>{_BODY}</p>", _BODY, ())
    # Subscriber and delivery 0, as test copies have: the token unsubscribes nobody.
    personal = personal_values(settings, secret, "doctor", 0, 0, "")
    recipient = Recipient(1, "reader@example.invalid", "", personal)
    batch = Batch("doctor", 1, variant, [recipient])
    if provider == "sendgrid":
        from digest.providers.sendgrid.sending import SendGridProvider

        # The request body needs no key to build; a missing key has its own line.
        api_key = settings.sendgrid.api_key or Secret("SG.x")
        keyed = replace(settings, sendgrid=replace(settings.sendgrid, api_key=api_key))
        body = SendGridProvider(keyed).body(batch, [(0, recipient)])
        headers = {"From": settings.email.from_address, **body["personalizations"][0].get("headers", {})}
        return Copy({key.lower(): value for key, value in headers.items()})
    data = recipient_message(settings, batch, recipient).as_bytes(policy=policy.SMTP)
    signature = ""
    if provider == "smtp":
        from digest.providers.smtp.dkim import signer_from_settings

        signer = signer_from_settings(settings)
        if signer is not None:
            data = signer(data)
            signature = str(message_from_bytes(data, policy=policy.SMTP)["DKIM-Signature"] or "")
    parsed = message_from_bytes(data, policy=policy.SMTP)
    return Copy({key.lower(): str(value) for key, value in parsed.items()}, signature, data)


def one_click(settings: Settings, copy: Copy) -> Check:
    """List-Unsubscribe with an https address on [web] base_url's host, and List-Unsubscribe-Post."""
    name = "one-click unsubscribe"
    header = copy.headers.get("list-unsubscribe", "")
    post = copy.headers.get("list-unsubscribe-post", "")
    if not header:
        return error(name, "a copy has no List-Unsubscribe header", "report this as a bug in digest")
    if post != LIST_UNSUBSCRIBE_POST:
        return error(
            name,
            f"List-Unsubscribe-Post is {post!r}, not {LIST_UNSUBSCRIBE_POST!r}",
            "report this as a bug in digest",
        )
    addresses = re.findall(r"<([^>]*)>", header)
    web = [address for address in addresses if address.lower().startswith(("https://", "http://"))]
    if not web:
        return error(name, f"List-Unsubscribe holds no web address: {header}", "report this as a bug in digest")
    url = web[0]
    host = urlsplit(url).hostname or ""
    expected = urlsplit(settings.base_url).hostname or ""
    if not url.startswith("https://"):
        return error(
            name,
            f"the one-click address {_shorten(url)} is not https (RFC 8058 §3.1)",
            "set [web] base_url to the https:// address of `digest serve`",
        )
    if host != expected:
        return error(name, f"the one-click address is on {host}, not on [web] base_url's {expected}", "")
    return ok(name, f"List-Unsubscribe <{_shorten(url)}> with List-Unsubscribe-Post: {post}")


def _shorten(url: str) -> str:
    """An address with its token cut short: enough to see where it goes."""
    head, _, token = url.rpartition("/")
    return f"{head}/{token[:4]}…" if len(token) > 8 else url


def signed_headers(settings: Settings, copy: Copy, provider: str) -> Check:
    """The DKIM signature on the copy covers both one-click headers (RFC 8058 §4)."""
    name = "DKIM covers one-click"
    if provider == "outbox":
        return skipped(name, "the outbox writes files; nothing is signed or sent")
    if provider == "sendgrid":
        return skipped(
            name,
            "SendGrid signs each message itself; a --test-to copy's DKIM-Signature h= shows what it covered",
        )
    if not copy.dkim_signature:
        return warning(
            name,
            "digest does not DKIM-sign (no [smtp] dkim_selector and dkim_private_key_file)",
            "unless the relay signs for your domain, set both: Gmail and Yahoo require DKIM of bulk mail",
        )
    signed = _tag(copy.dkim_signature, "h").lower().replace(" ", "").split(":")
    missing = [header for header in ONE_CLICK_HEADERS if header not in signed]
    if missing:
        return error(name, f"the DKIM signature's h= leaves out {', '.join(missing)}", "report this as a bug")
    return ok(name, f"d={_tag(copy.dkim_signature, 'd')} s={_tag(copy.dkim_signature, 's')}, h= includes both")


def _tag(header: str, tag: str) -> str:
    match = re.search(rf"(?:^|;)\s*{tag}\s*=\s*([^;]*)", re.sub(r"\s+", " ", header))
    return match.group(1).strip() if match else ""


def check_copy(settings: Settings, provider: str) -> tuple[list[Check], Copy | None]:
    """The copy's checks, and the copy (None when it could not be built: that is an error line)."""
    try:
        copy = build_copy(settings, provider)
    except DigestError as exc:
        return [error("a copy", f"a copy cannot be built: {exc}", "fix the setting it names")], None
    return [one_click(settings, copy), signed_headers(settings, copy, provider)], copy


def dkim_domain(copy: Copy) -> str:
    """The d= of digest's own signature ("" when digest does not sign)."""
    return _tag(copy.dkim_signature, "d").lower() if copy.dkim_signature else ""
