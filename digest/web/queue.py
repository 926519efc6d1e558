"""The sign-up confirmations' queue, worked by one background thread per `digest serve` process.

The sign-up form only queues a request (the same work for every address); this
thread mails the confirmations (:func:`digest.people.signups.send_queued`) as soon as
it is woken, looks again every ``interval`` seconds for requests queued by
other processes, and purges expired requests and spent rate-limit counts.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.engine import Engine

from digest.config import Settings
from digest.people import signups

log = logging.getLogger("digest.web")
PURGE_EVERY_SECONDS = 600.0


class ConfirmationQueue:
    """Started on first use (or by `digest serve`); ``enabled=False`` leaves the work to the caller (tests)."""

    def __init__(self, engine: Engine, settings: Settings, *, enabled: bool = True, interval: float = 30.0) -> None:
        self.engine = engine
        self.settings = settings
        self.enabled = enabled
        self.interval = interval
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._last_purge = 0.0

    def start(self) -> None:
        if not self.enabled:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="digest-confirmations", daemon=True)
                self._thread.start()

    def wake(self) -> None:
        """A request was queued: mail it now rather than at the next look."""
        self.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.work()
            except Exception:  # the thread must outlive a database hiccup; the next pass retries
                log.exception("sign-up confirmations: a pass failed")

    def work(self) -> None:
        """One pass: mail what is queued, and purge now and then."""
        signups.send_queued(self.engine, self.settings)
        if time.monotonic() - self._last_purge > PURGE_EVERY_SECONDS:
            signups.purge(self.engine)
            self._last_purge = time.monotonic()
