"""A throwaway PKI for the sandbox cluster: CA, API server, router/registry and signing keys.

One EC P-256 CA plays OpenShift's *ingress CA* (``openshift-ingress-operator/router-ca``) and also signs
the API server's serving certificate, so clients need a single trust anchor. The router certificate file
holds the leaf followed by the CA, like ``openshift-ingress/router-certs-default`` ``tls.crt``; it also
names IBM Cloud's hosts (``us.icr.io``, ``icr.io``, ``*.icr.io``, ``iam.cloud.ibm.com``), served by the
sandbox's IBM Cloud emulator and ICR registry.

Files are reused when they are all present, parse, chain to the CA, cover the wanted apps domain and stay
valid for more than a day; otherwise the whole set is made anew (a renewed CA invalidates every leaf).

Gaps:
- One CA for everything; OpenShift has separate service-serving, kube-apiserver and ingress signers; the
  real IBM Cloud hosts are signed by a public CA, here by the sandbox CA (clients must be given it).
- No rotation while running, no CRLs or OCSP.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import ipaddress
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

REGISTRY_ROUTE_PREFIX = "default-route-openshift-image-registry"
DEFAULT_APPS_DOMAIN = "apps.sandbox.horizon.test"
VALIDITY = dt.timedelta(days=30)
BACKDATE = dt.timedelta(minutes=5)
MIN_REMAINING = dt.timedelta(days=1)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

# The IBM Cloud emulator and the sandbox's ICR registry serve the router certificate too, so that clients
# reach them under their real names through connect-to entries.
IBM_CLOUD_NAMES = ("us.icr.io", "icr.io", "*.icr.io", "iam.cloud.ibm.com")


def registry_route_host(apps_domain: str) -> str:
    """The host of OpenShift's default registry Route for an ingress (apps) domain."""
    return f"{REGISTRY_ROUTE_PREFIX}.{apps_domain}"


@dataclass(frozen=True)
class SandboxPKI:
    """Paths of the sandbox's certificates and keys (all PEM)."""

    directory: Path
    apps_domain: str
    ca_cert: Path
    ca_key: Path
    apiserver_cert: Path
    apiserver_key: Path
    router_cert: Path  # leaf followed by the CA
    router_key: Path
    token_signing_cert: Path  # RSA-2048, signs registry JWTs
    token_signing_key: Path
    sa_signing_key: Path  # RSA-2048 PKCS#8, signs the emulator's ServiceAccount tokens
    sa_signing_public_key: Path

    @property
    def registry_host(self) -> str:
        return registry_route_host(self.apps_domain)

    @classmethod
    def at(cls, directory: Path, apps_domain: str) -> SandboxPKI:
        d = directory
        return cls(
            directory=d,
            apps_domain=apps_domain,
            ca_cert=d / "ca.crt",
            ca_key=d / "ca.key",
            apiserver_cert=d / "apiserver.crt",
            apiserver_key=d / "apiserver.key",
            router_cert=d / "router.crt",
            router_key=d / "router.key",
            token_signing_cert=d / "registry-token.crt",
            token_signing_key=d / "registry-token.key",
            sa_signing_key=d / "sa-signing.key",
            sa_signing_public_key=d / "sa-signing.pub",
        )


