"""Signing and verifying deployments as hzn and the Horizon agent do (open-horizon/rsapss-tool)."""

from __future__ import annotations

import base64
import hashlib
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from horizon_publisher.desired.deployment import deployment_string
from horizon_publisher.signing import (
    SigningKey,
    SigningKeyError,
    generate_signing_key,
    key_or_certificate_problem,
    load_signing_key,
    load_signing_key_lazily,
    sign,
    signature_still_valid,
    verify,
    verify_with_any,
)

# Known-good vectors made by Go's rsa.SignPSS through rsapss-tool (its verify/verify_int_test.go @ 2fc75eb3):
# the content, then (signature, PKIX public key) pairs; the "bogus" signature does not belong to its key.
GO_CONTENT = "somecontent to be verifiedbykeys011"
GO_SIGNED_1024 = (
    "dLYOotQPP1pmbyWl/GHHxwqoDcyT3TnC63vIH3Fs3xQrsyEsb7cn99zZCg7VLHqSLD7npjf4Ntzz3N5uEeqZBCCCo1/TCiWRmsk82NUhmqM0"
    "KKKereZuQvBFcoPZBtUYZGrpIPeJIT8uC8+S1z3HiOlN30BU1f2LmB+zmfU0jaA=",
    """-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCahFVCmkEAPU6O6n6tYr91ATkR
8mzataf//E2vFLvoMXgmWf4snxqqSBzknP8zI3H2o3g9960gWBJ0SZ8/YsKiaZXv
CQSFa7ejiq2pSsM5LPXbs5OWsTvNGAJUtvcSsg67Y4fzSPou0RRImr6aJ/C3JWxs
u0xh55qkESghh1/oBwIDAQAB
-----END PUBLIC KEY-----
""",
)
GO_SIGNED_2048 = (
    "EhGrP7lg4+QheUCxDur3kim1Om5T1VM2064zMgCHtvYx7ZZ0GnMekTEr5lhUGc3GJcidFtKOv16xmiCX3pjXiqE07HArOjmEytHSlhCj1NnW"
    "dbrAmXp+peSdYcDadROG+77XpG/kXQHyOZw2JSZANOg0bdOYjKDWqRrSiYbpNszCwY4SNdTrnpj+ke//JwDGshbgj7uDjvfHnTnNxt4IF+ow"
    "dvF7QywFOk2STC9cRUP4QaWEbTjd4/s0pLycHF4MzyoK4qUN41/oUQAGUOiZ34nyhU9JnYxZ0OxH4hn4y8GgVDOsvkvBxqZK/0/lc7yJNraX"
    "6aWZ27/wXZiwL2ac3w==",
    """-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEArjDt2Sl9XxeCKQFwpllw
Z5DdcP6DOb0SBgSJSOpMf7K7eyJSIy8Q4pGo5ELVsj0mdgr9Bzrgv8xoPpcb2DbG
dpxdYSCAXJQ97JYvXHU3Zb9TUOIZloTCE3em21cNJ0YoKehqV1ZfJVS+EWw0PBpU
H5BsOHPF5cXNCLreebG8s9chnlUXALOPB9xhySBKLpcEFBQ+pCe1H+DtULWZ4egO
oxOpBQ31F7zJNioXasl3QT3BQes7C3ifdTmnjAQGmTrtt7MDYit1cqDIFbTzKy6d
AzeUhCqiTPo+hOF4b2eDS88dfmqD0B8vcyEX4w4k7yvH0nMpR0SDDWZva6PCzM4o
QwIDAQAB
-----END PUBLIC KEY-----
""",
)
GO_BOGUS = (
    "Lx5FNcMY4uqeLOMAllMAZsevO208ZfcATiK0G4uMvYZebOxrUu4Qvtli/Qx7QsKI0XOcfnNgO8L313QNLYxFygfy8Yz2ycAdNcgWx7OznJd6"
    "FJk+heHYMNJYAN9SODkKF7XdiD45mID9mdxcGEBYJfUiP5kON03LntLQNbsikg4=",
    """-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDEtgoalL7HfaaIYUhHqkR4j7ex
zoDOJ4djF/kIxij9aKqXv9cJdX1hae2B7qPODxasnhGo+2lUZ0b5Kqzvpxqs6QW1
DP2Qr14sYrmDnBPZPloZ1X6d8n/jEdB/ifjOYV4zDlAwGeQWDyexHbJa1CccRTuM
0kVvEzy84lJRk0waiQIDAQAB
-----END PUBLIC KEY-----
""",
)
# A Go-written PKCS#1 key and the self-signed certificate rsapss-tool made for it (valid 2017-12-02 .. 2027-11-30).
GO_PRIVATE_KEY = """-----BEGIN RSA PRIVATE KEY-----
MIICXQIBAAKBgQDAzJUe8MrDpOFu8uJT2rKLo0pic0fksDny6RRszKeRF6uz8ewp
9zTox/ZcLAo7q/XRCos3LMxf7aoXdPY2livwmu7S0CvjcmnxOrZGtH7mwy+Ls5UK
WJ5nPZeZoWogMofQJymgpfXyVABm7AnIuA2hHQjmqFqpxcjFi2RLc6bhawIDAQAB
AoGBAIfIjc14sJURbmOBU7zS7aRCoIStxBhftLBLT0NA71LUZO0amMUFgZHgIrXP
nnVgKoPK9Tkqp9V3wK88hJr1MIPOE3Yi4CgHe8eQ8Q5Z62bb1kUa/yc3nn6MI/Uz
Kn6q7wIYjpSpFQHUNeJZJ3hrU6NfYJbiKVHe0n0ip5WkcjUBAkEA7xWP5cA2Dmra
bze9Thn9Twk+M4UEEEGUUAhkq3QKjTaTi2JTUjd6jue9TKSEcGCNd+rMXsiJ5ucX
EZPCjAphYQJBAM5wrVlybYUqPtBTyfdBsvKlVRpXDPekS0U5HoOHi6pYG8xiLFbG
McooADfvEzv2NTHzwozWJT0fx4Re9wMImksCQHuPezTT55v/4TAFcJKCoAVO05Sw
s+7q1YmfLNfnOuTMReiNQl6FSZO9dHm9tKyXWcWV1VVO8uYgnC17XdoeK0ECQHt4
PuXZn5Few/TbuFbu73Va1zyKxhGzLOW5FPv77Ne0HOQv727y2UKcjAzoK6vYRNac
gUa0qc8WG8Ga/sfMtGMCQQCMWudwltirtK4+U9G1phKiSZcew6O/BlMDM1UjjZQQ
nBKZcF0+H62TmtIIHvRm0wTq+nPPTtoEH8NrNwRZZ2hC
-----END RSA PRIVATE KEY-----
"""
GO_CERTIFICATE = """-----BEGIN CERTIFICATE-----
MIICHTCCAYagAwIBAgIUYqKtvgqzrCoAUi0aX6WViO/RpOYwDQYJKoZIhvcNAQEL
BQAwOjEeMBwGA1UEChMVUlNBUFNTIFRvb2wgdGVzdCBjZXJ0MRgwFgYDVQQDEw9k
ZXZlbG9wbWVudC1vbmUwHhcNMTcxMjAyMTk1ODMyWhcNMjcxMTMwMDc1ODMyWjA6
MR4wHAYDVQQKExVSU0FQU1MgVG9vbCB0ZXN0IGNlcnQxGDAWBgNVBAMTD2RldmVs
b3BtZW50LW9uZTCBnzANBgkqhkiG9w0BAQEFAAOBjQAwgYkCgYEAwMyVHvDKw6Th
bvLiU9qyi6NKYnNH5LA58ukUbMynkRers/HsKfc06Mf2XCwKO6v10QqLNyzMX+2q
F3T2NpYr8Jru0tAr43Jp8Tq2RrR+5sMvi7OVClieZz2XmaFqIDKH0CcpoKX18lQA
ZuwJyLgNoR0I5qhaqcXIxYtkS3Om4WsCAwEAAaMgMB4wDgYDVR0PAQH/BAQDAgeA
MAwGA1UdEwEB/wQCMAAwDQYJKoZIhvcNAQELBQADgYEAcs5DAT+frZfJsoSKEMOu
WJh0S/UVYC+InMv9iUnPF3f0KjVBXTE45GDG1zxY6SFLpOVskNp9mMkH9PLqDMrb
kWsF7xOtgBrzIaibDeEhhcQvvHb6Yct1bSgYxWpS1oGKicXA9PFyXxigUW2e8+DH
SoxItJkxfl2adAjY2DVzdhY=
-----END CERTIFICATE-----
"""
IN_GO_CERT_VALIDITY = datetime(2026, 1, 1, tzinfo=UTC)
DEPLOYMENT = deployment_string({"services": {"web": {"image": "r.example.com/w@sha256:" + "a" * 64, "x": "<&>"}}})
NOW = datetime(2026, 6, 1, 12, 30, 15, tzinfo=UTC)


