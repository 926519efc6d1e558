"""The sending domain in the DNS: DMARC, SPF, DKIM, alignment, the bounce domain and the Return-Path.

Receivers judge a message by its From domain's DMARC policy (RFC 7489): it
passes when SPF passes for the envelope sender's domain (the Return-Path,
RFC 7208) or a DKIM signature verifies (RFC 6376), and that domain aligns
with the From domain. Gmail and Yahoo ask bulk senders for SPF and DKIM both,
a DMARC record, and alignment; digest asks for both to align, because the
envelope and the key are ours to set and either alone fails at the first
forwarder that re-encodes a message or relays it from elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from digest.config import Settings
from digest.doctor import dmarc, spf
from digest.doctor.dkimkey import on_sendgrid, own_key, sendgrid_selectors
from digest.doctor.lookup import Dns
from digest.doctor.report import Check, error, ok, skipped, warning


@dataclass(frozen=True)
class Envelope:
    """The envelope sender's (Return-Path's) domain and where that comes from; "" when not known."""

    domain: str
    source: str
    address: str = ""


def envelope_of(settings: Settings, provider: str) -> Envelope:
    """The domain bounces go back to for ``provider``."""
    if provider == "sendgrid":
        domain = settings.sendgrid.return_path_domain
        return Envelope(domain, "[sendgrid] return_path_domain", f"bounces+…@{domain}" if domain else "")
    from digest.providers.smtp.verp import return_path

    address = return_path(settings, None).replace("+test@", "+<delivery>-<tag>@")
    source = "[email] bounce_address" if settings.email.bounce_address else "the From address's domain"
    return Envelope(address.rsplit("@", 1)[1], source, address)


# --- DMARC ---------------------------------------------------------------------------


def dmarc_checks(resolver: Dns, from_domain: str) -> tuple[list[Check], dmarc.Policy | None]:
    """The From domain's DMARC record, its policy and its reports (RFC 7489 §6)."""
    found = dmarc.discover(resolver, from_domain)
    if found.problem:
        return [error("DMARC record", found.problem, "publish exactly one valid record at _dmarc." + from_domain)], None
    policy = found.policy
    if policy is None:
        return [
            error(
                "DMARC record",
                f"no DMARC record at {' or '.join(found.asked)}: Gmail and Yahoo refuse bulk mail without one",
                f'publish TXT at _dmarc.{from_domain}: "v=DMARC1; p=none; rua=mailto:dmarc@{from_domain}", '
                "then move to p=quarantine once the reports show only your own mail",
            )
        ], None
    checks = [ok("DMARC record", f"_dmarc.{policy.domain}: {policy.text}")]
    checks += [warning("DMARC record", note, "correct the record") for note in policy.notes]
    checks.append(_policy_check(policy, from_domain))
    checks.append(_reports_check(resolver, policy))
    return checks, policy


def _policy_check(policy: dmarc.Policy, from_domain: str) -> Check:
    name = "DMARC policy"
    applies = policy.policy if policy.domain == from_domain else policy.subdomain_policy
    which = "p" if policy.domain == from_domain else "sp"
    if applies == "none":
        return warning(
            name,
            f"{which}=none: receivers only report, and anyone can send as {from_domain} "
            "(Gmail and Yahoo accept p=none, so mail still goes out)",
            "once the rua reports show only your own mail passing, set p=quarantine, later p=reject",
        )
    if policy.pct < 100:
        return warning(
            name,
            f"{which}={applies} with pct={policy.pct}: the policy covers only {policy.pct}% of failing mail",
            "raise pct to 100 (or remove it)",
        )
    return ok(name, f"{which}={applies}: mail failing DMARC as {from_domain} is {_treatment(applies)}")


def _treatment(policy: str) -> str:
    return "put in spam" if policy == "quarantine" else "refused"


def _reports_check(resolver: Dns, policy: dmarc.Policy) -> Check:
    name = "DMARC reports"
    if not policy.rua:
        return warning(
            name,
            "no rua=: nobody will see who sends as your domain, or when your own mail fails",
            f"add rua=mailto:dmarc@{policy.domain} (a mailbox someone reads, or a report service's address)",
        )
    outside = dmarc.unauthorised_report_hosts(resolver, policy)
    if outside:
        hosts = ", ".join(outside)
        return warning(
            name,
            f"reports to {hosts} are dropped: it has not agreed to take {policy.domain}'s reports (RFC 7489 §7.1)",
            f'{hosts} must publish TXT {policy.domain}._report._dmarc.{outside[0]} "v=DMARC1"',
        )
    return ok(name, f"aggregate reports go to {', '.join(policy.rua)}")


# --- SPF -----------------------------------------------------------------------------


