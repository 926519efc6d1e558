"""DKIM in the DNS (RFC 6376): SendGrid's selectors, or the project's own key against its private half.

For SMTP the copy digest signs with ``[smtp] dkim_private_key_file`` is
verified by dkimpy against the key published at ``<selector>._domainkey.<d>``
through the same resolver as every other check: a signature that verifies is
the proof that the published key is the private key's other half.
"""

from __future__ import annotations

from digest.config import Settings
from digest.doctor.dmarc import organizational_domain
from digest.doctor.lookup import Dns, DnsFailure
from digest.doctor.report import Check, error, ok, skipped, warning

SENDGRID_SELECTORS = ("s1", "s2")
SENDGRID_DOMAIN = "sendgrid.net"
RECOMMENDED_BITS = 2048  # RFC 8301 §3.2: at least 1024, and 2048 recommended; Gmail asks for 2048 where it can


def on_sendgrid(host: str) -> bool:
    return host == SENDGRID_DOMAIN or host.endswith("." + SENDGRID_DOMAIN)


def sendgrid_selectors(resolver: Dns, from_domain: str) -> tuple[Check, str]:
    """s1 and s2 ``._domainkey`` as CNAMEs into sendgrid.net; returns the line and the signing domain found."""
    name = "DKIM key"
    candidates = [from_domain]
    if organizational_domain(from_domain) != from_domain:
        candidates.append(organizational_domain(from_domain))
    for domain in candidates:
        targets = {selector: resolver.cname(f"{selector}._domainkey.{domain}") for selector in SENDGRID_SELECTORS}
        if any(targets.values()):
            wrong = [f"{s}._domainkey.{domain} → {t or 'nothing'}" for s, t in targets.items() if not on_sendgrid(t)]
            if wrong:
                return (
                    error(
                        name,
                        "SendGrid's DKIM selectors do not point at SendGrid: " + "; ".join(wrong),
                        "publish both CNAMEs exactly as SendGrid's domain authentication page lists them",
                    ),
                    domain,
                )
            shown = ", ".join(f"{s}._domainkey.{domain} → {t}" for s, t in targets.items())
            return ok(name, f"SendGrid signs for {domain}: {shown}"), domain
    return (
        error(
            name,
            f"no s1/s2._domainkey CNAMEs at {' or '.join(candidates)}: SendGrid signs as sendgrid.net, "
            "which does not align with your From domain",
            "authenticate the domain in SendGrid (Settings → Sender Authentication) and publish its CNAMEs",
        ),
        "",
    )


def own_key(resolver: Dns, settings: Settings, signed_copy: bytes | None, selector: str, domain: str) -> Check:
    """The key published for ``selector`` at ``domain`` verifies a copy signed with the private key in use."""
    import dkim

    name = "DKIM key"
    where = f"{selector}._domainkey.{domain}"
    records = resolver.txt(where)
    if not records:
        return error(
            name,
            f"no DKIM key is published at {where}",
            f"publish a TXT record there: v=DKIM1; k=rsa; p=<the public half of {settings.smtp.dkim_private_key_file}>",
        )
    record = records[0]
    tags = dict(
        (part.split("=", 1)[0].strip().lower(), part.split("=", 1)[1].strip())
        for part in record.split(";")
        if "=" in part
    )
    if not tags.get("p", "").replace(" ", ""):
        return error(name, f"the key at {where} is revoked (empty p=)", "publish the public half of the key in use")
    if signed_copy is None:
        return skipped(name, "no signed copy to verify (see the copy's own line)")

    def answer(name: bytes, timeout: int = 5) -> bytes | None:
        try:
            found = resolver.txt(name.decode("ascii").rstrip("."))
        except DnsFailure as exc:
            raise dkim.DnsTimeoutError(str(exc)) from None
        return found[0].encode("utf-8") if found else None

    try:
        verified = dkim.verify(signed_copy, dnsfunc=answer)
    except dkim.DKIMException as exc:
        return error(name, f"the key at {where} cannot be used: {exc}", "publish the key again, as one TXT record")
    if not verified:
        return error(
            name,
            f"the key published at {where} does not match the private key in {settings.smtp.dkim_private_key_file}",
            "publish the public half of that private key (or point dkim_selector at the selector that has it)",
        )
    bits = _key_bits(tags.get("p", ""))
    if bits and bits < RECOMMENDED_BITS:
        return warning(
            name,
            f"{where} matches the private key, but it is {bits} bits",
            f"make a {RECOMMENDED_BITS}-bit key under a new selector, publish it, then switch to it",
        )
    return ok(name, f"{where} matches the private key in use" + (f" ({bits} bits)" if bits else ""))


def _key_bits(public: str) -> int:
    """The size of an RSA public key given as DKIM's p= (0 when it is not an RSA key dkimpy can read)."""
    import base64
    import binascii

    from dkim.crypto import UnparsableKeyError, parse_public_key

    try:
        key = parse_public_key(base64.b64decode(public.replace(" ", "")))
    except (UnparsableKeyError, binascii.Error, ValueError):
        return 0
    return int(key["modulus"]).bit_length()
