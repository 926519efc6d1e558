"""Reading a CSV file: its dialect, its header, rows that cannot be read, and runaway quotes."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from digest.errors import InputError
from digest.people.csvimport.layout import Plan, StatusChoice, plan_columns
from digest.people.csvimport.profile import ImportRow, ProfileMapper
from digest.people.csvimport.question import ask_about_status_columns
from digest.people.csvimport.sniff import garbled_header, quote_open_at_end, swallowed_row
from digest.people.csvimport.summary import ImportSummary

MAX_FIELD = 1_000_000  # characters in one cell; csv's own default is 131,072


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


class RowReader:
    """Reads the rows of one file against its column plan."""

    def __init__(
        self,
        path: Path,
        encoding: str,
        summary: ImportSummary,
        mapper: ProfileMapper,
        rejects_writer: Any,
        maps: Mapping[str, str],
        choice: StatusChoice | None = None,
    ) -> None:
        self.path = path
        self.encoding = encoding
        self.summary = summary
        self.mapper = mapper
        self.rejects_writer = rejects_writer
        self.maps = maps
        self.choice = choice
        self.plan: Plan | None = None

    def rows(self, handle: IO[str]) -> Iterator[ImportRow]:
        """The file's rows that can be imported; the others are counted and rejected with their line.

        A runaway quote refuses the whole file: it would silently merge the rows after it.
        """
        first_line = handle.readline()
        handle.seek(0)
        delimiter = _delimiter(first_line)
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise InputError("the file is empty; it needs a header row with an email column", path=self.path) from None
        except csv.Error as exc:
            raise InputError(f"the header row cannot be read ({exc})", path=self.path, line=1) from None
        garbled = garbled_header(header, self.path, self.encoding)
        if garbled is not None:
            raise InputError(garbled, path=self.path, line=1)
        plan = plan_columns(header, self.path, self.maps, self.choice)
        self.plan = plan
        if plan.watched:
            # Read once for the columns that may say who left; then from the top again, for the import.
            ask_about_status_columns(plan, reader, self.path)
            handle.seek(0)
            reader = csv.reader(handle, delimiter=delimiter)
            next(reader)
        self.summary.layout = plan.layout
        self.summary.columns = [column.describe() for column in plan.columns]
        self.summary.attribute_columns = [c.header for c in plan.columns if (c.target or "").startswith("attr:")]
        email_index = next(c.index for c in plan.columns if c.target == "email")
        last_multiline: int | None = None
        while True:
            start = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                self.summary.rows += 1
                self.summary.reject(start, _csv_reason(exc), self.rejects_writer)
                continue
            joined = "".join(cells)  # one pass for the checks below, not one per cell each
            # A quote left open at the very end reads to the end of the file without a further line.
            multiline = reader.line_num > start or "\n" in joined or "\r" in joined
            if multiline:
                swallowed = swallowed_row(cells, start, delimiter, email_index, len(header))
                if swallowed is not None:
                    raise _runaway_quote(self.path, start, *swallowed)
            last_multiline = start if multiline else None
            if not joined.strip():
                continue  # a blank line or a row of empty cells
            self.summary.rows += 1
            if "\x00" in joined:
                self.summary.reject(start, "contains a NUL character (is it a binary file?)", self.rejects_writer)
                continue
            if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header) :]):
                self.summary.reject(
                    start, f"has {len(cells)} fields but the header has {len(header)}", self.rejects_writer
                )
                continue
            try:
                yield self.mapper.row(start, cells, plan)
            except InputError as exc:
                self.summary.reject(start, exc.reason, self.rejects_writer)
        if last_multiline is not None and quote_open_at_end(self.path, self.encoding, delimiter, last_multiline):
            raise InputError(
                "a quoted field opens on this line and is never closed before the end of the file; "
                'add the missing closing " (a " inside a field is written ""). Nothing was imported',
                path=self.path,
                line=last_multiline,
            )


def _runaway_quote(path: Path, start: int, line: int, text: str) -> InputError:
    shown = text if len(text) <= 80 else text[:77] + "…"
    return InputError(
        f"a quoted field opens on this line and is not closed, so it swallows the rows after it "
        f'(line {line}: {shown!r}); add the missing closing " on line {start} '
        '(a " inside a field is written ""). Nothing was imported',
        path=path,
        line=start,
    )


def _csv_reason(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return f"a field is longer than {MAX_FIELD:,} characters"
    return f"cannot be read as CSV ({text})"
