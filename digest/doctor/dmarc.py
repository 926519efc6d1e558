"""DMARC (RFC 7489): a From domain's policy found and read, and identifier alignment.

Discovery (§6.6.3) asks ``_dmarc.<From domain>`` and then
``_dmarc.<organizational domain>``; the organizational domain (§3.2) is the
registered name under the Public Suffix List (so ``safecic.org.uk``, not
``org.uk``). Relaxed alignment (§3.1) means the same organizational domain,
strict means the same name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from digest.doctor.lookup import Dns

POLICIES = ("none", "quarantine", "reject")
_URI = re.compile(r"^mailto:([^@\s!]+)@([^\s!]+?)(?:![0-9]+[kmgt]?)?$", re.IGNORECASE)


@lru_cache(maxsize=1)
def _suffix_list():  # type: ignore[no-untyped-def]
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def organizational_domain(domain: str) -> str:
    """The registered domain above ``domain`` (RFC 7489 §3.2), by the Public Suffix List."""
    domain = domain.rstrip(".").lower()
    return _suffix_list().privatesuffix(domain) or domain


def aligned(identifier: str, from_domain: str, mode: str) -> bool:
    """Whether an SPF or DKIM domain aligns with the From domain: strict "s" or relaxed "r" (§3.1)."""
    identifier, from_domain = identifier.rstrip(".").lower(), from_domain.rstrip(".").lower()
    if mode == "s":
        return identifier == from_domain
    return organizational_domain(identifier) == organizational_domain(from_domain)


@dataclass(frozen=True)
class Policy:
    """A DMARC record read as a receiver reads it."""

    domain: str  # where it was found (the From domain or its organizational domain)
    text: str
    policy: str
    subdomain_policy: str
    adkim: str = "r"
    aspf: str = "r"
    pct: int = 100
    rua: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what a receiver ignores or repairs in it


@dataclass
class Discovery:
    """What asking for a From domain's DMARC record found."""

    policy: Policy | None = None
    asked: list[str] = field(default_factory=list)
    problem: str = ""  # a record that exists but cannot be used


class DmarcError(Exception):
    """A record a receiver cannot use."""


def discover(resolver: Dns, from_domain: str) -> Discovery:
    """The DMARC policy that applies to mail From ``from_domain`` (RFC 7489 §6.6.3)."""
    found = Discovery()
    names = [from_domain]
    organizational = organizational_domain(from_domain)
    if organizational != from_domain:
        names.append(organizational)
    for domain in names:
        name = f"_dmarc.{domain}"
        found.asked.append(name)
        records = [text for text in resolver.txt(name) if re.match(r"^\s*v\s*=\s*DMARC1\s*(;|$)", text)]
        if len(records) > 1:
            found.problem = f"{name} has {len(records)} DMARC records; receivers then apply none (RFC 7489 §6.6.3)"
            return found
        if records:
            try:
                found.policy = parse(records[0], domain)
            except DmarcError as exc:
                found.problem = f"{name}: {exc}"
            return found
    return found


def parse(text: str, domain: str) -> Policy:
    """Read a DMARC record's tags (§6.3); raises :class:`DmarcError` when a receiver would ignore it."""
    tags: dict[str, str] = {}
    notes: list[str] = []
    for index, part in enumerate(part.strip() for part in text.split(";")):
        if not part:
            continue
        name, equals, value = part.partition("=")
        name, value = name.strip().lower(), value.strip()
        if not equals:
            raise DmarcError(f"{part!r} is not a tag=value pair")
        if index == 0 and (name != "v" or value != "DMARC1"):
            raise DmarcError("the record must start with v=DMARC1")
        if name in tags:
            notes.append(f"{name}= appears twice; the first is used")
            continue
        tags[name] = value
    rua = tuple(uri.strip() for uri in tags.get("rua", "").split(",") if uri.strip())
    bad_uris = [uri for uri in rua if not _URI.match(uri)]
    if bad_uris:
        notes.append(f"rua holds {', '.join(bad_uris)}, which is not a mailto: address; reports cannot go there")
    usable_rua = tuple(uri for uri in rua if _URI.match(uri))
    policy = tags.get("p", "").lower()
    if policy not in POLICIES:
        if not usable_rua:
            shown = f"p={tags['p']}" if "p" in tags else "no p= tag"
            raise DmarcError(f"{shown}: the policy must be p=none, p=quarantine or p=reject")
        # §6.6.3: an invalid p with a usable rua is taken as p=none.
        notes.append("p= is missing or not none/quarantine/reject, so receivers act as if p=none")
        policy = "none"
    subdomain_policy = tags.get("sp", policy).lower()
    if subdomain_policy not in POLICIES:
        notes.append(f"sp={tags['sp']} is not a policy; receivers use p={policy} for subdomains")
        subdomain_policy = policy
    return Policy(
        domain=domain,
        text=text,
        policy=policy,
        subdomain_policy=subdomain_policy,
        adkim=_mode(tags, "adkim", notes),
        aspf=_mode(tags, "aspf", notes),
        pct=_percent(tags, notes),
        rua=usable_rua,
        notes=tuple(notes),
    )


def _mode(tags: dict[str, str], name: str, notes: list[str]) -> str:
    value = tags.get(name, "r").lower()
    if value not in ("r", "s"):
        notes.append(f"{name}={tags[name]} is neither r nor s; receivers use r (relaxed)")
        return "r"
    return value


def _percent(tags: dict[str, str], notes: list[str]) -> int:
    value = tags.get("pct", "100")
    if not value.isdigit() or int(value) > 100:
        notes.append(f"pct={value} is not a whole number from 0 to 100; receivers use 100")
        return 100
    return int(value)


def report_hosts(policy: Policy) -> list[str]:
    """The domains of the rua addresses."""
    hosts = []
    for uri in policy.rua:
        match = _URI.match(uri)
        if match:
            hosts.append(match.group(2).lower())
    return hosts


def unauthorised_report_hosts(resolver: Dns, policy: Policy) -> list[str]:
    """Report domains outside the policy's own organisation that have not agreed to take its reports (§7.1)."""
    missing = []
    own = organizational_domain(policy.domain)
    for host in report_hosts(policy):
        if organizational_domain(host) == own:
            continue
        name = f"{policy.domain}._report._dmarc.{host}"
        if not any(re.match(r"^\s*v\s*=\s*DMARC1", text) for text in resolver.txt(name)):
            missing.append(host)
    return missing
