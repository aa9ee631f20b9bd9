"""Real kubectl 1.32 protobuf bodies, captured by a recording server, decode to the expected JSON.

The server answers discovery and echoes the decoded object back, so kubectl finishing successfully also shows
that the decoded dict is a usable answer."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from horizon_publisher.sandbox.kubeapi.protobuf import MEDIA_TYPE, decode_protobuf_body

RBAC = "rbac.authorization.k8s.io/v1"
_DISCOVERY: dict[str, list[tuple[str, str, bool]]] = {
    "v1": [
        ("namespaces", "Namespace", False),
        ("secrets", "Secret", True),
        ("configmaps", "ConfigMap", True),
        ("serviceaccounts", "ServiceAccount", True),
    ],
    RBAC: [
        ("roles", "Role", True),
        ("rolebindings", "RoleBinding", True),
        ("clusterroles", "ClusterRole", False),
        ("clusterrolebindings", "ClusterRoleBinding", False),
    ],
}


@dataclass
class Recorded:
    method: str
    path_qs: str
    content_type: str
    body: bytes


@dataclass
class RecordingServer:
    """Serves just enough discovery for kubectl, records every write and echoes the decoded object back."""

    requests: list[Recorded] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        if request.method == "GET":
            return self._discovery(request.path.rstrip("/"))
        body = await request.read()
        self.requests.append(Recorded(request.method, request.path_qs, request.content_type, body))
        if request.method == "DELETE":
            return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Success"})
        try:
            obj = decode_protobuf_body(body) if request.content_type == MEDIA_TYPE else json.loads(body)
        except ValueError as error:
            return web.json_response({"kind": "Status", "code": 400, "message": str(error)}, status=400)
        if obj["kind"] == "TokenRequest":
            obj["status"] = {"token": "issued-token"}
        if obj["kind"] == "SelfSubjectAccessReview":
            obj["status"] = {"allowed": True}
        return web.json_response(obj, status=201)

    @staticmethod
    def _discovery(path: str) -> web.Response:
        if path == "/api":
            return web.json_response({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        if path == "/apis":
            version = {"groupVersion": RBAC, "version": "v1"}
            group = {"name": RBAC.split("/", maxsplit=1)[0], "versions": [version], "preferredVersion": version}
            return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]})
        group_version = path.removeprefix("/api/").removeprefix("/apis/")
        if group_version not in _DISCOVERY:
            return web.json_response({"kind": "Status", "code": 404}, status=404)
        resources = [
            {"name": n, "singularName": k.lower(), "namespaced": ns, "kind": k, "verbs": ["create", "delete", "get"]}
            for n, k, ns in _DISCOVERY[group_version]
        ]
        return web.json_response({"kind": "APIResourceList", "groupVersion": group_version, "resources": resources})


@dataclass
class Kubectl:
    server: RecordingServer
    kubeconfig: Path
    home: Path

    async def run(self, *args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            "kubectl",
            "--kubeconfig",
            str(self.kubeconfig),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "HOME": str(self.home)},
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), timeout=30)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        return process.returncode or 0, out.decode(), err.decode()


@pytest.fixture
async def kubectl(tmp_path: Path) -> AsyncIterator[Kubectl]:
    server = RecordingServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u", "namespace": "default"}}],
            "current-context": "c",
            "users": [{"name": "u", "user": {}}],
        }
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(json.dumps(config))
        yield Kubectl(server, kubeconfig, tmp_path)
    finally:
        await runner.cleanup()


def _obj(api_version: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "apiVersion": api_version, **fields}


_NS: dict[str, Any] = {"spec": {}, "status": {}}
_NO_TOKEN = {"token": "", "expirationTimestamp": None}
_EDIT = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"}
_B64 = base64.b64encode

KUBECTL_CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    # (kubectl arguments, expected URL, expected stdout, decoded body)
    (
        "create namespace foo",
        "/api/v1/namespaces?",
        "namespace/foo created",
        _obj("v1", "Namespace", metadata={"name": "foo"}, **_NS),
    ),
    (
        "create namespace foo --dry-run=server",
        "/api/v1/namespaces?dryRun=All",
        "(server dry run)",
        _obj("v1", "Namespace", metadata={"name": "foo"}, **_NS),
    ),
    (
        "create secret generic s --from-literal=password=s3cret",
        "/api/v1/namespaces/default/secrets?",
        "secret/s created",
        _obj("v1", "Secret", metadata={"name": "s"}, data={"password": _B64(b"s3cret").decode()}),
    ),
    (
        "create secret generic t --type=example.com/x --from-literal=k=",
        "/secrets?",
        "secret/t created",
        _obj("v1", "Secret", metadata={"name": "t"}, data={"k": ""}, type="example.com/x"),
    ),
    (
        "create configmap c --from-literal=x=y --from-literal=a=b",
        "/api/v1/namespaces/default/configmaps?",
        "configmap/c created",
        _obj("v1", "ConfigMap", metadata={"name": "c"}, data={"a": "b", "x": "y"}),
    ),
    (
        "create serviceaccount sa -n ns1",
        "/api/v1/namespaces/ns1/serviceaccounts?",
        "serviceaccount/sa created",
        _obj("v1", "ServiceAccount", metadata={"name": "sa", "namespace": "ns1"}),
    ),
    (
        "create token sa --duration=1h",
        "/api/v1/namespaces/default/serviceaccounts/sa/token",
        "issued-token",
        _obj(
            "authentication.k8s.io/v1", "TokenRequest", metadata={}, spec={"expirationSeconds": 3600}, status=_NO_TOKEN
        ),
    ),
    (
        "create token sa --audience=a1 --audience=a2"
        " --bound-object-kind=Secret --bound-object-name=s --bound-object-uid=u1",
        "/serviceaccounts/sa/token",
        "issued-token",
        _obj(
            "authentication.k8s.io/v1",
            "TokenRequest",
            metadata={},
            spec={
                "audiences": ["a1", "a2"],
                "boundObjectRef": {"kind": "Secret", "apiVersion": "v1", "name": "s", "uid": "u1"},
            },
            status=_NO_TOKEN,
        ),
    ),
    (
        "auth can-i create secrets -n ns",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        "yes",
        _obj(
            "authorization.k8s.io/v1",
            "SelfSubjectAccessReview",
            metadata={},
            spec={"resourceAttributes": {"namespace": "ns", "verb": "create", "resource": "secrets"}},
            status={"allowed": False},
        ),
    ),
    (
        "auth can-i get /logs",
        "/selfsubjectaccessreviews",
        "yes",
        _obj(
            "authorization.k8s.io/v1",
            "SelfSubjectAccessReview",
            metadata={},
            spec={"nonResourceAttributes": {"path": "/logs", "verb": "get"}},
            status={"allowed": False},
        ),
    ),
    (
        "auth can-i --list -n ns",
        "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
        "",
        _obj(
            "authorization.k8s.io/v1",
            "SelfSubjectRulesReview",
            metadata={},
            spec={"namespace": "ns"},
            status={"incomplete": False},
        ),
    ),
    (
        "auth whoami",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        "",
        _obj("authentication.k8s.io/v1", "SelfSubjectReview", metadata={}, status={"userInfo": {}}),
    ),
    (
        "create rolebinding rb --clusterrole=edit --serviceaccount=ns:sa",
        f"/apis/{RBAC}/namespaces/default/rolebindings?",
        "rolebinding.rbac.authorization.k8s.io/rb created",
        _obj(
            RBAC,
            "RoleBinding",
            metadata={"name": "rb"},
            subjects=[{"kind": "ServiceAccount", "name": "sa", "namespace": "ns"}],
            roleRef=_EDIT,
        ),
    ),
    (
        "create role r --verb=get,list --resource=secrets --resource-name=x",
        f"/apis/{RBAC}/namespaces/default/roles?",
        "role.rbac.authorization.k8s.io/r created",
        _obj(
            RBAC,
            "Role",
            metadata={"name": "r"},
            rules=[{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["x"]}],
        ),
    ),
    (
        "create clusterrole cr --verb=get --non-resource-url=/logs",
        f"/apis/{RBAC}/clusterroles?",
        "clusterrole.rbac.authorization.k8s.io/cr created",
        _obj(RBAC, "ClusterRole", metadata={"name": "cr"}, rules=[{"verbs": ["get"], "nonResourceURLs": ["/logs"]}]),
    ),
    (
        "create clusterrole agg --aggregation-rule=a=b",
        f"/apis/{RBAC}/clusterroles?",
        "clusterrole.rbac.authorization.k8s.io/agg created",
        _obj(
            RBAC,
            "ClusterRole",
            metadata={"name": "agg"},
            aggregationRule={"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]},
        ),
    ),
    (
        "create clusterrolebinding crb --clusterrole=edit --user=alice --group=devs",
        f"/apis/{RBAC}/clusterrolebindings?",
        "clusterrolebinding.rbac.authorization.k8s.io/crb created",
        _obj(
            RBAC,
            "ClusterRoleBinding",
            metadata={"name": "crb"},
            subjects=[
                {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
                {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "devs"},
            ],
            roleRef=_EDIT,
        ),
    ),
]


@pytest.mark.parametrize(("args", "url", "stdout", "expected"), KUBECTL_CASES, ids=[c[0] for c in KUBECTL_CASES])
async def test_real_kubectl_bodies_decode(
    kubectl: Kubectl, args: str, url: str, stdout: str, expected: dict[str, Any]
) -> None:
    code, out, err = await kubectl.run(*args.split())
    [sent] = kubectl.server.requests
    assert sent.content_type == MEDIA_TYPE
    assert url in sent.path_qs
    assert decode_protobuf_body(sent.body) == expected
    assert code == 0, err  # kubectl accepted the echo of the decoded object as the server's answer
    assert stdout in out


async def test_kubectl_delete_sends_json_delete_options(kubectl: Kubectl) -> None:
    """kubectl delete goes through the dynamic client: DeleteOptions arrive as JSON, not protobuf."""
    code, _, err = await kubectl.run("delete", "namespace", "foo", "--wait=false")
    assert code == 0, err
    [sent] = kubectl.server.requests
    assert (sent.method, sent.path_qs, sent.content_type) == ("DELETE", "/api/v1/namespaces/foo", "application/json")
    assert json.loads(sent.body) == {"propagationPolicy": "Background"}


async def test_binary_configmap_data_is_base64(kubectl: Kubectl, tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(b"\x00\xff\xfe")
    code, _, err = await kubectl.run("create", "configmap", "bin", f"--from-file={tmp_path / 'blob.bin'}")
    assert code == 0, err
    [sent] = kubectl.server.requests
    assert decode_protobuf_body(sent.body)["binaryData"] == {"blob.bin": "AP/+"}
