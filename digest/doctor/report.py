"""What a check found: a status, what it saw, and what to do about it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"
    SKIPPED = "skipped"  # does not apply to this set-up (the outbox signs nothing, say)


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    name: str
    status: Status
    found: str
    fix: str = ""


def ok(name: str, found: str) -> Check:
    return Check(name, Status.OK, found)


def warning(name: str, found: str, fix: str) -> Check:
    return Check(name, Status.WARNING, found, fix)


def error(name: str, found: str, fix: str) -> Check:
    return Check(name, Status.ERROR, found, fix)


def skipped(name: str, why: str) -> Check:
    return Check(name, Status.SKIPPED, why)


@dataclass
class Report:
    """Every check's line, in the order they ran."""

    checks: list[Check] = field(default_factory=list)

    def add(self, checks: Iterable[Check]) -> None:
        self.checks.extend(checks)

    def with_status(self, status: Status) -> list[Check]:
        return [check for check in self.checks if check.status == status]

    @property
    def errors(self) -> list[Check]:
        return self.with_status(Status.ERROR)

    @property
    def warnings(self) -> list[Check]:
        return self.with_status(Status.WARNING)