def ensure_pki(directory: Path, *, apps_domain: str = DEFAULT_APPS_DOMAIN) -> SandboxPKI:
    """Create the PKI under ``directory``, or reuse it when it is complete and valid for over a day."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = SandboxPKI.at(directory, apps_domain)
    with _locked(directory / ".pki.lock"):
        if not _reusable(pki, dt.datetime.now(dt.UTC)):
            _generate(pki)
    return pki


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    # Parallel test workers may share one PKI directory: only one of them generates.
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _router_names(apps_domain: str) -> list[x509.GeneralName]:
    return [
        x509.DNSName(f"*.{apps_domain}"),
        x509.DNSName(registry_route_host(apps_domain)),
        x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
        x509.DNSName("localhost"),
        *(x509.DNSName(name) for name in IBM_CLOUD_NAMES),
    ]


def _apiserver_names() -> list[x509.GeneralName]:
    return [
        x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
        x509.DNSName("localhost"),
        x509.DNSName("kubernetes"),
        x509.DNSName("kubernetes.default.svc"),
    ]


def _generate(pki: SandboxPKI) -> None:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _ca_certificate(ca_key, now)

    api_key = ec.generate_private_key(ec.SECP256R1())
    api_cert = _leaf(
        api_key, ca_cert, ca_key, now=now, common_name="kube-apiserver", names=_apiserver_names(), server=True
    )
    router_key = ec.generate_private_key(ec.SECP256R1())
    router_cert = _leaf(
        router_key,
        ca_cert,
        ca_key,
        now=now,
        common_name=f"*.{pki.apps_domain}",
        names=_router_names(pki.apps_domain),
        server=True,
    )
    token_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token_cert = _leaf(token_key, ca_cert, ca_key, now=now, common_name="registry-token-signer", names=[], server=False)
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    _write_key(pki.ca_key, ca_key)
    _write_key(pki.apiserver_key, api_key)
    _write_key(pki.router_key, router_key)
    _write_key(pki.token_signing_key, token_key)
    _write_key(pki.sa_signing_key, sa_key)
    _write_public(pki.sa_signing_public_key, sa_key)
    _write_certs(pki.apiserver_cert, [api_cert])
    _write_certs(pki.router_cert, [router_cert, ca_cert])
    _write_certs(pki.token_signing_cert, [token_cert])
    # The CA goes last: a crash half-way leaves a set that fails the chain check and is regenerated.
    _write_certs(pki.ca_cert, [ca_cert])


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Horizon Publisher sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca_certificate(key: ec.EllipticCurvePrivateKey, now: dt.datetime) -> x509.Certificate:
    name = _name(f"ingress-operator@{int(now.timestamp())}")
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _leaf(
    key: PrivateKey,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    *,
    now: dt.datetime,
    common_name: str,
    names: Sequence[x509.GeneralName],
    server: bool,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                # RSA TLS keys would need key encipherment; ours are EC, and the RSA key only signs.
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if server:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        ).add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _write_private(path: Path, data: bytes, mode: int) -> None:
    # Write to a temporary file created with the final mode, then rename: never a readable key on disk.
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
    finally:
        os.close(fd)
    tmp.replace(path)


def _write_key(path: Path, key: PrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write_private(path, pem, 0o600)


def _write_public(path: Path, key: rsa.RSAPrivateKey) -> None:
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    _write_private(path, pem, 0o644)


def _write_certs(path: Path, certs: Sequence[x509.Certificate]) -> None:
    pem = b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)
    _write_private(path, pem, 0o644)


def _reusable(pki: SandboxPKI, now: dt.datetime) -> bool:
    try:
        ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
        leaves = {
            path: x509.load_pem_x509_certificates(path.read_bytes())[0]
            for path in (pki.apiserver_cert, pki.router_cert, pki.token_signing_cert)
        }
        keys = (pki.ca_key, pki.apiserver_key, pki.router_key, pki.token_signing_key, pki.sa_signing_key)
        for key_path in keys:
            # Our own keys: skip the slow RSA consistency check.
            serialization.load_pem_private_key(
                key_path.read_bytes(), password=None, unsafe_skip_rsa_key_validation=True
            )
        serialization.load_pem_public_key(pki.sa_signing_public_key.read_bytes())
    except (OSError, ValueError, IndexError):
        return False
    if any(cert.not_valid_after_utc - now < MIN_REMAINING for cert in [ca, *leaves.values()]):
        return False
    if not all(_signed_by(cert, ca) for cert in leaves.values()):
        return False
    san = leaves[pki.router_cert].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(_router_names(pki.apps_domain)) <= set(san)


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    public_key = ca.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or cert.signature_hash_algorithm is None:
        return False
    try:
        public_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    except InvalidSignature:
        return False
    return cert.issuer == ca.subject


def load_private_key(path: Path) -> PrivateKey:
    """Load one of the PKI's private keys (EC or RSA)."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise TypeError(f"{path.name}: unsupported key type {type(key).__name__}")
    return key
