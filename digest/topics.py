"""Topic tagging: editable keyword rules turn an article into a list of topic slugs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class TopicRule:
    """A topic and the keywords that tag an article with it."""

    slug: str
    label: str
    keywords: tuple[str, ...]


# Shipped defaults; digest.toml may relabel, extend, replace or (with an empty
# keyword list) remove any of them. Keywords are matched as whole words or
# phrases, case-insensitively.
DEFAULT_TOPICS: tuple[TopicRule, ...] = (
    TopicRule(
        "child-sexual-abuse",
        "Child sexual abuse and exploitation",
        (
            "child sexual abuse",
            "sexual abuse",
            "sexual exploitation",
            "grooming",
            "csa",
            "cse",
            "iicsa",
            "child abuse imagery",
            "abuse material",
            "sex offender",
            "sex offenders",
            "indecent images",
            "exploitation",
        ),
    ),
    TopicRule(
        "online-safety",
        "Online safety",
        (
            "online",
            "internet",
            "dark web",
            "social media",
            "cyber",
            "app",
            "apps",
            "livestream",
            "sextortion",
            "ai",
            "artificial intelligence",
            "cryptocurrency",
        ),
    ),
    TopicRule(
        "water-safety",
        "Water safety",
        (
            "water safety",
            "open water",
            "drowning",
            "river",
            "rivers",
            "lake",
            "lakes",
            "swim",
            "swimming",
            "swimmers",
            "rnli",
            "coastguard",
            "float to live",
        ),
    ),
    TopicRule(
        "social-care",
        "Children's social care",
        (
            "social care",
            "children's homes",
            "children’s homes",
            "fostering",
            "foster",
            "looked after",
            "care leavers",
            "sccif",
            "placement",
            "placements",
            "local authorities",
            "social worker",
            "social workers",
            "neglect",
            "child safeguarding practice review",
            "practice review",
            "learning review",
        ),
    ),
    TopicRule(
        "courts-justice",
        "Courts and justice",
        (
            "court",
            "crown court",
            "convicted",
            "sentenced",
            "guilty",
            "manslaughter",
            "murder",
            "prosecution",
            "cps",
            "trial",
            "jailed",
            "arrested",
            "arrests",
        ),
    ),
    TopicRule(
        "education",
        "Schools and education",
        (
            "school",
            "schools",
            "pupil",
            "pupils",
            "teacher",
            "teachers",
            "designated safeguarding lead",
            "dsl",
            "keeping children safe in education",
            "early years",
            "college",
        ),
    ),
    TopicRule(
        "sport-community",
        "Sport, clubs and community",
        (
            "sport",
            "sports",
            "club",
            "clubs",
            "coach",
            "coaches",
            "coaching",
            "volunteer",
            "volunteers",
            "welfare officer",
            "welfare officers",
            "charity",
            "charities",
            "faith",
            "youth group",
            "youth groups",
            "safer recruitment",
        ),
    ),
    TopicRule(
        "health",
        "Health and wellbeing",
        (
            "nhs",
            "hospital",
            "mental health",
            "health",
            "nurse",
            "nurses",
            "gp",
            "paediatric",
            "self-harm",
            "suicide",
            "wellbeing",
        ),
    ),
    TopicRule(
        "domestic-abuse",
        "Domestic abuse and violence",
        (
            "domestic abuse",
            "domestic violence",
            "coercive control",
            "stalking",
            "violence against women and girls",
            "vawg",
            "honour-based",
        ),
    ),
)

TITLE_WEIGHT = 3
MIN_SCORE = 2
MAX_TOPICS = 3


@lru_cache(maxsize=64)
def _pattern(keywords: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = sorted((re.escape(k) for k in keywords), key=len, reverse=True)
    return re.compile(r"(?<![\w-])(?:" + "|".join(alternatives) + r")(?![\w-])", re.IGNORECASE)


def _count(rule: TopicRule, text: str) -> int:
    if not rule.keywords:
        return 0
    return len(_pattern(rule.keywords).findall(text))


def tag_topics(title: str, body_text: str, rules: Sequence[TopicRule], *, max_topics: int = MAX_TOPICS) -> list[str]:
    """Topics for an article, strongest first.

    A keyword in the title counts three times one in the body; a topic needs a
    score of at least two, so a single passing mention in a long body does not
    tag it.
    """
    scores: list[tuple[int, int, str]] = []
    for order, rule in enumerate(rules):
        score = TITLE_WEIGHT * _count(rule, title) + _count(rule, body_text)
        if score >= MIN_SCORE:
            scores.append((-score, order, rule.slug))
    scores.sort()
    return [slug for _, _, slug in scores[:max_topics]]


def check_topics(topics: Iterable[str], rules: Sequence[TopicRule]) -> list[str]:
    """The topics that no rule defines (an empty list when all are known)."""
    known = {rule.slug for rule in rules}
    return [topic for topic in topics if topic not in known]


def configured_topics(table: Mapping[str, Any], source: str) -> tuple[TopicRule, ...]:
    """The defaults changed by digest.toml's ``[topics.<slug>]`` tables (label, keywords; [] removes)."""
    from digest.errors import ConfigError

    rules: dict[str, TopicRule] = {rule.slug: rule for rule in DEFAULT_TOPICS}
    for slug, entry in table.items():
        where = f"{source}: [topics.{slug}]"
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", slug):
            raise ConfigError(f"{where} is not a valid topic name; use lower-case letters, digits and hyphens")
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where} must be a table")
        unknown = sorted(set(entry) - {"label", "keywords"})
        if unknown:
            raise ConfigError(f"{where} {unknown[0]} is not a known setting; use label and keywords")
        keywords = entry.get("keywords")
        if keywords is None:
            keywords = list(rules[slug].keywords) if slug in rules else []
        if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
            raise ConfigError(f"{where} keywords must be a list of strings")
        label = entry.get("label", rules[slug].label if slug in rules else slug.replace("-", " ").capitalize())
        if not isinstance(label, str):
            raise ConfigError(f"{where} label must be a string, not {label!r}")
        cleaned = tuple(k.strip().lower() for k in keywords if k.strip())
        if cleaned:
            rules[slug] = TopicRule(slug, label.strip(), cleaned)
        else:
            rules.pop(slug, None)
    return tuple(rules.values())
