"""Ctrl-C during a send: the first finishes the batch in flight, the second stops at once.

A batch handed to the provider whose answer is not recorded is uncertain: the
provider may have taken it. A cut connection can leave one so; the
operator's Ctrl-C need not. So the first Ctrl-C only asks the runner to stop
once the batch in flight is answered and recorded (nothing is left
uncertain), and only a second one stops at once, leaving that batch uncertain;
either way the operator is told exactly where the send stands and what each
way of resuming would do. Before the run has started (checking, planning, the
confirmation) Ctrl-C stops at once: nothing has been handed over yet.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType

from digest.sending.runner import RunControls, SendInterrupted, SendOutcome

FIRST_NOTICE = (
    "\nCtrl-C: finishing the batch in flight, recording it, then stopping "
    "(Ctrl-C again stops at once and leaves that batch uncertain)…"
)


def stop_on_ctrl_c(controls: RunControls) -> Callable[[], None]:
    """Handle SIGINT as above for a run steered by ``controls``; returns what puts the old handler back."""
    previous = signal.getsignal(signal.SIGINT)

    def handler(_signum: int, _frame: FrameType | None) -> None:
        if not controls.started.is_set() or controls.stop.is_set():
            raise KeyboardInterrupt
        controls.stop.set()
        controls.on_notice(FIRST_NOTICE)

    signal.signal(signal.SIGINT, handler)

    def restore() -> None:
        signal.signal(signal.SIGINT, previous)

    return restore


def resume_command(issue_id: str) -> str:
    """The command that continues an issue's send."""
    return f"digest send {issue_id} --resume"


def after_pause(resume: str, outcome: SendOutcome) -> list[str]:
    """What to tell the operator after the first Ctrl-C paused the send; ``resume`` continues it."""
    uncertain = outcome.counts["sending"]
    left = (
        "nothing is uncertain"
        if not uncertain
        else f"{uncertain} deliveries are still uncertain from before (`--resend-uncertain` sends them again)"
    )
    return [
        f"Stopped by Ctrl-C once the batch in flight was answered and recorded: {left}.",
        f"Continue with `{resume}`.",
    ]


def after_interrupt(resume: str, stopped: SendInterrupted) -> list[str]:
    """What to tell the operator after a second Ctrl-C stopped the send at once: exactly what is uncertain."""
    counts = stopped.outcome.counts
    uncertain, pending = counts["sending"], counts["pending"]
    if stopped.in_flight is not None:
        batch, size = stopped.in_flight
        first = (
            f"Stopped at once by a second Ctrl-C: the {size} deliveries of batch {batch} were handed to "
            f"{stopped.provider} and its answer never came, so they are uncertain ({uncertain} uncertain in all)."
        )
    else:
        first = f"Stopped at once by Ctrl-C with no batch in flight ({uncertain} uncertain in all)."
    if not uncertain:
        return [first, f"Continue with `{resume}`."]
    return [
        first,
        f"`{resume}` sends the {pending} still pending and leaves the uncertain ones until {stopped.provider}'s "
        f"events settle them; `{resume} --resend-uncertain` also sends the {uncertain} "
        "uncertain ones again, so whoever already got one gets a second copy.",
    ]


def before_the_run(resume: str, cancel: str = "", listed: str = "") -> str:
    """What to tell the operator after a Ctrl-C before the run started: nothing was handed over."""
    others = f" and `{cancel}` cancels it" if cancel else ""
    shown = f" (`{listed}` shows it)" if listed else ""
    return (
        "Stopped by Ctrl-C before any copy was handed to the provider. If the send was planned already, "
        f"`{resume}` continues it{others}{shown}."
    )