@pytest.fixture(scope="module")
def generated() -> tuple[str, str]:
    return generate_signing_key(bits=2048, organization="Example Org", common_name="dev@example.com", now=NOW)


@pytest.fixture(scope="module")
def key(generated: tuple[str, str]) -> SigningKey:
    return load_signing_key(*generated)


@pytest.fixture(scope="module")
def other_key() -> SigningKey:
    private_pem, certificate_pem = generate_signing_key(bits=2048, organization="O", common_name="other")
    return load_signing_key(private_pem, certificate_pem)


def _pss_salt_length(signature_b64: str, public_key: rsa.RSAPublicKey) -> int:
    """Undo RSA and PSS encoding (RFC 8017 9.1.2) to read the salt length a signature was made with."""
    numbers = public_key.public_numbers()
    mod_bits = numbers.n.bit_length()
    em_len = (mod_bits + 6) // 8
    em = pow(int.from_bytes(base64.b64decode(signature_b64), "big"), numbers.e, numbers.n).to_bytes(em_len, "big")
    assert em[-1] == 0xBC
    masked_db, digest = em[: em_len - 33], em[em_len - 33 : -1]
    mask = b"".join(hashlib.sha256(digest + i.to_bytes(4, "big")).digest() for i in range(len(masked_db) // 32 + 1))
    db = bytearray(a ^ b for a, b in zip(masked_db, mask, strict=False))
    db[0] &= 0xFF >> (8 * em_len - (mod_bits - 1))
    return len(db) - db.index(1) - 1


# --- signatures -----------------------------------------------------------------------------------------------


def test_sign_verify_round_trip_with_certificate_and_pkix_key(key: SigningKey, generated: tuple[str, str]) -> None:
    signature = sign(DEPLOYMENT, key)
    assert verify(DEPLOYMENT, signature, key.public_pem)
    assert key.certificate_pem is not None
    assert verify(DEPLOYMENT, signature, key.certificate_pem, now=NOW)
    assert verify(DEPLOYMENT, signature, generated[1], now=NOW)
    base64.b64decode(signature, validate=True)  # standard alphabet, padded


def test_signature_is_pss_sha256_with_maximum_salt(key: SigningKey) -> None:
    signature = sign(DEPLOYMENT, key)
    public_key = key.private_key.public_key()
    assert _pss_salt_length(signature, public_key) == 256 - 32 - 2  # what Go's SignPSS(nil) uses for 2048 bits
    explicit = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=222)
    public_key.verify(base64.b64decode(signature), DEPLOYMENT.encode(), explicit, hashes.SHA256())


@pytest.mark.parametrize("salt", [0, 32, 100], ids=["no-salt", "digest-length", "other"])
def test_any_salt_length_verifies_as_go_auto_detects_it(key: SigningKey, salt: int) -> None:
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=salt)
    signature = base64.b64encode(key.private_key.sign(DEPLOYMENT.encode(), pss, hashes.SHA256())).decode()
    assert verify(DEPLOYMENT, signature, key.public_pem)
    assert signature_still_valid(DEPLOYMENT, signature, key)


