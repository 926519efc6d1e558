"""Examples for every command's --help, kept in one place (tests/cli/test_help.py parses each one).

Applied after the command modules are imported: a command without examples
here fails the test, so a new command comes with its examples.
"""

from __future__ import annotations

import click

EXAMPLES: dict[str, tuple[str, ...]] = {
    # `digest --help` and each group's --help show the commands people reach for first.
    "": (
        "digest init newsroom --name 'SAFE CIC' --from-address news@safe.example.org",
        "digest articles import newsfeed-2026-11-week47.txt",
        "digest issue new --date 2026-11-23",
        "digest preview 2026-11-23 --open",
        "digest send 2026-11-23 --segment everyone",
    ),
    "articles": (
        "digest articles import newsfeed-2026-11-week47.txt partner-feed.xml",
        "digest articles list --since 2026-11-16",
    ),
    "bounces": (
        "digest bounces scan /var/mail/bounces",
        "digest bounces review",
    ),
    "db": ("digest db upgrade", "digest db current"),
    "events": (
        "digest events import webhook-body.json",
        "digest events unplaced --limit 20",
    ),
    "issue": (
        "digest issue new --date 2026-11-23",
        "digest issue show 2026-11-23",
        "digest issue approve 2026-11-23 --by 'Editor Ed'",
    ),
    "segments": ("digest segments list", "digest segments show health --sample 20"),
    "subscribers": (
        "digest subscribers import subscribers.csv --dry-run",
        "digest subscribers show amira@example.org",
        "digest subscribers list --status bounced",
    ),
    "suppressions": (
        "digest suppressions list",
        "digest suppressions add someone@example.org --reason 'asked by letter'",
    ),
    "init": (
        "digest init newsroom --name 'SAFE CIC' --from-address newsfeed@safecic.example.org",
        "digest init            # lay out the current folder",
    ),
    "articles import": (
        "digest articles import newsfeed-2026-11-week47.txt",
        "digest articles import https://www.example.org/news.rss --source 'Example Health Safeguarding Network'",
        "digest articles import drafts/*.md",
    ),
    "articles list": (
        "digest articles list --since 2026-11-16",
        "digest articles list --topic water-safety --source police",
    ),
    "articles show": ("digest articles show 2026-11-19-new-guidance-on-safer-recruitment-for-sports-clubs",),
    "articles edit": (
        "digest articles edit 2026-11-19-new-guidance-on-safer-recruitment-for-sports-clubs --title 'New guidance'",
        "digest articles edit 2026-11-18-man-jailed-for-grooming-offences --url https://www.example.org/news/1",
        "digest articles edit 2026-11-18-man-jailed-for-grooming-offences --author ''   # no by-line",
    ),
    "articles delete": ("digest articles delete 2026-11-18-man-jailed-for-grooming-offences",),
    "articles set-topics": ("digest articles set-topics 2026-11-18-man-jailed-for-grooming-offences online-safety",),
    "topics": ("digest topics",),
    "issue new": (
        "digest issue new --date 2026-11-23",
        "digest issue new --date 2026-11-23 --days 14 --group-by source",
    ),
    "issue list": ("digest issue list",),
    "issue show": ("digest issue show 2026-11-23",),
    "issue approve": ("digest issue approve 2026-11-23 --by 'Editor Ed'",),
    "preview": (
        "digest preview 2026-11-23 --open",
        "digest preview 2026-11-23 --segment health --no-screenshots",
    ),
    "check": ("digest check 2026-11-23",),
    "subscribers import": (
        "digest subscribers import subscribers.csv --dry-run",
        "digest subscribers import subscribed_members_export.csv --map REGION=region --consent-source 'Mailchimp'",
    ),
    "subscribers add": (
        "digest subscribers add amira@example.org --first-name Amira --sector education --consent-source 'phoned in'",
    ),
    "subscribers remove": ("digest subscribers remove amira@example.org --reason 'left the school'",),
    "subscribers show": ("digest subscribers show amira@example.org",),
    "subscribers list": (
        "digest subscribers list --segment schools",
        "digest subscribers list --status bounced",
    ),
    "subscribers export": ("digest subscribers export everyone.csv --status active",),
    "subscribers erase": ("digest subscribers erase amira@example.org --yes",),
    "suppressions list": ("digest suppressions list",),
    "suppressions add": ("digest suppressions add someone@example.org --reason 'asked by letter'",),
    "suppressions lift": ("digest suppressions lift someone@example.org --reason 're-subscribed in person'",),
    "segments list": ("digest segments list",),
    "segments show": ("digest segments show health --sample 20",),
    "send": (
        "digest send 2026-11-23 --segment schools --segment everyone --dry-run",
        "digest send 2026-11-23 --test-to editor@example.org --segment health",
        "digest send 2026-11-23 --segment everyone --at '2027-11-29 08:00'",
        "digest send 2026-11-23 --resume",
    ),
    "doctor": (
        "digest doctor                      # the set-up and the sending domain, before the first send",
        "digest doctor --online --provider sendgrid",
        "digest doctor --nameserver 1.1.1.1 --strict   # ask one server; warnings fail too",
    ),
    "run-due": ("digest run-due      # from cron or a systemd timer, every minute",),
    "sends": ("digest sends", "digest sends 2026-11-23"),
    "corrections": (
        "digest corrections new 2026-11-23 2026-11-18-man-jailed-for-grooming-offences --text 'Jailed for 6 years.'",
        "digest corrections send 1 --dry-run",
        "digest corrections list 2026-11-23",
    ),
    "corrections new": (
        "digest corrections new 2026-11-23 2026-11-18-man-jailed-for-grooming-offences --text 'Jailed for 6 years.'",
        "digest corrections new 2026-11-23 2026-11-18-man-jailed-for-grooming-offences --text-file correction.txt",
        "digest corrections new 2026-11-23 2026-11-18-man-jailed-for-grooming-offences --withdrawn --by 'Editor Ed'",
    ),
    "corrections list": ("digest corrections list", "digest corrections list 2026-11-23"),
    "corrections show": ("digest corrections show 1",),
    "corrections send": (
        "digest corrections send 1 --dry-run",
        "digest corrections send 1 --yes",
        "digest corrections send 1 --resume",
    ),
    "events import": ("digest events import webhook-body.json",),
    "events unplaced": ("digest events unplaced --limit 20",),
    "bounces review": ("digest bounces review",),
    "bounces scan": (
        "digest bounces scan /var/mail/bounces",
        "digest bounces scan imaps://bounces%40safe.example.org@mail.example.org/INBOX",
    ),
    "bounces sync": ("digest bounces sync",),
    "report": (
        "digest report 2026-11-23",
        "digest report 2026-11-23 --html reports/2026-11-23.html",
        "digest report --last 5 --format csv",
    ),
    "serve": ("digest serve --host 127.0.0.1 --port 8000",),
    "studio": (
        "digest studio 2026-11-23 --open",
        "digest studio            # the list of issues, to open one or draft a new one",
    ),
    "db upgrade": ("digest db upgrade",),
    "db copy": ("digest db copy --to postgresql://digest@db.internal/digest",),
    "db current": ("digest db current",),
    "db rekey": ("digest db rekey --old-key-file old.env",),
}


def epilog(lines: tuple[str, ...]) -> str:
    """Click's help keeps a paragraph marked \\b as written (no rewrapping)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def commands(group: click.Group, prefix: str = "", *, groups: bool = False) -> dict[str, click.Command]:
    """Every command under ``group`` by its path ("issue new"); with ``groups``, the
    groups too ("issue", and "" for ``group`` itself)."""
    found: dict[str, click.Command] = {prefix.strip(): group} if groups else {}
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            found.update(commands(command, path + " ", groups=groups))
        else:
            found[path] = command
    return found


def add_examples(group: click.Group) -> None:
    """Put each command's and each group's examples at the end of its --help."""
    for path, command in commands(group, groups=True).items():
        if path in EXAMPLES:
            command.epilog = epilog(EXAMPLES[path])
