"""Cells of other tools' exports → our fields: topics by slug or label, full names, tags, JSON attributes."""

from __future__ import annotations

import csv
import json
import unicodedata
from collections.abc import Sequence
from typing import Any

from digest.config import TopicRule
from digest.errors import InputError
from digest.people.csvimport.layout import attribute_key

# Titles in front of a name; left out so "Dr Amira Khan" is greeted as Amira.
HONORIFICS = {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "professor", "rev", "revd", "sir", "dame"}
MAX_ATTRIBUTES = 50
_QUOTES = str.maketrans("’‘“”", "''\"\"")


def _key(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().translate(_QUOTES)
    return " ".join(text.replace("-", " ").split())


class TopicMatcher:
    """Finds topics in the text people write: slugs ("online-safety") or labels ("Online safety")."""

    def __init__(self, rules: Sequence[TopicRule]) -> None:
        self.rules = tuple(rules)
        self.by_key: dict[str, str] = {}
        for rule in self.rules:
            self.by_key[_key(rule.slug)] = rule.slug
            self.by_key[_key(rule.label)] = rule.slug

    def lookup(self, text: str) -> str | None:
        """The slug a single topic name means, or None."""
        return self.by_key.get(_key(text))

    def match(self, text: str) -> tuple[list[str], list[str]]:
        """(slugs, unknown names) in a cell such as "Online safety; Sport, clubs and community".

        ``;`` and ``|`` always separate topics. Commas may be inside a label
        ("Sport, clubs and community"), so at each comma-separated piece the
        longest run of pieces that names a whole topic wins; a piece that names
        nothing is unknown.
        """
        found: list[str] = []
        unknown: list[str] = []
        for part in text.replace("|", ";").replace("\n", ";").split(";"):
            part = part.strip()
            if not part:
                continue
            pieces = [piece.strip() for piece in part.split(",")]
            start = 0
            while start < len(pieces):
                for end in range(len(pieces), start, -1):
                    slug = self.lookup(", ".join(pieces[start:end]))
                    if slug:
                        found.append(slug)
                        start = end
                        break
                else:
                    if pieces[start]:
                        unknown.append(pieces[start])
                    start += 1
        return list(dict.fromkeys(found)), list(dict.fromkeys(unknown))

    def known(self) -> str:
        """The valid topics, for a warning: "online-safety (Online safety), …"."""
        return ", ".join(f"{rule.slug} ({rule.label})" for rule in self.rules)


def split_tags(cell: str) -> list[str]:
    """Mailchimp's TAGS cell: each tag in double quotes, separated by commas (``"DSL","Online safety"``)."""
    cell = cell.strip()
    if not cell:
        return []
    if '"' in cell:
        row = next(csv.reader([cell], skipinitialspace=True), [])
        return [tag.strip() for tag in row if tag.strip()]
    return [tag.strip() for tag in cell.split(",") if tag.strip()]


def split_name(full: str, email: str) -> tuple[str, str]:
    """A full name as (first, last): "Amira Khan", "Khan, Amira", "Dr Amira Khan" all give ("Amira", "Khan").

    listmonk fills the name with the address's local part when none was
    given; that is not a name, so it gives nothing.
    """
    full = " ".join(full.split())
    local = email.split("@", 1)[0]
    if not full or "@" in full or full.casefold() == local.casefold():
        return "", ""
    if full.count(",") == 1:
        last, first = (side.strip() for side in full.split(","))
        if first and last:
            return first, last
        full = first or last
    words = full.split()
    while len(words) > 1 and words[0].strip(".").casefold() in HONORIFICS:
        words = words[1:]
    return words[0], " ".join(words[1:])


def json_attributes(cell: str) -> dict[str, str]:
    """listmonk's attributes: a JSON object, flattened into text attributes segments can match.

    Nested objects become ``outer_inner`` keys, lists are joined with "; ".
    """
    cell = cell.strip()
    if not cell:
        return {}
    try:
        data = json.loads(cell)
    except (ValueError, RecursionError):
        raise InputError("attributes are not valid JSON") from None
    if not isinstance(data, dict):
        raise InputError('attributes must be a JSON object such as {"phase": "primary"}')
    flat: dict[str, str] = {}
    _flatten(data, "", flat)
    if len(flat) > MAX_ATTRIBUTES:
        raise InputError(f"more than {MAX_ATTRIBUTES} attributes")
    return flat


def _flatten(value: Any, prefix: str, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            name = attribute_key(f"{prefix}_{key}" if prefix else str(key))
            _flatten(inner, name, out)
        return
    if value is None:
        return
    if isinstance(value, bool):
        out[prefix] = "true" if value else "false"
    elif isinstance(value, list):
        out[prefix] = "; ".join(json.dumps(item) if isinstance(item, dict | list) else str(item) for item in value)
    else:
        out[prefix] = str(value)
