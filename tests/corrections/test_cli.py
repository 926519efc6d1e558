"""`digest corrections …` and where corrections show: `digest issue show` and `digest report`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.corrections_support import COURT, ISSUE, WATER, send_issue


@pytest.fixture
def sent(engine, settings, audience) -> int:  # type: ignore[no-untyped-def]
    return send_issue(engine, settings)


def test_record_look_and_send_a_correction(invoke, project: Path, sent) -> None:  # type: ignore[no-untyped-def]
    made = invoke("corrections", "new", ISSUE, COURT, "--text", "The court sat in Northshire.", "--by", "Editor Ed")
    assert made.exit_code == 0, made.output
    assert made.output.splitlines() == [
        f"Correction #1 of “Father found guilty of causing the death of his baby son” (issue {ISSUE}) recorded by "
        "Editor Ed.",
        "The archive page shows it now; `digest corrections send 1` tells the readers who got it.",
    ]
    dry = invoke("corrections", "send", "1", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines() == [
        f"Correction #1 of “Father found guilty of causing the death of his baby son” (issue {ISSUE}) through outbox:",
        "  segment               held it  left out  to mail",
        "  schools                     0         6        0",
        "  health                      3         0        3",
        "  everyone                    2         1        2",
        "  total                       5         7        5",
        "12 readers were sent the issue; the copies of 5 held the story, those of 7 left it out.",
        "Not mailed: 0 no longer active, 0 suppressed, 0 sent this correction already.",
        "Dry run: nothing was written or sent.",
    ]
    refused = invoke("corrections", "send", "1", input="n\n")
    assert "Send correction #1 to 5 readers (health, everyone)? [y/N]: n" in refused.output
    assert refused.output.endswith("Not sent.\n")
    assert not (project / "outbox" / ISSUE / "correction-1").exists()
    done = invoke("corrections", "send", "1", "--yes")
    assert done.output.splitlines()[-1].startswith("Send #2: done. accepted 5, failed 0, skipped 0, pending 0")
    assert len(list((project / "outbox" / ISSUE / "correction-1").glob("*.eml"))) == 5
    again = invoke("corrections", "send", "1", "--yes")
    assert "0 sent this correction already" not in again.output and "5 sent this correction already" in again.output
    assert again.output.endswith("Nobody to send to: nothing was written or sent.\n")
    listed = invoke("corrections", "list", ISSUE).output.splitlines()
    assert listed[0].startswith(f"#1  {ISSUE}  correction  ") and listed[0].endswith(
        "by Editor Ed  “Father found guilty of causing the death of his baby son”"
    )
    assert listed[1] == "      sent to 5 readers"
    shown = invoke("corrections", "show", "1").output
    assert "  subject:  Correction: Father found guilty of causing the death of his baby son\n" in shown
    assert "    The court sat in Northshire.\n" in shown
    assert "  send #2 done through outbox (health, everyone): accepted 5 · failed 0" in shown


def test_a_sent_issue_shows_its_corrections_and_the_report_counts_them(invoke, sent) -> None:  # type: ignore[no-untyped-def]
    invoke("corrections", "new", ISSUE, COURT, "--text", "The court sat in Northshire.", "--by", "Ed")
    invoke("corrections", "send", "1", "--yes")
    invoke("corrections", "new", ISSUE, WATER, "--withdrawn", "--by", "Ed")
    shown = invoke("issue", "show", ISSUE).output
    assert "  corrections (2):\n    #1 correction of Father found guilty of causing the death of his baby son" in shown
    assert "    #2 withdrawal of Cold water safety advice as the weather warms up" in shown
    assert "by Ed; sent to 5 readers\n" in shown and "by Ed; sent to 0 readers\n" in shown
    report = invoke("report", ISSUE).output
    assert "\nCorrections: 2\n  #1 correction of “Father found guilty" in report
    assert "): sent to 5 readers\n" in report
    assert "Planned " in report and "12" in report.split("Planned", 1)[1].split("\n", 1)[0]  # the issue's own rows
    found = json.loads(invoke("report", ISSUE, "--format", "json").output)[0]["corrections"]
    assert [(item["id"], item["kind"], item["accepted"]) for item in found] == [
        (1, "correction", 5),
        (2, "withdrawal", 0),
    ]


def test_the_wording_comes_from_a_file_or_the_option_and_mistakes_are_named(invoke, project: Path, sent) -> None:  # type: ignore[no-untyped-def]
    wording = project / "correction.txt"
    wording.write_text("First paragraph.\r\n\r\nSecond  paragraph.\r\n", encoding="utf-8")
    made = invoke("corrections", "new", ISSUE, COURT, "--text-file", str(wording))
    assert made.exit_code == 0, made.output
    assert "    First paragraph.\n    Second paragraph.\n" in invoke("corrections", "show", "1").output
    both = invoke("corrections", "new", ISSUE, COURT, "--text", "x", "--text-file", str(wording))
    assert both.exit_code == 2 and "give the wording with --text or --text-file, not both" in both.output
    wording.write_bytes("caf\xe9".encode("latin-1"))
    latin = invoke("corrections", "new", ISSUE, COURT, "--text-file", str(wording))
    assert (
        latin.exit_code == 1
        and latin.output == f"Error: {wording}: is not UTF-8 text; save it as UTF-8 and try again\n"
    )
    missing = invoke("corrections", "show", "9")
    assert (
        missing.exit_code == 1 and missing.output == "Error: no correction #9; `digest corrections list` lists them\n"
    )
    nothing = invoke("corrections", "send", "1", "--resume")
    assert nothing.output == "Error: correction #1 has no unfinished send to resume\n"
    none = invoke("corrections", "list", "2025-04-10")
    assert none.exit_code == 0 and none.output.startswith("#1  2025-04-10  correction")


def test_nothing_to_correct_before_the_issue_is_sent(invoke, audience) -> None:  # type: ignore[no-untyped-def]
    refused = invoke("corrections", "new", ISSUE, COURT, "--text", "x")
    assert refused.exit_code == 1
    assert refused.output == (
        f"Error: issue {ISSUE} has not been sent; change its file instead (issues/{ISSUE}/issue.yaml)\n"
    )
    assert invoke("corrections", "list").output == "No corrections yet.\n"
