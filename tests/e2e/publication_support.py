"""Helpers for the EdgePublication end-to-end tests: Ready images, publication manifests, the Exchange seen
from outside, and ``horizon-publisher verify`` as a user runs it.

- :func:`ready_images`: EdgeServiceImages (LongLived tokens unless asked otherwise) created together, pushed
  through the route host with the operator's own credentials, and waited Ready; their registry digests.
- :func:`publication`: an EdgePublication shaped like sample 21, pointed at the sandbox Exchange.
- :class:`Publisher`: the publication API (waits that report the conditions they last saw), the Exchange as
  the sandbox user sees it (dockauth tokens wrapped in :class:`Token`, so they never print), ``verify``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from horizon_publisher.clients.exchange import ExchangeClient, ExchangeEndpoint
from tests.e2e.conftest import wait_for
from tests.e2e.service_image_kube import GROUP, VERSION, DockerAuth, Token, configmap_path, secret_path
from tests.e2e.service_image_support import (
    Cluster,
    condition,
    describe_conditions,
    merged,
    service_image,
    unique,
)

PLURAL = "edgepublications"
EXCHANGE_CALL = re.compile(r"horizon_publisher\.clients\.exchange: (?P<method>[A-Z]+) (?P<path>/\S+) -> HTTP")
WRITES = ("POST", "PUT", "PATCH", "DELETE")
EXCHANGE_SECRET = "exchange-credentials"
EXCHANGE_CA = "exchange-ca"
PUBLISH = 60.0  # seconds: bound for a publication to settle (key generation, services, dockauths, pattern)
LONG_LIVED = {"registry": {"openshift": {"token": {"mode": "LongLived"}}}}
ROTATING = {"registry": {"openshift": {"token": {"mode": "Rotating", "expirationSeconds": 600}}}}


def epub_path(namespace: str, name: str) -> str:
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}"


def service_url(prefix: str) -> str:
    """A service url of its own per test, so no two tests touch the same Exchange service."""
    return f"com.example.{unique(prefix)}"


def without_nones(value: Any) -> Any:
    """Drop mapping keys whose value is None: how an override removes a field of the base manifest."""
    if isinstance(value, Mapping):
        return {k: without_nones(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nones(v) for v in value]
    return value


# --- images ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageWanted:
    key: str
    arches: tuple[str, ...] = ("amd64",)
    spec: Mapping[str, Any] = field(default_factory=lambda: LONG_LIVED)
    push: bool = True


@dataclass(frozen=True)
class ReadyImage:
    """EdgeServiceImage ``name`` in ``namespace``; ``digests``: arch -> what the registry holds for the tag."""

    namespace: str
    name: str
    project: str
    arches: tuple[str, ...]
    auth: DockerAuth
    ca: str
    digests: dict[str, str]

    def repository(self, arch: str) -> str:
        return f"{self.project}/{self.name}_{arch}"


def ready_images(cluster: Cluster, wanted: Iterable[ImageWanted], name: str = "hello") -> dict[str, ReadyImage]:
    """Create every image first (they settle in parallel), then push each and wait for Ready."""
    created = []
    for want in wanted:
        namespace, project = cluster.namespace(f"pub-{want.key}"), unique(f"pub-{want.key}-images")
        spec = merged({"image": {"arches": list(want.arches)}}, want.spec)
        cluster.apply(service_image(name, namespace, project, spec))
        created.append((want, namespace, project))
    images = {}
    for want, namespace, project in created:
        cluster.wait_condition(namespace, name, "CredentialsReady", "True")
        auth = cluster.credentials(namespace, f"{name}-registry")
        ca = cluster.ca_file(namespace, f"{name}-registry-ca")
        digests = {}
        if want.push:
            for arch in want.arches:
                digests[arch] = cluster.push(auth, f"{project}/{name}_{arch}", "1.0.0", arch=arch, ca=ca)
        images[want.key] = ReadyImage(namespace, name, project, want.arches, auth, ca, digests)
    for image in images.values():
        if image.digests:
            cluster.wait_condition(image.namespace, image.name, "Ready", "True", "Reconciled")
    return images


# --- manifests --------------------------------------------------------------------------------------


def publication(
    name: str,
    namespace: str,
    exchange: Mapping[str, Any],
    *,
    url: str,
    image: str = "hello",
    arches: Iterable[str] = ("amd64",),
    spec: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Sample 21's shape (inline deployment, generated key) at the sandbox Exchange; ``spec`` merged in,
    a ``None`` in it removes that field."""
    base = {
        "exchange": {
            "url": exchange["url"],
            "org": exchange["org"],
            "credentialsSecretRef": {"name": EXCHANGE_SECRET},
            "tls": {"caRef": {"kind": "ConfigMap", "name": EXCHANGE_CA, "key": "ca.crt"}},
        },
        "imageRefs": [{"name": image, "containers": ["hello"]}],
        "service": {
            "url": url,
            "version": "1.0.0",
            "label": "Hello edge service",
            "arches": list(arches),
            "userInput": [{"name": "HW_WHO", "label": "Who", "type": "string", "defaultValue": "World"}],
            "deployment": {"services": {"hello": {"privileged": False, "network": ""}}},
        },
        "signing": {
            "keySecretRef": {"name": f"{name}-signing-key"},
            "generateIfMissing": True,
            "generatedKey": {"bits": 2048},  # 4096 is the default; 2048 keeps the tests fast
        },
        "deletionPolicy": "Delete",
    }
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EdgePublication",
        "metadata": {"name": name, "namespace": namespace},
        "spec": without_nones(merged(base, spec or {})),
    }


