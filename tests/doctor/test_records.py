"""The SPF and DMARC readers on the shapes published records take, asked of the fake DNS server."""

from __future__ import annotations

import pytest

from digest.doctor import dmarc, spf
from digest.doctor.lookup import Dns, parse_nameserver
from digest.errors import ConfigError
from tests.fakes import dns as fake_dns


def walk(zone, domain: str = "example.org") -> spf.Walk:  # type: ignore[no-untyped-def]
    with fake_dns.serving(zone) as served:
        return spf.walk(Dns(served.address), domain)


def test_spf_records_as_published() -> None:
    # Split into several strings, mixed case, beside other TXT records: still one record.
    zone = {
        "example.org": [
            ("TXT", "MS=ms12345678"),
            ("TXT", "V=SPF1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a/24 mx//64 ?all " + "x-note=" + "a" * 260),
        ]
    }
    walked = walk(zone)
    assert walked.problem == "" and walked.lookups == 2
    assert [term.name for term in walked.record.terms] == ["ip4", "ip6", "a", "mx", "all"]
    assert walked.void_lookups == 2  # example.org has neither an address nor an MX here


@pytest.mark.parametrize(
    ("records", "problem"),
    [
        (["v=spf1 -all", "v=spf1 mx -all"], "example.org publishes 2 SPF records; there must be exactly one"),
        (["v=spf1 ipv4:192.0.2.1 -all"], "'ipv4:192.0.2.1' is not an SPF mechanism (RFC 7208 §5)"),
        (["v=spf1 ip4:192.0.2.300 -all"], "'ip4:192.0.2.300': '192.0.2.300' is not an IP4 network"),
        (["v=spf1 redirect=a.example.org redirect=b.example.org"], "redirect= appears twice (RFC 7208 §6)"),
        (["v=spf1 include: -all"], "'include:' needs a domain (include:example.org)"),
        (
            ["v=spf1 include:gone.example.net -all"],
            "include:gone.example.net: gone.example.net has no SPF record, so receivers return permerror",
        ),
    ],
)
def test_spf_records_a_receiver_refuses(records: list[str], problem: str) -> None:
    walked = walk({"example.org": [("TXT", text) for text in records]})
    assert walked.problem.startswith(problem), walked.problem


def test_a_redirect_beside_all_is_ignored_and_macros_are_counted_not_followed() -> None:
    zone = {
        "example.org": [("TXT", "v=spf1 exists:%{i}._spf.example.org include:%{d}.example.net -all redirect=x.org")],
    }
    walked = walk(zone)
    assert walked.lookups == 2 and walked.problem == ""
    assert walked.macros == ["exists:%{i}._spf.example.org", "include:%{d}.example.net"]


def test_includes_that_loop_are_a_problem_not_a_hang() -> None:
    zone = {
        "example.org": [("TXT", "v=spf1 include:loop.example.org -all")],
        "loop.example.org": [("TXT", "v=spf1 include:example.org -all")],
    }
    assert "loop back on themselves" in walk(zone).problem


def test_evaluate_follows_include_a_mx_and_redirect() -> None:
    zone = {
        "example.org": [("TXT", "v=spf1 include:_spf.example.net mx -all"), ("MX", "10 mx.example.org.")],
        "mx.example.org": [("A", "192.0.2.10")],
        "_spf.example.net": [("TXT", "v=spf1 ip4:198.51.100.0/24 ?all")],
        "other.example.org": [("TXT", "v=spf1 redirect=example.org")],
    }
    with fake_dns.serving(zone) as served:
        resolver = Dns(served.address)
        assert spf.evaluate(resolver, "example.org", "198.51.100.7") == "pass"
        assert spf.evaluate(resolver, "example.org", "192.0.2.10") == "pass"
        assert spf.evaluate(resolver, "example.org", "203.0.113.1") == "fail"
        assert spf.evaluate(resolver, "other.example.org", "192.0.2.10") == "pass"
        assert spf.evaluate(resolver, "nothing.example.org", "192.0.2.10") == "none"


@pytest.mark.parametrize(
    ("text", "policy", "notes"),
    [
        ("v=DMARC1;p=reject", "reject", ()),
        ("v=DMARC1 ; p = quarantine ; pct=50; rua=mailto:d@example.org,mailto:e@example.org!10m", "quarantine", ()),
        ("v=DMARC1; rua=mailto:d@example.org", "none", ("p= is missing or not none/quarantine/reject",)),
        ("v=DMARC1; p=reject; adkim=x; rua=https://reports.example.org", "reject", ("rua holds", "adkim=x")),
    ],
)
def test_dmarc_records_as_published(text: str, policy: str, notes: tuple[str, ...]) -> None:
    parsed = dmarc.parse(text, "example.org")
    assert parsed.policy == policy
    assert len(parsed.notes) == len(notes)
    for note, expected in zip(sorted(parsed.notes), sorted(notes), strict=True):
        assert note.startswith(expected), parsed.notes


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("p=reject; v=DMARC1", "the record must start with v=DMARC1"),
        ("v=DMARC1; p=block", "p=block: the policy must be p=none, p=quarantine or p=reject"),
        ("v=DMARC1", "no p= tag: the policy must be"),
    ],
)
def test_dmarc_records_a_receiver_ignores(text: str, problem: str) -> None:
    with pytest.raises(dmarc.DmarcError, match="^" + problem.replace("(", r"\(")):
        dmarc.parse(text, "example.org")


def test_two_dmarc_records_and_reports_to_another_organisation() -> None:
    zone = {
        "_dmarc.example.org": [("TXT", "v=DMARC1; p=none"), ("TXT", "v=DMARC1; p=reject")],
        "_dmarc.news.example.net": [("TXT", "v=DMARC1; p=reject; rua=mailto:d@reports.example.com")],
        "news.example.net._report._dmarc.reports.example.com": [("TXT", "v=DMARC1")],
    }
    with fake_dns.serving(zone) as served:
        resolver = Dns(served.address)
        assert "has 2 DMARC records; receivers then apply none" in dmarc.discover(resolver, "example.org").problem
        found = dmarc.discover(resolver, "news.example.net").policy
        assert found is not None and dmarc.unauthorised_report_hosts(resolver, found) == []
        del served.fake.zone["news.example.net._report._dmarc.reports.example.com"]
        assert dmarc.unauthorised_report_hosts(Dns(served.address), found) == ["reports.example.com"]


def test_organizational_domains_follow_the_public_suffix_list() -> None:
    assert dmarc.organizational_domain("news.safecic.org.uk") == "safecic.org.uk"
    assert dmarc.aligned("em4821.safecic.org.uk", "safecic.org.uk", "r")
    assert not dmarc.aligned("other.org.uk", "safecic.org.uk", "r")
    assert not dmarc.aligned("em4821.safecic.org.uk", "safecic.org.uk", "s")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("[::1]:53", ("::1", 53)),
        ("::1", ("::1", 53)),
        ("9.9.9.9", ("9.9.9.9", 53)),
    ],
)
def test_nameserver_forms(text: str, expected: tuple[str, int]) -> None:
    assert parse_nameserver(text) == expected


def test_a_bad_nameserver_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="the port must be a number from 1 to 65535"):
        parse_nameserver("127.0.0.1:99999")
