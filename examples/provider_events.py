"""Stand in for the provider in the demo: write the events SendGrid's webhook would post.

Reads the demo's outbox (one .eml per delivery, each naming its delivery in
X-Digest-Delivery) and writes a JSON array of Event Webhook payloads:
everyone delivered, some opens (one by a mail scanner) and clicks, one hard
bounce, one spam complaint and one unsubscribe. Invented, for the demo only.

Usage: python examples/provider_events.py OUTBOX_FOLDER OUT.json
"""

from __future__ import annotations

import email
import json
import sys
import time
from email import policy
from pathlib import Path


def main(folder: Path, out: Path) -> None:
    deliveries = []
    for path in sorted(folder.glob("[0-9]*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        story = next(
            (
                line.split("] ", 1)[1]
                for line in message.get_body(preferencelist=("plain",)).get_content().splitlines()
                if line.startswith("[1] ")
            ),
            "",
        )
        deliveries.append((message["X-Digest-Delivery"], message["To"].addresses[0].addr_spec, story))
    now = int(time.time())
    events = []

    def add(number: int, kind: str, **extra: object) -> None:
        delivery, address, _story = deliveries[number % len(deliveries)]
        events.append(
            {
                "email": address,
                "timestamp": now,
                "event": kind,
                "sg_event_id": f"demo-{kind}-{number}",
                "sg_message_id": f"demo{delivery}.filter0.0",
                "delivery_id": delivery,
                "issue_id": folder.name,
                **extra,
            }
        )

    for number in range(len(deliveries)):
        if number == 1:
            add(number, "bounce", type="bounce", status="5.1.1", reason="550 5.1.1 The email account does not exist")
        else:
            add(number, "delivered", response="250 2.0.0 OK")
    for number in (0, 2, 3):
        add(number, "open", sg_machine_open=False)
    add(4, "open", sg_machine_open=True)
    for number in (0, 3):
        add(number, "click", url=deliveries[number][2])
    add(5, "spamreport")
    add(2, "unsubscribe")
    out.write_text(json.dumps(events, indent=1), encoding="utf-8")
    print(f"wrote {len(events)} events for {len(deliveries)} deliveries to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