def test_signatures_are_randomised_and_both_verify(key: SigningKey) -> None:
    first, second = sign(DEPLOYMENT, key), sign(DEPLOYMENT, key)
    assert first != second
    assert verify(DEPLOYMENT, first, key.public_pem)
    assert verify(DEPLOYMENT, second, key.public_pem)


def test_signs_the_utf8_bytes_of_the_string(key: SigningKey) -> None:
    text = '{"s":"日本 é"}'
    signature = sign(text, key)
    explicit = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
    key.private_key.public_key().verify(base64.b64decode(signature), text.encode("utf-8"), explicit, hashes.SHA256())


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda d, s: (d.replace("web", "wex"), s), id="deployment"),
        pytest.param(lambda d, s: (d + " ", s), id="trailing-space"),
        pytest.param(lambda d, s: (d, ("A" if s[0] != "A" else "B") + s[1:]), id="signature"),
        pytest.param(lambda d, s: (d, s.rstrip("=")), id="unpadded"),
        pytest.param(
            lambda d, s: (d, s.replace("+", "-").replace("/", "_") if "+" in s or "/" in s else "*"), id="urlsafe"
        ),
        pytest.param(lambda d, s: (d, ""), id="empty"),
    ],
)
def test_tampering_fails(key: SigningKey, tamper: Callable[[str, str], tuple[str, str]]) -> None:
    deployment, signature = tamper(DEPLOYMENT, sign(DEPLOYMENT, key))
    assert not verify(deployment, signature, key.public_pem)


