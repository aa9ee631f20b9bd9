"""Test harness: a served sandbox cluster (InMemoryCluster + create_app over TLS on 127.0.0.1) with the OpenShift
behaviours installed, and clients for it: the official ``kubernetes`` client, ``requests`` and kubectl."""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from horizon_publisher.sandbox.kubeapi.cluster import InMemoryCluster
from horizon_publisher.sandbox.kubeapi.runner import EmulatorThread
from horizon_publisher.sandbox.openshift import SandboxClusterConfig, install
from horizon_publisher.sandbox.openshift.config import generate_ca_pem, generate_rsa_key_pem

KUBECTL = "/usr/bin/kubectl"


def _serving_material() -> tuple[str, str, str]:
    """(CA PEM, server certificate PEM for 127.0.0.1, server key PEM): kubectl sends tokens only over TLS."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sandbox-kube-apiserver-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return ca.public_bytes(pem).decode(), cert.public_bytes(pem).decode(), key_pem.decode()


CA_PEM, SERVER_CERT_PEM, SERVER_KEY_PEM = _serving_material()
MATERIAL = {
    "sa_signing_key_pem": generate_rsa_key_pem(),
    "api_server_ca_pem": CA_PEM,
    "ingress_ca_pem": generate_ca_pem("sandbox-ingress"),
}


class FakeClock:
    """Real time plus an offset the test can move forward (token expiry)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class Sandbox:
    api: EmulatorThread
    config: SandboxClusterConfig
    clock: FakeClock
    workdir: Path
    _clients: list[k8s.ApiClient] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.api.url

    @property
    def admin_token(self) -> str:
        return self.api.admin_token

    def client(self, token: str | None = None) -> k8s.ApiClient:
        configuration = k8s.Configuration()
        configuration.host = self.url
        configuration.ssl_ca_cert = str(self.api.ca_file)
        configuration.api_key = {"authorization": token or self.admin_token}
        configuration.api_key_prefix = {"authorization": "Bearer"}
        client = k8s.ApiClient(configuration)
        self._clients.append(client)
        return client

    def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run on the server's loop (direct cluster access)."""
        return self.api.call(function, *args, **kwargs)

    def kubectl(
        self, *args: str, token: str | None = None, namespace: str = "default"
    ) -> subprocess.CompletedProcess[str]:
        kubeconfig = self.api.write_kubeconfig(
            self.workdir / f"kubeconfig-{len(self._clients)}-{time.monotonic_ns()}", namespace=namespace, token=token
        )
        env = {"PATH": os.environ.get("PATH", "/usr/bin"), "HOME": str(self.workdir), "KUBECONFIG": str(kubeconfig)}
        return subprocess.run(
            [KUBECTL, "--cache-dir", str(self.workdir / "kube-cache"), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self.api.stop()


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(interval)


def start_sandbox(workdir: Path, **overrides: Any) -> Sandbox:
    settings: dict[str, Any] = {
        **MATERIAL,
        "route_delay_seconds": 0.3,
        "router_admit_delay_seconds": 0.05,
        "token_controller_delay_seconds": 0.1,
        **overrides,
    }
    config = SandboxClusterConfig(**settings)
    clock = FakeClock()
    cluster = InMemoryCluster()
    install(cluster, config, clock=clock)
    ca_file, cert_file, key_file = workdir / "ca.crt", workdir / "tls.crt", workdir / "tls.key"
    ca_file.write_text(CA_PEM)
    cert_file.write_text(SERVER_CERT_PEM)
    key_file.write_text(SERVER_KEY_PEM)
    api = EmulatorThread(cluster, tls=(cert_file, key_file), ca_file=ca_file).start()
    return Sandbox(api, config, clock, workdir)


def create_service_account(box: Sandbox, namespace: str, name: str) -> dict[str, Any]:
    core = k8s.CoreV1Api(box.client())
    if box.call(box.api.cluster.get, "v1/namespaces", None, namespace) is None:
        core.create_namespace({"metadata": {"name": namespace}})
    account = core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    return box.client().sanitize_for_serialization(account)  # type: ignore[no-any-return]


def token_for(box: Sandbox, namespace: str, name: str, **spec: Any) -> str:
    core = k8s.CoreV1Api(box.client())
    response = core.create_namespaced_service_account_token(name, namespace, {"spec": spec})
    return str(response.status.token)


def bind(
    box: Sandbox, namespace: str, role: str, sa_namespace: str, sa_name: str, *, cluster_wide: bool = False
) -> None:
    rbac = k8s.RbacAuthorizationV1Api(box.client())
    body = {
        "metadata": {"name": f"{sa_namespace}-{sa_name}-{role}".replace(":", "-")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": sa_name, "namespace": sa_namespace}],
    }
    if cluster_wide:
        rbac.create_cluster_role_binding(body)
    else:
        rbac.create_namespaced_role_binding(namespace, body)
