"""How digest's bounce reader agrees with sisimai (Debian's libsisimai-perl) on real bounce messages.

    python bench/bounce_agreement.py DIR_OR_FILE...

Each file is one message (flufl.bounce's test data, sisimai's set-of-emails
Maildir, a folder of .eml files). For every (message, recipient) either side
finds, it compares what the message is (bounce, auto-reply, delay,
complaint), the reason class, and hard versus soft. Nothing is written; the
figures go into docs/bounces.md by hand. The corpora are never in the
repository: .ci/run downloads flufl.bounce's sdist into $DIGEST_CORPUS_DIR.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# sisimai's reason names → ours (digest.events.bounce_reasons), and its non-bounces → our kinds.
SISIMAI_REASONS = {
    "userunknown": "user-unknown",
    "hostunknown": "host-unknown",
    "hasmoved": "has-moved",
    "notaccept": "not-accepting",
    "mailboxfull": "mailbox-full",
    "exceedlimit": "exceeds-limit",
    "mesgtoobig": "exceeds-limit",
    "blocked": "blocked",
    "policyviolation": "policy",
    "securityerror": "policy",
    "spamdetected": "spam-detected",
    "virusdetected": "content-error",
    "contenterror": "content-error",
    "rejected": "rejected",
    "norelaying": "rejected",
    "filtered": "filtered",
    "suspend": "suspended",
    "expired": "expired",
    "systemerror": "system-error",
    "systemfull": "system-error",
    "mailererror": "system-error",
    "syntaxerror": "system-error",
    "networkerror": "network-error",
    "toomanyconn": "too-many-connections",
    "undefined": "undefined",
    "onhold": "undefined",
    "vacation": "autoreply",
    "feedback": "complaint",
    "delivered": "delivered",
}

# One Perl process for all files: a line of JSON per file, {} when sisimai finds nothing.
PERL = r"""
use strict; use warnings; use Sisimai; use JSON::PP;
my $json = JSON::PP->new->canonical;
while (my $path = <STDIN>) {
    chomp $path;
    my @found;
    my $data = eval { Sisimai->make($path, 'vacation' => 1, 'delivered' => 1) } || [];
    for my $e (@$data) {
        push @found, { address => $e->recipient->address, reason => $e->reason,
                       status => $e->deliverystatus, action => $e->action, soft => $e->softbounce };
    }
    print $json->encode({ path => $path, found => \@found }), "\n";
}
"""


@dataclass(frozen=True)
class Verdict:
    kind: str  # bounce | autoreply | delayed | complaint | not-understood | delivered
    reason: str
    hard: bool


def sisimai_verdicts(paths: list[Path]) -> dict[tuple[str, str], Verdict]:
    """(file name, lower-case address) → sisimai's verdict."""
    run = subprocess.run(
        ["perl", "-e", PERL],
        input="\n".join(str(p) for p in paths) + "\n",
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    found: dict[tuple[str, str], Verdict] = {}
    for line in run.stdout.splitlines():
        record = json.loads(line)
        name = Path(record["path"]).name
        for item in record["found"]:
            reason = SISIMAI_REASONS.get(item["reason"] or "undefined", "undefined")
            if reason in ("autoreply", "complaint", "delivered"):
                kind = reason
            elif str(item.get("action") or "") == "delayed":
                kind = "delayed"
            else:
                kind = "bounce"
            hard = kind == "bounce" and str(item.get("soft")) == "0"
            found[(name, str(item["address"]).lower())] = Verdict(kind, reason, hard)
    return found


def digest_verdicts(paths: list[Path]) -> tuple[dict[tuple[str, str], Verdict], dict[str, str], list[str]]:
    """(file name, address) → our verdict; each file's kind; files whose reading raised."""
    from digest.events.bounce_parse import read_message
    from digest.events.mail_decode import parse_bytes

    found: dict[tuple[str, str], Verdict] = {}
    kinds: dict[str, str] = {}
    tracebacks: list[str] = []
    for path in paths:
        try:
            reading = read_message(parse_bytes(path.read_bytes()))
        except Exception as exc:  # counted: the figure is "0 tracebacks"
            tracebacks.append(f"{path.name}: {type(exc).__name__}: {exc}")
            continue
        kinds[path.name] = reading.kind
        for finding in reading.findings:
            kind = {"failed": "bounce", "delayed": "delayed", "complaint": "complaint"}[finding.action]
            verdict = Verdict(kind, finding.verdict.reason, finding.verdict.hard)
            for address in finding.addresses:
                found[(path.name, address.lower())] = verdict
    return found, kinds, tracebacks


def message_files(targets: list[str]) -> list[Path]:
    files: list[Path] = []
    for target in map(Path, targets):
        if target.is_dir():
            files.extend(p for p in sorted(target.rglob("*")) if p.is_file() and p.suffix in (".txt", ".eml", ""))
        elif target.is_file():
            files.append(target)
    return [p for p in files if not p.name.startswith(("__", "."))]


def compare(paths: list[Path]) -> dict[str, object]:
    """The agreement figures for one set of message files."""
    theirs = sisimai_verdicts(paths)
    ours, kinds, tracebacks = digest_verdicts(paths)
    counts: Counter[str] = Counter()
    harder: list[str] = []
    for key, their in theirs.items():
        name, address = key
        mine = ours.get(key)
        if their.kind == "delivered":
            continue
        counts["sisimai recipients"] += 1
        if mine is None:
            # A whole-message verdict (auto-reply, delay) has no recipient on our side.
            if their.kind in ("autoreply", "delayed") and kinds.get(name) in ("autoreply", "delayed"):
                counts["same kind"] += 1
                counts["same kind, whole message"] += 1
            else:
                counts[f"missed by digest ({their.kind})"] += 1
            continue
        counts["found by both"] += 1
        counts["same kind"] += mine.kind == their.kind
        if mine.kind == their.kind == "bounce":
            counts["bounces found by both"] += 1
            counts["same reason"] += mine.reason == their.reason
            counts["same hard/soft"] += mine.hard == their.hard
            if mine.hard and not their.hard:
                harder.append(f"{name} {address}: digest {mine.reason} hard, sisimai {their.reason} soft")
                counts["digest hard, sisimai soft"] += 1
            if their.hard and not mine.hard:
                counts["sisimai hard, digest soft"] += 1
    for key, mine in ours.items():
        if key not in theirs:
            counts[f"found only by digest ({mine.kind})"] += 1
    hard_on_non_bounce = [
        f"{name} {address}"
        for (name, address), mine in ours.items()
        if mine.hard and (theirs.get((name, address)) or Verdict("bounce", "", True)).kind in ("autoreply", "delayed")
    ]
    return {
        "files": len(paths),
        "tracebacks": tracebacks,
        "counts": dict(sorted(counts.items())),
        "digest hard where sisimai soft": harder,
        "digest hard on an auto-reply or delay": hard_on_non_bounce,
        "digest kinds": dict(Counter(kinds.values())),
    }


def main(argv: list[str]) -> None:
    paths = message_files(argv)
    if not paths:
        raise SystemExit("usage: python bench/bounce_agreement.py DIR_OR_FILE...")
    print(json.dumps(compare(paths), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:])