def test_line_breaks_in_the_signature_are_ignored_like_go(key: SigningKey) -> None:
    signature = sign(DEPLOYMENT, key)
    assert verify(DEPLOYMENT, signature[:64] + "\r\n" + signature[64:], key.public_pem)


def test_a_different_key_fails(key: SigningKey, other_key: SigningKey) -> None:
    signature = sign(DEPLOYMENT, key)
    assert not verify(DEPLOYMENT, signature, other_key.public_pem)
    assert verify_with_any(DEPLOYMENT, signature, [other_key.public_pem, key.public_pem])
    assert not verify_with_any(DEPLOYMENT, signature, [other_key.public_pem, "garbage"])
    assert not verify_with_any(DEPLOYMENT, signature, [])


def test_pkcs1_v15_signatures_are_refused(key: SigningKey) -> None:
    v15 = key.private_key.sign(DEPLOYMENT.encode(), padding.PKCS1v15(), hashes.SHA256())
    assert not verify(DEPLOYMENT, base64.b64encode(v15).decode(), key.public_pem)


def test_signature_still_valid(key: SigningKey, other_key: SigningKey) -> None:
    signature = sign(DEPLOYMENT, key)
    assert signature_still_valid(DEPLOYMENT, signature, key)
    assert not signature_still_valid(DEPLOYMENT.replace("web", "api"), signature, key)
    assert not signature_still_valid(DEPLOYMENT, signature, other_key)
    assert not signature_still_valid(DEPLOYMENT, None, key)
    assert not signature_still_valid(DEPLOYMENT, "", key)
    assert not signature_still_valid(DEPLOYMENT, "not base64!", key)


# --- Go-made vectors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", [GO_SIGNED_1024, GO_SIGNED_2048], ids=["1024", "2048"])
def test_go_made_signatures_verify(vector: tuple[str, str]) -> None:
    signature, public_pem = vector
    assert verify(GO_CONTENT, signature, public_pem)
    assert not verify(GO_CONTENT + "x", signature, public_pem)


