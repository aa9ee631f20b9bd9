"""A POST the Exchange answered 429/503 with ``Retry-After`` is retried (after reading back) no sooner than the
server asked, as idempotent requests already were; without the header, the exponential backoff applies.

Found by the reliability suite: POSTs of services, dockauths, patterns and deployment policies were retried
0.5 s after a ``Retry-After: 2``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from requests.adapters import HTTPAdapter

from horizon_publisher.clients.exchange import ExchangeClient, ExchangeEndpoint
from horizon_publisher.clients.exchange_model import ExchangeServerError

ORG, SID = "myorg", "com.example.x_1.0.0_amd64"
BASE = "https://exchange.example/v1"
SERVICE = {"url": "com.example.x", "version": "1.0.0", "arch": "amd64", "label": "x", "deployment": ""}
Answer = tuple[int, dict[str, str], Any]


class Scripted(HTTPAdapter):
    """Answers (method, path) from a script; the last answer of a list repeats. Records every call."""

    def __init__(self, script: dict[tuple[str, str], list[Answer]]) -> None:
        super().__init__()
        self.script = script
        self.calls: list[tuple[str, str]] = []

    def send(self, request: requests.PreparedRequest, *_: Any, **__: Any) -> requests.Response:
        path = urlsplit(str(request.url)).path.removeprefix("/v1")
        key = (str(request.method), path)
        self.calls.append(key)
        answers = self.script[key]
        status, headers, body = answers.pop(0) if len(answers) > 1 else answers[0]
        response = requests.Response()
        response.status_code, response.request, response.url = status, request, str(request.url)
        response.headers.update(headers)
        response._content = json.dumps(body).encode()
        return response


NOT_FOUND: Answer = (404, {}, {"code": "not_found", "msg": "not found"})
CREATED: Answer = (201, {}, {"code": "ok", "msg": "created"})


def _busy(status: int, retry_after: str | None) -> Answer:
    return (status, {"Retry-After": retry_after} if retry_after else {}, {"code": "busy", "msg": "try later"})


def _service(client: ExchangeClient) -> object:
    return client.ensure_service(SID, SERVICE)


def _dockauth(client: ExchangeClient) -> object:
    return client.add_dockauth(SID, "registry.example", "user", "token")


def _pattern(client: ExchangeClient) -> object:
    return client.ensure_pattern("p", {"label": "p", "services": []})


def _policy(client: ExchangeClient) -> object:
    return client.ensure_business_policy("bp", {"label": "bp", "service": {}})


# case: (action, its POST, the read-back GET, the read-back's "absent" answer, the POST's success)
CASES: dict[str, tuple[Callable[[ExchangeClient], object], tuple[str, str], tuple[str, str], Answer, Answer]] = {
    "service": (
        _service,
        ("POST", f"/orgs/{ORG}/services"),
        ("GET", f"/orgs/{ORG}/services/{SID}"),
        NOT_FOUND,
        CREATED,
    ),
    "dockauth": (
        _dockauth,
        ("POST", f"/orgs/{ORG}/services/{SID}/dockauths"),
        ("GET", f"/orgs/{ORG}/services/{SID}/dockauths"),
        (200, {}, []),
        (201, {}, {"code": "ok", "msg": "dockauth 5 added"}),
    ),
    "pattern": (_pattern, ("POST", f"/orgs/{ORG}/patterns/p"), ("GET", f"/orgs/{ORG}/patterns/p"), NOT_FOUND, CREATED),
    "policy": (
        _policy,
        ("POST", f"/orgs/{ORG}/business/policies/bp"),
        ("GET", f"/orgs/{ORG}/business/policies/bp"),
        NOT_FOUND,
        CREATED,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize(
    ("status", "retry_after", "slept"),
    [(429, "3", 3.0), (503, "7", 7.0), (503, "999", 30.0), (503, None, 0.5), (502, "0", None)],
)
def test_a_refused_post_waits_as_the_server_asked_then_reads_back_and_posts_again(
    case: str, status: int, retry_after: str | None, slept: float | None
) -> None:
    """``slept`` None: Retry-After 0 means now, no wait at all."""
    action, post, read, absent, created = CASES[case]
    adapter = Scripted({post: [_busy(status, retry_after), created], read: [absent]})
    session = requests.Session()
    session.mount("https://", adapter)
    sleeps: list[float] = []
    endpoint = ExchangeEndpoint(BASE, ORG, "alice", "pw")
    with ExchangeClient(endpoint, session=session, sleep=sleeps.append, backoff=0.5) as client:
        action(client)
    expected = [] if slept is None else [slept]
    assert sleeps == pytest.approx(expected, abs=0.05)  # the gate counts from the answer
    posts = [call for call in adapter.calls if call == post]
    assert len(posts) == 2, adapter.calls
    first_post = adapter.calls.index(post)
    assert read in adapter.calls[first_post + 1 :], "no read-back between the two POSTs"


def _get_once(adapter: Scripted, sleeps: list[float], base: str = BASE) -> Exception | None:
    session = requests.Session()
    session.mount("https://", adapter)
    with ExchangeClient(ExchangeEndpoint(base, ORG, "alice", "pw"), session=session, sleep=sleeps.append,
                        retries=0) as client:  # fmt: skip
        try:
            client.get_service(SID)
        except ExchangeServerError as error:
            return error
    return None


def test_a_retry_after_holds_every_client_of_that_exchange() -> None:
    """A reconcile that starts while another was told to wait waits too (a resync tick, another publication)."""
    path = ("GET", f"/orgs/{ORG}/services/{SID}")
    first, second, third = [], [], []  # type: ignore[var-annotated]
    assert _get_once(Scripted({path: [_busy(503, "4")]}), first) is not None  # told to wait; gives up (no retries)
    assert _get_once(Scripted({path: [NOT_FOUND]}), second) is None
    assert _get_once(Scripted({path: [NOT_FOUND]}), third, "https://other-exchange.example/v1") is None
    assert first == []
    assert second == pytest.approx([4.0], abs=0.05)
    assert third == []  # another Exchange is not held
