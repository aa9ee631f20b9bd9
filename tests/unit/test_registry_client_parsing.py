"""The registry client's pure parts: challenges, token answers and cache, CA file, names, index parsing."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from horizon_publisher.clients.registry import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Challenge,
    Manifest,
    RegistryEndpoint,
    RegistryError,
    image_reference,
    parse_challenge,
    pinned_reference,
)
from horizon_publisher.clients.registry_auth_client import (
    PrivateCAFile,
    TokenAnswer,
    TokenCache,
    parse_challenges,
    parse_token_answer,
    preferred_challenge,
    usable_seconds,
)
from horizon_publisher.clients.registry_model import (
    check_repository_and_reference,
    index_platforms,
    media_type_of,
    reference_text,
    tls_error,
)

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64
D4 = "sha256:" + "4" * 64

# --- challenges ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "scheme", "params"),
    [
        (
            'Bearer realm="https://r.example/token",service="registry",scope="repository:p/n:pull,push"',
            "Bearer",
            {"realm": "https://r.example/token", "service": "registry", "scope": "repository:p/n:pull,push"},
        ),
        ('bEaReR Realm="https://h/t"', "Bearer", {"realm": "https://h/t"}),  # scheme and names case-insensitive
        ("BASIC realm=openshift", "Basic", {"realm": "openshift"}),  # OpenShift's denial challenge
        (
            "Bearer realm=https://h:5000/token , service=reg",
            "Bearer",
            {"realm": "https://h:5000/token", "service": "reg"},
        ),
        ('Basic realm="a\\"b\\\\c"', "Basic", {"realm": 'a"b\\c'}),  # quoted-pair
        ('Basic realm="x", realm="y"', "Basic", {"realm": "x"}),  # repeated name: first wins
        ('  , Basic realm="x" ,, ', "Basic", {"realm": "x"}),  # empty list elements
        ("Basic", "Basic", {}),
        ('Bearer realm="x",error="insufficient_scope"', "Bearer", {"realm": "x", "error": "insufficient_scope"}),
    ],
)
def test_parse_challenge(header: str, scheme: str, params: dict[str, str]) -> None:
    challenge = parse_challenge(header)
    assert (challenge.scheme, dict(challenge.params)) == (scheme, params)


def test_several_challenges_and_token68() -> None:
    header = 'Negotiate abc==, Basic realm="simple", Newauth realm="apps", type=1, title="Log in, \\"apps\\""'
    assert parse_challenges(header) == [
        Challenge("Negotiate", {}, "abc=="),
        Challenge("Basic", {"realm": "simple"}),
        Challenge("Newauth", {"realm": "apps", "type": "1", "title": 'Log in, "apps"'}),
    ]


@pytest.mark.parametrize(
    "header",
    ["", "   ", ",,", '"Bearer"', 'Bearer realm="x" junk', 'Bearer realm="unterminated', "=x", "Basic realm=a\nb"],
)
def test_garbage_challenge_raises_value_error(header: str) -> None:
    with pytest.raises(ValueError, match="WWW-Authenticate"):
        parse_challenge(header)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('Basic realm="b", Bearer realm="https://t"', "Bearer"),  # Bearer preferred
        ('Bearer service="s", Basic realm="b"', "Basic"),  # a Bearer without realm is unusable
        ('Negotiate abc, Basic realm="b"', "Basic"),
        ("Negotiate abc", None),
    ],
)
def test_preferred_challenge(header: str, expected: str | None) -> None:
    chosen = preferred_challenge(parse_challenges(header))
    assert (chosen.scheme if chosen else None) == expected


@given(st.text(max_size=80))
def test_parse_challenge_raises_only_value_error(text: str) -> None:
    try:
        challenges = parse_challenges(text)
    except ValueError:
        return
    assert challenges
    assert all(c.scheme for c in challenges)


token = st.from_regex(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}", fullmatch=True)
value = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)


@given(
    st.lists(
        st.tuples(
            token.filter(lambda t: t.lower() not in ("basic", "bearer")) | st.sampled_from(["Basic", "Bearer"]),
            st.dictionaries(token.map(str.lower), value, min_size=1, max_size=4),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_quoted_challenges_round_trip(items: list[tuple[str, dict[str, str]]]) -> None:
    def quote(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    header = ", ".join(
        f"{scheme} " + ", ".join(f"{k}={quote(v)}" for k, v in params.items()) for scheme, params in items
    )
    parsed = parse_challenges(header)
    assert [(c.scheme, dict(c.params)) for c in parsed] == items


# --- token answers and the cache -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "token", "expires_in"),
    [
        ({"token": "t1", "access_token": "t1", "expires_in": 300}, "t1", 300.0),
        ({"access_token": "oauth"}, "oauth", 60.0),  # OAuth name; missing expires_in -> 60 s
        ({"token": "t", "expires_in": "300"}, "t", 60.0),
        ({"token": "t", "expires_in": True}, "t", 60.0),
        ({"token": "t", "expires_in": -5}, "t", 60.0),
        ({"token": "", "access_token": "b"}, "b", 60.0),
        ({"token": "t", "expires_in": 7.5}, "t", 7.5),
    ],
)
def test_parse_token_answer(body: dict[str, Any], token: str, expires_in: float) -> None:
    assert parse_token_answer(body) == TokenAnswer(token, expires_in)


@pytest.mark.parametrize("body", [None, [], "token", {}, {"token": 5}, {"token": ""}, {"expires_in": 60}])
def test_unusable_token_answer(body: Any) -> None:
    with pytest.raises(ValueError, match="token endpoint"):
        parse_token_answer(body)


def test_token_answer_repr_hides_the_token() -> None:
    assert "s3cr3t" not in repr(TokenAnswer("s3cr3t", 60.0))


@pytest.mark.parametrize(("expires_in", "usable"), [(300, 270), (60, 45), (20, 15), (4, 3)])
def test_usable_seconds(expires_in: float, usable: float) -> None:
    assert usable_seconds(expires_in) == usable


def test_token_cache_expires_and_discards() -> None:
    now = [1000.0]
    cache = TokenCache(lambda: now[0])
    cache.put("repository:a/b:pull", TokenAnswer("t1", 60.0), requested_at=1000.0)
    now[0] = 1044.9
    assert cache.get("repository:a/b:pull") == "t1"
    assert cache.get("repository:a/c:pull") is None
    now[0] = 1045.0
    assert cache.get("repository:a/b:pull") is None  # 60 s minus a 15 s margin
    cache.put("s", TokenAnswer("t2", 60.0), requested_at=now[0])
    cache.discard("s", "another-token")  # replaced meanwhile: keep
    assert cache.get("s") == "t2"
    cache.discard("s", "t2")
    assert cache.get("s") is None


# --- CA file -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "unit test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_private_ca_file(ca_pem: str) -> None:
    ca = PrivateCAFile(ca_pem)
    assert ca.path.read_text() == ca_pem
    assert stat.S_IMODE(ca.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(ca.path.parent.stat().st_mode) == 0o700
    ca.remove()
    assert ca.removed
    assert not ca.path.parent.exists()
    ca.remove()  # idempotent


@pytest.mark.parametrize(
    "pem", ["", "not a certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]
)
def test_unusable_ca_pem(pem: str) -> None:
    with pytest.raises(ValueError, match="CA bundle"):
        PrivateCAFile(pem)


# --- endpoint, names, references -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["registry.example.com", "127.0.0.1:5000", "localhost", "[::1]:5000", "default-route.apps.x.test:443"]
)
def test_valid_hosts(host: str) -> None:
    assert RegistryEndpoint(host).host == host


@pytest.mark.parametrize(
    "host", ["", "https://registry", "registry/path", "registry:port", "reg istry", "-bad.example", "a:1:2"]
)
def test_invalid_hosts(host: str) -> None:
    with pytest.raises(ValueError, match="registry host"):
        RegistryEndpoint(host)


def test_endpoint_repr_hides_secrets(ca_pem: str) -> None:
    endpoint = RegistryEndpoint("r.example", ca_pem=ca_pem, username="u", password="PASSWORD-123")
    assert "PASSWORD-123" not in repr(endpoint)
    assert "BEGIN CERTIFICATE" not in repr(endpoint)
    assert endpoint.has_credentials
    assert not RegistryEndpoint("r.example", username="u").has_credentials


def test_references() -> None:
    assert image_reference("h:5000", "p/n_amd64", "1.0") == "h:5000/p/n_amd64:1.0"
    assert pinned_reference("h", "p/n", D1) == f"h/p/n@{D1}"
    assert reference_text("h", "p/n", D1) == f"h/p/n@{D1}"
    assert reference_text("h", "p/n", "latest") == "h/p/n:latest"
    with pytest.raises(ValueError, match="not a digest"):
        pinned_reference("h", "p/n", "latest")


@pytest.mark.parametrize(
    ("repository", "reference", "ok"),
    [
        ("p/hello_amd64", "1.0.0", True),
        ("a/b/c-d.e__f", "v1_2-3", True),
        ("p/n", D1, True),
        ("P/n", "1", False),  # upper case
        ("p//n", "1", False),
        ("p/n/", "1", False),
        ("p/-n", "1", False),
        ("p/n", ".1", False),
        ("p/n", "a" * 129, False),
        ("p/n", "1?x=y", False),  # must never reach the URL path
        ("../v2", "1", False),
    ],
)
def test_repository_and_reference(repository: str, reference: str, ok: bool) -> None:
    if ok:
        check_repository_and_reference(repository, reference)
    else:
        with pytest.raises(ValueError, match=r"not a valid repository|neither a tag"):
            check_repository_and_reference(repository, reference)


@pytest.mark.parametrize(
    ("header", "media_type"),
    [(f"{OCI_MANIFEST}; charset=utf-8", OCI_MANIFEST), (DOCKER_MANIFEST.upper(), DOCKER_MANIFEST), (None, "")],
)
def test_media_type_of(header: str | None, media_type: str) -> None:
    assert media_type_of(header) == media_type


# --- index bodies and per-arch digests -----------------------------------------------------------------


def _entry(digest: str, **platform: str) -> dict[str, Any]:
    return {"mediaType": OCI_MANIFEST, "digest": digest, "size": 1, "platform": platform}


def test_index_platforms() -> None:
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            _entry(D1, architecture="amd64", os="linux"),
            _entry(D2, architecture="arm64", os="linux", variant="v8"),  # arm64/v8 is plain arm64
            _entry(D3, architecture="arm", os="linux", variant="v7"),
            _entry(D4, architecture="amd64", os="windows"),  # not linux: ignored
            _entry(D4, architecture="unknown", os="unknown"),  # buildx attestation: ignored
            _entry(D4, architecture="amd64", os="linux"),  # duplicate: the first wins
            {"mediaType": OCI_MANIFEST, "digest": D4},  # no platform
            _entry("not-a-digest", architecture="s390x", os="linux"),
            "junk",
        ],
    }
    assert index_platforms(json.dumps(body).encode()) == (OCI_INDEX, {"amd64": D1, "arm64": D2, "arm/v7": D3})


@pytest.mark.parametrize("body", [b"", b"\xff", b"[]", b'{"manifests": {}}', b'{"config": {}}'])
def test_not_an_index(body: bytes) -> None:
    with pytest.raises(ValueError, match="index"):
        index_platforms(body)


@pytest.mark.parametrize(
    ("platforms", "arch", "expected"),
    [
        ({"amd64": D1, "arm64": D2}, "amd64", D1),
        ({"amd64": D1, "arm64": D2}, "ARM64/v8", D2),
        ({"arm/v7": D3}, "arm", D3),  # a lone variant answers for plain "arm"
        ({"arm/v6": D1, "arm/v7": D3}, "arm/v7", D3),
        ({"arm/v6": D1, "arm/v7": D3}, "arm", None),  # ambiguous
        ({"amd64": D1}, "arm64", None),
        ({}, "amd64", None),
    ],
)
def test_digest_for_arch(platforms: dict[str, str], arch: str, expected: str | None) -> None:
    index = Manifest(D4, DOCKER_LIST, platforms)
    if expected is not None:
        assert index.digest_for_arch(arch, "h/p/n:1") == expected
        return
    with pytest.raises(RegistryError) as missing:
        index.digest_for_arch(arch, "h/p/n:1")
    assert missing.value.reason == "ArchMissing"
    assert missing.value.message.startswith("h/p/n:1 has no linux/")
    assert ", ".join(sorted(platforms)) in missing.value.message


def test_single_manifest_digest_for_any_arch() -> None:
    assert Manifest(D1, OCI_MANIFEST).digest_for_arch("arm64", "h/p/n:1") == D1
    assert not Manifest(D1, OCI_MANIFEST).is_index


# --- errors --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "configured", "expected"),
    [
        (
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate",
            True,
            "certificate not trusted by the configured CA (the CA bundle configured for this registry)",
        ),
        (
            "certificate verify failed: self-signed certificate in certificate chain",
            False,
            "certificate not trusted by the configured CA (the system trust store)",
        ),
        (
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, certificate is not valid",
            True,
            "certificate not valid for that host name",
        ),
        ("certificate verify failed: certificate has expired", True, "certificate expired"),
        ("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)", True, "failed (WRONG_VERSION_NUMBER)"),
        ("EOF occurred", True, "failed (unknown TLS error)"),
    ],
)
def test_tls_error_messages(text: str, configured: bool, expected: str) -> None:
    error = tls_error(text, "registry r.example", configured_ca=configured)
    assert error.reason == "TLSError"
    assert "registry r.example" in error.message
    assert error.message.endswith(expected)


def test_registry_error_text() -> None:
    error = RegistryError("ImageNotFound", "h/p/n:1 not found in the registry (not pushed yet?)", 404)
    assert str(error) == error.message
    assert (error.reason, error.status) == ("ImageNotFound", 404)
    assert "ImageNotFound" in repr(error)


def test_requests_verify_values_and_cleanup(ca_pem: str) -> None:
    from horizon_publisher.clients.ca_files import CA_FILES
    from horizon_publisher.clients.registry_auth_client import RequestsVerify

    assert RequestsVerify(None, False).value() is True  # the system trust
    assert RequestsVerify(ca_pem, True).value() is False  # the per-endpoint opt-out wins
    trust = RequestsVerify(ca_pem, False)
    path = str(trust.value())
    assert trust.value() == path  # written once, reused
    assert open(path).read() == ca_pem  # noqa: SIM115
    trust.close()
    # Released, not removed: the shared file stays for the next client of the same CA (clients/ca_files.py).
    assert os.path.exists(path)
    assert CA_FILES.holders(ca_pem) == 0
    with pytest.raises(ValueError, match="no PEM certificate"):
        RequestsVerify("not a bundle", False).value()
