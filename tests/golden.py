"""Golden files: rendered output compared by structure, not byte noise.

Run `pytest --update-goldens` after an intended change and review the diff.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"
_OUTLINED = {"title", "h1", "h2", "h3", "h4", "p", "li", "a", "img", "html"}


class _Outline(HTMLParser):
    """Lines of ``tag[attrs]: text`` for the elements that carry meaning."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.stack: list[tuple[str, str, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _OUTLINED:
            return
        attributes = dict(attrs)
        keep = {
            k: attributes[k]
            for k in ("href", "name", "id", "alt", "lang", "dir", "class", "aria-label")
            if attributes.get(k)
        }
        label = tag + "".join(f" {k}={v}" for k, v in keep.items())
        if tag in ("img", "html"):
            self.lines.append(label)
            return
        self.stack.append((tag, label, []))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                _, label, parts = self.stack.pop(index)
                text = " ".join("".join(parts).split())
                self.lines.append(f"{label}: {text}")
                return

    def handle_data(self, data: str) -> None:
        for _, _, parts in self.stack:
            parts.append(data)


def html_outline(html: str) -> str:
    parser = _Outline()
    parser.feed(html)
    parser.close()
    return "\n".join(parser.lines) + "\n"


def assert_golden(request: pytest.FixtureRequest, name: str, actual: str) -> None:
    path = GOLDEN / name
    if request.config.getoption("--update-goldens"):
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path}; run pytest --update-goldens and review it"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{name} differs from the golden file; if intended, run pytest --update-goldens"
