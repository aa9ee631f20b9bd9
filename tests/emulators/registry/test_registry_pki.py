"""The sandbox PKI: what each certificate contains, and when it is reused or made anew."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from horizon_publisher.sandbox import pki as pki_module
from horizon_publisher.sandbox.pki import ensure_pki, load_private_key

DOMAIN = "apps.example.test"


def sans(cert: x509.Certificate) -> set[str]:
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n.value) for n in names}


def test_router_certificate_is_leaf_then_ca_for_the_apps_domain(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path, apps_domain=DOMAIN)
    leaf, ca = x509.load_pem_x509_certificates(pki.router_cert.read_bytes())
    assert ca == x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    leaf.verify_directly_issued_by(ca)
    assert sans(leaf) == {
        f"*.{DOMAIN}",
        f"default-route-openshift-image-registry.{DOMAIN}",
        "127.0.0.1",
        "localhost",
        # IBM Cloud hosts the sandbox fronts through connect-to (us.icr.io, iam.cloud.ibm.com...)
        "us.icr.io",
        "icr.io",
        "*.icr.io",
        "iam.cloud.ibm.com",
    }
    assert pki.registry_host == f"default-route-openshift-image-registry.{DOMAIN}"
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_ca_and_api_server_certificates(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path, apps_domain=DOMAIN)
    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    ca_key = ca.public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey)
    assert ca_key.curve.name == "secp256r1"
    api = x509.load_pem_x509_certificate(pki.apiserver_cert.read_bytes())
    api.verify_directly_issued_by(ca)
    assert sans(api) == {"127.0.0.1", "localhost", "kubernetes", "kubernetes.default.svc"}
    ip_sans = api.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.IPAddress
    )
    assert ip_sans == [ipaddress.IPv4Address("127.0.0.1")]
    now = dt.datetime.now(dt.UTC)
    for cert in (ca, api):
        assert dt.timedelta(minutes=4) < now - cert.not_valid_before_utc < dt.timedelta(minutes=6)
        assert dt.timedelta(days=29) < cert.not_valid_after_utc - now <= dt.timedelta(days=30)


def test_signing_keys(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path, apps_domain=DOMAIN)
    token_cert = x509.load_pem_x509_certificate(pki.token_signing_cert.read_bytes())
    token_key = load_private_key(pki.token_signing_key)
    assert isinstance(token_key, rsa.RSAPrivateKey)
    assert token_key.key_size == 2048
    assert token_cert.public_key() == token_key.public_key()
    assert pki.sa_signing_key.read_text().startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8
    sa_key = load_private_key(pki.sa_signing_key)
    assert isinstance(sa_key, rsa.RSAPrivateKey)
    assert sa_key.key_size == 2048


def test_private_keys_are_owner_only(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path, apps_domain=DOMAIN)
    for key in (pki.ca_key, pki.apiserver_key, pki.router_key, pki.token_signing_key, pki.sa_signing_key):
        assert key.stat().st_mode & 0o777 == 0o600, key.name


def test_valid_pki_is_reused(tmp_path: Path) -> None:
    first = ensure_pki(tmp_path, apps_domain=DOMAIN)
    ca_bytes, sa_bytes = first.ca_cert.read_bytes(), first.sa_signing_key.read_bytes()
    second = ensure_pki(tmp_path, apps_domain=DOMAIN)
    assert second == first
    assert (second.ca_cert.read_bytes(), second.sa_signing_key.read_bytes()) == (ca_bytes, sa_bytes)


def _regenerated(tmp_path: Path, domain: str = DOMAIN) -> bool:
    before = (tmp_path / "ca.crt").read_bytes()
    ensure_pki(tmp_path, apps_domain=domain)
    return (tmp_path / "ca.crt").read_bytes() != before


def test_other_apps_domain_regenerates(tmp_path: Path) -> None:
    ensure_pki(tmp_path, apps_domain=DOMAIN)
    assert _regenerated(tmp_path, "apps.other.test")


def test_damaged_file_regenerates(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path, apps_domain=DOMAIN)
    pki.router_key.write_text("garbage")
    assert _regenerated(tmp_path)


def test_certificate_expiring_within_a_day_regenerates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pki_module, "VALIDITY", dt.timedelta(hours=12))
    ensure_pki(tmp_path, apps_domain=DOMAIN)
    monkeypatch.setattr(pki_module, "VALIDITY", dt.timedelta(days=30))
    assert _regenerated(tmp_path)
    assert not _regenerated(tmp_path)
