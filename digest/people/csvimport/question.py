"""A column that may say who left, but in words the import does not know: ask before importing anyone.

A file of no known tool may carry its own "Unsubscribed", "EMAIL_BLACKLISTED"
or "State" column. Kept as a free attribute, it would let everyone in the file
be imported as active, the people it marks as gone too. So before the first
row is imported, the values of every such column (see :func:`.layout._watched`)
are looked at; if any of them speaks of subscription (true/false, yes/no,
unsubscribed, bounced… or, under a name like ``unsubscribed_at``, any value at
all), the import stops with a question naming the column and its values and
the options that answer it: ``--status-column`` and ``--left-values``.
"""

from __future__ import annotations

import csv
import shlex
from collections.abc import Iterable
from pathlib import Path

from digest.errors import InputError
from digest.people.csvimport.layout import ANY_VALUE, Plan
from digest.people.csvimport.tools import STATUS_LIKE_VALUES

SHOWN_VALUES = 8


def ask_about_status_columns(plan: Plan, rows: Iterable[list[str]], path: Path) -> None:
    """Read the watched columns of ``rows`` (the file after its header) and raise the question if one speaks of
    subscription; the file's other columns are not looked at."""
    if not plan.watched:
        return
    seen: dict[int, dict[str, int]] = {index: {} for index, _, _ in plan.watched}
    first_line: dict[int, int] = {}
    line = 1
    try:
        for cells in rows:
            line += 1
            width = len(cells)
            for index, _header, _moment in plan.watched:
                value = cells[index].strip() if index < width else ""
                if value:
                    counts = seen[index]
                    counts[value] = counts.get(value, 0) + 1
                    first_line.setdefault(index, line)
    except csv.Error:
        pass  # the import itself reports the rows it cannot read
    for index, header, moment in plan.watched:
        values = seen[index]
        if values and (moment or any(value.casefold() in STATUS_LIKE_VALUES for value in values)):
            raise InputError(_question(header, values, moment), path=path, line=first_line.get(index))


def _question(header: str, values: dict[str, int], moment: bool) -> str:
    common = sorted(values, key=lambda value: -values[value])
    shown = ", ".join(
        f"{value!r} ({values[value]} row{'s' if values[value] > 1 else ''})" for value in common[:SHOWN_VALUES]
    )
    more = f" and {len(common) - SHOWN_VALUES} more" if len(common) > SHOWN_VALUES else ""
    column = shlex.quote(header)
    if moment:
        answer = f"--status-column {column} --left-values {shlex.quote(ANY_VALUE)} (any value means the person left)"
    else:
        answer = (
            f"--status-column {column} --left-values VALUE,VALUE… naming the values that mean the person left "
            "(the others are read as subscribed)"
        )
    return (
        f"column {header!r} looks like a subscription status, with values {shown}{more}, and the import does "
        "not know which of them mean the person left; nothing was imported, so nobody is made active by mistake. "
        f"Answer with {answer}, or --map {column}=ignore if it is not a status"
    )
