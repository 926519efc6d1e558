"""The batch runner: every pending delivery of a send, batch by batch, under the issue's lock.

Each batch is claimed in the ledger (committed) before the provider is called,
and its answer is recorded in the same commit as the next claim. The provider
only translates; what its answer means for each row is the ledger's business.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from digest import db
from digest.config import Settings
from digest.errors import NotFoundError, StateError
from digest.links import make_token, token_maker
from digest.personalise import Personal, greeting_name, preferences_url, unsubscribe_url, view_url
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
from digest.render import RenderedEmail, Renderings
from digest.sending import ledger
from digest.sending.lock import acquire_lock, heartbeat, release_lock
from digest.sending.states import DeliveryState, SendState
from digest.sending.variants import freeze_variants


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
    a progress callback and a notice callback for things the operator must be told."""

    stop: threading.Event = field(default_factory=threading.Event)
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
) -> SendOutcome:
    """Send every pending delivery of a send, batch by batch, under the issue's lock."""
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
        variants = freeze_variants(engine, settings, send_id, renderings)
        started = time.perf_counter()
        done = 0
        uncertain_batches = 0
        pipeline = _Pipeline(engine, settings, secret, send, chosen)
        # An answer is recorded in the same commit as the next claim: one commit per batch.
        answered: tuple[int, list[Any], BatchResult] | None = None
        for key, variant in variants.items():
            ahead: _Ahead | None = None
            while True:
                if controls.stop.is_set():
                    _flush(engine, answered)
                    return _finish(
                        engine, send_id, SendState.PAUSED, "paused by the operator", uncertain_batches, chosen
                    )
                with db.write(engine) as conn:
                    if answered is not None:
                        ledger.record_result(conn, *answered)
                        answered = None
                    heartbeat(conn, send.issue_id, holder)
                    rows = ledger.claim_batch(conn, send_id, key, chosen.batch_size)
                if rows is None:
                    break
                batch_id, claimed = rows
                if not claimed:
                    continue
                # Only now, with the claim committed, does the batch go to the provider (in a thread);
                # meanwhile the next rows are read and prepared, and used if the claim finds them unchanged.
                flight = _InFlight(pipeline.deliver, pipeline.take(ahead, variant, claimed))
                ahead = pipeline.read_ahead(key, variant)
                try:
                    result = flight.result()
                except ProviderUncertain as exc:
                    uncertain_batches += 1
                    with db.write(engine) as conn:
                        ledger.mark_batch_uncertain(conn, batch_id, str(exc))
                    notice(f"Batch {batch_id}: {exc}; its {len(claimed)} deliveries are uncertain.")
                    continue
                except ProviderRejected as exc:
                    with db.write(engine) as conn:
                        ledger.fail_batch(conn, batch_id, str(exc))
                    notice(f"Batch {batch_id} failed: {exc}")
                    done += len(claimed)
                    continue
                except (ProviderFatal, ProviderUnavailable) as exc:
                    with db.write(engine) as conn:
                        ledger.return_batch(conn, batch_id, str(exc))
                    state = SendState.FAILED if isinstance(exc, ProviderFatal) else SendState.PAUSED
                    _finish(engine, send_id, state, str(exc), uncertain_batches, chosen)
                    raise
                answered = (batch_id, claimed, result)
                done += len(claimed)
                controls.on_progress(Progress(done, total, time.perf_counter() - started))
        _flush(engine, answered)
        with db.read(engine) as conn:
            counts = ledger.delivery_counts(conn, send_id)
        if counts[DeliveryState.SENDING] or counts[DeliveryState.PENDING]:
            note = f"{counts[DeliveryState.SENDING]} deliveries uncertain"
            return _finish(engine, send_id, SendState.PAUSED, note, uncertain_batches, chosen)
        return _finish(engine, send_id, SendState.DONE, "", uncertain_batches, chosen)
    finally:
        release_lock(engine, send.issue_id, holder)
        chosen.close()


def _finish(
    engine: Engine, send_id: int, state: SendState, note: str, uncertain_batches: int, provider: Provider
) -> SendOutcome:
    with db.write(engine) as conn:
        ledger.set_send_state(conn, send_id, state, note)
        counts = ledger.delivery_counts(conn, send_id)
    return SendOutcome(send_id, state, counts, uncertain_batches, note, provider.requests)