def test_go_bogus_vector_fails_alone_but_any_key_passes() -> None:
    assert not verify(GO_CONTENT, GO_BOGUS[0], GO_BOGUS[1])
    assert verify_with_any(GO_CONTENT, GO_SIGNED_2048[0], [GO_BOGUS[1], GO_SIGNED_1024[1], GO_SIGNED_2048[1]])


def test_go_written_key_and_certificate_load_and_verify() -> None:
    key = load_signing_key(GO_PRIVATE_KEY, GO_CERTIFICATE, now=IN_GO_CERT_VALIDITY)
    signature = sign("somecontent", key)
    assert verify("somecontent", signature, GO_CERTIFICATE, now=IN_GO_CERT_VALIDITY)
    assert not verify("somecontent", signature, GO_CERTIFICATE, now=datetime(2027, 12, 1, tzinfo=UTC))  # expired
    assert verify("somecontent", signature, key.public_pem, now=datetime(2027, 12, 1, tzinfo=UTC))  # keys never expire


# --- key loading ----------------------------------------------------------------------------------------------


def _pkcs8(private_pem: str) -> str:
    loaded = serialization.load_pem_private_key(private_pem.encode(), None)
    return loaded.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_loads_pkcs1_and_pkcs8_with_certificate_or_pkix_or_nothing(key: SigningKey, generated: tuple[str, str]) -> None:
    private_pem, certificate_pem = generated
    assert private_pem.startswith("-----BEGIN RSA PRIVATE KEY-----\n")
    variants = [
        load_signing_key(_pkcs8(private_pem), certificate_pem),
        load_signing_key(private_pem, key.public_pem),
        load_signing_key("leading text\n" + private_pem, None),
    ]
    assert {variant.key_id for variant in variants} == {key.key_id}
    assert [v.certificate_pem is not None for v in variants] == [True, False, False]
    assert key.public_pem.startswith("-----BEGIN PUBLIC KEY-----\n")
    assert key.certificate_pem == certificate_pem


def test_key_id_names_the_key(key: SigningKey, other_key: SigningKey) -> None:
    assert key.key_id.startswith("horizon-publisher-")
    assert key.key_id.endswith(".pem")
    assert len(key.key_id) == len("horizon-publisher-") + 16 + 4
    assert "/" not in key.key_id
    assert key.key_id != other_key.key_id


def test_repr_shows_no_key_material(key: SigningKey) -> None:
    assert "BEGIN" not in repr(key)
    assert key.key_id in repr(key)


def _rsa_public_pkcs1(key: SigningKey) -> str:
    return (
        key.private_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode()
    )


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda g, o: ("garbage", None), "not PEM"),
        (lambda g, o: ("-----BEGIN RSA PRIVATE KEY-----\nAAAA!!\n-----END RSA PRIVATE KEY-----\n", None), "not PEM"),
        (lambda g, o: ("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n", None), "parsed"),
        (lambda g, o: (g[1], None), "'CERTIFICATE' block"),
        (lambda g, o: (g[0], o.certificate_pem), "certificate does not belong"),
        (lambda g, o: (g[0], o.public_pem), "public key does not belong"),
        (lambda g, o: (g[0], _rsa_public_pkcs1(o)), "PKCS#1 'RSA PUBLIC KEY'"),
        (lambda g, o: (g[0], "not a pem"), "not PEM"),
        (lambda g, o: (g[0], "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), "neither"),
    ],
)
def test_bad_material_is_refused_without_echoing_it(
    generated: tuple[str, str], other_key: SigningKey, make: Callable[..., tuple[str, str | None]], fragment: str
) -> None:
    private_pem, public_pem = make(generated, other_key)
    with pytest.raises(SigningKeyError) as caught:
        load_signing_key(private_pem, public_pem)
    assert caught.value.reason == "SigningKeyInvalid"
    assert fragment in caught.value.message
    for pem in (private_pem, public_pem or ""):
        body_lines = [line for line in pem.splitlines() if line and not line.startswith("-----")]
        assert not any(line in str(caught.value) or line in repr(caught.value) for line in body_lines)