# --- the publication API and the Exchange -----------------------------------------------------------


@dataclass(frozen=True)
class DockAuthRow:
    id: int
    registry: str
    username: str
    token: Token
    last_updated: str


class Publisher:
    """One sandbox seen by the publication tests; ``close()`` it."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.endpoints: dict[str, Any] = cluster.sandbox.endpoints["exchange"]
        self.exchange = ExchangeClient(self.endpoint())

    def close(self) -> None:
        self.exchange.close()

    @property
    def org(self) -> str:
        return str(self.endpoints["org"])

    @property
    def password(self) -> Token:
        return Token(str(self.endpoints["password"]))

    def endpoint(self) -> ExchangeEndpoint:
        """The sandbox's seeded Exchange user, trusting only the sandbox CA."""
        return ExchangeEndpoint(
            url=self.endpoints["url"],
            org=self.org,
            username=self.endpoints["user"],
            password=self.endpoints["password"],
            ca_pem=Path(self.endpoints["caFile"]).read_text(),
        )

    # --- kubernetes side ---

    def prepare(self, namespace: str) -> None:
        """The Exchange credentials Secret and CA ConfigMap a publication in ``namespace`` refers to."""
        kube = self.cluster.kube
        credentials = {"username": self.endpoints["user"], "password": self.endpoints["password"]}
        if not kube.exists(secret_path(namespace, EXCHANGE_SECRET)):
            body = {"metadata": {"name": EXCHANGE_SECRET}, "type": "Opaque", "stringData": credentials}
            kube.create(f"/api/v1/namespaces/{namespace}/secrets", body)
        if not kube.exists(configmap_path(namespace, EXCHANGE_CA)):
            data = {"ca.crt": Path(self.endpoints["caFile"]).read_text()}
            kube.create(f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": EXCHANGE_CA}, "data": data})

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.cluster.kube.get(epub_path(namespace, name))

    def wait_until(
        self,
        namespace: str,
        name: str,
        accept: Callable[[dict[str, Any]], bool],
        what: str,
        timeout: float = PUBLISH,
    ) -> dict[str, Any]:
        last: list[dict[str, Any] | None] = [None]

        def probe() -> dict[str, Any] | None:
            last[0] = self.get(namespace, name)
            return last[0] if last[0] is not None and accept(last[0]) else None

        try:
            found: dict[str, Any] = wait_for(probe, timeout=timeout, interval=0.2, what=f"{namespace}/{name}: {what}")
        except AssertionError as error:
            raise AssertionError(f"{error}; conditions: {describe_conditions(last[0])}") from None
        return found

    def wait_condition(
        self, namespace: str, name: str, kind: str, status: str, reason: str | None = None, *, timeout: float = PUBLISH
    ) -> dict[str, Any]:
        def accept(resource: dict[str, Any]) -> bool:
            found = condition(resource, kind)
            return found.get("status") == status and reason in (None, found.get("reason"))

        return self.wait_until(namespace, name, accept, f"{kind}={status}/{reason or '*'}", timeout)

    def wait_ready(self, namespace: str, name: str, timeout: float = PUBLISH) -> dict[str, Any]:
        return self.wait_condition(namespace, name, "Ready", "True", "Reconciled", timeout=timeout)

    def leaks(self, namespace: str, name: str, secrets: Iterable[Token]) -> list[str]:
        """Where (status, Events, operator log) any of ``secrets`` shows up; names only, never values."""
        places = {
            "status": json.dumps(self.get(namespace, name) or {}),
            "events": json.dumps(self.cluster.events(namespace, name)),
            "operator log": self.cluster.operator.log(),
        }
        return [
            f"{secret!r} in the {where}"
            for secret in secrets
            for where, text in places.items()
            if secret.reveal() in text
        ]

    # --- exchange side ---

    def service(self, sid: str) -> dict[str, Any] | None:
        return self.exchange.get_service(sid)

    def deployment(self, sid: str) -> dict[str, Any]:
        service = self.service(sid)
        assert service is not None, f"service {self.org}/{sid} is not in the Exchange"
        parsed: dict[str, Any] = json.loads(service["deployment"])
        return parsed

    def dockauths(self, sid: str) -> list[DockAuthRow]:
        try:
            rows = self.exchange.list_dockauths(sid)
        except Exception as error:
            raise AssertionError(f"listing the dockauths of {sid}: {type(error).__name__}") from None
        return [
            DockAuthRow(
                int(row["dockAuthId"]),
                str(row.get("registry")),
                str(row.get("username")),
                Token(str(row.get("token"))),
                str(row.get("lastUpdated")),
            )
            for row in rows
        ]

    def exchange_calls(self, *fragments: str) -> list[str]:
        """``METHOD /path`` of every Exchange request the operator logged (at -v) whose path names any of
        ``fragments``: how a test sees that resyncs ran and what they wrote."""
        calls = []
        for line in self.cluster.operator.log().splitlines():
            found = EXCHANGE_CALL.search(line)
            if found and any(fragment in found["path"] for fragment in fragments):
                calls.append(f"{found['method']} {found['path']}")
        return calls

    def verify(self, service_ids: Iterable[str]) -> subprocess.CompletedProcess[str]:
        """``horizon-publisher verify`` as a user runs it, credentials from the environment."""
        env = {**os.environ, "HZN_EXCHANGE_USER_AUTH": f"{self.endpoints['user']}:{self.endpoints['password']}"}
        argv = [
            sys.executable,
            "-m",
            "horizon_publisher",
            "verify",
            "--exchange-url",
            self.endpoints["url"],
            "--org",
            self.org,
            "--ca-file",
            self.endpoints["caFile"],
            *service_ids,
        ]
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)


def sid_of(url: str, arch: str, version: str = "1.0.0") -> str:
    """The Exchange service id of a test's url (com.example.NAME: nothing for the id rules to replace)."""
    return f"{url}_{version}_{arch}"


def pinned(publisher: Publisher, image: ReadyImage, arch: str, digest: str) -> str:
    return f"{publisher.cluster.host}/{image.repository(arch)}@{digest}"


def verified(publisher: Publisher, *service_ids: str) -> None:
    result = publisher.verify(service_ids)
    assert result.returncode == 0, f"verify exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    assert result.stdout.count("OK ") == len(service_ids), result.stdout


def exchange_snapshot(publisher: Publisher, sid: str) -> dict[str, Any]:
    service = publisher.service(sid) or {}
    return {
        "lastUpdated": service.get("lastUpdated"),
        "signature": hashlib.sha256(str(service.get("deploymentSignature")).encode()).hexdigest()[:12],
        "keys": sorted(publisher.exchange.get_service_keys(sid)),
        "dockauths": [(d.id, d.last_updated) for d in publisher.dockauths(sid)],
    }


def status_services(resource: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """status.services by arch."""
    return {s["arch"]: s for s in (resource.get("status") or {}).get("services") or []}
