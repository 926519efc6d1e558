"""What we post to SendGrid's mail/send: our own check of the documented rules, and SendGrid's schema."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from digest.sending import start_send
from tests.conftest import need_corpus
from tests.fakes.sendgrid import SCHEMA_PATH, _validator, body_problems

SEGMENTS = ["health", "schools", "everyone"]


@pytest.fixture
def sent_body(engine, sg_settings, audience, fake_sendgrid) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    start_send(engine, sg_settings, "2025-04-10", SEGMENTS, provider_name="sendgrid")
    assert fake_sendgrid.rejected == []
    return fake_sendgrid.accepted[0].body


def test_what_we_send_meets_the_documented_rules(sent_body) -> None:  # type: ignore[no-untyped-def]
    assert body_problems(sent_body) == []


def _without(body: dict[str, Any], key: str) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    del changed[key]
    return changed


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda b: _without(b, "from"), "from must be an object with an email"),
        (lambda b: _without(b, "personalizations"), "personalizations must be a non-empty array"),
        (lambda b: {**_without(b, "subject")}, "has no subject"),
        (lambda b: {**b, "content": list(reversed(b["content"]))}, "text/plain must be the first content part"),
        (lambda b: {**b, "personalizations": b["personalizations"] * 1001}, "personalizations; the limit is 1000"),
        (lambda b: {**b, "personalizations": b["personalizations"] * 2}, "appears twice in one request"),
        (lambda b: {**b, "categories": [str(n) for n in range(11)]}, "more than 10 categories"),
        (lambda b: {**b, "custom_args": {"n": 1}}, "custom_args must map strings to strings"),
        (lambda b: {**b, "sender": "x"}, "unknown field 'sender'"),
        (
            lambda b: {**b, "personalizations": [{**b["personalizations"][0], "substitutions": {"k": "v" * 10_001}}]},
            "substitutions of 10",
        ),
    ],
)
def test_the_check_catches_each_broken_rule(sent_body, change, problem: str) -> None:  # type: ignore[no-untyped-def]
    assert any(problem in found for found in body_problems(change(sent_body)))


@pytest.mark.corpus
def test_what_we_send_meets_sendgrids_official_schema(engine, sg_settings, audience, fake_sendgrid) -> None:  # type: ignore[no-untyped-def]
    fake_sendgrid.validator = _validator(need_corpus(SCHEMA_PATH, "SendGrid's mail-send JSON Schema"))
    start_send(engine, sg_settings, "2025-04-10", SEGMENTS, provider_name="sendgrid")
    assert fake_sendgrid.rejected == []
    assert len(fake_sendgrid.accepted) == 3
    assert list(fake_sendgrid.validator.iter_errors({"personalizations": []}))  # the schema itself can refuse
