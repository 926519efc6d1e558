"""A consent date nobody recorded is unknown: stored as such, shown as such, and segments can leave it out.

Before, an imported row without a consent date was recorded as consenting on the day of the import.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from digest.errors import InputError
from digest.people.csvimport import import_csv
from digest.people.segments import load_segments, members
from digest.people.subscribers import get_subscriber

LIST = "Email,First name,Consent date\nann@example.org,Ann,2024-03-04\nbob@example.org,Bob,\ncy@example.org,Cy,\n"


def _import(engine, settings, project: Path) -> object:  # type: ignore[no-untyped-def]
    path = project / "list.csv"
    path.write_text(LIST, encoding="utf-8")
    return import_csv(engine, settings, path)


def test_a_row_without_a_consent_date_is_stored_with_none(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    summary = _import(engine, settings, project)
    assert summary.new == 3
    assert summary.no_consent_date == 2  # type: ignore[attr-defined]
    assert get_subscriber(engine, "bob@example.org").consent_at is None
    assert get_subscriber(engine, "ann@example.org").consent_at is not None
    (project / "plain.csv").write_text("email\ndee@example.org\n", encoding="utf-8")
    assert import_csv(engine, settings, project / "plain.csv").no_consent_date == 1
    assert get_subscriber(engine, "dee@example.org").consent_at is None


def test_the_import_summary_show_and_export_say_unknown(invoke, project) -> None:  # type: ignore[no-untyped-def]
    (project / "list.csv").write_text(LIST, encoding="utf-8")
    result = invoke("subscribers", "import", "list.csv")
    assert result.exit_code == 0
    assert "2 rows had no consent date: stored as unknown" in result.output
    shown = invoke("subscribers", "show", "bob@example.org").output
    assert "consent:      import: list.csv (date unknown)" in shown
    assert "consent:      import: list.csv on 2024-03-04" in invoke("subscribers", "show", "ann@example.org").output
    assert invoke("subscribers", "export", "out.csv").exit_code == 0
    # A bare file name is written into the git-ignored exports/ folder.
    with (project / "exports" / "out.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = {row["email"]: row for row in csv.DictReader(handle)}
    assert rows["bob@example.org"]["consent_at"] == "unknown"
    assert rows["ann@example.org"]["consent_at"].startswith("2024-03-04")
    # Our own export imports back with the date still unknown, not the day of the second import.
    reimported = invoke("subscribers", "import", "exports/out.csv")
    assert reimported.exit_code == 0, reimported.output


SEGMENTS = """\
segments:
  - name: known-consent
    description: Only people whose consent date is on record
    match: {consent_at: {exists: true}}
  - name: unknown-consent
    description: People to ask again
    match: {consent_at: {exists: false}}
"""


def test_a_segment_can_leave_out_people_whose_consent_date_is_unknown(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    _import(engine, settings, project)
    (project / "subscribers").mkdir(exist_ok=True)
    settings.segments_file.write_text(SEGMENTS, encoding="utf-8")
    known, unknown = load_segments(settings)
    assert [row["email"] for row in members(engine, known)] == ["ann@example.org"]
    assert sorted(row["email"] for row in members(engine, unknown)) == ["bob@example.org", "cy@example.org"]


@pytest.mark.parametrize("rule", ["{consent_at: {equals: '2024-03-04'}}", "{consent_at: {exists: maybe}}"])
def test_consent_at_takes_only_exists(settings, project, rule: str) -> None:  # type: ignore[no-untyped-def]
    (project / "subscribers").mkdir(exist_ok=True)
    settings.segments_file.write_text(
        f"segments:\n  - name: odd\n    description: x\n    match: {rule}\n", encoding="utf-8"
    )
    with pytest.raises(InputError, match="consent_at"):
        load_segments(settings)
