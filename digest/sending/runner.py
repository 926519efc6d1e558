"""The batch runner: every pending delivery of a send, batch by batch, under the issue's lock.

Each batch is claimed in the ledger (committed) before the provider is called,
and its answer is recorded after the provider answers: on SQLite in the same
commit as the next claim, on PostgreSQL on a connection of its own while the
next batch is claimed and sent. The provider only translates; what its answer
means for each row is the ledger's business.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from digest.config import Settings
from digest.errors import NotFoundError, StateError
from digest.issues.personalise import Personal, greeting_name, preferences_url, unsubscribe_url, view_url
from digest.issues.render import RenderedEmail, Renderings
from digest.people.links import make_token, token_maker
from digest.providers.base import (
    Batch,
    BatchResult,
    Provider,
    ProviderFatal,
    ProviderRejected,
    ProviderUnavailable,
    ProviderUncertain,
    Recipient,
    make_provider,
)
from digest.sending import ledger
from digest.sending.lock import acquire_lock, heartbeat, release_lock, require_lock
from digest.sending.states import DeliveryState, SendState
from digest.sending.variants import freeze_variants
from digest.store import db

QUICK_SWITCH_SECONDS = 0.0005
STOPPED_AT_ONCE = "stopped at once by a second Ctrl-C"


@dataclass
class Progress:
    done: int
    total: int
    elapsed: float

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        return (self.total - self.done) / self.rate if self.rate > 0 else None


def _ignore(_value: Any) -> None:
    pass


@dataclass
class RunControls:
    """How the caller steers and watches a run: a stop flag (pause after the batch in flight),
    a progress callback and a notice callback for things the operator must be told.

    A KeyboardInterrupt during the run (the operator's second Ctrl-C, see
    :mod:`digest.sending.ctrlc`) records every answer already heard, pauses the
    send and is raised again as :class:`SendInterrupted`, naming the batch it left in flight."""

    stop: threading.Event = field(default_factory=threading.Event)
    # Set once the run is under way (locked, marked sending): a Ctrl-C then waits for the batch in flight.
    started: threading.Event = field(default_factory=threading.Event)
    on_progress: Callable[[Progress], None] = _ignore
    on_notice: Callable[[str], None] = _ignore


@dataclass
class SendOutcome:
    send_id: int
    state: SendState
    counts: dict[str, int]
    uncertain_batches: int = 0
    message: str = ""
    requests: int = 0
    issue_id: str = ""


class SendInterrupted(KeyboardInterrupt):
    """The run stopped at once (the operator's second Ctrl-C): where the send stands, and the batch left
    in flight (see :mod:`digest.sending.ctrlc`)."""

    def __init__(self, outcome: SendOutcome, in_flight: tuple[int, int] | None, provider: str) -> None:
        super().__init__(STOPPED_AT_ONCE)
        self.outcome = outcome
        self.in_flight = in_flight  # (batch id, deliveries) handed over, unanswered
        self.provider = provider


def personal_values(
    settings: Settings, secret: bytes, issue_id: str, subscriber_id: int, delivery_id: int, first_name: str
) -> Personal:
    """One reader's links and greeting: the values the variant's placeholders take."""
    token = make_token(secret, subscriber_id, delivery_id)
    return Personal(
        unsubscribe_url=unsubscribe_url(settings, token),
        preferences_url=preferences_url(settings, token),
        view_url=view_url(settings, issue_id),
        greeting_name=greeting_name(first_name),
        token=token,
    )


def run_send(
    engine: Engine,
    settings: Settings,
    send_id: int,
    *,
    provider: Provider | None = None,
    resume: bool = False,
    resend_uncertain: bool = False,
    controls: RunControls | None = None,
    renderings: Renderings | None = None,
    variants: dict[str, RenderedEmail] | None = None,
) -> SendOutcome:
    """Send every pending delivery of a send, batch by batch, under the issue's lock.

    ``variants``: the send's frozen variants when the caller has just frozen them.
    """
    controls = controls or RunControls()
    notice = controls.on_notice
    secret = settings.require_secret_key()
    with db.read(engine) as conn:
        send = conn.execute(sa.select(db.sends).where(db.sends.c.id == send_id)).first()
    if send is None:
        raise NotFoundError(f"no send #{send_id}")
    if send.state in (SendState.DONE, SendState.CANCELLED):
        raise StateError(f"send #{send_id} of issue {send.issue_id} is {send.state}")
    chosen = provider or make_provider(settings, send.provider)
    holder = acquire_lock(engine, send.issue_id, send_id, take_over_stale=resume, on_take_over=notice)
    answers = _Answers(engine, send.issue_id, holder)
    requests = _Requests(chosen, threaded=answers.threaded)
    switch_interval = sys.getswitchinterval()
    in_flight: tuple[int, int] | None = None  # (batch id, deliveries) handed to the provider, not yet answered
    if answers.threaded:
        # The thread preparing a request holds the GIL for its whole batch; by default the runner's thread,
        # back from the database, would wait up to 5 ms for it after every statement of the claim.
        sys.setswitchinterval(QUICK_SWITCH_SECONDS)
    try:
        with db.write(engine) as conn:
            if resume:
                quiet = timedelta(minutes=settings.sendgrid.uncertain_quiet_minutes)
                for silent in ledger.release_silent_batches(conn, send_id, quiet):
                    notice(
                        f"Batch {silent.batch_id}: no event for any of its {silent.size} recipients in {quiet}, "
                        "while the send's other batches had theirs; the provider never took it, so it is sent again."
                    )
            uncertain = ledger.count_uncertain(conn, send_id)
            if uncertain and resend_uncertain:
                ledger.requeue_uncertain(conn, send_id)
                notice(f"{uncertain} uncertain deliveries will be sent again (--resend-uncertain).")
            elif uncertain:
                notice(
                    f"{uncertain} deliveries were being sent when an earlier run stopped; they stay uncertain "
                    "until the provider's events settle them, or --resend-uncertain sends them again."
                )
            ledger.mark_send_started(conn, send_id)
            total = ledger.count_pending(conn, send_id)
        controls.started.set()
        if variants is None:
            variants = freeze_variants(engine, settings, send_id, renderings)
        started = time.perf_counter()
        done = 0
        uncertain_batches = 0
        for key, variant in variants.items():
            # One maker of requests per variant, and the claim's hook that starts one ahead (PostgreSQL).
            make = functools.partial(_batch, settings, secret, send, variant)
            start_ahead = requests.starter(make)
            while True:
                if controls.stop.is_set():
                    answers.flush()
                    return _finish(engine, send, SendState.PAUSED, "paused by the operator", uncertain_batches, chosen)
                with db.write(engine) as conn:
                    answers.record_held(conn)
                    heartbeat(conn, send.issue_id, holder)
                    rows = ledger.claim_batch(conn, send_id, key, chosen.batch_size, on_claim=start_ahead)
                answers.held_recorded()
                if rows is None:
                    break
                batch_id, claimed = rows
                if not claimed:
                    continue
                in_flight = (batch_id, len(claimed))
                try:
                    # Only now, with the claim committed, does the batch go to the provider.
                    result = requests.send(make, claimed)
                    in_flight = None
                except ProviderUncertain as exc:
                    in_flight = None
                    uncertain_batches += 1
                    with db.write(engine) as conn:
                        ledger.mark_batch_uncertain(conn, batch_id, str(exc))
                    notice(f"Batch {batch_id}: {exc}; its {len(claimed)} deliveries are uncertain.")
                    continue
                except ProviderRejected as exc:
                    in_flight = None
                    with db.write(engine) as conn:
                        ledger.fail_batch(conn, batch_id, str(exc))
                    notice(f"Batch {batch_id} failed: {exc}")
                    done += len(claimed)
                    continue
                except (ProviderFatal, ProviderUnavailable) as exc:
                    in_flight = None
                    answers.flush()
                    with db.write(engine) as conn:
                        ledger.return_batch(conn, batch_id, str(exc))
                    state = SendState.FAILED if isinstance(exc, ProviderFatal) else SendState.PAUSED
                    _finish(engine, send, state, str(exc), uncertain_batches, chosen)
                    raise
                answers.add((batch_id, claimed, result))
                done += len(claimed)
                controls.on_progress(Progress(done, total, time.perf_counter() - started))
        answers.flush()
        return _finish_run(engine, send, uncertain_batches, chosen)
    except KeyboardInterrupt:
        # Stopped at once: what was answered is recorded; only the batch in flight (if any) stays uncertain.
        answers.flush()
        outcome = _finish(engine, send, SendState.PAUSED, STOPPED_AT_ONCE, 0, chosen)
        raise SendInterrupted(outcome, in_flight, chosen.name) from None
    finally:
        requests.close()
        answers.close()
        sys.setswitchinterval(switch_interval)
        release_lock(engine, send.issue_id, holder)
        chosen.close()


def _finish(
    engine: Engine, send: Any, state: SendState, note: str, uncertain_batches: int, provider: Provider
) -> SendOutcome:
    with db.write(engine) as conn:
        ledger.set_send_state(conn, send.id, state, note)
        counts = ledger.delivery_counts(conn, send.id)
    return SendOutcome(send.id, state, counts, uncertain_batches, note, provider.requests, send.issue_id)


def _batch(settings: Settings, secret: bytes, send: Any, variant: RenderedEmail, rows: Sequence[Any]) -> Batch:
    """The provider's batch for claimed rows of one variant."""
    return Batch(
        issue_id=send.issue_id,
        send_id=send.id,
        variant=variant,
        recipients=_recipients(settings, secret, send.issue_id, rows),
        send_at=send.scheduled_at if send.provider_batch_id else None,
        provider_batch_id=send.provider_batch_id,
    )


def _finish_run(engine: Engine, send: Any, uncertain_batches: int, provider: Provider) -> SendOutcome:
    """Every batch done: the send is done, or paused while rows are uncertain or pending.

    One count of the send's rows decides the state and is the outcome's (a count costs a
    scan of them all: a million rows at the end of a million-reader send).
    """
    with db.write(engine) as conn:
        counts = ledger.delivery_counts(conn, send.id)
        state, note = SendState.DONE, ""
        if counts[DeliveryState.SENDING] or counts[DeliveryState.PENDING]:
            state, note = SendState.PAUSED, f"{counts[DeliveryState.SENDING]} deliveries uncertain"
        ledger.set_send_state(conn, send.id, state, note)
    return SendOutcome(send.id, state, counts, uncertain_batches, note, provider.requests, send.issue_id)


def _recipients(settings: Settings, secret: bytes, issue_id: str, rows: Sequence[Any]) -> list[Recipient]:
    """The claimed rows as recipients: the same values as :func:`personal_values`, worked out once per batch
    where they are shared (the links' stems, the issue's page), once per row where they are not."""
    unsubscribe, preferences = unsubscribe_url(settings, ""), preferences_url(settings, "")
    view = view_url(settings, issue_id)
    sign = token_maker(secret)
    out = []
    # Unpacked, not read by name: a thousand rows' attribute look-ups cost more than their tokens.
    for delivery_id, subscriber_id, email, first, last, *_rest in rows:
        token = sign(subscriber_id, delivery_id)
        personal = Personal(unsubscribe + token, preferences + token, view, greeting_name(first), token)
        out.append(Recipient(delivery_id, email, f"{first} {last}".strip() if last else first, personal))
    return out


Answered = tuple[int, list[Any], BatchResult]


def _record(engine: Engine, answered: Answered, lock: tuple[str, str] | None = None) -> None:
    """Record an answer in a transaction of its own; with ``lock`` (issue, holder), only while it is held."""
    with db.write(engine) as conn:
        if lock is not None:
            require_lock(conn, *lock)
        ledger.record_result(conn, *answered)


class _Answers:
    """Where a batch's answer waits between the provider's reply and its record in the ledger.

    SQLite has one writer: the answer is held and recorded in the same commit
    as the next claim (one commit per batch). PostgreSQL writes on several
    connections at once: the answer is recorded at once on a connection of its
    own, in a thread, while the runner claims, prepares and posts the next
    batch, so the server's work on the one overlaps the runner's on the other.
    Either way a row is recorded only after its answer, one answer at a time,
    in order, and only by the holder of the issue's lock: a sender whose lock
    was taken over records nothing more (its batch in flight stays uncertain).
    """

    def __init__(self, engine: Engine, issue_id: str, holder: str) -> None:
        self.engine = engine
        self.lock = (issue_id, holder)
        self._held: Answered | None = None
        self.threaded = engine.dialect.name == "postgresql"
        self._pool: ThreadPoolExecutor | None = None
        self._recording: Future[None] | None = None

    def add(self, answered: Answered) -> None:
        """A provider's answer, to be recorded (a failure to record the one before is raised here)."""
        if not self.threaded:
            self._held = answered
            return
        self._wait()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="digest-record")
        self._recording = self._pool.submit(_record, self.engine, answered, self.lock)

    def record_held(self, conn: Connection) -> None:
        """Record the held answer in ``conn``'s transaction (the next claim's), if one is held.

        It stays held until :meth:`held_recorded` says that transaction committed: recording
        it again is harmless (only rows still ``sending`` change), losing it is not.
        """
        if self._held is not None:
            ledger.record_result(conn, *self._held)

    def held_recorded(self) -> None:
        """The transaction that recorded the held answer has committed."""
        self._held = None

    def flush(self) -> None:
        """Every answer so far recorded and committed (raises if recording one failed)."""
        self._wait()
        if self._held is not None:
            _record(self.engine, self._held)
            self._held = None

    def close(self) -> None:
        """At the end of a run: the thread's record finished (it may still be under way when an error ends it)."""
        if self._pool is None:
            return
        # Every way out that is not an error has flushed already; after an error, that error is
        # the one to report, and a batch whose record failed too stays uncertain.
        with contextlib.suppress(Exception):
            self._wait()
        self._pool.shutdown()

    def _wait(self) -> None:
        # Forgotten only once it is done: a Ctrl-C while waiting leaves it for the next wait.
        if self._recording is not None:
            self._recording.result()
            self._recording = None


