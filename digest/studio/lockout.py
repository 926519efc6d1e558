"""Wrong studio passwords, counted per client network: guessing stays slow, and every lock ends.

A client is an IPv4 address or an IPv6 /64 (:func:`digest.people.ratelimit.client_network`):
a machine on IPv6 is usually given a whole /64 and can send from any address in
it, so counting single IPv6 addresses would let it guess without end. After
``attempts`` wrong passwords within ``window`` seconds, that network's tries
are refused until the oldest of them is ``window`` seconds old. A refused try
is not counted, so nobody can stretch a lock: it ends at most ``window``
seconds after the last wrong password that was checked. People behind one NAT
share an address, and so share the count: someone guessing there gets
``attempts`` tries per ``window``, and costs a colleague on the same address a
wait of at most ``window`` seconds when they next log in (a browser already
logged in is not asked again).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from digest.people.ratelimit import client_network

LOGIN_ATTEMPTS = 5  # wrong passwords allowed per client network per LOGIN_WINDOW seconds
LOGIN_WINDOW = 300.0


class LoginThrottle:
    """Wrong passwords per client network, within a sliding window (in memory: one studio process)."""

    def __init__(
        self, attempts: int = LOGIN_ATTEMPTS, window: float = LOGIN_WINDOW, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.attempts = attempts
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def attempt(self, client: str, correct: bool) -> bool | None:
        """Record a try from ``client`` (an address) that was ``correct`` or not; None when it is refused unseen."""
        network = client_network(client)
        now = self.clock()
        with self._lock:
            failures = self._failures.setdefault(network, deque())
            while failures and now - failures[0] > self.window:
                failures.popleft()
            if len(failures) >= self.attempts:
                return None
            if correct:
                del self._failures[network]
                return True
            failures.append(now)
            return False
