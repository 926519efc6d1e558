"""`digest doctor`: the set-up and the sending domain checked before a send.

Three parts, each a list of :class:`~digest.doctor.report.Check` lines:

* offline (:func:`offline_checks`): the project's secrets and settings,
  segments, templates and database, and a copy built as the provider builds
  it (one-click unsubscribe, covered by DKIM). `digest send` runs this part.
* the DNS (:mod:`digest.doctor.domain`): DMARC, SPF, DKIM, alignment, the
  bounce domain and the Return-Path, asked of the system's resolver or of a
  named server.
* online, when asked (:mod:`digest.doctor.reach`): the unsubscribe links' host.

docs/doctor.md lists every check and the rule it comes from.

May import: the base and the packages before it (a copy is built and signed as
the provider builds it).
"""

from __future__ import annotations

from digest.config import Settings
from digest.doctor import setup
from digest.doctor.lookup import Dns, DnsFailure
from digest.doctor.message import check_copy, dkim_domain
from digest.doctor.report import Check, Report, Status, error
from digest.errors import DigestError

__all__ = ["Check", "Report", "Status", "offline_checks", "require_ready", "run_doctor"]


def offline_checks(settings: Settings, provider: str | None = None) -> Report:
    """The checks that need no network (the database is asked, never migrated)."""
    report, _copy = _offline(settings, provider or settings.provider)
    return report


def _offline(settings: Settings, provider: str):  # type: ignore[no-untyped-def]
    report = Report()
    report.add(
        [
            setup.secret_key(settings),
            setup.credentials(settings, provider),
            setup.base_url(settings, provider),
            setup.privacy_link(settings),
            setup.postal_address(settings),
            setup.segments(settings),
            setup.templates(settings),
            setup.database(settings),
            setup.database_key(settings),
        ]
    )
    lines, copy = check_copy(settings, provider)
    report.add(lines)
    return report, copy


def run_doctor(
    settings: Settings,
    *,
    provider: str | None = None,
    nameserver: str | None = None,
    online: bool = False,
    resolver: Dns | None = None,
) -> Report:
    """Every check: offline, the DNS of the sending domain, and with ``online`` the unsubscribe host."""
    from digest.doctor.domain import domain_checks

    chosen = provider or settings.provider
    report, copy = _offline(settings, chosen)
    try:
        resolver = resolver or Dns(nameserver)
        report.add(
            domain_checks(
                resolver,
                settings,
                chosen,
                dkim_domain(copy) if copy else "",
                copy.data if copy and copy.dkim_signature else None,
            )
        )
    except DnsFailure as exc:
        report.add([error("DNS", str(exc), "try again, or ask another server with --nameserver HOST[:PORT]")])
    if online:
        from digest.doctor.reach import unsubscribe_host

        report.add([unsubscribe_host(settings)])
    return report


# Left to the provider's own check just before the send (digest.providers.preflight): it fails
# whatever --skip-doctor says, so the doctor must not offer to skip it.
_PROVIDER_CHECKS = frozenset({"credentials"})


def require_ready(settings: Settings, provider: str | None = None) -> None:
    """Refuse (a :class:`DigestError`) when an offline check finds an error: `digest send`'s gate."""
    errors = [found for found in offline_checks(settings, provider).errors if found.name not in _PROVIDER_CHECKS]
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise DigestError(
            f"`digest doctor` found {first.name}: {first.found}{more}; fix it, or send anyway with --skip-doctor"
        )
