"""The admin's commands, end to end through the CLI, with exact output."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import DATA


@pytest.fixture
def admin_project(project: Path) -> Path:
    (project / "subscribers").mkdir()
    shutil.copy(DATA / "segments.yaml", project / "subscribers" / "segments.yaml")
    shutil.copy(DATA / "subscribers.csv", project / "people.csv")
    return project


def test_import_summary_and_rejected_rows(invoke, admin_project: Path) -> None:  # type: ignore[no-untyped-def]
    dry = invoke("subscribers", "import", "people.csv", "--dry-run")
    assert dry.exit_code == 0
    assert dry.stdout == (
        "File: A spreadsheet or CRM export.\n"
        "Columns:\n"
        "  Email Address → email address\n"
        "  First Name → first name\n"
        "  Last Name → last name\n"
        "  Organisation → organisation\n"
        "  Role → role\n"
        "  Sector → sector\n"
        "  Region → region\n"
        "  Phase → attribute phase (not a field of ours; segments can match it)\n"
        "  Opt-in date → opt-in time (the consent time when there is no confirmation time)\n"
        "Dry run, nothing written. Would import: 6 new, 0 updated, 0 unchanged, 1 duplicate, 1 invalid, "
        "0 suppressed (8 rows).\n"
    )
    assert dry.stderr == (
        "Rejected line 9: 'not-an-address' is not a valid email address (An email address must have an @-sign.)\n"
    )
    assert invoke("subscribers", "list").stdout == "0 subscribers.\n"
    real = invoke("subscribers", "import", "people.csv")
    assert real.stdout.endswith(
        "Imported: 6 new, 0 updated, 0 unchanged, 1 duplicate, 1 invalid, 0 suppressed (8 rows).\n"
    )


def test_segments_list_and_show(invoke, admin_project: Path) -> None:  # type: ignore[no-untyped-def]
    invoke("subscribers", "import", "people.csv")
    listing = invoke("segments", "list")
    assert listing.stdout.splitlines()[::2] == [
        "schools: 2 members",
        "health: 1 member",
        "sport-community: 3 members",
        "everyone: 6 members",
    ]
    shown = invoke("segments", "show", "health")
    assert shown.stdout.startswith("health: Named and designated professionals in health services\nrules:\n  any:\n")
    assert (
        "topics: child-sexual-abuse, courts-justice, domestic-abuse, health, social-care\nmembers: 1\n" in shown.stdout
    )
    assert shown.stdout.endswith("  named.nurse@westbridge-nhs.example.org\tWestbridge NHS Trust\n")
    missing = invoke("segments", "show", "parents")
    assert missing.exit_code == 1
    assert missing.output.startswith("Error: no segment 'parents' in ")


def test_show_remove_export_erase(invoke, admin_project: Path) -> None:  # type: ignore[no-untyped-def]
    invoke("subscribers", "import", "people.csv")
    removed = invoke("subscribers", "remove", "welfare@riverside-fc.example.org", "--reason", "asked by phone")
    assert removed.stdout == "welfare@riverside-fc.example.org is now unsubscribed and suppressed.\n"
    shown = invoke("subscribers", "show", "WELFARE@riverside-fc.example.org")
    assert "status:       unsubscribed since " in shown.stdout
    assert "reason:       admin: asked by phone\n" in shown.stdout
    assert "segments:     (none: not active, or no segment matches)\n" in shown.stdout
    assert "active → unsubscribed      admin (asked by phone)\n" in shown.stdout
    exported = invoke("subscribers", "export", "out.csv", "--segment", "sport-community")
    assert exported.stdout == "Exported 2 subscribers to exports/out.csv.\n"  # a bare name: into exports/
    text = (admin_project / "exports" / "out.csv").read_text(encoding="utf-8-sig")
    assert "office@chapel-youth.example.org,'=SUM(1+1),Ward" in text
    assert "welfare@" not in text
    erased = invoke("subscribers", "erase", "trustee@youth-trust.example.org", input="y\n")
    assert erased.stdout.endswith("Erased subscriber #5; the address stays on the suppression list as a hash.\n")
    again = invoke("subscribers", "import", "people.csv")
    assert "0 new, 0 updated, 4 unchanged, 1 duplicate, 1 invalid, 2 suppressed" in again.stdout


def test_suppressions_commands(invoke, admin_project: Path) -> None:  # type: ignore[no-untyped-def]
    assert (
        invoke("suppressions", "add", "x@example.org", "--reason", "legal hold").stdout
        == "x@example.org is now suppressed.\n"
    )
    listing = invoke("suppressions", "list").stdout.splitlines()
    assert listing[0].endswith(
        "  manual        (hash " + listing[0].split("(hash ")[1].split("…")[0] + "…)  legal hold"
    )
    assert listing[1] == "1 suppressed address."
    no_reason = invoke("suppressions", "lift", "x@example.org")
    assert no_reason.exit_code == 2 and "Missing option '--reason'" in no_reason.output
    assert invoke("suppressions", "lift", "x@example.org", "--reason", "cleared").stdout == "Suppression lifted.\n"


def test_add_requires_consent_and_rejects_bad_input(invoke, admin_project: Path) -> None:  # type: ignore[no-untyped-def]
    no_consent = invoke("subscribers", "add", "a@example.org")
    assert no_consent.exit_code == 2
    bad = invoke("subscribers", "add", "not an address", "--consent-source", "form")
    assert bad.exit_code == 1
    assert (
        bad.output == "Error: 'not an address' is not a valid email address (An email address must have an @-sign.)\n"
    )
    ok = invoke(
        "subscribers",
        "add",
        "a@example.org",
        "--consent-source",
        "form",
        "--topic",
        "health",
        "--attribute",
        "phase=primary",
        "--key-contact",
    )
    assert ok.stdout == "Added a@example.org (active).\n"
    attr = invoke("subscribers", "add", "b@example.org", "--consent-source", "form", "--attribute", "oops")
    assert attr.exit_code == 2 and "'oops' is not NAME=VALUE" in attr.output


def test_preview_for_a_segment_lists_every_segment(invoke, admin_project: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import SAMPLE

    invoke("subscribers", "import", "people.csv")
    invoke("articles", "import", str(SAMPLE))
    invoke("issue", "new", "--date", "2025-04-10")
    result = invoke("preview", "2025-04-10", "--segment", "health")
    folder = admin_project / "preview" / "2025-04-10-health"
    assert result.stdout == f"{folder / 'index.html'}\n"
    index = (folder / "index.html").read_text(encoding="utf-8")
    assert "segment <strong>health</strong>" in index
    assert "<tr><td>schools</td><td>2</td><td>4</td>" in index
    assert "<tr><td>health</td><td>1</td><td>4</td>" in index
    assert "<tr><td>sport-community</td><td>3</td><td>3</td>" in index
    email = (folder / "email.html").read_text(encoding="utf-8")
    assert "Father found guilty" in email and "Cold water safety advice" not in email
    assert (folder / "segments" / "schools.html").is_file()
