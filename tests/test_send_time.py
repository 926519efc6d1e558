"""`digest send --at`: a time in the past is refused, one far ahead is asked again (issue 21, item 2)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from digest import db
from digest.errors import InputError

LONDON = ZoneInfo("Europe/London")


def sends(engine) -> list[tuple[str, object]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.select(db.sends.c.state, db.sends.c.scheduled_at))]


def test_at_in_the_past_is_refused_saying_how_it_was_read_and_nothing_is_sent(  # type: ignore[no-untyped-def]
    invoke, engine, audience, project: Path
) -> None:
    result = invoke("send", "2025-04-10", "--segment", "everyone", "--at", "2025-11-30 08:00", "--yes")
    assert result.exit_code == 1, result.output
    assert re.fullmatch(
        r"Error: --at 2025-11-30 08:00 reads as Sunday 30 November 2025, 08:00 GMT \(Europe/London\), which is in "
        r"the past: it is now \w+day \d+ \w+ \d{4}, \d\d:\d\d (GMT|BST) there\. To send now, leave out --at; to "
        r"schedule, give a time still to come\.\n",
        result.output,
    ), result.output
    assert sends(engine) == []
    assert not (project / "outbox").exists()


def test_at_more_than_sixty_days_ahead_asks_again(invoke, engine, audience) -> None:  # type: ignore[no-untyped-def]
    day = date.today() + timedelta(days=100)
    at = f"{day.isoformat()} 08:00"
    said_no = invoke("send", "2025-04-10", "--segment", "everyone", "--at", at, input="n\n")
    assert said_no.exit_code == 1
    assert f"--at {at} reads as {day:%A} {day.day} {day:%B %Y}, 08:00" in said_no.output
    assert "days from now. Schedule it that far ahead? [y/N]: n\nAborted!\n" in said_no.output
    assert sends(engine) == []

    said_yes = invoke("send", "2025-04-10", "--segment", "everyone", "--at", at, input="y\ny\n")
    assert said_yes.exit_code == 0, said_yes.output
    assert "Scheduled send #1 for" in said_yes.output
    assert [state for state, _ in sends(engine)] == ["scheduled"]


def test_yes_schedules_far_ahead_without_asking_but_says_so(invoke, engine, audience) -> None:  # type: ignore[no-untyped-def]
    result = invoke("send", "2025-04-10", "--segment", "everyone", "--at", "2099-04-14 08:00", "--yes")
    assert result.exit_code == 0, result.output
    assert re.search(
        r"Warning: --at 2099-04-14 08:00 reads as Tuesday 14 April 2099, 08:00 BST \(Europe/London\), [\d,]+ days "
        r"from now\.\n",
        result.stderr,
    ), result.stderr
    assert [state for state, _ in sends(engine)] == ["scheduled"]


def test_the_check_refuses_a_time_the_clocks_skip_and_passes_a_near_one() -> None:
    from digest.sending.schedule import check_send_time

    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with pytest.raises(InputError, match=r"2026-03-29 01:30 does not exist in Europe/London: the clocks go forward"):
        check_send_time(datetime(2026, 3, 29, 1, 30, tzinfo=LONDON), now=now)
    assert check_send_time(datetime(2026, 3, 2, 8, 0, tzinfo=LONDON), now=now) == ""
    assert check_send_time(datetime(2026, 4, 30, 8, 0, tzinfo=LONDON), now=now) == ""  # 60 days: not yet far
    assert "61 days from now" in check_send_time(datetime(2026, 5, 1, 13, 0, tzinfo=LONDON), now=now)
    with pytest.raises(InputError, match="in the past"):
        check_send_time(datetime(2026, 3, 1, 12, 0, tzinfo=LONDON), now=now)  # this very minute is past
