"""Retry-After honoured by the whole process (clients/retry_after.py), and by the registry client."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from requests.adapters import HTTPAdapter

from horizon_publisher.clients.registry import RegistryClient
from horizon_publisher.clients.registry_model import RegistryEndpoint, RegistryError
from horizon_publisher.clients.retry_after import GATES, MAX_WAIT, RetryAfterGates, origin, retry_after_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_hold_is_waited_out_once_then_cleared() -> None:
    clock, slept = Clock(), []
    gates = RetryAfterGates(clock)
    gates.hold("https://r", 2.0)
    clock.now += 0.5
    assert gates.wait("https://r", slept.append) == pytest.approx(1.5)
    assert gates.wait("https://r", slept.append) == 0.0
    assert slept == [pytest.approx(1.5)]
    assert gates.wait("https://other", slept.append) == 0.0


def test_a_later_retry_after_wins_and_waits_are_capped() -> None:
    clock = Clock()
    gates = RetryAfterGates(clock)
    gates.hold("k", 5.0)
    gates.hold("k", 1.0)  # an earlier moment never shortens the wait
    assert gates.remaining("k")[0] == pytest.approx(5.0)
    gates.hold("k", 10_000.0)
    assert gates.remaining("k")[0] == pytest.approx(MAX_WAIT)


@pytest.mark.parametrize(
    ("status", "header", "held"),
    [(429, "3", 3.0), (503, "3", 3.0), (500, "3", 3.0), (404, "3", 0.0), (200, "3", 0.0), (503, None, 0.0),
     (503, "soon", 0.0), (503, "-5", 0.0)],
)  # fmt: skip
def test_which_answers_hold(status: int, header: str | None, held: float) -> None:
    gates = RetryAfterGates(Clock())
    gates.hold_for("k", status, header)
    assert gates.remaining("k")[0] == pytest.approx(held)


@given(st.integers(min_value=0, max_value=10**9))
def test_delta_seconds_parse(seconds: int) -> None:
    assert retry_after_seconds(str(seconds)) == float(seconds)


@given(st.text(max_size=40))
def test_any_header_text_parses_or_is_none(text: str) -> None:
    value = retry_after_seconds(text)
    assert value is None or isinstance(value, float)


def test_an_http_date_is_seconds_from_now() -> None:
    value = retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT")
    assert value is not None
    assert value < 0  # in the past: no wait


def test_origin_drops_path_and_userinfo() -> None:
    assert origin("https://user:pw@Registry.Example:5000/v2/x?y=1") == "https://registry.example:5000"


class Scripted(HTTPAdapter):
    def __init__(self, answers: list[tuple[int, dict[str, str]]]) -> None:
        super().__init__()
        self.answers = answers
        self.times: list[float] = []

    def send(self, request: requests.PreparedRequest, *_: Any, **__: Any) -> requests.Response:
        self.times.append(time.monotonic())
        status, headers = self.answers.pop(0)
        response = requests.Response()
        response.status_code, response.request, response.url = status, request, str(request.url)
        response.headers.update(headers)
        response._content = b""
        return response


DIGEST = "sha256:" + "a" * 64
OK = (200, {"Docker-Content-Digest": DIGEST, "Content-Type": "application/vnd.oci.image.manifest.v1+json"})


def _client(adapter: Scripted) -> RegistryClient:
    session = requests.Session()
    session.mount("https://", adapter)
    return RegistryClient(RegistryEndpoint("retry-after.example"), session=session)


def test_the_next_registry_client_waits_as_the_registry_asked() -> None:
    GATES.clear()
    first, second = Scripted([(503, {"Retry-After": "1"})]), Scripted([OK])
    with _client(first) as client, pytest.raises(RegistryError):
        client.head_manifest("p/n", "1.0")
    started = time.monotonic()
    with _client(second) as client:
        assert client.head_manifest("p/n", "1.0").digest == DIGEST
    assert second.times[0] - started >= 0.95  # another reconcile's client, same registry: it waited
