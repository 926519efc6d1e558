"""Reports: one subscriber's story, and what happened to an issue once it was sent."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from digest.config import Settings
from digest.people.subscribers import PROFILE_FIELDS, get_subscriber, history, neutralise_formula


def subscriber_report(engine: Engine, settings: Settings, email: str) -> Iterator[str]:
    """Lines describing a subscriber: fields, consent, segments, status history, deliveries."""
    from digest.people.segments import load_segments, segments_of

    person = get_subscriber(engine, email)
    yield f"email:        {person.email}"
    for name in PROFILE_FIELDS:
        yield f"{name + ':':<14}{person.field(name) or '-'}"
    yield f"topics:       {', '.join(person.topics) or 'all'}"
    yield f"key contact:  {'yes' if person.key_contact else 'no'}"
    for key, value in sorted(person.attributes.items()):
        yield f"attribute:    {key} = {value}"
    yield f"status:       {person.status} since {person.status_changed_at:%Y-%m-%d %H:%M} UTC"
    if person.status_reason:
        yield f"reason:       {person.status_reason}"
    consent_at = f" on {person.consent_at:%Y-%m-%d}" if person.consent_at else " (date unknown)"
    yield f"consent:      {person.consent_source or '-'}{consent_at}"
    if person.consent_text:
        yield f"              {person.consent_text}"
    yield f"created:      {person.created_at:%Y-%m-%d %H:%M} UTC"
    if settings.segments_file.is_file():
        matched = segments_of(engine, load_segments(settings), person.id)
        yield f"segments:     {', '.join(matched) or '(none: not active, or no segment matches)'}"
    yield "history:"
    for entry in history(engine, person.id):
        change = f"{entry.old_status or 'new'} → {entry.new_status}"
        detail = f" ({entry.detail})" if entry.detail else ""
        yield f"  {entry.at:%Y-%m-%d %H:%M}  {change:<26} {entry.cause}{detail}"
    from digest.events.bounces import subscriber_evidence

    evidence = subscriber_evidence(engine, person.id)
    if evidence:
        yield "bounce mail:"
    for row in evidence:
        kind = f"{row.bounce_class} bounce" if row.bounce_class else row.type
        yield f"  {row.occurred_at:%Y-%m-%d %H:%M}  {kind:<14} {row.bounce_reason} {row.status}".rstrip()
        yield f"      {row.reason[:160]} [{row.parser}]"
        yield f"      {row.outcome or 'no change'}; {row.matched_by}"
    from digest.sending.ledger import deliveries_of

    found = deliveries_of(engine, person.id)
    yield "deliveries:" if found else "deliveries:   (none yet)"
    for delivery in found:
        error = f" ({delivery.error})" if delivery.error else ""
        when = f"{delivery.updated_at:%Y-%m-%d %H:%M}"
        yield f"  {delivery.issue_id}  {delivery.segment:<16} {delivery.state:<9} {when}{error}"


# --- what happened to an issue ---------------------------------------------------------------

METRICS = (
    ("planned", "Planned"),
    ("accepted", "Accepted by the provider"),
    ("delivered", "Delivered"),
    ("deferred", "Deferred (delayed)"),
    ("bounced", "Bounced (hard)"),
    ("blocked", "Blocked (soft bounce)"),
    ("dropped", "Dropped by the provider"),
    ("complained", "Spam complaints"),
    ("unsubscribed", "Unsubscribed"),
    ("opened_human", "Unique opens (people)"),
    ("opened_machine", "Unique opens (machines)"),
    ("clicked", "Unique clicks"),
)
_EVENT_METRICS = {"delivered", "deferred", "bounced", "blocked", "dropped", "complained"}
_LINK_UNSUBSCRIBES = ("unsubscribe-link", "one-click", "preferences")


@dataclass
class CorrectionCount:
    """A correction (or withdrawal) of one of the issue's stories, and how many readers took it."""

    id: int
    kind: str
    story: str
    recorded: str  # YYYY-MM-DD
    accepted: int


@dataclass
class IssueOutcome:
    issue_id: str
    segments: dict[str, dict[str, int]]
    total: dict[str, int]
    clicks_by_story: list[tuple[str, int, int]]  # (title, people who clicked, clicks)
    corrections: list[CorrectionCount] = field(default_factory=list)


