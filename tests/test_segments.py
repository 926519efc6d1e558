"""Segments: rules from YAML with line-numbered errors, audiences, variants."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.errors import InputError
from digest.segments import find_segments, iter_audience, load_segments, segment_counts, variant_topics
from digest.subscribers import add_subscriber, remove_subscriber, suppress_address

SEGMENTS = """\
segments:
  - name: schools
    description: Schools
    match:
      any:
        - sector: {one_of: [Education, college]}
        - role: {contains: safeguarding lead}
    topics: [online-safety, education]
  - name: health
    description: Health
    match:
      all:
        - email_domain: nhs.example.org
        - not: {role: {contains: manager}}
    topics: [health]
  - name: keyed
    match: {key_contact: true, attributes.phase: {exists: true}}
  - name: everyone
    description: Everyone
"""


@pytest.fixture
def segments_file(project: Path) -> Path:
    path = project / "subscribers" / "segments.yaml"
    path.parent.mkdir()
    path.write_text(SEGMENTS, encoding="utf-8")
    return path


@pytest.fixture
def people(engine, settings):  # type: ignore[no-untyped-def]
    def add(email: str, **profile) -> None:  # type: ignore[no-untyped-def]
        add_subscriber(engine, settings, email, profile, consent_source="test")

    add("dsl@school.example.org", sector="education", role="DSL")
    add(
        "lead@club.example.org", sector="sport", role="Designated Safeguarding Lead", topics=["online-safety", "health"]
    )
    add("nurse@nhs.example.org", sector="health", role="Named nurse", topics=["water-safety"])
    add("boss@nhs.example.org", sector="health", role="Ward manager")
    add("head@school.example.org", sector="Education ", key_contact=True, attributes={"phase": "primary"})
    add("gone@school.example.org", sector="education")
    remove_subscriber(engine, settings, "gone@school.example.org")
    add("quiet@school.example.org", sector="education")
    suppress_address(engine, settings, "quiet@school.example.org", reason="test")


def test_rules_match_case_insensitively(engine, settings, segments_file, people) -> None:  # type: ignore[no-untyped-def]
    counts = segment_counts(engine, load_segments(settings))
    assert counts == {"schools": 3, "health": 1, "keyed": 1, "everyone": 5}


def test_audience_gives_each_person_one_copy_from_the_first_matching_segment(
    engine, settings, segments_file, people
) -> None:  # type: ignore[no-untyped-def]
    audience = list(iter_audience(engine, find_segments(settings, ["health", "schools", "everyone"])))
    assert [(m.email, m.segment) for m in audience] == [
        ("dsl@school.example.org", "schools"),
        ("lead@club.example.org", "schools"),
        ("nurse@nhs.example.org", "health"),
        ("boss@nhs.example.org", "everyone"),
        ("head@school.example.org", "schools"),
    ]
    topics = {m.email: m.topics for m in audience}
    assert topics["lead@club.example.org"] == frozenset({"online-safety"})  # segment ∩ own preferences
    assert topics["nurse@nhs.example.org"] == frozenset()  # own preferences exclude the segment's topics
    assert topics["boss@nhs.example.org"] is None
    reordered = list(iter_audience(engine, find_segments(settings, ["everyone", "schools"])))
    assert {m.segment for m in reordered} == {"everyone"}


def test_variant_topics() -> None:
    assert variant_topics(None, []) is None
    assert variant_topics(None, ["health"]) == frozenset({"health"})
    assert variant_topics(frozenset({"a", "b"}), []) == frozenset({"a", "b"})
    assert variant_topics(frozenset({"a", "b"}), ["b", "c"]) == frozenset({"b"})


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("segments:\n  - name: x\n    match: {colour: red}\n", 3, "unknown field 'colour'"),
        ("segments:\n  - name: x\n    match: {sector: {like: ed}}\n", 3, "unknown operator 'like' for 'sector'"),
        ("segments:\n  - name: ''\n", 2, "a segment needs a name"),
        ("segments:\n  - name: a b\n", 2, "segment name 'a b' may use only letters"),
        ("segments:\n  - name: x\n  - name: x\n", 3, "segment 'x' is defined twice (first on line 2)"),
        ("segments:\n  - name: x\n    topics: [astrology]\n", 3, "unknown topic 'astrology'"),
        ("segments:\n  - name: x\n    match:\n      any: []\n", 4, "'any' needs a list of rules"),
        ("segments:\n  - name: x\n    match: {sector: {one_of: education}}\n", 3, "one_of for 'sector' needs a list"),
        ("segments:\n  - name: x\n    match: {sql: 'DROP TABLE subscribers'}\n", 3, "unknown field 'sql'"),
        ("segments:\n  - name: x\n    colour: red\n", 3, "unknown segment key 'colour'"),
        ("segments: [\n", 2, "not valid YAML"),
        ("groups: []\n", None, "the file must have a 'segments:' list"),
    ],
)
def test_bad_segment_files_name_the_line(settings, project: Path, text: str, line: int | None, reason: str) -> None:  # type: ignore[no-untyped-def]
    path = project / "segments.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_segments(settings, path)
    assert caught.value.path == str(path)
    assert caught.value.line == line
    assert reason in caught.value.reason


def test_packaged_example_segments_are_valid(settings) -> None:  # type: ignore[no-untyped-def]
    from digest.project import DEFAULTS

    found = load_segments(settings, DEFAULTS / "segments.yaml")
    assert [s.name for s in found] == ["schools", "health", "sport-community", "everyone"]
