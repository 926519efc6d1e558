"""Link tokens: one spelling per token, and a signature that binds the subscriber and the delivery."""

from __future__ import annotations

import pytest

from digest.people.links import LinkToken, make_token, read_token, token_maker
from digest.people.subscribers import add_subscriber, get_subscriber
from tests.conftest import SECRET

KEY = SECRET.encode()


def test_a_token_reads_back_as_made() -> None:
    found = read_token(KEY, make_token(KEY, 42, 7))
    assert found is not None and (found.subscriber_id, found.delivery_id) == (42, 7)
    assert read_token(KEY, make_token(KEY, 42)) is not None  # delivery 0: links from web pages and previews


def test_the_send_s_token_maker_makes_the_same_tokens_and_each_reads_back() -> None:
    # 16 bytes of MAC are 22 URL-safe base64 characters; the last holds two bits (A, Q, g or w).
    make = token_maker(KEY)
    tokens = [make(subscriber, 1000 + subscriber) for subscriber in range(1, 400)]
    assert tokens == [make_token(KEY, subscriber, 1000 + subscriber) for subscriber in range(1, 400)]
    assert {token[-1] for token in tokens} == {"A", "Q", "g", "w"}
    assert all(len(token.rsplit(".", 1)[1]) == 22 for token in tokens)
    assert [read_token(KEY, token) for token in tokens] == [
        LinkToken(subscriber, 1000 + subscriber) for subscriber in range(1, 400)
    ]


@pytest.mark.parametrize(
    ("name", "respell"),
    [
        ("leading zero in the subscriber", lambda t: "0" + t),
        ("leading zeros in the delivery", lambda t: t.replace(".7.", ".007.", 1)),
        ("fullwidth digits", lambda t: t.replace("42", "\uff14\uff12", 1)),
        ("Arabic-Indic digits", lambda t: t.replace("42", "\u0664\u0662", 1)),
        ("a trailing newline", lambda t: t + "\n"),
        ("a trailing space", lambda t: t + " "),
        ("a sign", lambda t: "+" + t),
    ],
)
def test_other_spellings_of_a_valid_token_are_refused(name: str, respell) -> None:  # type: ignore[no-untyped-def]
    token = make_token(KEY, 42, 7)
    other = respell(token)
    assert other != token, name
    assert read_token(KEY, other) is None, name


def test_subscriber_zero_is_never_a_token() -> None:
    assert read_token(KEY, make_token(KEY, 0, 7)) is None


def test_swapping_the_subscriber_id_for_another_subscribers_is_refused(web_client, engine, settings) -> None:  # type: ignore[no-untyped-def]
    ann = add_subscriber(engine, settings, "ann@example.org", {}, consent_source="test")
    bob = add_subscriber(engine, settings, "bob@example.org", {}, consent_source="test")
    token = make_token(KEY, ann.id, 3)
    swapped = f"{bob.id}{token[len(str(ann.id)) :]}"
    assert read_token(KEY, swapped) is None
    for path in (f"/unsubscribe/{swapped}", f"/preferences/{swapped}"):
        answer = web_client.post(path, data={"List-Unsubscribe": "One-Click", "action": "unsubscribe"})
        assert answer.status_code == 400, path
    assert get_subscriber(engine, "bob@example.org").status == "active"
    assert get_subscriber(engine, "ann@example.org").status == "active"


@pytest.fixture
def web_client(project, engine):  # type: ignore[no-untyped-def]
    from digest.config import load_settings
    from digest.web import create_app

    return create_app(load_settings(project / "digest.toml"), engine, background=False).test_client()