def issue_outcome(engine: Engine, settings: Settings, issue_id: str) -> IssueOutcome:
    """Per segment and in total: the delivery funnel, bounces, complaints, opens and clicks."""
    import sqlalchemy as sa

    from digest.store import db

    d, e = db.deliveries, db.events
    segments: dict[str, dict[str, int]] = {}

    def row(segment: str) -> dict[str, int]:
        return segments.setdefault(segment, dict.fromkeys((key for key, _ in METRICS), 0))

    from digest.sending.ledger import sent_issue_ids

    if not sent_issue_ids(engine, only=issue_id):
        from digest.errors import NotFoundError

        raise NotFoundError(f"issue {issue_id} has not been sent; `digest sends` lists what has")
    with db.read(engine) as conn:
        for segment, state, count in conn.execute(
            sa.select(d.c.segment, d.c.state, sa.func.count())
            .where(d.c.issue_id == issue_id)
            .group_by(d.c.segment, d.c.state)
        ):
            row(segment)["planned"] += count
            if state == "accepted":
                row(segment)["accepted"] += count
        people = sa.func.count(sa.distinct(e.c.delivery_id))
        for segment, kind, machine, count in conn.execute(
            sa.select(d.c.segment, e.c.type, e.c.machine_open, people)
            .join(d, d.c.id == e.c.delivery_id)
            .where(d.c.issue_id == issue_id)
            .group_by(d.c.segment, e.c.type, e.c.machine_open)
        ):
            if kind in _EVENT_METRICS:
                row(segment)[kind] += count
            elif kind == "opened":
                row(segment)["opened_machine" if machine else "opened_human"] += count
            elif kind == "clicked":
                row(segment)["clicked"] += count
        unsubscribed = _unsubscribers(conn, issue_id)
        for segment, count in conn.execute(
            sa.select(d.c.segment, sa.func.count())
            .where(d.c.issue_id == issue_id, d.c.subscriber_id.in_(list(unsubscribed) or [-1]))
            .group_by(d.c.segment)
        ):
            row(segment)["unsubscribed"] += count
        clicks = conn.execute(
            sa.select(e.c.url, sa.func.count(sa.distinct(e.c.delivery_id)), sa.func.count())
            .join(d, d.c.id == e.c.delivery_id)
            .where(d.c.issue_id == issue_id, e.c.type == "clicked")
            .group_by(e.c.url)
        ).all()
    total = dict.fromkeys((key for key, _ in METRICS), 0)
    for values in segments.values():
        for key, value in values.items():
            total[key] += value
    clicked = _clicks_by_story(engine, settings, issue_id, clicks)
    return IssueOutcome(issue_id, segments, total, clicked, _corrections(engine, issue_id))


def _corrections(engine: Engine, issue_id: str) -> list[CorrectionCount]:
    """The issue's corrections; their own sends are not the issue's, so they are counted apart."""
    from digest.corrections import list_corrections, reach_of

    return [
        CorrectionCount(
            item.id, item.kind, item.title, f"{item.created_at:%Y-%m-%d}", reach_of(engine, item)["accepted"]
        )
        for item in list_corrections(engine, issue_id)
    ]


def _unsubscribers(conn: Any, issue_id: str) -> set[int]:
    """People who unsubscribed because of this issue: provider events and our own links."""
    import sqlalchemy as sa

    from digest.store import db

    d, e, h = db.deliveries, db.events, db.subscriber_history
    from_events = conn.execute(
        sa.select(d.c.subscriber_id)
        .join(e, e.c.delivery_id == d.c.id)
        .where(d.c.issue_id == issue_id, e.c.type.in_(["unsubscribed", "group-unsubscribed"]))
    ).scalars()
    from_links = conn.execute(
        sa.select(h.c.subscriber_id).where(
            h.c.cause.in_(_LINK_UNSUBSCRIBES), h.c.detail == f"issue {issue_id}", h.c.new_status == "unsubscribed"
        )
    ).scalars()
    return set(from_events) | set(from_links)


def _clicks_by_story(engine: Engine, settings: Settings, issue_id: str, clicks: Any) -> list[tuple[str, int, int]]:
    from digest.errors import DigestError
    from digest.issues.issue import load_view
    from digest.issues.render import story_url

    try:
        view = load_view(engine, settings, issue_id)
        titles = {story_url(settings, issue_id, story): story.article.title for story in view.stories()}
    except DigestError:
        titles = {}
    totals: dict[str, list[int]] = {}
    for url, people, count in clicks:
        title = titles.get(url, "Other links" if url else "(no address)")
        entry = totals.setdefault(title, [0, 0])
        entry[0] += people
        entry[1] += count
    return sorted(((title, p, c) for title, (p, c) in totals.items()), key=lambda item: (-item[2], item[0]))


def outcome_table(outcomes: list[IssueOutcome], *, by_segment: bool) -> list[list[str]]:
    """Rows for a table: metrics down, segments (or issues) across."""
    if by_segment:
        (outcome,) = outcomes
        columns = [*sorted(outcome.segments), "total"]
        values = {**outcome.segments, "total": outcome.total}
    else:
        columns = [o.issue_id for o in outcomes]
        values = {o.issue_id: o.total for o in outcomes}
    rows = [["", *columns]]
    for key, label in METRICS:
        rows.append([label, *(str(values[column][key]) for column in columns)])
    return rows


