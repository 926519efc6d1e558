#!/usr/bin/env bash
# The whole weekly routine on the example content, on the embedded defaults
# (SQLite, the local outbox). `make demo` runs this. It builds its own project
# in demo/ (settings, database, issues, preview, outbox, reports), made afresh
# on each run, so it never touches a real project's files.
set -euo pipefail
# DIGEST and PYTHON may be given relative to the folder this was started from:
# make them absolute before moving, since the steps run inside the demo project.
absolute() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
DIGEST_BIN=${DIGEST:+$(absolute "$DIGEST")}
PYTHON=${PYTHON:+$(absolute "$PYTHON")}
cd "$(dirname "$0")/.."
REPO=$PWD
DIGEST_BIN="${DIGEST_BIN:-$REPO/.venv/bin/digest}"
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"
DEMO="${DEMO_DIR:-$REPO/demo}"
ISSUE=2026-11-23
digest() { "$DIGEST_BIN" "$@"; }
unset DIGEST_DATABASE_URL DIGEST_CONFIG
start=$(date +%s)

echo "== 0. A new project for the demo: digest init, with the demo's settings"
# Made afresh: the old demo folder is deleted, but only if `make demo` made it (digest.issues.folders).
"$PYTHON" -c '
import sys
from digest.errors import DigestError
from digest.issues.folders import DEMO, clear_folder
try:
    clear_folder(sys.argv[1], DEMO)
except DigestError as exc:
    sys.exit(f"Error: {exc}")
' "$DEMO"
cp examples/demo.toml "$DEMO/digest.toml"
digest init "$DEMO"
cd "$DEMO"

echo
echo "== 1. The editor imports the week's articles (newsfeed text, an RSS feed, Markdown)"
digest articles import "$REPO/examples/articles/newsfeed-2026-11-week47.txt" \
    "$REPO/examples/articles/partner-feed.xml" "$REPO"/examples/articles/*.md

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
digest subscribers import "$REPO/subscribers/example-subscribers.csv" --consent-source "example list"
digest segments list

echo
echo "== 5. The issue goes to every segment, through the ledger, into the outbox"
digest send "$ISSUE" --segment schools --segment health --segment sport-community --segment everyone --yes

echo
echo "== 6. The provider reports back: deliveries, opens, clicks, a bounce, a complaint, an unsubscribe"
mkdir -p reports
"$PYTHON" "$REPO/examples/provider_events.py" "outbox/$ISSUE" reports/events.json
digest events import reports/events.json

echo
echo "== 7. A story needs correcting: only the readers whose copy held it, and who are still subscribed, are told"
CAMPAIGN=2026-11-16-northshire-launches-summer-to-winter-cold-water-safety-campaign-for
digest corrections new "$ISSUE" "$CAMPAIGN" --by "Demo Editor" \
    --text "The free lesson plans cover Key Stages 2 and 3; the plan for Key Stage 4 follows in January."
digest corrections send 1 --yes

echo
echo "== 8. The report"
digest report "$ISSUE" --html reports/report.html

echo
echo "Done in $(( $(date +%s) - start )) seconds. The demo project is $DEMO. Look at:"
echo "  the preview:   $index"
echo "  the messages:  $DEMO/outbox/$ISSUE/ ($(find "outbox/$ISSUE" -maxdepth 1 -name '*.eml' | wc -l) files, the bytes SMTP would send)"
echo "  a correction:  $DEMO/outbox/$ISSUE/correction-1/ (and on the archive: digest serve, then /archive/$ISSUE/)"
echo "  the report:    $DEMO/reports/report.html"
echo "Try more commands there: cd $DEMO && $DIGEST_BIN --help"
