"""The import's fast paths give the answers of the slow ones they skip.

A row's cells are cleaned by :func:`digest.people.plaintext.one_line` unless they are
plain already, and a file without status, evidence or consent columns has its
rows' status and consent worked out once rather than row by row. Each file
here is read twice, once the fast way and once with every shortcut turned
off, and the rows, rejects and warnings must be the same. A new subscriber's
row is written as a tuple by the writer: it must be the row
:func:`digest.people.subscribers.new_subscriber_values` makes.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from digest.config import Settings
from digest.people.csvimport import profile
from digest.people.csvimport.profile import ImportRow, ProfileMapper
from digest.people.csvimport.reader import RowReader
from digest.people.csvimport.summary import ImportSummary
from digest.people.csvimport.writer import NewRows
from digest.people.emails import Address
from digest.people.plaintext import one_line
from digest.people.subscribers import PROFILE_FIELDS, new_subscriber_values
from tests.conftest import DATA, awkward_text

AWKWARD = awkward_text(40)


@given(AWKWARD)
def test_a_stripped_cell_is_cleaned_as_one_line_cleans_it(text: str) -> None:
    cell = text.strip()  # the reader strips every cell before cleaning it
    assert profile._cleaned(cell) == one_line(cell)


# Hand-kept lists in the shapes the fast paths must tell apart: messy cells, a status column,
# consent columns, a full name, topics and tags, evidence columns, rows cut short or too long.
HAND_KEPT = {
    "plain.csv": (
        "Email Address,First Name,Last Name,Organisation,Role,Phase\n"
        "ann@example.org,Ann,Lee,Eastgate  Academy,DSL,primary\n"
        "BO@Example.ORG,Bo\t,Cole\u00a0Jr,East\x1bgate,Head\u202eteacher, secondary \n"
        "cy@example.org,Cy\n"
        "no-at-sign.example.org,Dee,Fox,,,\n"
        "ann@example.org,,,,,\n"
        f"eve@example.org,{'E' * 301},,,,\n"
        f"fay@example.org,{'F' * 150},{'G' * 150},,,\n"
        f"gus@example.org,{'G' * 299},,,,\n"
    ),
    "statuses.csv": (
        "email,name,status,consent date,consent ip,topics,tags,key contact\n"
        "ann@example.org,Dr Ann Lee,subscribed,2024-03-04,,Online safety,DSL,yes\n"
        'bo@example.org,"Cole, Bo",unsubscribed,,192.0.2.1,,,no\n'
        "cy@example.org,Cy Park,,04/03/2024,,no such topic,,\n"
        "dee@example.org,Dee,pending,,,,,maybe\n"
        "eve@example.org,Eve,left,,,,,\n"
    ),
}


def _files(folder: Path) -> list[Path]:
    for name in sorted(p.name for p in (DATA / "exports").glob("*.csv")):
        shutil.copy(DATA / "exports" / name, folder / name)
    for name, text in HAND_KEPT.items():
        (folder / name).write_text(text, encoding="utf-8")
    return sorted(folder.glob("*.csv"))


def _read(path: Path, settings: Settings) -> tuple[list[ImportRow], ImportSummary]:
    summary = ImportSummary()
    mapper = ProfileMapper(path, settings, summary, "", False)
    reader = RowReader(path, "utf-8-sig", summary, mapper, None, {})
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(reader.rows(handle))
    mapper.report_topics()
    return rows, summary


def _slow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every shortcut off: each cell through one_line, status and consent asked row by row."""
    monkeypatch.setattr(profile, "_cleaned", one_line)
    monkeypatch.setattr(profile, "_profile_fields", profile._profile_fields_one_by_one)
    of = profile._Shape.of.__func__  # type: ignore[attr-defined]

    def no_constants(cls: Any, plan: Any, mapper: Any) -> Any:
        return replace(of(cls, plan, mapper), status=None, consent=None)

    monkeypatch.setattr(profile._Shape, "of", classmethod(no_constants))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_every_file_reads_the_same_with_the_shortcuts_off(
    settings: Settings, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _files(project)
    fast = {path.name: _read(path, settings) for path in files}
    _slow(monkeypatch)
    for path in files:
        rows, summary = _read(path, settings)
        assert fast[path.name][0] == rows, path.name
        assert fast[path.name][1] == summary, path.name
    assert any(row.status != "active" for rows, _ in fast.values() for row in rows)
    assert any(summary.rejects for _, summary in fast.values())


PROFILE_TEXT = st.text(alphabet="ab é’-", max_size=5)
PROFILES = st.fixed_dictionaries(
    {},
    optional={
        **{name: PROFILE_TEXT for name in PROFILE_FIELDS},
        "attributes": st.dictionaries(st.sampled_from(["phase", "tags"]), PROFILE_TEXT, max_size=2),
        "topics": st.lists(st.sampled_from(["online-safety", "sport"]), max_size=2, unique=True),
        "key_contact": st.booleans(),
    },
)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@hypothesis_settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    profile=PROFILES,
    consent_at=st.none() | st.just(datetime(2024, 3, 4, 9, 12, tzinfo=UTC)),
    consent_text=st.sampled_from(["", "Notice v2"]),
)
def test_a_new_subscribers_row_is_the_one_new_subscriber_values_makes(
    settings: Settings, profile: dict[str, Any], consent_at: datetime | None, consent_text: str
) -> None:
    now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    address = Address("Ann.Lee@Example.org", "ann.lee@example.org")
    rows = NewRows(settings, "import: list.csv")
    assert rows.fast  # the fast way is the one in use
    expected = new_subscriber_values(
        settings,
        address,
        profile,
        consent_source="import: list.csv",
        consent_at=consent_at,
        consent_text=consent_text,
        now=now,
        hashed="h",
    )
    made = rows.maker(now)(address, profile, "h", consent_at, consent_text)
    assert dict(zip(rows.columns, made, strict=True)) == expected
    rows.fast = False  # and the way by the book, taken should new_subscriber_values make other columns
    assert dict(zip(rows.columns, rows.maker(now)(address, profile, "h", consent_at, consent_text), strict=True)) == (
        expected
    )