def spf_checks(resolver: Dns, settings: Settings, provider: str, domain: str) -> list[Check]:
    """``domain``'s SPF record, its look-ups and whether it lets the provider send (RFC 7208)."""
    walked = spf.walk(resolver, domain)
    if walked.record is None and not walked.problem:
        return [
            error(
                "SPF record",
                f"{domain} has no SPF record: receivers cannot tell who may send for it",
                f'publish TXT at {domain}: "v=spf1 {_provider_term(settings, provider)} -all"',
            )
        ]
    if walked.problem:
        return [error("SPF record", f"{domain}: {walked.problem}", "correct the record; receivers return permerror")]
    assert walked.record is not None
    checks = [_record_check(domain, walked.record)]
    checks.append(_lookups_check(domain, walked))
    checks.append(_provider_check(resolver, settings, provider, domain, walked))
    return checks


def _provider_term(settings: Settings, provider: str) -> str:
    if provider == "sendgrid":
        return "include:sendgrid.net"
    return f"a:{settings.smtp.host}" if provider == "smtp" else "mx"


def _record_check(domain: str, record: spf.Record) -> Check:
    if any(term.name == "all" and term.qualifier == "pass" for term in record.terms):
        return error(
            "SPF record",
            f"{domain}: {record.text} ends in +all: anyone may send as {domain}",
            "end it with -all or ~all",
        )
    return ok("SPF record", f"{domain}: {record.text}")


def _lookups_check(domain: str, walked: spf.Walk) -> Check:
    name = "SPF look-ups"
    counted = f"{walked.lookups} DNS look-ups through {', '.join(walked.domains)}"
    if walked.lookups > spf.LOOKUP_LIMIT:
        return error(
            name,
            f"{domain} needs {counted}; receivers stop at {spf.LOOKUP_LIMIT} and fail SPF (RFC 7208 §4.6.4)",
            "remove includes of services that no longer send for you, or replace some with their ip4:/ip6: ranges",
        )
    if walked.void_lookups > spf.VOID_LIMIT:
        return error(
            name,
            f"{walked.void_lookups} look-ups find nothing; receivers fail SPF after {spf.VOID_LIMIT} (RFC 7208 §4.6.4)",
            "remove the a:/mx:/include: terms that name domains without records",
        )
    found = f"{counted} (at most {spf.LOOKUP_LIMIT})"
    if walked.macros:
        found += f"; {', '.join(walked.macros)} use macros and were counted, not followed"
    return ok(name, found)


def _provider_check(resolver: Dns, settings: Settings, provider: str, domain: str, walked: spf.Walk) -> Check:
    name = "SPF lets the provider send"
    if provider == "outbox":
        return skipped(name, "the outbox sends nothing")
    if provider == "sendgrid":
        if "sendgrid.net" in walked.domains or on_sendgrid(resolver.cname(domain)):
            return ok(name, f"{domain}'s SPF includes sendgrid.net")
        return error(
            name,
            f"{domain}'s SPF does not include sendgrid.net, so SendGrid's servers fail SPF for it",
            "add include:sendgrid.net before the -all (or ~all)",
        )
    host = settings.smtp.host
    addresses = list(resolver.addresses(host)) if not _is_address(host) else [host]
    public = [address for address in addresses if not _is_private(address)]
    if not public:
        return warning(
            name,
            f"the relay {host} is on this machine or a private network, so the address it sends from is unknown",
            f"make sure {domain}'s SPF lists the address your mail leaves from (ip4:… or the relay's include:)",
        )
    results = {address: spf.evaluate(resolver, domain, address) for address in public}
    passing = [address for address, result in results.items() if result == "pass"]
    if passing:
        return ok(name, f"{domain}'s SPF passes the relay {host} ({', '.join(passing)})")
    shown = ", ".join(f"{address}: {result}" for address, result in results.items())
    return warning(
        name,
        f"{domain}'s SPF does not pass the relay {host} ({shown})",
        "add the relay's include: (or ip4:/ip6: for its addresses); a relay that sends from other "
        "addresses than its own needs its provider's include:",
    )


