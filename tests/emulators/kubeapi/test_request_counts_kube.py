"""The Kubernetes emulator's request counters (/_sandbox/requests): verbs, targets, users, what is not counted."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, cast

import pytest
from kubeapi_harness import CONFIGMAPS, SECRETS, WIDGETS, Client, status_of, widget

from horizon_publisher.sandbox.kubeapi.api import UserInfo
from horizon_publisher.sandbox.kubeapi.runner import EmulatorThread

COUNTS = "/_sandbox/requests"
ADMIN = "system:admin"
SECRET = {"metadata": {"name": "s"}, "stringData": {"password": "hunter2"}}


def counts(client: Client) -> list[dict[str, Any]]:
    response = client.get(COUNTS)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["requests"]
    return rows


def row(method: str, target: str, count: int = 1, user: str = ADMIN) -> dict[str, Any]:
    return {"user": user, "method": method, "target": target, "count": count}


def cleared(client: Client) -> Client:
    response = client.delete(COUNTS)
    assert (response.status_code, response.json()) == (200, {"requests": []})
    return client


def first_event(client: Client, path: str, **params: Any) -> dict[str, Any]:
    events = cast(Generator[dict[str, Any], None, None], client.watch(path, **params))  # a generator: close it
    try:
        return next(events)
    finally:
        events.close()


def test_crud_status_patch_and_watches_give_exactly_these_rows(widgets: Client) -> None:
    http = cleared(widgets)
    http.create(WIDGETS, widget("w"))
    http.read(f"{WIDGETS}/w")
    http.read(WIDGETS)
    http.ok(http.patch(f"{WIDGETS}/w/status", {"status": {"phase": "Ready"}}), 200)
    assert first_event(http, WIDGETS)["type"] == "ADDED"
    http.create(SECRETS, SECRET)
    http.read(f"{SECRETS}/s")
    assert first_event(http, SECRETS, watch="1")["type"] == "ADDED"
    assert first_event(http, "/api/v1/watch/namespaces/default/secrets", watch=None)["type"] == "ADDED"
    assert counts(http) == [
        row("create", "core/secrets"),
        row("create", "example.com/widgets"),
        row("get", "core/secrets"),
        row("get", "example.com/widgets"),
        row("list", "example.com/widgets"),
        row("patch", "example.com/widgets/status"),
        row("watch", "core/secrets", 2),
        row("watch", "example.com/widgets"),
    ]
    assert "hunter2" not in http.get(COUNTS).text


VERBS_AND_TARGETS = [
    # (method, path, query, expected verb, expected target); 404s count as well
    ("PUT", f"{CONFIGMAPS}/c", None, "update", "core/configmaps"),
    ("DELETE", f"{CONFIGMAPS}/c", None, "delete", "core/configmaps"),
    ("DELETE", CONFIGMAPS, None, "deletecollection", "core/configmaps"),
    ("GET", "/api/v1/namespaces", None, "list", "core/namespaces"),
    ("PATCH", "/api/v1/namespaces/default/status", None, "patch", "core/namespaces/status"),
    ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", None, "create",
     "authorization.k8s.io/selfsubjectaccessreviews"),
    ("POST", "/api/v1/namespaces/default/serviceaccounts/sa/token", None, "create", "core/serviceaccounts/token"),
    ("GET", "/apis/example.com/v1/widgets", {"watch": "true", "timeoutSeconds": "1"}, "watch", "example.com/widgets"),
    ("GET", "/api", None, "get", "discovery"),
    ("GET", "/apis/example.com/v1", None, "get", "discovery"),
    ("GET", "/openapi/v3", None, "get", "openapi"),
    ("GET", "/metrics", None, "get", "other"),
    ("POST", "/apis", None, "post", "discovery"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "query", "verb", "target"), VERBS_AND_TARGETS)
def test_verb_and_target_of_each_request(
    widgets: Client, *, method: str, path: str, query: dict[str, str] | None, verb: str, target: str
) -> None:
    http = cleared(widgets)
    body = {"metadata": {"name": "c"}} if method in ("PUT", "POST", "PATCH") else None
    headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else {}
    http.request(method, path, body, params=query, headers=headers)
    assert counts(http) == [row(verb, target)]


def test_uncounted_requests_and_the_admin_only_endpoint(api: EmulatorThread, http: Client) -> None:
    api.cluster.add_authenticator(lambda token: UserInfo("alice") if token == "alice-token" else None)
    cleared(http)
    alice = Client(api.url, "alice-token")
    assert alice.get(CONFIGMAPS).status_code == 200
    forbidden = alice.get(COUNTS)
    assert forbidden.status_code == 403
    assert status_of(forbidden)["reason"] == "Forbidden"
    assert alice.delete(COUNTS).status_code == 403
    assert Client(api.url, "wrong").get(CONFIGMAPS).status_code == 401
    assert Client(api.url, None).get(CONFIGMAPS).status_code == 401
    for public in ("/version", "/healthz", "/readyz"):
        assert Client(api.url, None).get(public).status_code == 200
    assert http.get("/_sandbox/faults").status_code == 200
    assert http.get("/_sandbox/other").status_code == 404
    assert http.post(COUNTS, {}).status_code == 405
    assert counts(http) == [row("list", "core/configmaps", user="alice")]


def test_requests_answered_by_the_fault_injector_are_counted(http: Client) -> None:
    armed = http.post("/_sandbox/faults", {"fault": "internal", "verb": "list", "resource": "secrets", "count": 2})
    assert armed.status_code == 200, armed.text
    cleared(http)
    assert [http.get(SECRETS).status_code for _ in range(3)] == [500, 500, 200]
    assert counts(http) == [row("list", "core/secrets", 3)]


def test_delete_clears_and_counting_starts_again(http: Client) -> None:
    http.read(CONFIGMAPS)
    assert counts(http) == [row("list", "core/configmaps")]
    cleared(http)
    assert counts(http) == []
    http.read(CONFIGMAPS)
    http.read(CONFIGMAPS)
    assert counts(http) == [row("list", "core/configmaps", 2)]
