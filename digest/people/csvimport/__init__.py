"""`digest subscribers import`: messy CSV exports in, a clean subscriber store out.

The file is streamed: rows are checked one by one and written in batches,
all inside one transaction, so a 100,000-row file never sits in memory and a
failure (or ``--dry-run``) leaves the database exactly as it was.

One module per job: :mod:`.run` drives the import (encodings, the
transaction); :mod:`.reader` reads the CSV (its delimiter, unreadable rows,
runaway quotes) with help from :mod:`.sniff` (workbooks, quotes left open);
:mod:`.layout` decides which tool wrote the file and so what it says about the
people in it, from the one table of tools in :mod:`.tools` (:mod:`.question`
stops the import at a status column it cannot read); :mod:`.profile` turns a
row into a profile and status, its cells read by :mod:`.values`; :mod:`.writer` classifies rows against the store and
writes them in batches; :mod:`.summary` is what the admin is shown. Every
status decision records its reason and evidence (the file's layout, the
column, the value) in the subscriber's history.
"""

from digest.people.csvimport.layout import Layout, Plan, StatusChoice, parse_maps, plan_columns
from digest.people.csvimport.profile import MAX_EVIDENCE, MAX_PROFILE_FIELD, ImportRow, parse_consent_date
from digest.people.csvimport.reader import MAX_FIELD
from digest.people.csvimport.run import import_csv
from digest.people.csvimport.summary import SHOWN_REJECTS, ImportSummary
from digest.people.csvimport.tools import NOT_SUBSCRIBED, TOOLS
from digest.people.csvimport.writer import BATCH

__all__ = [
    "BATCH",
    "MAX_EVIDENCE",
    "MAX_FIELD",
    "MAX_PROFILE_FIELD",
    "NOT_SUBSCRIBED",
    "SHOWN_REJECTS",
    "TOOLS",
    "ImportRow",
    "ImportSummary",
    "Layout",
    "Plan",
    "StatusChoice",
    "import_csv",
    "parse_consent_date",
    "parse_maps",
    "plan_columns",
]