SMALL_KEY = """-----BEGIN RSA PRIVATE KEY-----
MIIBOgIBAAJBAOXmHHJRCgEkFjV7H9PZGlqt0rNTBa4bBkzebOmdE/SaLPo+Q6NF
kROQ+V+QaA3UcD1iixxdcLG68GRZ4uSjc6kCAwEAAQJAQtm78d3wy84jix+nbKHX
0QB0oWKF50/CcD3Ja9EaSWiyh6Q7tqwgvwWVKJ+1s1DppC5mkn7ERoqc6M9ZAVlf
lQIhAPdzGgTJfj9rPSNMuUYVm+Pt02CMNotQDQGoyU9zrgAPAiEA7dfCLVJHNm0R
g1/6A8xCNQ9HqeZIQRLeBJwnb3GgGMcCIDoZ0JYnKXmCmIxdS3NlR4ExKlyVD4mO
dj9ZfkslgkmJAiEAu9ZAJmbqktNEl4q++yzfxOPSZx3VRn9OFDn28w67r5UCIGzC
62+euJi095KwXHG/1YEk4SNaEUQoFJak5gl0hemX
-----END RSA PRIVATE KEY-----
"""  # a throwaway 512-bit test key (openssl genrsa -traditional 512): Horizon needs >= 1024 bits


def test_encrypted_ec_and_small_keys_are_refused(generated: tuple[str, str]) -> None:
    loaded = serialization.load_pem_private_key(generated[0].encode(), None)
    encrypted = loaded.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(b"pw"),
    ).decode()
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    for pem, fragment in ((encrypted, "encrypted"), (ec_pem, "not an RSA key"), (SMALL_KEY, "512 bits")):
        with pytest.raises(SigningKeyError, match=fragment):
            load_signing_key(pem, None)


def test_small_and_pkcs1_public_keys_never_verify() -> None:
    small = serialization.load_pem_private_key(SMALL_KEY.encode(), None)
    assert isinstance(small, rsa.RSAPrivateKey)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)
    signature = base64.b64encode(small.sign(b"x", pss, hashes.SHA256())).decode()
    spki = small.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert not verify("x", signature, spki.decode())
    assert key_or_certificate_problem(spki.decode()) == "the key has fewer than 1024 bits"
    pkcs1 = GO_SIGNED_2048[1].replace("PUBLIC KEY", "RSA PUBLIC KEY")  # same body, label alone changes nothing
    assert verify(GO_CONTENT, GO_SIGNED_2048[0], pkcs1)
    real_pkcs1 = serialization.load_pem_public_key(GO_SIGNED_2048[1].encode()).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
    )
    assert not verify(GO_CONTENT, GO_SIGNED_2048[0], real_pkcs1.decode())


# --- key generation as hzn key create -------------------------------------------------------------------------


def test_generated_certificate_is_what_hzn_key_create_writes(generated: tuple[str, str]) -> None:
    certificate = x509.load_pem_x509_certificate(generated[1].encode())
    assert certificate.version == x509.Version.v3
    assert certificate.subject == certificate.issuer
    assert [(a.oid, a.value) for a in certificate.subject] == [
        (NameOID.ORGANIZATION_NAME, "Example Org"),
        (NameOID.COMMON_NAME, "dev@example.com"),
    ]
    extensions = [(e.oid, e.critical, e.value) for e in certificate.extensions]
    assert extensions == [
        (x509.oid.ExtensionOID.KEY_USAGE, True, DIGITAL_SIGNATURE_ONLY),
        (x509.oid.ExtensionOID.BASIC_CONSTRAINTS, True, NOT_A_CA),
    ]
    assert certificate.not_valid_before_utc == NOW - timedelta(hours=12)
    assert certificate.not_valid_after_utc == NOW + timedelta(days=1461)
    assert 0 < certificate.serial_number < 2**159
    assert certificate.signature_hash_algorithm is not None
    assert certificate.signature_hash_algorithm.name == "sha256"
    assert certificate.signature_algorithm_oid == x509.oid.SignatureAlgorithmOID.RSA_WITH_SHA256
    assert key_or_certificate_problem(generated[1], now=NOW) is None


