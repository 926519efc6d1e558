"""digest against its floors (bench/floors.py), side by side in one run: the ratio table `make bench` prints.

Each measure runs digest and then its floor on the same database, restored
to the same saved state before each (SQLite: a file copy; PostgreSQL: a
database made from a template), ``--repeat`` times; the table gives the
median of the per-run ratios, the median times, and each process's own
peak RSS. The load average is printed before and after: other work on the
machine makes every figure noisy, and only ratios from the same run count.

Run: .venv/bin/python bench/ratios.py [--repeat 3] [--sizes 100000,1000000]
     [--stored 1000000] [--only send,ingest,import,preview] [--postgres URL]
PostgreSQL runs too when --postgres (or DIGEST_TEST_DATABASE_URL) names a
database on a server where this user may create databases.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BIN, Measured, load_average, machine, measure_process, measure_python, remove, scratch_project
from bench.snapshots import PostgresStore, SqliteStore, Store, prefill_events

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
ISSUE = "2025-04-10"
TOML = "\n[sendgrid]\ntimeout = 60\n"
API_KEY = "SG.test-key-not-real"


@dataclass
class Row:
    """One measure on one backend: digest's and the floor's figures from the same runs."""

    measure: str
    backend: str
    aim: str
    unit: str = "s"
    digest: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)
    digest_rss: list[float] = field(default_factory=list)
    floor_rss: list[float] = field(default_factory=list)
    note: str = ""
    absolute_aim: float | None = None  # for start-up: an aim in seconds, not a ratio

    def add(
        self,
        digest: float,
        floor: float,
        rss: float | None = None,
        floor_rss: float | None = None,
        cpu: tuple[float, float] | None = None,
    ) -> None:
        self.digest.append(digest)
        self.floor.append(floor)
        if rss is not None and floor_rss is not None:
            self.digest_rss.append(rss)
            self.floor_rss.append(floor_rss)
        ratio = digest / floor
        print(
            f"  [{self.backend}] {self.measure}: digest {_shown(digest, self.unit)}, floor {_shown(floor, self.unit)}, "
            f"ratio {ratio:.2f}x"
            + (f", peak RSS digest {rss:.0f} MB, floor {floor_rss:.0f} MB" if rss else "")
            + (f"; CPU digest {cpu[0]:.2f} s, floor {cpu[1]:.2f} s" if cpu else ""),
            flush=True,
        )

    def ratio(self) -> float:
        return statistics.median(d / f for d, f in zip(self.digest, self.floor, strict=True))

    def met(self) -> bool:
        if self.absolute_aim is not None:
            return statistics.median(self.digest) <= self.absolute_aim
        return self.ratio() <= float(self.aim.strip("≤ ×"))

    def cells(self) -> list[str]:
        rss = "—"
        if self.digest_rss:
            rss = f"{statistics.median(self.digest_rss):.0f} / {statistics.median(self.floor_rss):.0f} MB"
        return [
            f"{self.measure} ({self.backend})",
            f"**{self.ratio():.2f}×**",
            self.aim,
            "yes" if self.met() else "**no**",
            _shown(statistics.median(self.floor), self.unit),
            _shown(statistics.median(self.digest), self.unit),
            rss,
            self.note,
        ]


def _shown(value: float, unit: str) -> str:
    return f"{value * 1000:.0f} ms" if unit == "ms" else f"{value:.2f} s"


def table(rows: list[Row], repeat: int) -> str:
    head = [
        "measure",
        f"ratio (median of {repeat})",
        "aim",
        "met",
        "floor",
        "digest",
        "peak RSS digest / floor",
        "note",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


# --- set-up ---------------------------------------------------------------------------------


def new_store(kind: str, folder: Path | None, postgres: str | None) -> Store:
    if kind == "PostgreSQL":
        assert postgres
        return PostgresStore(postgres)
    assert folder is not None
    return SqliteStore(folder)


def with_env(folder: Path, text: str) -> None:
    with (folder / ".env").open("a", encoding="utf-8") as handle:
        handle.write(text)


def send_project(size: int, kind: str, postgres: str | None, server_url: str) -> tuple[Path, Store]:
    """A project with ``size`` active subscribers and an issue of 12 stories, saved before any send."""
    from bench.send import project_with_subscribers

    store = new_store(kind, None, postgres) if kind == "PostgreSQL" else None
    folder = project_with_subscribers(size, TOML, store.url if store else None)
    store = store or SqliteStore(folder)
    with_env(folder, f"SENDGRID_API_KEY={API_KEY}\nSENDGRID_API_HOST={server_url}\n")
    store.save()
    return folder, store


def digest_send(folder: Path) -> Measured:
    return measure_python(
        ["-m", "digest", "send", ISSUE, "--segment", "everyone", "--provider", "sendgrid", "--yes"], folder
    )


def _check_server(server: Any, size: int, who: str) -> None:
    stats = server.stats()
    if stats["recipients"] != size or stats["max_per_address"] != 1:
        raise RuntimeError(f"{who}: the fake server accepted {stats} for {size} recipients")


# --- the measures ---------------------------------------------------------------------------


def measure_send(kind: str, size: int, repeat: int, postgres: str | None, server: Any) -> Row:
    """`digest send` to ``size`` recipients as a process, against the send floor as a process."""
    from bench.floors import Database
    from digest.config import load_settings

    row = Row(f"send {size:,} through the fake SendGrid, as a process", kind, "≤ 2.0×")
    folder, store = send_project(size, kind, postgres, server.url)
    settings = load_settings(folder / "digest.toml")
    try:
        for _ in range(repeat):
            store.restore()
            server.reset()
            ours = digest_send(folder)
            if "done. accepted" not in ours.stdout:
                raise RuntimeError(f"digest send did not finish:\n{ours.stdout}\n{ours.stderr}")
            _check_server(server, size, "digest")
            # The floor sends the same planned ledger rows, put back to pending.
            db = Database(store.url)
            cursor = db.begin()
            cursor.execute("UPDATE deliveries SET state = 'pending', provider_message_id = NULL, batch_id = NULL")
            db.commit(cursor)
            send_id = db.query("SELECT max(id) FROM sends")[0][0]
            db.conn.close()
            store.settle()
            server.reset()
            config = {
                "db": store.url,
                "send_id": send_id,
                "issue_id": ISSUE,
                "base_url": settings.base_url,
                "secret": settings.require_secret_key().decode(),
                "server": server.url,
                "api_key": API_KEY,
                "from_address": settings.email.from_address,
                "from_name": settings.email.from_name,
            }
            floor = measure_python([str(HERE / "floors.py"), "send", json.dumps(config)], folder)
            done = json.loads(floor.stdout)
            if done["recipients"] != size:
                raise RuntimeError(f"the floor sent {done}")
            _check_server(server, size, "floor")
            row.add(ours.seconds, floor.seconds, ours.peak_mb, floor.peak_mb, (ours.cpu, floor.cpu))
    finally:
        store.drop()
        remove(folder)
    return row


def _signed(key: Any, events: list[dict[str, Any]], batch: int) -> list[dict[str, str]]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    posts = []
    for start in range(0, len(events), batch):
        body = json.dumps(events[start : start + batch])
        stamp = str(int(time.time()))
        signature = key.sign(stamp.encode() + body.encode(), ec.ECDSA(hashes.SHA256()))
        posts.append({"body": body, "stamp": stamp, "signature": base64.b64encode(signature).decode()})
    return posts


def measure_ingest(kind: str, events: int, stored_before: list[int], repeat: int, postgres: str | None,
                   server: Any) -> list[Row]:  # fmt: skip
    """Signed webhook bodies through digest's ingest (in one process) against the ingest floor."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from bench.events import BATCH, make_events
    from bench.floors import Database

    key = ec.generate_private_key(ec.SECP256R1())
    public = base64.b64encode(
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()
    folder, store = send_project(100_000, kind, postgres, server.url)
    with_env(folder, f"SENDGRID_WEBHOOK_PUBLIC_KEY={public}\n")
    rows = []
    try:
        digest_send(folder)  # the deliveries the events are about
        db = Database(store.url)
        deliveries = [(number, email) for number, email in db.query("SELECT id, email FROM deliveries ORDER BY id")]
        db.conn.close()
        store.settle()
        store.save()
        bodies = folder / "bodies.jsonl"
        for before in stored_before:
            if before:
                store.restore()
                prefill_events(store.url, deliveries, before, ISSUE)
                store.settle()
                store.save()
            label = f"webhook ingest of {events:,} events in one process, {before:,} stored before"
            row = Row(label, kind, "≤ 1.5×", note=f"{BATCH:,} events a body")
            for _ in range(repeat):
                bodies.write_text(
                    "\n".join(json.dumps(p) for p in _signed(key, make_events(deliveries, events, 1), BATCH)) + "\n",
                    encoding="utf-8",
                )
                store.restore()
                ours = measure_python([str(HERE / "digest_ingest.py"), str(folder), str(bodies)], folder)
                mine = json.loads(ours.stdout)
                store.restore()
                config = {"db": store.url, "bodies": str(bodies), "public_key": public}
                floor = measure_python([str(HERE / "floors.py"), "ingest", json.dumps(config)], folder)
                theirs = json.loads(floor.stdout)
                if mine["events"] != events or theirs["events"] != events:
                    raise RuntimeError(f"stored: digest {mine}, floor {theirs}")
                row.add(mine["seconds"], theirs["seconds"], ours.peak_mb, floor.peak_mb, (ours.cpu, floor.cpu))
            rate = events / statistics.median(row.digest)
            row.note += f"; digest {rate:,.0f} events/s"
            rows.append(row)
    finally:
        store.drop()
        remove(folder)
    if len(rows) == 2:
        change = statistics.median(rows[0].digest) / statistics.median(rows[1].digest)
        rows[1].note += f", {change:.2f} of its rate into an empty table"
    return rows


def measure_import(kind: str, count: int, repeat: int, postgres: str | None) -> Row:
    """`digest subscribers import` of a generated CSV as a process, against the import floor as a process."""
    from bench.subscribers import write_csv

    row = Row(f"CSV import of {count:,} rows, as a process", kind, "≤ 2.0×", note="5% invalid, 5% duplicates")
    folder = scratch_project()
    store = new_store(kind, folder, postgres)
    with_env(folder, store.env_line())
    try:
        measure_process([str(BIN / "digest"), "db", "upgrade"], folder)
        store.save()
        path = folder / "people.csv"
        write_csv(path, count)
        for _ in range(repeat):
            store.restore()
            ours = measure_python(["-m", "digest", "subscribers", "import", str(path)], folder)
            store.restore()
            config = {"db": store.url, "csv": str(path), "secret": "b" * 48}
            floor = measure_python([str(HERE / "floors.py"), "import", json.dumps(config)], folder)
            row.add(ours.seconds, floor.seconds, ours.peak_mb, floor.peak_mb, (ours.cpu, floor.cpu))
    finally:
        store.drop()
        remove(folder)
    return row


def measure_preview(repeat: int) -> Row:
    """Cold `digest preview --no-screenshots` of a 12-story issue; its floor is a bare Python start."""
    from bench.render import build_project

    row = Row("cold `digest preview --no-screenshots`, 12 stories", "SQLite", "≤ 350 ms", "ms", absolute_aim=0.350)
    row.note = "floor: `python -c pass`; the aim is absolute"
    folder = build_project()
    digest = str(BIN / "digest")
    try:
        measure_process([digest, "articles", "import", "articles.txt"], folder)
        measure_process([digest, "issue", "new", "--date", ISSUE], folder)
        preview = [digest, "preview", ISSUE, "--no-screenshots"]
        measure_process(preview, folder)  # once first: bytecode cached, as an installed package has it
        for _ in range(repeat):
            ours = [measure_process(preview, folder) for _ in range(5)]
            python = [measure_process([PYTHON, "-c", "pass"], folder).seconds for _ in range(5)]
            row.add(statistics.median(m.seconds for m in ours), statistics.median(python))
    finally:
        remove(folder)
    return row


# --- the run --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="100000,1000000", help="send sizes, comma-separated")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--stored", type=int, default=1_000_000, help="events stored before the second ingest run")
    parser.add_argument("--rows", type=int, default=100_000, help="CSV rows to import")
    parser.add_argument("--only", default="send,ingest,import,preview")
    parser.add_argument("--postgres", default=os.environ.get("DIGEST_TEST_DATABASE_URL"))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    only = set(args.only.split(","))
    backends = ["SQLite"] + (["PostgreSQL"] if args.postgres else [])
    print(f"machine: {machine()}")
    print(f"load average at the start: {load_average()}", flush=True)
    if not args.postgres:
        print("PostgreSQL skipped: set DIGEST_TEST_DATABASE_URL (or --postgres) to a database server to compare")
    from bench.fake_servers import SendGridProcess

    rows: list[Row] = []
    server = SendGridProcess()
    steps: list[Callable[[], list[Row]]] = []
    stored = [0, args.stored] if args.stored else [0]
    for kind in backends:
        if "send" in only:
            for size in [int(s) for s in args.sizes.split(",") if s]:
                steps.append(lambda k=kind, n=size: [measure_send(k, n, args.repeat, args.postgres, server)])
        if "ingest" in only:
            steps.append(lambda k=kind: measure_ingest(k, args.events, stored, args.repeat, args.postgres, server))
        if "import" in only:
            steps.append(lambda k=kind: [measure_import(k, args.rows, args.repeat, args.postgres)])
    if "preview" in only:
        steps.append(lambda: [measure_preview(args.repeat)])
    try:
        for step in steps:
            rows.extend(step())
            print(f"  load average now: {load_average()}", flush=True)
    finally:
        server.stop()
    print(f"\nload average at the end: {load_average()}")
    print(table(rows, args.repeat))
    if args.json:
        args.json.write_text(json.dumps([row.__dict__ for row in rows], indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