def _is_address(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# Addresses mail never leaves from to the internet: this machine, its link and the private ranges.
_INTERNAL = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")


def _is_private(address: str) -> bool:
    import ipaddress

    ip = ipaddress.ip_address(address)
    networks = [ipaddress.ip_network(network) for network in _INTERNAL]
    internal = any(ip in network for network in networks if network.version == ip.version)
    return internal or ip.is_loopback or ip.is_link_local


# --- alignment, the bounce domain and the Return-Path ---------------------------------


def alignment_checks(
    from_domain: str, envelope: Envelope, dkim_domain: str, policy: dmarc.Policy | None
) -> list[Check]:
    """The envelope domain (SPF) and the DKIM d= each align with the From domain (RFC 7489 §3.1)."""
    aspf = policy.aspf if policy else "r"
    adkim = policy.adkim if policy else "r"
    checks = []
    if not envelope.domain:
        checks.append(
            warning(
                "SPF alignment",
                "the Return-Path's domain is not known: SendGrid's is the return-path subdomain of your "
                "authenticated domain (em1234.example.org), or sendgrid.net without one",
                "set [sendgrid] return_path_domain to the subdomain SendGrid's domain authentication shows",
            )
        )
    else:
        checks.append(_aligned("SPF alignment", envelope.domain, from_domain, aspf, f"Return-Path ({envelope.source})"))
    if dkim_domain:
        checks.append(_aligned("DKIM alignment", dkim_domain, from_domain, adkim, "DKIM d="))
    return checks


def _aligned(name: str, identifier: str, from_domain: str, mode: str, what: str) -> Check:
    strictness = "strict" if mode == "s" else "relaxed"
    if dmarc.aligned(identifier, from_domain, mode):
        return ok(name, f"{what} {identifier} aligns with From {from_domain} ({strictness})")
    fix = (
        f"use a domain in {dmarc.organizational_domain(from_domain)}"
        if mode == "r"
        else f"use {from_domain} itself (the DMARC record asks for strict alignment), or set it to relaxed"
    )
    return error(
        name,
        f"{what} {identifier} does not align with From {from_domain} ({strictness}): DMARC cannot pass through it",
        fix,
    )


def bounce_checks(resolver: Dns, provider: str, envelope: Envelope) -> list[Check]:
    """The Return-Path's domain exists and takes mail (bounces come back to it)."""
    if not envelope.domain:
        return [skipped("bounce MX", "the Return-Path's domain is not known (see SPF alignment)")]
    domain = envelope.domain
    if not resolver.exists(domain):
        return [
            error(
                "Return-Path",
                f"{envelope.address or domain} ({envelope.source}): {domain} does not exist in the DNS; "
                "receivers refuse mail from a domain that does not exist",
                f"publish {domain}, or change {envelope.source}",
            )
        ]
    checks = [_return_path_check(resolver, provider, envelope)]
    hosts = resolver.mx(domain)
    if hosts and all(host == "" for _, host in hosts):
        checks.append(error("bounce MX", f"{domain} has a null MX (RFC 7505): it takes no mail, bounces are lost", ""))
    elif hosts:
        checks.append(ok("bounce MX", f"{domain}: " + ", ".join(f"{p} {h}" for p, h in hosts)))
    elif resolver.addresses(domain):
        checks.append(
            warning(
                "bounce MX",
                f"{domain} has no MX; bounces go to its A/AAAA address (RFC 5321 §5.1), which may not take mail",
                f"publish an MX for {domain} pointing at the mailbox `digest bounces scan` reads",
            )
        )
    else:
        checks.append(error("bounce MX", f"{domain} has no MX and no address: bounces are lost", "publish an MX"))
    return checks


def _return_path_check(resolver: Dns, provider: str, envelope: Envelope) -> Check:
    name = "Return-Path"
    found = f"{envelope.address} ({envelope.source})"
    if provider != "sendgrid":
        return ok(name, found)
    target = resolver.cname(envelope.domain)
    if on_sendgrid(target):
        return ok(name, f"{found} → {target}: SendGrid takes the bounces")
    if any(on_sendgrid(host) for _, host in resolver.mx(envelope.domain)):
        return ok(name, f"{found}: its MX is SendGrid's, so SendGrid takes the bounces")
    return error(
        name,
        f"{found} neither points at sendgrid.net nor has SendGrid's MX, so SendGrid cannot take its bounces",
        "publish the return-path record SendGrid's domain authentication lists (em….your-domain CNAME)",
    )


def domain_checks(
    resolver: Dns, settings: Settings, provider: str, dkim_domain: str, signed_copy: bytes | None
) -> list[Check]:
    """Every DNS check of the sending domain, in the order a receiver meets them."""
    from_domain = settings.email.domain
    envelope = envelope_of(settings, provider)
    checks, policy = dmarc_checks(resolver, from_domain)
    checks += spf_checks(resolver, settings, provider, envelope.domain or from_domain)
    if provider == "sendgrid":
        line, dkim_domain = sendgrid_selectors(resolver, from_domain)
        checks.append(line)
    elif provider == "smtp" and dkim_domain:
        checks.append(own_key(resolver, settings, signed_copy, settings.smtp.dkim_selector, dkim_domain))
    else:
        why = "the outbox signs nothing" if provider == "outbox" else "digest does not sign (see its own line)"
        checks.append(skipped("DKIM key", why))
    checks += alignment_checks(from_domain, envelope, dkim_domain, policy)
    checks += bounce_checks(resolver, provider, envelope)
    return checks