def render_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for number, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def outcome_json(outcomes: list[IssueOutcome]) -> str:
    import json

    return json.dumps(
        [
            {
                "issue": o.issue_id,
                "segments": o.segments,
                "total": o.total,
                "clicks_by_story": [{"story": t, "people": p, "clicks": c} for t, p, c in o.clicks_by_story],
                "corrections": [vars(item) for item in o.corrections],
            }
            for o in outcomes
        ],
        indent=2,
    )


def outcome_csv(rows: list[list[str]]) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows([[neutralise_formula(cell) for cell in row] for row in rows])
    return buffer.getvalue()


def write_html_report(settings: Settings, outcome: IssueOutcome, path: Path) -> None:
    """A page with the funnel, clicks per story and bounces by class, drawn with matplotlib."""
    from digest.files import atomic_write_text
    from digest.issues.render import render_web_page

    total = outcome.total
    funnel = [
        ("Planned", total["planned"]),
        ("Accepted", total["accepted"]),
        ("Delivered", total["delivered"]),
        ("Opened (people)", total["opened_human"]),
        ("Clicked", total["clicked"]),
    ]
    bounces = [
        ("Hard bounces", total["bounced"]),
        ("Soft bounces (blocked)", total["blocked"]),
        ("Dropped", total["dropped"]),
        ("Complaints", total["complained"]),
    ]
    clicks = [(title, count) for title, _people, count in outcome.clicks_by_story]
    charts = [
        {"caption": "Delivery funnel", "svg": bar_chart(funnel, "People"), "rows": funnel},
        # No clicks is a fact to state, not an empty axis to draw.
        {
            "caption": "Clicks per story",
            "svg": bar_chart(clicks, "Clicks") if clicks else "",
            "rows": clicks,
            "empty": "No clicks yet.",
        },
        {"caption": "Bounces and complaints by class", "svg": bar_chart(bounces, "People"), "rows": bounces},
    ]
    html = render_web_page(
        settings,
        "report.html.j2",
        {
            "org": settings.organisation,
            "language": settings.language,
            "home_url": "#",
            "issue_id": outcome.issue_id,
            "issue_date": _issue_date(settings, outcome.issue_id),
            "table": outcome_table([outcome], by_segment=True),
            "charts": charts,
            "corrections": outcome.corrections,
        },
    )
    atomic_write_text(path, html)


def _issue_date(settings: Settings, issue_id: str) -> str:
    """'10 April 2025', as everything else writes dates: from the issue file, else its id."""
    from datetime import date

    from digest.errors import DigestError
    from digest.issues.issue import human_date, load_issue

    try:
        return human_date(load_issue(settings, issue_id).date)
    except DigestError:
        try:
            return human_date(date.fromisoformat(issue_id[:10]))
        except ValueError:
            return issue_id


CHART_WIDTH_INCHES = 5.2  # about 500 pixels: on a 375-pixel phone it shrinks by a third, not by half
LABEL_CHARACTERS = 44


def bar_chart(items: list[tuple[str, int]], unit: str) -> str:
    """A horizontal bar chart as inline SVG (matplotlib, no JavaScript, readable without colour).

    Each label sits above its bar, wrapped, so long story titles take lines
    rather than width, and the chart stays narrow enough to read on a phone.
    The text stays text in the SVG (not outlines), so it can be read and searched.
    """
    import io
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    line, bar, gap = 0.24, 0.22, 0.16  # inches
    labels = [textwrap.wrap(label, LABEL_CHARACTERS, max_lines=3, placeholder="…") or [""] for label, _ in items]
    values = [value for _, value in items]
    height = sum(len(lines) * line + bar + gap for lines in labels)
    with plt.rc_context({"svg.fonttype": "none", "font.size": 14, "font.family": "DejaVu Sans"}):
        figure = plt.figure(figsize=(CHART_WIDTH_INCHES, height + 0.7))
        axes = figure.add_axes((0.04, 0.55 / (height + 0.7), 0.88, height / (height + 0.7)))
        axes.set_ylim(height, 0)
        top = max(values, default=0) or 1  # an axis of zeros still runs 0 to 1, never -0.06 to 0.06
        axes.set_xlim(0, top * 1.12)
        y = 0.0
        for lines, value in zip(labels, values, strict=True):
            # parse_math=False: a story title is text, never mathtext ("$5 for #tags, $10" would not draw).
            label = "\n".join(lines)
            axes.text(0, y + len(lines) * line - 0.04, label, va="bottom", ha="left", linespacing=1.1, parse_math=False)
            y += len(lines) * line
            axes.barh(y + bar / 2, value, height=bar, color="#12355b")
            axes.text(value + top * 0.01, y + bar / 2, str(value), va="center", ha="left", fontsize=13)
            y += bar + gap
        axes.set_yticks([])
        axes.set_xlabel(unit)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # people and clicks come whole
        axes.tick_params(axis="x", labelsize=13)
        axes.spines[["top", "right", "left"]].set_visible(False)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg")
        plt.close(figure)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]