def test_generated_certificate_encodes_names_and_extensions_as_go() -> None:
    go = x509.load_pem_x509_certificate(GO_CERTIFICATE.encode())
    private_pem, certificate_pem = generate_signing_key(
        bits=1024, organization="RSAPSS Tool test cert", common_name="development-one"
    )
    ours = x509.load_pem_x509_certificate(certificate_pem.encode())
    assert ours.subject.public_bytes() == go.subject.public_bytes()  # PrintableString, O before CN
    assert ours.issuer.public_bytes() == go.issuer.public_bytes()
    assert [(e.oid, e.critical, e.value.public_bytes()) for e in ours.extensions] == [
        (e.oid, e.critical, e.value.public_bytes()) for e in go.extensions
    ]
    utf8 = generate_signing_key(bits=1024, organization="Société & Co", common_name="a*b")[1]
    names = x509.load_pem_x509_certificate(utf8.encode()).subject
    assert [a.value for a in names] == ["Société & Co", "a*b"]
    assert [a._type for a in names] == [_ASN1Type.UTF8String, _ASN1Type.UTF8String]  # outside PrintableString
    assert load_signing_key(private_pem, certificate_pem).certificate_pem == certificate_pem


def test_default_key_is_4096_bits() -> None:
    private_pem, certificate_pem = generate_signing_key(organization="o", common_name="cn")
    key = load_signing_key(private_pem, certificate_pem)
    assert key.private_key.key_size == 4096
    assert verify(DEPLOYMENT, sign(DEPLOYMENT, key), certificate_pem)


@pytest.mark.parametrize(
    ("days", "accepted"),
    [(1, True), (3652, True), (3653, False), (0, False)],  # NotAfter - NotBefore (= days + 12 h) <= 3653 days
)
def test_validity_limits(days: int, accepted: bool) -> None:
    if not accepted:
        with pytest.raises(ValueError, match="validity_days"):
            generate_signing_key(bits=1024, organization="o", common_name="cn", validity_days=days)
        return
    certificate_pem = generate_signing_key(bits=1024, organization="o", common_name="cn", validity_days=days, now=NOW)[
        1
    ]
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    assert certificate.not_valid_after_utc == NOW + timedelta(days=days)
    assert key_or_certificate_problem(certificate_pem, now=NOW) is None


@pytest.mark.parametrize(
    ("bits", "cn", "fragment"), [(512, "cn", "minimum"), (2048, "", "empty"), (2048, "x" * 65, "at most 64")]
)
def test_generation_refuses_what_hzn_or_the_agent_refuse(bits: int, cn: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        generate_signing_key(bits=bits, organization="o", common_name=cn)


# --- the agent's certificate rules ----------------------------------------------------------------------------


DIGITAL_SIGNATURE_ONLY = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
NOT_A_CA = x509.BasicConstraints(ca=False, path_length=None)


def _certificate(
    key: SigningKey,
    *,
    usage: x509.KeyUsage | None = DIGITAL_SIGNATURE_ONLY,
    constraints: x509.BasicConstraints | None = NOT_A_CA,
    issuer_cn: str = "me",
    subject_cn: str = "me",
    not_before: datetime = NOW - timedelta(hours=1),
    not_after: datetime = NOW + timedelta(days=30),
    serial: int = 7,
) -> str:
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]))
        .public_key(key.private_key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if usage is not None:
        builder = builder.add_extension(usage, critical=True)
    if constraints is not None:
        builder = builder.add_extension(constraints, critical=True)
    return builder.sign(key.private_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({}, None),
        ({"usage": None}, "key usage"),
        ({"usage": x509.KeyUsage(False, True, False, False, False, False, False, False, False)}, "key usage"),
        ({"constraints": None}, "basicConstraints"),
        ({"constraints": x509.BasicConstraints(ca=True, path_length=None)}, "CA"),
        ({"issuer_cn": "someone else"}, "self-issued"),
        ({"not_before": NOW + timedelta(minutes=1)}, "not valid yet"),
        ({"not_after": NOW - timedelta(seconds=1)}, "expired"),
        ({"not_before": NOW - timedelta(days=1), "not_after": NOW + timedelta(days=3653)}, "3653 days"),
    ],
)
def test_certificate_rules_as_the_agent(key: SigningKey, options: dict[str, object], problem: str | None) -> None:
    certificate_pem = _certificate(key, **options)  # type: ignore[arg-type]
    found = key_or_certificate_problem(certificate_pem, now=NOW)
    assert found is None if problem is None else (found is not None and problem in found)
    signature = sign(DEPLOYMENT, key)
    assert verify(DEPLOYMENT, signature, certificate_pem, now=NOW) is (problem is None)
    assert verify(DEPLOYMENT, signature, key.public_pem, now=NOW)  # the bare key has no such rules


