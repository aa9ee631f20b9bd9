"""How many Exchange calls KeyPublished and CredentialsPublished make: none to read what this pass just
created, none to re-read what an earlier pass confirmed (until the audit is due), and a read again after
anything failed half way."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from horizon_publisher.clients.exchange import ExchangeEndpoint, ExchangeError
from horizon_publisher.desired.kube_objects import Owner
from horizon_publisher.reconcile.exchange_memory import ExchangeMemory
from horizon_publisher.reconcile.publication_steps import Image, PublicationContext, credentials_step, key_step
from horizon_publisher.reconcile.steps import Progress
from horizon_publisher.signing import generate_signing_key, load_signing_key

SID = "com.example.svc_1.0.0_amd64"
HOST = "registry.example.com"


@pytest.fixture(scope="module")
def key() -> Any:
    private_pem, certificate_pem = generate_signing_key(bits=1024, organization="o", common_name="cn")
    return load_signing_key(private_pem, certificate_pem)


@dataclass
class FakeExchange:
    """One service's keys and dockauths; every call recorded as ``METHOD what``."""

    keys: set[str] = field(default_factory=set)
    dockauths: dict[int, tuple[str, str, str]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    fail_posts: bool = False
    next_id: int = 100
    endpoint: ExchangeEndpoint = field(default_factory=lambda: ExchangeEndpoint("https://x/v1", "o", "u", "p"))

    def get_service_keys(self, sid: str) -> list[str]:
        self.calls.append("GET keys")
        return sorted(self.keys)

    def put_service_key(self, sid: str, key_id: str, pem: str) -> None:
        self.calls.append("PUT key")
        self.keys.add(key_id)

    def delete_service_key(self, sid: str, key_id: str) -> bool:
        self.calls.append("DELETE key")
        return self.keys.discard(key_id) is None

    def list_dockauths(self, sid: str) -> list[dict[str, Any]]:
        self.calls.append("GET dockauths")
        return [{"dockAuthId": i, "registry": r, "username": u, "token": t} for i, (r, u, t) in self.dockauths.items()]

    def add_dockauth(self, sid: str, registry: str, username: str, token: str) -> int:
        self.calls.append("POST dockauth")
        if self.fail_posts:
            raise ExchangeError("HTTP 503")
        self.next_id += 1
        self.dockauths[self.next_id] = (registry, username, token)
        return self.next_id

    def delete_dockauth(self, sid: str, dockauth_id: int) -> bool:
        self.calls.append("DELETE dockauth")
        return self.dockauths.pop(dockauth_id, None) is not None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def one_pass(exchange: FakeExchange, key: Any, token: str, status: dict[str, Any], memory: ExchangeMemory | None,
             *, created: bool = False) -> tuple[list[str], dict[str, Any]]:  # fmt: skip
    """KeyPublished then CredentialsPublished for one amd64 service; the calls and the status they leave."""
    exchange.calls.clear()
    progress = Progress(("Ready", "KeyPublished", "CredentialsPublished"))
    progress.status["services"] = [{"arch": "amd64", "id": SID, "dockAuths": status.get("dockAuths", [])}]
    ctx = PublicationContext(
        None,  # type: ignore[arg-type]
        exchange,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        Owner("ns", "pub", "uid"),
        {"exchange": {"org": "o"}},
        {"signing": {"publishedKeyIds": status.get("keys", [])}},
        datetime(2026, 11, 28, tzinfo=UTC),
        progress,
        images=[Image("img", ["c"], HOST, {"amd64": f"{HOST}/p/i@sha256:1"}, ("sa", token), "")],
        arches=["amd64"],
        key=key,
        service_ids={"amd64": SID},
        created={"amd64"} if created else set(),
        memory=memory,
    )
    try:
        key_step(ctx)
        credentials_step(ctx)
    except ExchangeError:
        pass
    services = progress.status["services"][0]
    return list(exchange.calls), {"dockAuths": services.get("dockAuths", []), "keys": [key.key_id]}


def test_a_created_service_is_written_without_reads(key: Any) -> None:
    calls, _ = one_pass(FakeExchange(), key, "t1", {}, ExchangeMemory(), created=True)
    assert calls == ["PUT key", "POST dockauth"]  # what hzn does after its GET: key PUT, dockauth POST


CASES = {
    # name: (advance clock s, token of the second pass, expected calls of the second pass)
    "steady, memory fresh": (30.0, "t1", []),
    "audit due": (601.0, "t1", ["GET keys", "GET dockauths"]),
    "token rotated": (30.0, "t2", ["POST dockauth", "DELETE dockauth"]),
    "token rotated, audit due": (601.0, "t2", ["GET keys", "GET dockauths", "POST dockauth", "DELETE dockauth"]),
}


@pytest.mark.parametrize("case", CASES)
def test_second_pass(case: str, key: Any) -> None:
    advance, token, expected = CASES[case]
    clock = Clock()
    memory, exchange = ExchangeMemory(audit_seconds=600, clock=clock), FakeExchange()
    _, status = one_pass(exchange, key, "t1", {}, memory, created=True)
    clock.now += advance
    calls, status = one_pass(exchange, key, token, status, memory)
    assert calls == expected
    assert [t for (_, _, t) in exchange.dockauths.values()] == [token]
    assert exchange.keys == {key.key_id}


def test_without_memory_every_pass_reads(key: Any) -> None:
    exchange = FakeExchange()
    _, status = one_pass(exchange, key, "t1", {}, None, created=True)
    calls, _ = one_pass(exchange, key, "t1", status, None)
    assert calls == ["GET keys", "GET dockauths"]


def test_a_dockauth_removed_by_hand_is_restored_at_the_audit(key: Any) -> None:
    clock = Clock()
    memory, exchange = ExchangeMemory(audit_seconds=600, clock=clock), FakeExchange()
    _, status = one_pass(exchange, key, "t1", {}, memory, created=True)
    exchange.dockauths.clear()  # someone deletes it in the Exchange
    exchange.keys.clear()
    clock.now += 60
    assert one_pass(exchange, key, "t1", status, memory)[0] == []  # trusted until the audit
    clock.now += 600
    calls, _ = one_pass(exchange, key, "t1", status, memory)
    assert calls == ["GET keys", "PUT key", "GET dockauths", "POST dockauth"]
    assert [t for (_, _, t) in exchange.dockauths.values()] == ["t1"]


def test_a_failed_write_means_read_again(key: Any) -> None:
    clock = Clock()
    memory, exchange = ExchangeMemory(audit_seconds=600, clock=clock), FakeExchange()
    _, status = one_pass(exchange, key, "t1", {}, memory, created=True)
    exchange.fail_posts = True
    calls, _ = one_pass(exchange, key, "t2", status, memory)
    assert calls == ["POST dockauth"]
    exchange.fail_posts = False
    calls, _ = one_pass(exchange, key, "t2", status, memory)
    assert calls == ["GET dockauths", "POST dockauth", "DELETE dockauth"]  # read first: the failed POST may have landed


def test_memory_keys_on_identity_and_never_holds_a_token() -> None:
    memory = ExchangeMemory()
    memory.confirm_dockauths(("u", "o", "alice", SID), {1: (HOST, "sa", "fp")})
    assert memory.dockauths(("u", "o", "bob", SID)) is None
    assert memory.dockauths(("u", "o", "alice", SID)) == {1: (HOST, "sa", "fp")}
