"""The process-wide registry token store: credential fingerprints, keys, expiry, bounds, remembered challenges."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from horizon_publisher.clients.registry_auth_client import TokenAnswer
from horizon_publisher.clients.registry_tokens import (
    ANONYMOUS,
    KnownAuth,
    RegistryTokens,
    TokenKey,
    credential_fingerprint,
)

text = st.text(max_size=20)


@given(text, text, text, text)
def test_different_credentials_have_different_fingerprints(user1: str, pw1: str, user2: str, pw2: str) -> None:
    one, two = credential_fingerprint(user1, pw1 or "x"), credential_fingerprint(user2, pw2 or "x")
    assert (one == two) == ((user1, pw1 or "x") == (user2, pw2 or "x"))
    assert ANONYMOUS not in (one, two)


@pytest.mark.parametrize(("user", "password"), [(None, None), ("someone", None), ("someone", ""), (None, "")])
def test_no_password_is_anonymous(user: str | None, password: str | None) -> None:
    assert credential_fingerprint(user, password) == ANONYMOUS


@pytest.mark.parametrize(
    ("one", "two", "same"),
    [
        (("a", "b\0c"), ("a\0b", "c"), False),  # a NUL in either field cannot forge the separator
        (("ab", "c"), ("a", "bc"), False),
        ((None, "pw"), ("", "pw"), True),  # no user name and an empty one are the same Basic identity
    ],
)
def test_fingerprint_edge_cases(one: tuple[str | None, str], two: tuple[str | None, str], same: bool) -> None:
    assert (credential_fingerprint(*one) == credential_fingerprint(*two)) is same


def test_the_fingerprint_does_not_contain_the_secret() -> None:
    fingerprint = credential_fingerprint("robot", "s3cret-password")
    assert "s3cret" not in fingerprint
    assert "s3cret" not in repr(TokenKey("https://r", "realm", "svc", "scope", fingerprint))


def key(scope: str = "repository:a/b:pull", fingerprint: str = "f1", realm: str = "https://t/token") -> TokenKey:
    return TokenKey("https://registry.test", realm, "svc", scope, fingerprint)


def test_tokens_expire_and_are_kept_apart_by_every_key_part() -> None:
    now = [1000.0]
    tokens = RegistryTokens(lambda: now[0])
    tokens.put(key(), TokenAnswer("t1", 60.0), requested_at=1000.0)
    assert tokens.get(key()) == "t1"
    for other in (key(fingerprint="f2"), key(scope="repository:a/c:pull"), key(realm="https://other/token")):
        assert tokens.get(other) is None
    assert tokens.get(TokenKey("https://registry2.test", "https://t/token", "svc", key().scope, "f1")) is None
    now[0] = 1045.0  # 60 s minus the 15 s margin
    assert tokens.get(key()) is None


def test_discard_keeps_a_token_another_thread_put_meanwhile() -> None:
    tokens = RegistryTokens(lambda: 0.0)
    tokens.put(key(), TokenAnswer("new", 60.0), requested_at=0.0)
    tokens.discard(key(), "refused-old")
    assert tokens.get(key()) == "new"
    tokens.discard(key(), "new")
    assert tokens.get(key()) is None


def test_bounded_expired_first_then_least_recently_used() -> None:
    now = [0.0]
    tokens = RegistryTokens(lambda: now[0], max_entries=3)
    tokens.put(key("s1"), TokenAnswer("t1", 600.0), requested_at=0.0)
    tokens.put(key("s2"), TokenAnswer("t2", 4.0), requested_at=0.0)  # usable for 3 s
    tokens.put(key("s3"), TokenAnswer("t3", 600.0), requested_at=0.0)
    now[0] = 10.0
    tokens.put(key("s4"), TokenAnswer("t4", 600.0), requested_at=10.0)  # the expired s2 makes room
    assert [tokens.get(key(s)) for s in ("s1", "s3", "s4")] == ["t1", "t3", "t4"]
    assert tokens.get(key("s3")) == "t3"  # s3 and then s4 used after s1: s1 is least recent
    assert tokens.get(key("s4")) == "t4"
    tokens.put(key("s5"), TokenAnswer("t5", 600.0), requested_at=10.0)
    assert len(tokens) == 3
    assert [tokens.get(key(s)) for s in ("s1", "s3", "s4", "s5")] == [None, "t3", "t4", "t5"]


def test_remembered_challenges_per_registry_and_identity() -> None:
    tokens = RegistryTokens(lambda: 0.0, max_entries=2)
    tokens.remember_auth("https://Registry.test", "f1", KnownAuth("https://t/token", "svc"))
    assert tokens.known_auth("https://registry.test", "f1") == KnownAuth("https://t/token", "svc")
    assert tokens.known_auth("https://registry.test", "f2") is None
    tokens.remember_auth("https://registry.test", "f1", KnownAuth(basic=True))
    assert tokens.known_auth("https://registry.test", "f1") == KnownAuth(basic=True)
    tokens.remember_auth("https://r2.test", "f1", KnownAuth(basic=True))
    tokens.remember_auth("https://r3.test", "f1", KnownAuth(basic=True))  # bounded: the oldest goes
    assert tokens.known_auth("https://registry.test", "f1") is None


@pytest.mark.parametrize(
    ("expires_in", "max_reuse", "usable_until"),
    [
        (3600.0, 300.0, 1300.0),  # a long-lived token is reused for the cap only: revocation shows within it
        (300.0, 300.0, 1270.0),  # the token's own margin is tighter than the cap
        (300.0, 1.0, 1001.0),  # the reliability harness: a new token on every reconcile
    ],
)
def test_reuse_is_capped(expires_in: float, max_reuse: float, usable_until: float) -> None:
    now = [1000.0]
    tokens = RegistryTokens(lambda: now[0], max_reuse_seconds=max_reuse)
    tokens.put(key(), TokenAnswer("t1", expires_in), requested_at=1000.0)
    now[0] = usable_until - 0.01
    assert tokens.get(key()) == "t1"
    now[0] = usable_until
    assert tokens.get(key()) is None
