"""Plain-JSON access to the sandbox API for the EdgeServiceImage e2e tests, and credentials that never print.

pytest prints the arguments of every frame of a failure and the operands of a failed assert, so:
:class:`KubeObject` prints as kind/namespace/name, :class:`Token` as a fingerprint, and helpers that
decode a Secret fail without the library frames that would show its data.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from tests.e2e.conftest import Sandbox

GROUP, VERSION, PLURAL = "edge.horizon.dev", "v1alpha1", "edgeserviceimages"


# --- paths ------------------------------------------------------------------------------------------


def esi_path(namespace: str, name: str) -> str:
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}"


def namespace_path(name: str) -> str:
    return f"/api/v1/namespaces/{name}"


def secret_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/secrets/{name}"


def configmap_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps/{name}"


def service_account_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}"


def role_binding_path(namespace: str, name: str) -> str:
    return f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings/{name}"


# --- tokens -----------------------------------------------------------------------------------------


class Token:
    """A credential that compares by value but prints only a fingerprint (pytest shows reprs on failure)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self._value.encode()).hexdigest()[:12]

    def claims(self) -> dict[str, Any]:
        """The JWT payload, unverified: only to read iat/exp/sub; {} when it is not a JWT."""
        parts = self._value.split(".")
        if len(parts) != 3:
            return {}
        try:
            payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except (ValueError, binascii.Error):
            return {}
        return payload if isinstance(payload, dict) else {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Token) and secrets.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return f"<token sha256:{self.fingerprint}...>"

    __str__ = __repr__


@dataclass(frozen=True)
class DockerAuth:
    """One ``auths`` entry of a dockerconfigjson; ``auth_matches``: auth == base64(username:password)."""

    host: str
    username: str
    token: Token
    auth_matches: bool

    def pair(self) -> tuple[str, str]:
        return self.username, self.token.reveal()


def _decoded(secret: Mapping[str, Any], key: str) -> str:
    """A Secret's value, decoded; a malformed one fails without the library frames that would print it."""
    try:
        return base64.b64decode((secret.get("data") or {}).get(key, ""), validate=True).decode()
    except (ValueError, binascii.Error):
        raise AssertionError(f"{secret!r}: {key} is not base64 text") from None


def docker_auths(secret: Mapping[str, Any]) -> dict[str, DockerAuth]:
    """The ``auths`` entries of a dockerconfigjson Secret; malformed JSON reads as no entries."""
    try:
        config = json.loads(_decoded(secret, ".dockerconfigjson") or "{}")
        auths = dict(config.get("auths") or {})
    except (ValueError, AttributeError, TypeError):
        return {}
    entries: dict[str, DockerAuth] = {}
    for host, entry in auths.items():
        fields = entry if isinstance(entry, dict) else {}
        username, password = str(fields.get("username", "")), str(fields.get("password", ""))
        expected = base64.b64encode(f"{username}:{password}".encode()).decode()
        entries[host] = DockerAuth(host, username, Token(password), fields.get("auth") == expected)
    return entries


def secret_value(secret: Mapping[str, Any], key: str) -> Token:
    return Token(_decoded(secret, key))


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


# --- the API, as plain JSON -------------------------------------------------------------------------


class KubeObject(dict[str, Any]):
    """An API object that prints as kind/namespace/name only: pytest prints the arguments of every frame
    of a failure, and a Secret's data must never reach the test report."""

    def __repr__(self) -> str:
        meta = self.get("metadata") or {}
        where = "/".join(x for x in (meta.get("namespace"), meta.get("name")) if x)
        return f"<{self.get('kind', 'object')} {where}>"


class Kube:
    """REST calls as the sandbox admin; 404 on GET is ``None``, other errors raise without the body."""

    def __init__(self, sandbox: Sandbox) -> None:
        kubernetes = sandbox.endpoints["kubernetes"]
        self._base = kubernetes["url"]
        self._ca = kubernetes["caFile"]
        token = Path(kubernetes["adminTokenFile"]).read_text().strip()
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self._session.close()

    def _call(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        response = self._session.request(
            method,
            self._base + path,
            data=None if body is None else json.dumps(body),
            headers={"Content-Type": content_type},
            verify=self._ca,  # per request: REQUESTS_CA_BUNDLE would override Session.verify
            timeout=30,
        )
        if method == "GET" and response.status_code == 404:
            return None
        if not response.ok:
            reason = response.json().get("message", "") if "json" in response.headers.get("Content-Type", "") else ""
            raise AssertionError(f"{method} {path}: HTTP {response.status_code} {reason}")
        return response.json(object_hook=lambda o: KubeObject(o) if "metadata" in o else o)

    def get(self, path: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self._call("GET", path)
        return result

    def exists(self, path: str) -> bool:
        return self.get(path) is not None

    def create(self, collection: str, body: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", collection, body)
        return result

    def merge_patch(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PATCH", path, body, "application/merge-patch+json")
        return result

    def delete(self, path: str) -> None:
        self._call("DELETE", path)

    def list(self, collection: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self._call("GET", collection)["items"]
        return items

    def review(self, token: Token) -> tuple[bool, str]:
        """(authenticated, username) from a TokenReview; the response, which echoes the token, stays here."""
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token.reveal()}}
        try:
            status = self._call("POST", "/apis/authentication.k8s.io/v1/tokenreviews", body).get("status") or {}
        except AssertionError as error:
            raise AssertionError(str(error)) from None  # the failing frame's arguments hold the token
        return bool(status.get("authenticated")), str((status.get("user") or {}).get("username", ""))
