"""`digest doctor`: the set-up and the sending domain checked, a line per check."""

from __future__ import annotations

import sys
from typing import Any

import click

from digest.cli.base import App, cli, pass_app
from digest.providers.registry import PROVIDER_NAMES

LABEL_WIDTH = 9


@cli.command()
@click.option("--nameserver", metavar="HOST[:PORT]", help="Ask this DNS server (default: the system's resolver).")
@click.option("--online", is_flag=True, help="Also check that [web] base_url's host answers (the unsubscribe links).")
@click.option("--provider", type=click.Choice(PROVIDER_NAMES), help="Default: [sending] provider.")
@click.option("--strict", is_flag=True, help="Exit non-zero on a warning too, not only on an error.")
@pass_app
def doctor(app: App, nameserver: str | None, online: bool, provider: str | None, strict: bool) -> None:
    """Check the set-up and the sending domain (DMARC, SPF, DKIM, alignment) before a send.

    A line per check: ok, warning or error, and what to do. Exits 1 on an
    error (with --strict, on a warning too). docs/doctor.md lists the checks.
    """
    from digest.doctor import run_doctor

    report = run_doctor(app.settings, provider=provider, nameserver=nameserver, online=online)
    for check in report.checks:
        _print_check(check)
    errors, warnings = len(report.errors), len(report.warnings)
    counted = sum(1 for check in report.checks if check.status.value == "ok")
    if errors:
        click.echo(f"{_count(errors, 'error')}, {_count(warnings, 'warning')}: fix the errors before sending.")
    elif warnings:
        click.echo(f"Ready to send, with {_count(warnings, 'warning')} ({counted} checks ok).")
    else:
        click.echo(f"Everything is ready to send: {counted} checks ok.")
    if errors or (strict and warnings):
        sys.exit(1)


def _print_check(check: Any) -> None:
    click.echo(f"{check.status.value:<{LABEL_WIDTH}}{check.name}: {check.found}")
    if check.fix:
        click.echo(f"{'':<{LABEL_WIDTH}}→ {check.fix}")


def _count(number: int, word: str) -> str:
    return f"{number} {word}{'' if number == 1 else 's'}"
