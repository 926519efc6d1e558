"""The outbox: one .eml file per recipient, the exact bytes SMTP would send.

The default provider, so the whole routine runs without an account. Files are
written atomically and fsynced, named by delivery id (no addresses in names);
copies without one (tests, sign-up confirmations) by time and a random part.
"""

from __future__ import annotations

import time
import uuid

from digest.config import Settings
from digest.files import atomic_write_bytes
from digest.issues.mime import message_bytes
from digest.providers.base import Batch, BatchResult, message_or_reason


class OutboxProvider:
    name = "outbox"
    batch_size = 500
    requests = 0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, batch: Batch) -> BatchResult:
        folder = self.settings.outbox_dir / batch.issue_id
        result = BatchResult()
        for position, recipient in enumerate(batch.recipients):
            message = message_or_reason(self.settings, batch, recipient)
            if isinstance(message, str):
                result.failed[position] = message
                continue
            if recipient.delivery_id is None:
                # Test copies and sign-up confirmations have no delivery id; a random part keeps
                # two from the same second (or from two processes) from overwriting each other.
                name = f"test-{int(time.time())}-{uuid.uuid4().hex[:16]}.eml"
            else:
                name = f"{recipient.delivery_id:08d}.eml"
            atomic_write_bytes(folder / name, message_bytes(message), durable=True)
            result.accepted[position] = str(message["Message-ID"])
            result.where[position] = str(folder / name)
        return result

    def close(self) -> None:
        pass
