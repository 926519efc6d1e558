"""YAML aliases are refused in every file the tool reads: no loops, no expansion bombs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from digest.articles.store import import_articles

# Nine levels of ten aliases each: under a kilobyte of text, a billion values if expanded.
LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + n)}: &{chr(98 + n)} [{', '.join(['*' + chr(97 + n)] * 10)}]\n" for n in range(8)
)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("segments: &loop\n  - name: x\n    match: {any: *loop}\n", 3),
        (LAUGHS, 2),
    ],
    ids=["self-alias", "expansion"],
)
def test_segments_file_with_aliases_is_refused_quickly(invoke, project: Path, text: str, line: int) -> None:  # type: ignore[no-untyped-def]
    (project / "subscribers").mkdir()
    (project / "subscribers" / "segments.yaml").write_text(text, encoding="utf-8")
    assert len(text) < 1000
    started = time.perf_counter()
    result = invoke("segments", "list")
    assert time.perf_counter() - started < 5
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {project / 'subscribers' / 'segments.yaml'}, line {line}: not valid YAML")
    assert "aliases (*" in result.output and "are not allowed" in result.output


def test_issue_file_with_an_alias_names_its_line(invoke, sample_issue: Path) -> None:  # type: ignore[no-untyped-def]
    text = sample_issue.read_text(encoding="utf-8")
    text = text.replace("subject:", "subject: &s", 1) + "editor_note: *s\n"
    sample_issue.write_text(text, encoding="utf-8")
    result = invoke("check", "2025-04-10")
    assert result.exit_code == 1
    line = len(text.splitlines())
    assert result.output.startswith(f"Error: {sample_issue}, line {line}: not valid YAML: aliases (*s) are not allowed")


def test_markdown_front_matter_with_an_alias_is_refused(engine, settings, project: Path) -> None:  # type: ignore[no-untyped-def]
    path = project / "story.md"
    path.write_text("---\ntitle: &t A story\nsource: *t\npublished: 2025-04-09\n---\nBody text.\n", encoding="utf-8")
    report = import_articles(engine, settings, [str(path)])
    assert report.new == 0
    assert len(report.failures) == 1 and "aliases (*t) are not allowed" in str(report.failures[0])
