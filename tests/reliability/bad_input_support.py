"""Harness of the bad-input corpus: case placement, key material, and what "nothing else was touched" means.

- :class:`Env`: the sandbox facts case builders need (Exchange, IBM Cloud emulator, shared namespaces).
- :class:`Materials`: signing keys, certificates and PEM oddities, made once per run.
- :func:`kube_snapshot` / :func:`exchange_snapshot`: every Namespace, Secret, ConfigMap, ServiceAccount and
  RoleBinding (resourceVersion + owner labels), and the Exchange org's services with their keys, dockauths
  and service policies, patterns and deployment policies: diffed before and after the corpus runs.
- :class:`ReadyWatch`: a thread that reads the canary's Ready twice a second while the corpus runs.
"""

from __future__ import annotations

import base64
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from horizon_publisher.signing import generate_signing_key
from tests.e2e.service_image_kube import Kube
from tests.e2e.service_image_support import condition

MANAGED_BY = "app.kubernetes.io/managed-by"
OWNER_NAMESPACE = "edge.horizon.dev/owner-namespace"
OWNER_NAME = "edge.horizon.dev/owner-name"
SNAPSHOT_KINDS = {
    "secrets": "/api/v1/secrets",
    "configmaps": "/api/v1/configmaps",
    "serviceaccounts": "/api/v1/serviceaccounts",
    "rolebindings": "/apis/rbac.authorization.k8s.io/v1/rolebindings",
}

ObjectKey = tuple[str, str, str]  # (namespace, plural, name); namespace "" for Namespaces themselves


@dataclass(frozen=True)
class Env:
    """What a case needs to know about the sandbox it runs in."""

    exchange: Mapping[str, Any]  # endpoints.json "exchange"
    ibm: Mapping[str, Any]  # endpoints.json "ibmCloud"
    shared_namespace: str  # EdgePublication cases: it holds a Ready image "hello" and the Exchange Secret/CA
    canary_namespace: str  # another tenant: its Secrets and its image must stay out of reach
    canary_project: str  # the canary image's OpenShift project
    victim_namespace: str  # a third tenant's namespace, with nothing of ours in it
    materials: Materials

    @property
    def org(self) -> str:
        return str(self.exchange["org"])


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def secret(name: str, data: Mapping[str, bytes | str], kind: str = "Opaque") -> dict[str, Any]:
    """A Secret body whose values are given raw (bytes stay bytes: invalid UTF-8 and NUL survive)."""
    return {"kind": "Secret", "metadata": {"name": name}, "type": kind, "data": {k: b64(v) for k, v in data.items()}}


def config_map(name: str, data: Mapping[str, str], binary: Mapping[str, bytes] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "ConfigMap", "metadata": {"name": name}, "data": dict(data)}
    if binary:
        body["binaryData"] = {k: b64(v) for k, v in binary.items()}
    return body


def _pem_private(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, fmt: serialization.PrivateFormat) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def _self_signed(
    key: rsa.RSAPrivateKey, *, not_after: datetime, ca: bool = False, not_before: datetime | None = None
) -> str:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "myorg"), x509.NameAttribute(NameOID.COMMON_NAME, "bi")]
    name = x509.Name(attributes)
    usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(4242)
        .not_valid_before(not_before or not_after - timedelta(days=30))
        .not_valid_after(not_after)
        .add_extension(usage, critical=True)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class Materials:
    """Key material for the signing cases; each property is made on first use (RSA generation is slow)."""

    @cached_property
    def valid(self) -> tuple[str, str]:
        """(PKCS#1 private PEM, certificate PEM) as hzn key create writes them."""
        return generate_signing_key(bits=2048, organization="myorg", common_name="bad-input corpus")

    @cached_property
    def _rsa(self) -> rsa.RSAPrivateKey:
        loaded = serialization.load_pem_private_key(self.valid[0].encode(), None)
        assert isinstance(loaded, rsa.RSAPrivateKey)
        return loaded

    @cached_property
    def pkcs8(self) -> str:
        return _pem_private(self._rsa, serialization.PrivateFormat.PKCS8)

    @cached_property
    def encrypted(self) -> str:
        """An OpenSSL-encrypted PKCS#1 key (Proc-Type/DEK-Info headers), as ``openssl genrsa -aes256`` writes."""
        encryption = serialization.BestAvailableEncryption(b"passphrase")
        return self._rsa.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, encryption
        ).decode()

    @cached_property
    def ec_sec1(self) -> str:
        return _pem_private(ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.TraditionalOpenSSL)

    @cached_property
    def ec_pkcs8(self) -> str:
        return _pem_private(ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.PKCS8)

    @cached_property
    def small_rsa(self) -> str:
        """A 512-bit PKCS#1 key (cryptography refuses to generate one; OpenSSL still does)."""
        made = subprocess.run(
            ["openssl", "genrsa", "-traditional", "512"], capture_output=True, text=True, check=True, timeout=30
        )
        return made.stdout

    @cached_property
    def other_certificate(self) -> str:
        """A valid certificate of another key: it does not belong to ``valid``'s private key."""
        return generate_signing_key(bits=2048, organization="myorg", common_name="someone else")[1]

    @cached_property
    def rsa_public_pkcs1(self) -> str:
        return (
            self._rsa.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode()
        )

    @cached_property
    def expired_certificate(self) -> str:
        return _self_signed(self._rsa, not_after=datetime.now(UTC) - timedelta(days=1))

    @cached_property
    def ca_certificate(self) -> str:
        """A CA certificate of the signing key: agents refuse CA certificates as signing certificates."""
        return _self_signed(self._rsa, not_after=datetime.now(UTC) + timedelta(days=30), ca=True)


