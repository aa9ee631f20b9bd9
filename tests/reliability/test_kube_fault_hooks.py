"""The Kubernetes API emulator's fault endpoint (/_sandbox/faults), in process: each fault answers as the
real API server would fail, only the matching requests are faulted, and only as often as asked."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from horizon_publisher.sandbox.kubeapi.api import UserInfo
from horizon_publisher.sandbox.kubeapi.runner import EmulatorThread

CMS = "/api/v1/namespaces/default/configmaps"
CONFLICT = (
    'Operation cannot be fulfilled on configmaps "a": the object has been modified; '
    "please apply your changes to the latest version and try again"
)


class Api:
    def __init__(self, emulator: EmulatorThread, token: str | None = None) -> None:
        self.base = emulator.url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token or emulator.admin_token}"

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        headers = {"Content-Type": "application/merge-patch+json" if method == "PATCH" else "application/json"}
        data = None if body is None else json.dumps(body)
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.base + path, data=data, headers=headers, **kwargs)

    def arm(self, *rules: dict[str, Any]) -> list[int]:
        response = self.call("POST", "/_sandbox/faults", {"rules": list(rules)})
        assert response.status_code == 200, response.text
        ids: list[int] = response.json()["ids"]
        return ids

    def report(self) -> dict[str, Any]:
        report: dict[str, Any] = self.call("GET", "/_sandbox/faults").json()
        return report

    def watch(self, path: str, read_timeout: float, **params: str) -> requests.Response:
        query = {"watch": "true", **params}
        return self.session.get(self.base + path, params=query, stream=True, timeout=(5, read_timeout))


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(bookmark_interval=60) as running:
        running.cluster.add_authenticator(lambda token: UserInfo("alice") if token == "alice" else None)
        yield running


@pytest.fixture
def api(emulator: EmulatorThread) -> Api:
    for name in ("a", "b"):
        assert Api(emulator).call("POST", CMS, {"metadata": {"name": name}}).status_code == 201
    return Api(emulator)


# --- which requests a rule faults -------------------------------------------------------------------

MATCHING = [
    # (rule without "fault", method, path, faulted?)
    ({"verb": "patch", "resource": "configmaps"}, "PATCH", f"{CMS}/a", True),
    ({"verb": "patch", "resource": "configmaps"}, "GET", f"{CMS}/a", False),
    ({"verb": ["get", "patch"], "resource": "configmaps"}, "GET", f"{CMS}/a", True),
    ({"verb": "list", "resource": "configmaps"}, "GET", CMS, True),
    ({"verb": "get", "resource": "configmaps"}, "GET", CMS, False),
    ({"resource": "configmaps", "name": "a"}, "GET", f"{CMS}/b", False),
    ({"resource": "configmaps", "namespace": "other"}, "GET", f"{CMS}/a", False),
    ({"resource": "configmaps", "group": ""}, "GET", f"{CMS}/a", True),
    ({"resource": "configmaps", "group": "apps"}, "GET", f"{CMS}/a", False),
    ({"resource": "secrets"}, "GET", f"{CMS}/a", False),
    ({"resource": "namespaces/status"}, "PATCH", "/api/v1/namespaces/default/status", True),
    ({"resource": "namespaces/status"}, "PATCH", "/api/v1/namespaces/default", False),
    ({"resource": "namespaces"}, "PATCH", "/api/v1/namespaces/default/status", False),
    ({"resource": "namespaces/*"}, "PATCH", "/api/v1/namespaces/default/status", True),
    ({"verb": "create", "name": "c"}, "POST", CMS, True),  # a create is matched by the name in its body
    ({"verb": "create", "name": "d"}, "POST", CMS, False),
    ({"userAgent": "kopf/"}, "GET", f"{CMS}/a", False),
    ({"userAgent": "python-requests"}, "GET", f"{CMS}/a", True),
]


@pytest.mark.parametrize(("rule", "method", "path", "faulted"), MATCHING)
def test_a_rule_faults_exactly_the_requests_it_names(
    api: Api, rule: dict[str, Any], method: str, path: str, faulted: bool
) -> None:
    api.arm({**rule, "fault": "internal"})
    body = {"metadata": {"name": "c"}} if method == "POST" else {"metadata": {"labels": {"x": "y"}}}
    response = api.call(method, path, None if method == "GET" else body)
    assert (response.status_code == 500) is faulted, response.text
    assert len(api.report()["hits"]) == int(faulted)


def test_conflict_is_the_real_status_for_the_first_n_requests_only(api: Api) -> None:
    (rule,) = api.arm({"verb": "patch", "resource": "configmaps", "name": "a", "fault": "conflict", "count": 2})
    patch = {"data": {"k": "v"}}
    for _ in range(2):
        response = api.call("PATCH", f"{CMS}/a", patch)
        assert response.status_code == 409
        assert response.json() == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": CONFLICT,
            "reason": "Conflict",
            "details": {"group": "", "kind": "configmaps", "name": "a"},
            "code": 409,
        }
    assert api.call("PATCH", f"{CMS}/a", patch).status_code == 200
    report = api.report()
    assert [(r["id"], r["hits"], r["live"]) for r in report["rules"]] == [(rule, 2, False)]
    assert [(h["rule"], h["fault"], h["verb"], h["path"]) for h in report["hits"]] == [
        (rule, "conflict", "patch", f"{CMS}/a")
    ] * 2


def test_internal_error_for_every_request_during_the_window(api: Api) -> None:
    api.arm({"verb": "get", "resource": "configmaps", "fault": "internal", "seconds": 0.6})
    first = api.call("GET", f"{CMS}/a")
    assert (first.status_code, first.json()["reason"]) == (500, "InternalError")
    assert first.json()["message"] == "Internal error occurred: etcdserver: request timed out"
    assert all(api.call("GET", f"{CMS}/b").status_code == 500 for _ in range(3))
    time.sleep(0.7)
    assert api.call("GET", f"{CMS}/a").status_code == 200


def test_clearing_ends_a_fault_and_only_the_admin_may_arm(api: Api, emulator: EmulatorThread) -> None:
    (rule,) = api.arm({"resource": "configmaps", "fault": "internal", "seconds": 60})
    assert api.call("GET", f"{CMS}/a").status_code == 500
    assert api.call("DELETE", f"/_sandbox/faults/{rule}").json() == {"cleared": 1}
    assert api.call("GET", f"{CMS}/a").status_code == 200
    alice = Api(emulator, token="alice")
    assert alice.call("POST", "/_sandbox/faults", {"fault": "internal"}).status_code == 403
    assert alice.call("GET", "/_sandbox/faults").status_code == 403
    bad = api.call("POST", "/_sandbox/faults", {"fault": "internal", "verb": "explode"})
    assert (bad.status_code, bad.json()["reason"]) == (400, "BadRequest")
    assert "verb" in bad.json()["message"]
    assert api.call("POST", "/_sandbox/faults", {"fault": "internal", "colour": "red"}).status_code == 400


# --- watches ----------------------------------------------------------------------------------------


def _resource_version(api: Api) -> str:
    version: str = api.call("GET", CMS).json()["metadata"]["resourceVersion"]
    return version


def test_gone_on_a_rewatch_is_an_error_event_and_on_a_fresh_watch_http_410(api: Api) -> None:
    api.arm({"verb": "watch", "resource": "configmaps", "fault": "gone", "count": 2})
    since = _resource_version(api)
    with api.watch(CMS, 5, resourceVersion=since) as stream:
        assert stream.status_code == 200
        events = [json.loads(line) for line in stream.iter_lines() if line]
    current = _resource_version(api)
    assert [(e["type"], e["object"]["code"], e["object"]["reason"]) for e in events] == [("ERROR", 410, "Expired")]
    assert events[0]["object"]["message"] == f"too old resource version: {since} ({current})"
    fresh = api.call("GET", CMS, params={"watch": "true"})
    assert (fresh.status_code, fresh.json()["reason"]) == (410, "Expired")


def test_a_stalled_new_watch_answers_200_then_nothing(api: Api) -> None:
    api.arm({"verb": "watch", "resource": "configmaps", "fault": "stall"})
    with api.watch(CMS, 1.0) as stream:
        assert stream.status_code == 200
        api.call("POST", CMS, {"metadata": {"name": "c"}})
        with pytest.raises(requests.ConnectionError):  # the read times out: no event, no end
            next(stream.iter_lines())


def _next_event(lines: Iterator[bytes]) -> dict[str, Any]:
    """The next event of a watch; ``lines`` is the one ``iter_lines()`` of the stream (dropping it closes the
    connection)."""
    line = next(line for line in lines if line)
    event: dict[str, Any] = json.loads(line)
    return event


def test_an_open_watch_stalls_when_armed_and_a_new_one_sees_the_event(api: Api) -> None:
    since = _resource_version(api)
    with api.watch(CMS, 1.0, resourceVersion=since) as stalled:
        lines = stalled.iter_lines()
        api.call("POST", CMS, {"metadata": {"name": "c"}})
        assert _next_event(lines)["object"]["metadata"]["name"] == "c"
        (rule,) = api.arm({"verb": "watch", "resource": "configmaps", "fault": "stall"})
        assert api.report()["rules"][0]["hits"] == 1, "the open stream is the hit"
        api.call("POST", CMS, {"metadata": {"name": "d"}})
        with pytest.raises(requests.ConnectionError):
            _next_event(lines)
    with api.watch(CMS, 5, resourceVersion=since) as fresh:  # the rule is spent: a re-watch works
        lines = fresh.iter_lines()
        names = [_next_event(lines)["object"]["metadata"]["name"] for _ in range(2)]
    assert names == ["c", "d"]
    assert [h["rule"] for h in api.report()["hits"]] == [rule]


def test_an_open_watch_is_cut_when_armed(api: Api) -> None:
    with api.watch(CMS, 5, resourceVersion=_resource_version(api)) as stream:
        started = time.monotonic()
        api.arm({"verb": "watch", "resource": "configmaps", "fault": "cut"})
        with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
            list(stream.iter_lines())
    assert time.monotonic() - started < 3


def test_a_new_watch_is_cut_mid_stream(api: Api) -> None:
    api.arm({"verb": "watch", "resource": "configmaps", "fault": "cut", "afterSeconds": 0.3})
    seen: list[str] = []

    def read(stream: requests.Response) -> None:
        seen.extend(json.loads(line)["object"]["metadata"]["name"] for line in stream.iter_lines() if line)

    with (
        api.watch(CMS, 5) as stream,
        pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)),
    ):
        read(stream)
    assert seen == ["a", "b"], "the initial events flow before the cut"


def test_a_cut_request_gets_no_answer(api: Api) -> None:
    api.arm({"verb": "get", "resource": "configmaps", "fault": "cut"})
    with pytest.raises(requests.ConnectionError):
        api.call("GET", f"{CMS}/a")
    assert api.call("GET", f"{CMS}/a").status_code == 200


# --- hold -------------------------------------------------------------------------------------------


def test_a_held_create_is_applied_once_released(api: Api, emulator: EmulatorThread) -> None:
    (rule,) = api.arm({"verb": "create", "resource": "configmaps", "fault": "hold"})
    answers: list[int] = []
    worker = threading.Thread(
        target=lambda: answers.append(Api(emulator).call("POST", CMS, {"metadata": {"name": "c"}}).status_code)
    )
    worker.start()
    deadline = time.monotonic() + 5
    while not api.report()["hits"] and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    assert api.call("GET", f"{CMS}/c").status_code == 404, "held: not applied yet"
    api.call("DELETE", f"/_sandbox/faults/{rule}")
    worker.join(5)
    assert answers == [201]
    assert api.call("GET", f"{CMS}/c").status_code == 200


def test_a_held_create_whose_client_left_is_never_applied(api: Api) -> None:
    api.arm({"verb": "create", "resource": "configmaps", "fault": "hold"})
    with pytest.raises(requests.ReadTimeout):
        api.call("POST", CMS, {"metadata": {"name": "c"}}, timeout=0.5)
    time.sleep(0.6)  # the emulator notices the client left (it looks every 0.25 s)
    api.call("DELETE", "/_sandbox/faults")
    time.sleep(0.2)
    assert api.call("GET", f"{CMS}/c").status_code == 404
