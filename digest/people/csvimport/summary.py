"""What an import did: the counts, the rejected lines and how the file was understood."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from digest.people.csvimport.layout import Layout

SHOWN_REJECTS = 200


@dataclass
class ImportSummary:
    """The counts of one import (or dry run), its rejected lines, warnings and how its columns were read."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicate: int = 0
    invalid: int = 0
    suppressed: int = 0
    not_subscribed: int = 0  # rows that say the person never opted in: not stored, not mailed
    differs: int = 0  # existing subscribers whose row differs, left alone without --update
    no_consent_date: int = 0  # new subscribers whose row gave no consent date: stored as unknown
    rows: int = 0
    rejects: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    attribute_columns: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # how each column was understood
    layout: Layout | None = None
    encoding: str = "utf-8"
    dry_run: bool = False

    def reject(self, line: int, reason: str, writer: Any = None) -> None:
        """Count a row that was not imported; keep the first few reasons and write all to the rejects file."""
        self.invalid += 1
        if len(self.rejects) < SHOWN_REJECTS:
            self.rejects.append((line, reason))
        if writer is not None:
            writer.writerow([line, reason])
