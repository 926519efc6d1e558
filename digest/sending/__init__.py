"""Sending: the plan, the ledger and the batches, one module per job.

The guarantee (README, "The send guarantee"): planning writes one delivery row
per (issue, person) in one transaction, unique on (issue, person), so no second
segment or second send can add another copy. A batch is marked ``sending`` in
the database before the provider is called and ``accepted`` after it answers.
After a crash only rows left in ``sending`` are uncertain; they are reported,
reconciled by the provider's events, and sent again only on request
(``--resend-uncertain``). Nobody is skipped silently: every row ends
``accepted``, ``failed`` (with the reason) or ``skipped`` (with the reason).

- ``states``: delivery, batch and send states.
- ``ledger``: the delivery rows; the only code that writes a delivery's state.
- ``plan``: who gets which variant.
- ``variants``: variant keys; the rendered variants frozen for a send.
- ``lock``: one sender per issue.
- ``runner``: batch after batch through a provider (:class:`RunControls`).
- ``schedule``: sends recorded for later.
- ``workflow``: the whole command: check → plan → approve → freeze → run; resume; run-due.
- ``testcopy``: [TEST] copies, outside the ledger.

May import: the base and the packages before it: store, articles, people,
issues, providers.
"""

from __future__ import annotations

from digest.sending.ledger import SendSummary, deliveries_of, list_sends, open_send, sent_issue_ids
from digest.sending.plan import Plan, SegmentPlan, plan_send
from digest.sending.runner import Progress, RunControls, SendOutcome, run_send
from digest.sending.schedule import cancel_send, check_send_time, parse_send_time, schedule_send
from digest.sending.states import BatchState, DeliveryState, SendState
from digest.sending.testcopy import send_test_copies
from digest.sending.variants import freeze_sent, freeze_variants
from digest.sending.workflow import DueResult, resume_send, run_due, start_send

__all__ = [
    "BatchState",
    "DeliveryState",
    "DueResult",
    "Plan",
    "Progress",
    "RunControls",
    "SegmentPlan",
    "SendOutcome",
    "SendState",
    "SendSummary",
    "cancel_send",
    "check_send_time",
    "deliveries_of",
    "freeze_sent",
    "freeze_variants",
    "list_sends",
    "open_send",
    "parse_send_time",
    "plan_send",
    "resume_send",
    "run_due",
    "run_send",
    "schedule_send",
    "send_test_copies",
    "sent_issue_ids",
    "start_send",
]