class _Requests:
    """The provider's requests for claimed rows, and sending them.

    On PostgreSQL a claim is written (a batch row, a range UPDATE, the commit)
    while a thread makes the batch and, for a provider that splits its work
    (SendGrid: encode the body, then post it), encodes the request: the rows
    handed over just before the claim is written are the ones it returns. The
    request goes out only from :meth:`send`, after the claim is committed.
    """

    def __init__(self, provider: Provider, *, threaded: bool) -> None:
        self.provider = provider
        prepare, deliver = getattr(provider, "prepare", None), getattr(provider, "deliver", None)
        self._split = callable(prepare) and callable(deliver)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="digest-prepare") if threaded else None
        self._ahead: tuple[list[Any], Future[Any]] | None = None

    def starter(self, make: Callable[[list[Any]], Batch]) -> Callable[[list[Any]], None] | None:
        """What the claim calls with the rows it is about to write (None: nothing to start)."""
        if self._pool is None:
            return None
        pool = self._pool

        def start(rows: list[Any]) -> None:
            self._ahead = (rows, pool.submit(self._prepare, make, rows))

        return start

    def send(self, make: Callable[[list[Any]], Batch], rows: list[Any]) -> BatchResult:
        """Send the claimed ``rows`` (with the request made for them ahead, if it was)."""
        ahead, self._ahead = self._ahead, None
        prepared = ahead[1].result() if ahead is not None and ahead[0] is rows else self._prepare(make, rows)
        if self._split:
            return self.provider.deliver(prepared)  # type: ignore[attr-defined]
        return self.provider.send(prepared)

    def _prepare(self, make: Callable[[list[Any]], Batch], rows: list[Any]) -> Any:
        batch = make(rows)
        return self.provider.prepare(batch) if self._split else batch  # type: ignore[attr-defined]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