# --- snapshots ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One object as a snapshot keeps it: enough to tell it changed and who claims it."""

    resource_version: str
    owner: tuple[str, str] | None  # (owner namespace, owner name) from our labels, when managed by us


def _seen(obj: Mapping[str, Any]) -> Seen:
    metadata = obj.get("metadata") or {}
    labels = metadata.get("labels") or {}
    owner = (
        (str(labels.get(OWNER_NAMESPACE)), str(labels.get(OWNER_NAME)))
        if labels.get(MANAGED_BY) == "horizon-publisher"
        else None
    )
    return Seen(str(metadata.get("resourceVersion")), owner)


def kube_snapshot(kube: Kube) -> dict[ObjectKey, Seen]:
    found = {("", "namespaces", str(ns["metadata"]["name"])): _seen(ns) for ns in kube.list("/api/v1/namespaces")}
    for plural, collection in SNAPSHOT_KINDS.items():
        for obj in kube.list(collection):
            metadata = obj["metadata"]
            found[(str(metadata["namespace"]), plural, str(metadata["name"]))] = _seen(obj)
    return found


def changed(before: Mapping[ObjectKey, Seen], after: Mapping[ObjectKey, Seen]) -> dict[ObjectKey, str]:
    """Every object created, modified or deleted between two snapshots: key -> "created" / "modified" / ..."""
    result = {key: "deleted" for key in before if key not in after}
    for key, seen in after.items():
        if key not in before:
            result[key] = "created"
        elif before[key].resource_version != seen.resource_version:
            result[key] = "modified"
    return result


def exchange_snapshot(exchange: Mapping[str, Any]) -> dict[str, Any]:
    """Everything of the org the sandbox user can list, with lastUpdated stamps (any write moves them)."""
    org, base = str(exchange["org"]), str(exchange["url"]).rstrip("/")
    with requests.Session() as session:
        session.auth = (f"{org}/{exchange['user']}", str(exchange["password"]))

        def get(path: str) -> Any:
            response = session.get(base + path, verify=str(exchange["caFile"]), timeout=10)
            assert response.status_code in (200, 404), f"GET {path}: HTTP {response.status_code}"
            return response.json()

        state: dict[str, Any] = {}
        for full_id, service in (get(f"/orgs/{org}/services").get("services") or {}).items():
            sid = full_id.split("/", 1)[1]
            keys = get(f"/orgs/{org}/services/{sid}/keys")
            dockauths = get(f"/orgs/{org}/services/{sid}/dockauths")
            dockauths = dockauths if isinstance(dockauths, list) else []
            policy = get(f"/orgs/{org}/services/{sid}/policy")
            state[f"service {full_id}"] = {
                "lastUpdated": service.get("lastUpdated"),
                "keys": sorted(keys) if isinstance(keys, list) else [],
                "dockauths": sorted((d.get("dockAuthId"), d.get("lastUpdated")) for d in dockauths),
                "policy": policy.get("lastUpdated") if isinstance(policy, dict) else None,
            }
        for full_id, pattern in (get(f"/orgs/{org}/patterns").get("patterns") or {}).items():
            state[f"pattern {full_id}"] = pattern.get("lastUpdated")
        for full_id, policy in (get(f"/orgs/{org}/business/policies").get("businessPolicy") or {}).items():
            state[f"deployment policy {full_id}"] = policy.get("lastUpdated")
    return state


# --- the canary ---------------------------------------------------------------------------------------------


@dataclass
class ReadyWatch:
    """Reads each watched resource's Ready every ``interval`` seconds until stopped; keeps what was not True."""

    read: Callable[[], dict[str, Mapping[str, Any] | None]]  # label -> resource
    interval: float = 0.5
    samples: int = 0
    lapses: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="canary-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for label, resource in self.read().items():
                ready = condition(resource, "Ready")
                if ready.get("status") != "True":
                    self.lapses.append(f"{label}: Ready={ready.get('status')}/{ready.get('reason')}")
            self.samples += 1


def read_text(path: str | Path) -> str:
    return Path(path).read_text()
