"""Run the fake SendGrid or an aiosmtpd server in its own process, for benchmarks.

The sender under test then has the machine's other core to itself, as it
would against the real service.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


class CountingList(list):  # type: ignore[type-arg]
    """Stands in for the fake's list of accepted requests: counts recipients, keeps no bodies.

    A million recipients' bodies (the content 1,000 times over, parsed) would
    not fit in memory; the counts are all a benchmark checks.
    """

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def append(self, item: object) -> None:
        self.counts.update(email.lower() for email in item.recipients())  # type: ignore[attr-defined]

    def clear(self) -> None:
        self.counts.clear()


def _sendgrid_main(queue: multiprocessing.Queue, counts: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    from tests.fakes import sendgrid as fake_module

    fake = fake_module.FakeSendGrid(validate=False)
    accepted = CountingList()
    fake.accepted = accepted
    fake_module.start(fake)
    queue.put(fake.url)
    while True:
        command = counts.get()
        if command == "stop":
            return
        if command == "reset":
            with fake.lock:
                fake.accepted.clear()
                fake.requests = 0
            queue.put("{}")
            continue
        counter = accepted.counts
        queue.put(
            json.dumps(
                {
                    "requests": fake.requests,
                    "recipients": sum(counter.values()),
                    "distinct": len(counter),
                    "max_per_address": max(counter.values(), default=0),
                }
            )
        )


class SendGridProcess:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.out: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
        self.commands: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
        self.process = context.Process(target=_sendgrid_main, args=(self.out, self.commands), daemon=True)
        self.process.start()
        self.url = self.out.get(timeout=30)

    def reset(self) -> None:
        self.commands.put("reset")
        self.out.get(timeout=60)

    def stats(self) -> dict[str, int]:
        self.commands.put("stats")
        return json.loads(self.out.get(timeout=60))

    def stop(self) -> None:
        self.commands.put("stop")
        self.process.join(timeout=10)


def _smtp_main(queue: multiprocessing.Queue, commands: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    from tests.fakes import smtp as fake_smtp

    handler = fake_smtp.RecordingHandler()
    controller = fake_smtp.start(handler)
    queue.put(controller.port)
    while True:
        command = commands.get()
        if command == "stop":
            controller.stop()
            return
        queue.put(len(handler.messages))
        handler.messages.clear()


class SmtpProcess:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.out: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
        self.commands: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
        self.process = context.Process(target=_smtp_main, args=(self.out, self.commands), daemon=True)
        self.process.start()
        self.port = self.out.get(timeout=30)
        time.sleep(0.2)

    def received(self) -> int:
        self.commands.put("count")
        return int(self.out.get(timeout=60))

    def stop(self) -> None:
        self.commands.put("stop")
        self.process.join(timeout=10)
