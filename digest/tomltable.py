"""A TOML table being read: typed getters that name the file, table and key of any problem.

Every key read is remembered, so :meth:`TomlTable.finish` can refuse a key
nobody asked for (a typo) with a "did you mean" hint.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from difflib import get_close_matches
from typing import Any

from digest.errors import ConfigError

_DOMAIN_RE = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")
_EMAIL_RE = re.compile(r"^[^@\s<>\"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
# C0 and C1 controls (CR, LF, NUL, NEL…) and Unicode's line and paragraph separators.
_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def refuse_line_breaks(value: str, where: str, *, show: bool = True) -> str:
    """``value`` when it is one line; a ConfigError naming ``where`` (and the character, unless ``show`` is off).

    Settings that end up in a mail header, an SMTP command or an HTTP request
    must not carry a line break: it would start a header of its own.
    """
    found = _BREAKS.search(value)
    if found:
        shown = f" ({found.group()!r})" if show else ""
        raise ConfigError(f"{where} holds a line break or another control character{shown}; it must be one line")
    return value


class TomlTable:
    """A TOML table being read: typed getters that name the file and key on error."""

    def __init__(self, data: Mapping[str, Any], name: str, source: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: [{name}] must be a table")
        self.data = dict(data)
        self.name = name
        self.source = source
        self.seen: set[str] = set()
        self.missing: list[str] = []

    def _where(self, key: str) -> str:
        prefix = f"[{self.name}] " if self.name else ""
        return f"{self.source}: {prefix}{key}"

    def _get(self, key: str) -> Any:
        self.seen.add(key)
        return self.data.get(key)

    def text(self, key: str, default: str | None = None, *, hint: str = "") -> str:
        value = self._get(key)
        if value is None:
            if default is None:
                # Reported by finish(), after unknown keys: a typo explains a gap.
                extra = f"; {hint}" if hint else ""
                self.missing.append(f"{self._where(key)} is missing{extra}")
                return ""
            return default
        if not isinstance(value, str):
            raise ConfigError(f"{self._where(key)} must be a string, not {value!r}")
        return value.strip()

    def line(self, key: str, default: str | None = None, *, hint: str = "") -> str:
        """Text for one line of a header or a command: no line breaks or other control characters."""
        return refuse_line_breaks(self.text(key, default, hint=hint), self._where(key))

    def integer(self, key: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{self._where(key)} must be a whole number, not {value!r}")
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise ConfigError(f"{self._where(key)} must be at least {minimum}{upper}, not {value}")
        return value

    def number(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{self._where(key)} must be a number, not {value!r}")
        if value < minimum:
            raise ConfigError(f"{self._where(key)} must be at least {minimum}, not {value}")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ConfigError(f"{self._where(key)} must be true or false, not {value!r}")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        """A list of names, each once, in order (empty when absent)."""
        value = self._get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
            raise ConfigError(f'{self._where(key)} must be a list of names, e.g. ["SAFE CIC"]')
        return tuple(dict.fromkeys(item.strip() for item in value))

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise ConfigError(f"{self._where(key)} is {value!r}; choose one of {', '.join(choices)}")
        return value

    def email(self, key: str, default: str | None = None, *, hint: str = "") -> str:
        value = self.text(key, default, hint=hint)
        if value and not _EMAIL_RE.match(value):
            raise ConfigError(f"{self._where(key)} is not an email address: {value!r}")
        return value

    def _refuse(self, unknown: list[str], known: Iterable[str]) -> None:
        if unknown:
            key = unknown[0]
            close = get_close_matches(key, list(known), n=1)
            if isinstance(self.data[key], Mapping):
                # A table is named as it is written: [organisaton], [sending.extra].
                table = f"{self.name}.{key}" if self.name else key
                hint = f"; did you mean [{table.removesuffix(key)}{close[0]}]?" if close else ""
                raise ConfigError(f"{self.source}: [{table}] is not a known table{hint}")
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{self._where(key)} is not a known setting{hint}")

    def url(self, key: str, default: str | None, *, hint: str = "") -> str:
        """A web address on one line: http(s), no spaces."""
        value = self.line(key, default, hint=hint)
        if value and not re.match(r"^https?://[^\s/]+", value):
            raise ConfigError(f"{self._where(key)} must start with https:// (got {value!r})")
        if re.search(r"\s", value):
            raise ConfigError(f"{self._where(key)} must not contain spaces (got {value!r})")
        return value

    def domain(self, key: str) -> str:
        """A domain name, lower-cased, without its trailing dot ('' when absent)."""
        value = self.text(key, "").strip().rstrip(".").lower()
        if value and not _DOMAIN_RE.fullmatch(value):
            raise ConfigError(f"{self._where(key)} must be a domain name such as em1234.example.org (got {value!r})")
        return value

    def timezone(self, key: str, default: str) -> str:
        """An IANA time zone name, checked now so a typo fails at start, not at the first import."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        name = self.text(key, default)
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{self._where(key)} {name!r} is not a time zone name (e.g. Europe/London)") from None
        return name

    def table(self, key: str) -> TomlTable:
        value = self._get(key)
        name = f"{self.name}.{key}" if self.name else key
        return TomlTable(value or {}, name, self.source)

    def refuse_unknown(self, known: tuple[str, ...]) -> None:
        """Refuse a key outside ``known`` before any is read (a misspelt table name)."""
        self._refuse(sorted(set(self.data) - set(known)), known)

    def finish(self) -> None:
        """Refuse keys nobody reads: a typo must not be silently ignored."""
        self._refuse(sorted(set(self.data) - self.seen), sorted(self.seen))
        if self.missing:
            raise ConfigError(self.missing[0])
