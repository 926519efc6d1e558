#!/usr/bin/env bash
# The whole weekly routine on the example content, on the embedded defaults
# (SQLite, the local outbox). `make demo` runs this. It uses demo.db, made
# afresh each run, so it never touches a real digest.db.
set -euo pipefail
cd "$(dirname "$0")/.."
digest() { "${DIGEST:-.venv/bin/digest}" "$@"; }
PYTHON="${PYTHON:-.venv/bin/python}"
ISSUE=2026-11-23
export DIGEST_DATABASE_URL=sqlite:///demo.db
rm -rf demo.db demo.db-wal demo.db-shm "outbox/$ISSUE" "issues/$ISSUE" "preview/$ISSUE" reports/demo
start=$(date +%s)

echo "== 1. The editor imports the week's articles (newsfeed text, an RSS feed, Markdown)"
digest articles import examples/articles/newsfeed-2026-11-week47.txt \
    examples/articles/partner-feed.xml examples/articles/*.md

echo
echo "== 2. ...drafts the issue of $ISSUE from the week before it, and checks it"
digest issue new --date "$ISSUE"
digest check "$ISSUE"

echo
echo "== 3. ...previews it (with screenshots when Chromium is installed) and approves it"
index=$(digest preview "$ISSUE")
digest issue approve "$ISSUE" --by "Demo Editor"

echo
echo "== 4. The admin imports the subscriber list and looks at the segments"
digest subscribers import subscribers/example-subscribers.csv --consent-source "example list"
digest segments list

echo
echo "== 5. The issue goes to every segment, through the ledger, into the outbox"
digest send "$ISSUE" --segment schools --segment health --segment sport-community --segment everyone --yes

echo
echo "== 6. The provider reports back: deliveries, opens, clicks, a bounce, a complaint, an unsubscribe"
mkdir -p reports/demo
"$PYTHON" examples/provider_events.py "outbox/$ISSUE" reports/demo/events.json
digest events import reports/demo/events.json

echo
echo "== 7. The report"
digest report "$ISSUE" --html reports/demo/report.html

echo
echo "Done in $(( $(date +%s) - start )) seconds. Look at:"
echo "  the preview:   $index"
echo "  the messages:  outbox/$ISSUE/ ($(ls "outbox/$ISSUE" | wc -l) files, the bytes SMTP would send)"
echo "  the report:    reports/demo/report.html"
