"""Authentication, authorization (403 wording), admission hooks, change callbacks, special endpoints."""

from __future__ import annotations

from typing import Any

import pytest
from kubeapi_harness import CONFIGMAPS, SECRETS, Client, status_of

from horizon_publisher.sandbox.kubeapi.api import (
    ApiError,
    ResourceType,
    SpecialRequest,
    UserInfo,
    WatchEvent,
)
from horizon_publisher.sandbox.kubeapi.cluster import InMemoryCluster
from horizon_publisher.sandbox.kubeapi.runner import EmulatorThread

ALICE = UserInfo("alice", groups=("system:authenticated",))


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic YTpi"])
def test_missing_or_unknown_credentials_are_401(http: Client, header: str | None) -> None:
    client = Client(http.base, None)
    response = client.get(CONFIGMAPS, headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert status_of(response)["reason"] == "Unauthorized"


def authorizer_for(allowed: set[tuple[str, str]]) -> Any:
    def decide(  # noqa: PLR0917 - the api.Authorizer signature
        user: UserInfo, verb: str, group: str, resource: str, sub: str, namespace: str, name: str
    ) -> bool:
        del group, sub, namespace, name
        return user.username == "alice" and (verb, resource) in allowed

    return decide


def test_other_users_go_through_the_authorizer_and_get_the_real_403(api: EmulatorThread, http: Client) -> None:
    api.cluster.add_authenticator(lambda token: ALICE if token == "alice-token" else None)
    api.cluster.set_authorizer(authorizer_for({("list", "configmaps")}))
    alice = Client(api.url, "alice-token")
    assert alice.get(CONFIGMAPS).status_code == 200
    response = alice.get(f"{SECRETS}/x")
    body = status_of(response)
    assert response.status_code == 403
    assert body["reason"] == "Forbidden"
    assert body["message"] == (
        'secrets "x" is forbidden: User "alice" cannot get resource "secrets" in API group "" '
        'in the namespace "default"'
    )
    assert body["details"] == {"name": "x", "group": "", "kind": "secrets"}
    cluster_scope = status_of(alice.get("/apis/rbac.authorization.k8s.io/v1/clusterroles"))["message"]
    assert cluster_scope.endswith(
        'cannot list resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope'
    )
    assert http.get(f"{SECRETS}").status_code == 200  # the admin (system:masters) bypasses the authorizer


def test_admission_hooks_see_the_user_and_may_mutate_or_reject(api: EmulatorThread, http: Client) -> None:
    seen: list[tuple[str, str]] = []

    def hook(operation: str, new: dict[str, Any] | None, old: dict[str, Any] | None, user: UserInfo) -> None:
        seen.append((operation, user.username))
        if new is not None:
            if new["metadata"]["name"] == "forbidden":
                raise ApiError(403, "Forbidden", "no")
            new.setdefault("data", {})["stamped"] = "yes"

    api.cluster.add_admission("v1/configmaps", hook)
    assert http.create(CONFIGMAPS, {"metadata": {"name": "a"}})["data"] == {"stamped": "yes"}
    assert http.post(CONFIGMAPS, {"metadata": {"name": "forbidden"}}).status_code == 403
    http.delete(f"{CONFIGMAPS}/a")
    assert seen == [("CREATE", "system:admin"), ("CREATE", "system:admin"), ("DELETE", "system:admin")]


def test_change_callbacks_get_copies_and_may_write_back() -> None:
    cluster = InMemoryCluster()
    cluster.ensure_namespace("default")
    events: list[WatchEvent] = []

    def mirror(event: WatchEvent) -> None:
        events.append(event)
        event.object["data"] = {"mutated": "by the callback"}  # must not reach the store
        if event.type == "ADDED":
            cluster.create("v1/secrets", {"metadata": {"name": event.object["metadata"]["name"]}}, namespace="default")

    cluster.on_change("v1/configmaps", mirror)
    cluster.create("v1/configmaps", {"metadata": {"name": "a"}}, namespace="default")
    assert [e.type for e in events] == ["ADDED"]
    assert events[0].old is None
    stored = cluster.get("v1/configmaps", "default", "a")
    assert stored is not None
    assert "data" not in stored
    assert cluster.get("v1/secrets", "default", "a") is not None
    cluster.merge_patch("v1/configmaps", "default", "a", {"data": {"k": "v"}})
    assert events[-1].type == "MODIFIED"
    assert events[-1].old is not None
    assert "data" not in events[-1].old


PROJECT_REQUESTS = ResourceType("project.openshift.io", "v1", "projectrequests", "ProjectRequest", False,
                                "projectrequest", ("create", "list"))  # fmt: skip


def test_special_handlers_serve_virtual_resources_and_subresources(api: EmulatorThread, http: Client) -> None:
    calls: list[SpecialRequest] = []

    def handler(request: SpecialRequest) -> tuple[int, dict[str, Any]]:
        calls.append(request)
        return 201, {"kind": "Thing", "apiVersion": "v1", "echo": request.body}

    api.call(api.cluster.register, PROJECT_REQUESTS)
    api.cluster.add_special(PROJECT_REQUESTS.key, None, "create", handler)
    api.cluster.add_special("v1/serviceaccounts", "token", "create", handler)
    response = http.post("/apis/project.openshift.io/v1/projectrequests?dryRun=All", {"metadata": {"name": "p"}})
    assert response.status_code == 201
    assert response.json()["echo"] == {"metadata": {"name": "p"}}
    http.post("/api/v1/namespaces/default/serviceaccounts/builder/token", {"spec": {}})
    assert [(c.verb, c.name, c.subresource, c.namespace, c.dry_run) for c in calls] == [
        ("create", None, None, None, True),
        ("create", "builder", "token", "default", False),
    ]
    discovered = {r["name"]: r for r in http.read("/api/v1")["resources"]}
    assert discovered["serviceaccounts/token"]["verbs"] == ["create"]
    assert http.get("/apis/project.openshift.io/v1/projectrequests/p").status_code == 405


def test_tls_serving_with_a_generated_certificate(tls_api: EmulatorThread) -> None:
    assert tls_api.url.startswith("https://")
    assert tls_api.ca_file is not None
    client = Client(tls_api.url, tls_api.admin_token, verify=str(tls_api.ca_file))
    assert client.read("/api/v1/namespaces/default")["status"]["phase"] == "Active"


STATUS_COLUMN = {"name": "Status", "type": "string", "jsonPath": ".status.phase"}
PROJECTS = ResourceType(
    "project.openshift.io", "v1", "projects", "Project", False, "project", ("get", "list"),
    printer_columns=(STATUS_COLUMN,),
)  # fmt: skip


def test_special_lists_are_filtered_and_negotiated_like_stored_ones(api: EmulatorThread, http: Client) -> None:
    def projects(request: SpecialRequest) -> tuple[int, dict[str, Any]]:
        items = [
            {"apiVersion": "project.openshift.io/v1", "kind": "Project",
             "metadata": {"name": name, "labels": {"team": team}}, "status": {"phase": "Active"}}
            for name, team in (("a", "x"), ("b", "y"))
        ]  # fmt: skip
        if request.verb == "get":
            return 200, next(i for i in items if i["metadata"]["name"] == request.name)
        return 200, {"kind": "ProjectList", "apiVersion": "project.openshift.io/v1", "metadata": {}, "items": items}

    api.call(api.cluster.register, PROJECTS)
    api.cluster.add_special(PROJECTS.key, None, "list", projects)
    api.cluster.add_special(PROJECTS.key, None, "get", projects)
    path = "/apis/project.openshift.io/v1/projects"
    assert [p["metadata"]["name"] for p in http.read(f"{path}?labelSelector=team%3Dy")["items"]] == ["b"]
    table = http.read(path, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    assert [row["cells"][:2] for row in table["rows"]] == [["a", "Active"], ["b", "Active"]]
    single = http.read(f"{path}/a", headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    assert single["rows"][0]["cells"][0] == "a"
