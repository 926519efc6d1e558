"""The outbox: one .eml file per recipient, the exact bytes SMTP would send.

The default provider, so the whole routine runs without an account. Files are
written atomically and fsynced, named by delivery id (no addresses in names).
"""

from __future__ import annotations

import itertools
import time

from digest.config import Settings
from digest.files import atomic_write_bytes
from digest.mime import message_bytes
from digest.providers.base import Batch, BatchResult, recipient_message


class OutboxProvider:
    name = "outbox"
    batch_size = 500
    requests = 0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._test_counter = itertools.count(1)

    def send(self, batch: Batch) -> BatchResult:
        folder = self.settings.outbox_dir / batch.issue_id
        result = BatchResult()
        for position, recipient in enumerate(batch.recipients):
            message = recipient_message(self.settings, batch, recipient)
            if recipient.delivery_id is None:
                name = f"test-{int(time.time())}-{next(self._test_counter)}.eml"
            else:
                name = f"{recipient.delivery_id:08d}.eml"
            atomic_write_bytes(folder / name, message_bytes(message), durable=True)
            result.accepted[position] = str(message["Message-ID"])
            result.where[position] = str(folder / name)
        return result

    def close(self) -> None:
        pass