def _recipients(settings: Settings, secret: bytes, issue_id: str, rows: Sequence[Any]) -> list[Recipient]:
    """The claimed rows as recipients: the same values as :func:`personal_values`, worked out once per batch
    where they are shared (the links' stems, the issue's page), once per row where they are not."""
    unsubscribe, preferences = unsubscribe_url(settings, ""), preferences_url(settings, "")
    view = view_url(settings, issue_id)
    sign = token_maker(secret)
    out = []
    for row in rows:
        first, last = row.first_name, row.last_name
        token = sign(row.subscriber_id, row.id)
        personal = Personal(unsubscribe + token, preferences + token, view, greeting_name(first), token)
        out.append(Recipient(row.id, row.email, f"{first} {last}".strip() if last else first, personal))
    return out


@dataclass
class _Ahead:
    """The next rows of a variant, read (not claimed) and prepared while the provider works."""

    rows: list[tuple[Any, ...]]
    prepared: Any


class _Pipeline:
    """Batches made ready for the provider: from claimed rows, or ahead of the claim."""

    def __init__(self, engine: Engine, settings: Settings, secret: bytes, send: Any, provider: Provider) -> None:
        self.engine = engine
        self.settings = settings
        self.secret = secret
        self.send = send
        self.provider = provider
        prepare, deliver = getattr(provider, "prepare", None), getattr(provider, "deliver", None)
        # A provider that splits its work (SendGrid: the body, then the request) is prepared ahead
        # in full; any other gets its recipients ready and does all of its sending in the thread.
        self.pipelined = callable(prepare) and callable(deliver)

    def batch(self, variant: RenderedEmail, rows: Sequence[Any]) -> Batch:
        send = self.send
        return Batch(
            issue_id=send.issue_id,
            send_id=send.id,
            variant=variant,
            recipients=_recipients(self.settings, self.secret, send.issue_id, rows),
            send_at=send.scheduled_at if send.provider_batch_id else None,
            provider_batch_id=send.provider_batch_id,
        )

    def prepare(self, batch: Batch) -> Any:
        return self.provider.prepare(batch) if self.pipelined else batch  # type: ignore[attr-defined]

    def deliver(self, prepared: Any) -> BatchResult:
        if self.pipelined:
            return self.provider.deliver(prepared)  # type: ignore[attr-defined]
        return self.provider.send(prepared)

    def take(self, ahead: _Ahead | None, variant: RenderedEmail, claimed: list[Any]) -> Any:
        """The prepared batch for the claimed rows: the one made ahead if the rows are the same."""
        if ahead is not None and ahead.rows == [tuple(row) for row in claimed]:
            return ahead.prepared
        return self.prepare(self.batch(variant, claimed))

    def read_ahead(self, key: str, variant: RenderedEmail) -> _Ahead | None:
        """The rows the next claim will most likely take, prepared; None if there are none (or no read)."""
        try:
            with db.read(self.engine) as conn:
                rows = ledger.next_pending(conn, self.send.id, key, self.provider.batch_size)
        except sa.exc.SQLAlchemyError:
            return None  # only a head start: the claim reads again, and reports any error
        usable = [row for row in rows if row.status == "active" and not row.suppressed]
        if not usable:
            return None
        return _Ahead([tuple(row) for row in usable], self.prepare(self.batch(variant, usable)))


class _InFlight:
    """One provider call in a thread of its own, so the runner can prepare the next batch meanwhile.

    A daemon thread: a second Ctrl-C ends the process at once, as before, leaving this batch uncertain.
    """

    def __init__(self, call: Callable[[Any], BatchResult], prepared: Any) -> None:
        self._result: BatchResult | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(call, prepared), name="digest-send", daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[Any], BatchResult], prepared: Any) -> None:
        try:
            self._result = call(prepared)
        except BaseException as exc:  # handed to the runner's thread, which decides
            self._error = exc

    def result(self) -> BatchResult:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def _flush(engine: Engine, answered: tuple[int, list[Any], BatchResult] | None) -> None:
    if answered is not None:
        with db.write(engine) as conn:
            ledger.record_result(conn, *answered)
