"""The states of deliveries, batches and sends, as the ledger stores them.

Three different things, three types: a delivery is one person's copy, a batch
one provider request, a send one run of an issue to its segments. Their values
are the strings stored in the database (and shown by `digest sends`).
"""

from __future__ import annotations

from enum import StrEnum


class DeliveryState(StrEnum):
    """One person's copy of an issue."""

    PENDING = "pending"  # planned, not yet handed to the provider
    SENDING = "sending"  # handed over; the answer is not recorded yet (uncertain after a crash)
    ACCEPTED = "accepted"  # the provider took it
    FAILED = "failed"  # refused, with the reason
    SKIPPED = "skipped"  # not sent on purpose, with the reason (unsubscribed meanwhile, …)


class BatchState(StrEnum):
    """One request to the provider."""

    SENDING = "sending"
    ACCEPTED = "accepted"
    PARTIAL = "partial"
    FAILED = "failed"
    UNCERTAIN = "uncertain"  # no answer in time: the provider may or may not have taken it
    NOT_TAKEN = "not-taken"  # uncertain, then shown never taken (see ledger.release_silent_batches)


class SendState(StrEnum):
    """One run of an issue to its segments."""

    SCHEDULED = "scheduled"  # recorded for later; `digest run-due` starts it
    PLANNED = "planned"  # deliveries written, nothing sent yet
    SENDING = "sending"  # batches going out
    PAUSED = "paused"  # stopped by the operator, or uncertain deliveries remain; --resume continues
    DONE = "done"
    FAILED = "failed"  # the provider refused us (credentials); --resume after fixing it
    CANCELLED = "cancelled"


# Sends that still hold the issue: a new send of it must wait for these.
OPEN_SEND_STATES = (SendState.PLANNED, SendState.SENDING, SendState.PAUSED, SendState.SCHEDULED)
