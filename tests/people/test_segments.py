"""Segments: rules from YAML with line-numbered errors, audiences, variants."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.errors import InputError
from digest.people.segments import find_segments, iter_audience, load_segments, segment_counts, variant_topics
from digest.people.subscribers import add_subscriber, remove_subscriber, suppress_address

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


WORD_SEGMENTS = """\
segments:
  - name: nurses
    match: {role: {word: nurse}}
  - name: leads
    match: {role: {word: [designated safeguarding lead, dsl]}}
  - name: contains-nurse
    match: {role: {contains: nurse}}
  - name: academies
    match: {attributes.trust: {word: academy}}
"""


def test_word_rules_match_whole_words_only(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    path = project / "word-segments.yaml"
    path.write_text(WORD_SEGMENTS, encoding="utf-8")
    roles = {
        "a@example.org": "Nursery Manager",
        "b@example.org": "School Nurse",
        "c@example.org": "Named nurse (safeguarding)",
        "d@example.org": "Lead Nurse/Midwife",
        "e@example.org": "Deputy Designated  Safeguarding-Lead",
        "f@example.org": "DSL",
        "g@example.org": "Designated safeguarding leader",
        "h@example.org": "NURSE",
        "i@example.org": "Nurses' station",
    }
    for email, role in roles.items():
        add_subscriber(
            engine, settings, email, {"role": role, "attributes": {"trust": "Ely Academy Trust"}}, consent_source="t"
        )
    found = {segment.name: segment for segment in load_segments(settings, path)}

    def who(name: str) -> set[str]:
        from digest.people.segments import members

        return {row["role"] for row in members(engine, found[name])}

    assert who("nurses") == {"School Nurse", "Named nurse (safeguarding)", "Lead Nurse/Midwife", "NURSE"}
    assert who("leads") == {"Deputy Designated Safeguarding-Lead", "DSL"}
    assert "Nursery Manager" in who("contains-nurse")  # contains still means contains
    assert len(who("academies")) == len(roles)


def test_shipped_health_segment_leaves_out_a_nursery_manager(engine, settings) -> None:  # type: ignore[no-untyped-def]
    from digest.people.segments import members
    from digest.project import DEFAULTS

    add_subscriber(engine, settings, "nursery@example.org", {"role": "Nursery Manager"}, consent_source="t")
    add_subscriber(engine, settings, "nurse@example.org", {"role": "School Nurse"}, consent_source="t")
    shipped = {s.name: s for s in load_segments(settings, DEFAULTS / "segments.yaml")}
    assert [row["email"] for row in members(engine, shipped["health"])] == ["nurse@example.org"]


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ("{role: {word: '--'}}", "word for 'role' needs a word or phrase"),
        ("{role: {word: []}}", "word for 'role' needs a word or phrase"),
        ("{role: {word: {a: b}}}", "word for 'role' needs a word or phrase"),
        ("{topics: {word: health}}", "word does not apply to 'topics'"),
    ],
)
def test_bad_word_rules_are_refused(settings, project: Path, rule: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    path = project / "segments.yaml"
    path.write_text(f"segments:\n  - name: x\n    match: {rule}\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_segments(settings, path)
    assert reason in caught.value.reason


TOPIC_SEGMENTS = """\
segments:
  - name: shorthand
    match: {topics: care}
  - name: listed
    match: {topics: [care]}
  - name: one-of
    match: {topics: {one_of: [care, sport]}}
  - name: text
    match: {topics: {contains: care}}
"""


def test_a_topics_rule_matches_whole_topics_never_part_of_one(engine, project: Path) -> None:  # type: ignore[no-untyped-def]
    """`topics: [care]` is the topic care, not social-care (issue 21)."""
    from digest.config import load_settings
    from digest.people.segments import members

    toml = project / "digest.toml"
    toml.write_text(toml.read_text() + '\n[topics.care]\nlabel = "Care homes"\nkeywords = ["care home"]\n')
    settings = load_settings(toml)
    for email, topics in {
        "social@example.org": ["social-care"],
        "care@example.org": ["care"],
        "both@example.org": ["health", "care"],
        "all@example.org": [],
    }.items():
        add_subscriber(engine, settings, email, {"topics": topics}, consent_source="t")
    path = project / "topic-segments.yaml"
    path.write_text(TOPIC_SEGMENTS, encoding="utf-8")
    found = {segment.name: segment for segment in load_segments(settings, path)}

    def who(name: str) -> set[str]:
        return {row["email"] for row in members(engine, found[name])}

    assert who("shorthand") == who("listed") == who("one-of") == {"care@example.org", "both@example.org"}
    assert who("text") == {"social@example.org", "care@example.org", "both@example.org"}  # contains: text anywhere


def test_equals_with_a_list_is_refused_rather_than_matching_nobody(settings, project: Path) -> None:  # type: ignore[no-untyped-def]
    path = project / "segments.yaml"
    path.write_text("segments:\n  - name: x\n    match: {sector: {equals: [education, health]}}\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_segments(settings, path)
    assert caught.value.reason == "equals for 'sector' needs one value; for a list use {one_of: [...]}"


@pytest.mark.parametrize(
    "key",
    ['x"."y', "Phase", "a b", "x.y", "$..*", "café", "_phase", "x" * 65, "x'); DROP TABLE subscribers; --"],
)
def test_attribute_names_are_what_imports_store_or_refused_with_their_line(settings, project: Path, key: str) -> None:  # type: ignore[no-untyped-def]
    path = project / "segments.yaml"
    rule = f"attributes.{key}"
    path.write_text(f"segments:\n  - name: ok\n  - name: x\n    match:\n      {rule!r}: primary\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_segments(settings, path)
    assert (caught.value.path, caught.value.line) == (str(path), 5)
    assert caught.value.reason.startswith(f"attribute name {key!r} may use only lower-case letters, digits and '_'")


def test_a_bad_attribute_name_is_an_error_not_a_traceback(invoke, project: Path, engine, settings) -> None:  # type: ignore[no-untyped-def]
    add_subscriber(engine, settings, "a@school.example.org", {"attributes": {"x": "primary"}}, consent_source="test")
    (project / "subscribers").mkdir()
    (project / "subscribers" / "segments.yaml").write_text(
        "segments:\n  - name: x\n    match: {'attributes.x\"y': primary}\n", encoding="utf-8"
    )
    result = invoke("segments", "list")
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and ", line 3: attribute name 'x\"y'" in result.output


def test_attribute_names_as_imports_store_them_match(engine, settings, project: Path) -> None:  # type: ignore[no-untyped-def]
    add_subscriber(
        engine,
        settings,
        "a@school.example.org",
        {"attributes": {"local_authority": "Norfolk", "phase2": "y"}},
        consent_source="test",
    )
    path = project / "segments.yaml"
    path.write_text(
        "segments:\n  - name: x\n    match: {attributes.local_authority: norfolk, attributes.phase2: {exists: true}}\n",
        encoding="utf-8",
    )
    (segment,) = load_segments(settings, path)
    assert segment_counts(engine, [segment]) == {"x": 1}
