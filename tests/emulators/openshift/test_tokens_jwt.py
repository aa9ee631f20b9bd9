"""Service-account JWTs: the real claim sets, RS256 signatures, expiry with leeway, audiences."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from horizon_publisher.sandbox.openshift import jwt
from horizon_publisher.sandbox.openshift.config import SandboxClusterConfig, generate_rsa_key_pem
from horizon_publisher.sandbox.openshift.tokens import BoundObject, ServiceAccountTokens, TokenInvalid

KEY = generate_rsa_key_pem()
OTHER_KEY = generate_rsa_key_pem()
ISSUER = "https://kubernetes.default.svc"


class FakeClock:
    def __init__(self, now: float = 1_700_000_000) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _tokens(clock: FakeClock, key: str = KEY) -> ServiceAccountTokens:
    return ServiceAccountTokens(key, issuer=ISSUER, api_audiences=(ISSUER,), clock=clock)


def _segments(token: str) -> tuple[dict, dict]:
    header, claims, _ = token.split(".")
    return json.loads(jwt.b64url_decode(header)), json.loads(jwt.b64url_decode(claims))


def test_bound_token_has_the_real_claims() -> None:
    clock = FakeClock()
    tokens = _tokens(clock)
    token, exp = tokens.mint_bound(
        namespace="p",
        name="robot",
        uid="sa-uid",
        audiences=[ISSUER],
        expiration_seconds=3600,
        bound=BoundObject("Secret", "holder", "secret-uid"),
    )
    header, claims = _segments(token)
    assert header == {"alg": "RS256", "kid": jwt.key_id(jwt.load_private_key(KEY).public_key())}
    assert set(claims) == {"aud", "exp", "iat", "iss", "jti", "kubernetes.io", "nbf", "sub"}
    assert claims["exp"] == exp == int(clock.now) + 3600
    assert claims["iat"] == claims["nbf"] == int(clock.now)
    assert claims["aud"] == [ISSUER]
    assert claims["iss"] == ISSUER
    assert claims["sub"] == "system:serviceaccount:p:robot"
    assert claims["kubernetes.io"] == {
        "namespace": "p",
        "serviceaccount": {"name": "robot", "uid": "sa-uid"},
        "secret": {"name": "holder", "uid": "secret-uid"},
    }
    checked = tokens.check(token)
    assert (checked.namespace, checked.name, checked.uid) == ("p", "robot", "sa-uid")
    assert checked.bound == BoundObject("Secret", "holder", "secret-uid")
    assert checked.audiences == (ISSUER,)
    assert checked.token_id == claims["jti"]


def test_legacy_token_has_the_legacy_claims_and_never_expires() -> None:
    clock = FakeClock()
    tokens = _tokens(clock)
    token = tokens.mint_legacy(namespace="p", name="robot", uid="sa-uid", secret_name="robot-token")
    _, claims = _segments(token)
    assert claims == {
        "iss": "kubernetes/serviceaccount",
        "kubernetes.io/serviceaccount/namespace": "p",
        "kubernetes.io/serviceaccount/secret.name": "robot-token",
        "kubernetes.io/serviceaccount/service-account.name": "robot",
        "kubernetes.io/serviceaccount/service-account.uid": "sa-uid",
        "sub": "system:serviceaccount:p:robot",
    }
    clock.now += 10 * 365 * 86400
    assert tokens.check(token).legacy_secret_name == "robot-token"


@pytest.mark.parametrize(("elapsed", "valid"), [(3600, True), (3600 + 60, True), (3600 + 61, False)])
def test_bound_token_expires_after_exp_plus_leeway(elapsed: int, valid: bool) -> None:
    clock = FakeClock()
    tokens = _tokens(clock)
    token, _ = tokens.mint_bound(namespace="p", name="r", uid="u", audiences=[ISSUER], expiration_seconds=3600)
    clock.now += elapsed
    if valid:
        tokens.check(token)
    else:
        with pytest.raises(TokenInvalid, match="service account token has expired"):
            tokens.check(token)


def test_audiences_must_intersect_the_target_audiences() -> None:
    tokens = _tokens(FakeClock())
    token, _ = tokens.mint_bound(namespace="p", name="r", uid="u", audiences=["registry"], expiration_seconds=600)
    with pytest.raises(TokenInvalid, match=r'token audiences \["registry"\] is invalid for the target audiences'):
        tokens.check(token)
    assert tokens.check(token, ["registry", "other"]).audiences == ("registry",)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"),  # signature
        lambda t: ".".join(
            [t.split(".")[0], jwt.b64url_encode(b'{"iss":"kubernetes/serviceaccount"}'), t.split(".")[2]]
        ),
        lambda t: "not-a-jwt",
        lambda t: t + ".extra",
    ],
)
def test_tampered_tokens_are_rejected(mutate) -> None:
    tokens = _tokens(FakeClock())
    token, _ = tokens.mint_bound(namespace="p", name="r", uid="u", audiences=[ISSUER], expiration_seconds=600)
    with pytest.raises(TokenInvalid):
        tokens.check(mutate(token))


def test_a_token_signed_by_another_key_is_rejected() -> None:
    clock = FakeClock()
    token, _ = _tokens(clock, OTHER_KEY).mint_bound(
        namespace="p", name="r", uid="u", audiences=[ISSUER], expiration_seconds=600
    )
    with pytest.raises(TokenInvalid, match="cryptographic primitive"):
        _tokens(clock).check(token)


def test_foreign_issuer_is_rejected() -> None:
    claims = {"iss": "https://elsewhere", "exp": 2_000_000_000, "aud": [ISSUER]}
    token = jwt.sign(claims, jwt.load_private_key(KEY))
    with pytest.raises(TokenInvalid, match="issuer"):
        _tokens(FakeClock()).check(token)


@given(st.binary(max_size=64))
def test_b64url_roundtrip(raw: bytes) -> None:
    assert jwt.b64url_decode(jwt.b64url_encode(raw)) == raw


_CHECKER = _tokens(FakeClock())


@given(st.text(max_size=80))
def test_arbitrary_strings_never_crash_the_checker(text: str) -> None:
    tokens = _CHECKER
    for candidate in (text, "eyJ" + text, f"eyJ{text}.{text}.{text}"):
        with pytest.raises(TokenInvalid):
            tokens.check(candidate)


def test_generated_material_and_root_bundle_per_flavor() -> None:
    openshift = SandboxClusterConfig().with_generated_material()
    assert openshift.sa_signing_key_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert openshift.root_ca_bundle.count("BEGIN CERTIFICATE") == 2  # API server CA + ingress CA
    assert openshift.with_generated_material() is openshift
    shared = SandboxClusterConfig(
        api_server_ca_pem=openshift.api_server_ca_pem, ingress_ca_pem=openshift.api_server_ca_pem
    )
    assert shared.root_ca_bundle == openshift.api_server_ca_pem  # one CA for both: listed once
    kube = SandboxClusterConfig(flavor="kubernetes").with_generated_material()
    assert kube.ingress_ca_pem == ""
    assert kube.root_ca_bundle.count("BEGIN CERTIFICATE") == 1
