"""Test doubles for the registry tests: a fake Kubernetes review API and the running-registry handle.

``FakeReviewApi`` stands in for the Kubernetes API server: it answers only SelfSubjectReview and
SelfSubjectAccessReview, from a fixed table of tokens and permissions, and counts the reviews it served.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

from horizon_publisher.sandbox.pki import SandboxPKI
from horizon_publisher.sandbox.registry import RegistryProcess
from horizon_publisher.sandbox.registry_auth import TokenSigner
from horizon_publisher.sandbox.registry_static_auth import StaticCredential

APPS_DOMAIN = "apps.sandbox.horizon.test"
SERVICE = "openshift-image-registry"
ISSUER = "sandbox-test-issuer"

# token -> (username, granted (verb, resource, namespace) triples; namespace "" = cluster-wide)
FAKE_USERS: dict[str, tuple[str, frozenset[tuple[str, str, str]]]] = {
    "pusher-token": (
        "system:serviceaccount:demo:pusher",
        frozenset(
            {
                ("get", "imagestreams/layers", "demo"),
                ("update", "imagestreams/layers", "demo"),
                ("create", "imagestreams", "demo"),
            }
        ),
    ),
    "updater-token": (
        "system:serviceaccount:demo:updater",  # may update existing streams, may not create new ones
        frozenset({("get", "imagestreams/layers", "demo"), ("update", "imagestreams/layers", "demo")}),
    ),
    "puller-token": (
        "system:serviceaccount:demo:puller",
        frozenset({("get", "imagestreams/layers", "demo")}),
    ),
    "admin-token": ("kube:admin", frozenset({("*", "*", "*")})),
}
STATIC_ROBOT = StaticCredential("robot", "robot-password", repositories="generic/*")


@dataclass
class FakeReviewApi:
    """A fake Kubernetes API answering the two self-reviews from :data:`FAKE_USERS`."""

    users: dict[str, tuple[str, frozenset[tuple[str, str, str]]]] = field(default_factory=lambda: FAKE_USERS)
    calls: Counter[str] = field(default_factory=Counter)

    def _user(self, request: web.Request) -> tuple[str, frozenset[tuple[str, str, str]]] | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return self.users.get(token) if scheme == "Bearer" else None

    @staticmethod
    def _unauthorized() -> web.Response:
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "reason": "Unauthorized",
            "code": 401,
        }
        return web.json_response(status, status=401)

    async def self_subject_review(self, request: web.Request) -> web.Response:
        self.calls["selfsubjectreviews"] += 1
        user = self._user(request)
        if user is None:
            return self._unauthorized()
        body = {"kind": "SelfSubjectReview", "status": {"userInfo": {"username": user[0], "groups": []}}}
        return web.json_response(body, status=201)

    async def self_subject_access_review(self, request: web.Request) -> web.Response:
        self.calls["selfsubjectaccessreviews"] += 1
        user = self._user(request)
        if user is None:
            return self._unauthorized()
        attributes = (await request.json())["spec"]["resourceAttributes"]
        resource = attributes["resource"]
        if attributes.get("subresource"):
            resource += "/" + attributes["subresource"]
        wanted = (attributes["verb"], resource, attributes.get("namespace", ""))
        allowed = attributes.get("group") == "image.openshift.io" and any(
            all(granted in ("*", asked) for granted, asked in zip(rule, wanted, strict=True)) for rule in user[1]
        )
        self.calls[f"ssar:{wanted}"] += 1
        return web.json_response({"kind": "SelfSubjectAccessReview", "status": {"allowed": allowed}}, status=201)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/apis/authentication.k8s.io/v1/selfsubjectreviews", self.self_subject_review)
        app.router.add_post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", self.self_subject_access_review)
        return app


@dataclass(frozen=True)
class SandboxRegistry:
    pki: SandboxPKI
    process: RegistryProcess
    token_url: str
    kube: FakeReviewApi
    signer: TokenSigner

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def ca(self) -> str:
        return str(self.pki.ca_cert)