@pytest.mark.parametrize(
    "extra",
    ["content_commitment", "key_encipherment", "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign"],
)
def test_key_usage_must_be_exactly_digital_signature(key: SigningKey, extra: str) -> None:
    flags = dict.fromkeys(
        ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign"),
        False,
    )
    usage = x509.KeyUsage(digital_signature=True, **{**flags, extra: True}, encipher_only=False, decipher_only=False)
    assert key_or_certificate_problem(_certificate(key, usage=usage), now=NOW) == (
        "the certificate key usage must be exactly digitalSignature"
    )


@pytest.mark.parametrize("serial_byte", [b"\x00", b"\xff"], ids=["zero", "negative"])
def test_zero_or_negative_serials_are_refused(key: SigningKey, serial_byte: bytes) -> None:
    # Builders refuse such serials, so patch one in: the agent never checks the certificate's own signature.
    der = x509.load_pem_x509_certificate(_certificate(key, serial=7).encode()).public_bytes(serialization.Encoding.DER)
    version_and_serial = b"\xa0\x03\x02\x01\x02\x02\x01\x07"
    assert der.count(version_and_serial) == 1
    patched = der.replace(version_and_serial, version_and_serial[:-1] + serial_byte)
    pem = "-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(patched).decode() + "-----END CERTIFICATE-----\n"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography warns about negative serials while parsing
        found = key_or_certificate_problem(pem, now=NOW)
    assert found is not None
    assert "serial number" in found


# --- the private key is read only to sign ----------------------------------------------------------------------


def test_lazy_key_reads_the_private_pem_only_when_signing(generated: tuple[str, str]) -> None:
    private_pem, certificate_pem = generated
    reads: list[int] = []

    def read() -> str:
        reads.append(1)
        return private_pem

    lazy = load_signing_key_lazily(read, certificate_pem)
    eager = load_signing_key(private_pem, certificate_pem)
    assert (lazy.key_id, lazy.public_pem, lazy.certificate_pem) == (
        eager.key_id,
        eager.public_pem,
        eager.certificate_pem,
    )
    assert signature_still_valid(DEPLOYMENT, sign(DEPLOYMENT, eager), lazy)
    assert reads == []  # checking a stored signature needs the public half only
    assert verify(DEPLOYMENT, sign(DEPLOYMENT, lazy), certificate_pem, now=NOW)
    sign(DEPLOYMENT, lazy)
    assert reads == [1]  # read once, then kept for this pass


def test_lazy_key_refuses_a_private_key_of_another_pair_at_signing(generated: tuple[str, str]) -> None:
    other_private, _ = generate_signing_key(bits=2048, organization="O", common_name="other", now=NOW)
    lazy = load_signing_key_lazily(lambda: other_private, generated[1])
    with pytest.raises(SigningKeyError, match="does not belong to the private key"):
        sign(DEPLOYMENT, lazy)
