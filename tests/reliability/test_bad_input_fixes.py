"""Unit tests of the fixes the bad-input corpus led to (each failed before its fix).

- Condition messages stay far below the 32768-byte limit of the CRDs, however many problems a spec or a
  horizon/ file has (before: the status patch was refused, kopf logged a traceback and retried forever).
- Exchange credentials or a CA that are not UTF-8, and a ``caRef`` that names nothing, end in a condition
  that names the object (before: UnicodeDecodeError tracebacks, or a silent fall-back to the system trust).
- A certificate the edge agent refuses (expired, a CA) is refused when the key is loaded, as documented
  (before: published anyway); generatedKey values hzn refuses are SigningKeyInvalid, not a traceback.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from horizon_publisher.clients.kube import Resource
from horizon_publisher.horizon_files import HorizonFilesError, load_service_definition, merge_with_spec
from horizon_publisher.reconcile import publication
from horizon_publisher.reconcile.first_look import first_look
from horizon_publisher.reconcile.publication import EndpointProblem, exchange_endpoint
from horizon_publisher.signing import (
    GeneratedKeyError,
    SigningKeyError,
    generate_signing_key,
    load_signing_key,
)
from horizon_publisher.validation import Problem, check_publication

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
LIMIT = 32768


# --- message sizes ---------------------------------------------------------------------------------------------


def test_an_invalid_spec_with_hundreds_of_problems_fits_in_a_condition() -> None:
    containers = {f"c{i}-" + "k" * 200: {"image": "r.example/x@sha256:" + "a" * 64} for i in range(16)}
    spec = {
        "exchange": {"url": "https://e.example/v1"},
        "imageRefs": [{"name": f"i{i}", "containers": [f"absent-{i}-{j}-" + "m" * 100 for j in range(16)]}
                      for i in range(8)],
        "service": {"deployment": {"services": containers}},
    }  # fmt: skip
    problems = check_publication(spec)
    assert len(problems) == 128
    assert len("; ".join(map(str, problems)).encode()) > LIMIT  # what used to be written
    outcome = first_look(
        {"metadata": {"generation": 1}, "spec": spec}, condition_types=("Ready", "Signed"), problems=problems,
        pending_message="", now=NOW,
    )  # fmt: skip
    ready = outcome.conditions[0]
    assert (ready.reason, ready.status) == ("InvalidSpec", "False")
    assert len(ready.message.encode()) < LIMIT
    assert ready.message.endswith("; and 118 more problem(s)")
    assert [e.message for e in outcome.events] == [ready.message]


def test_few_problems_are_all_shown() -> None:
    problems = [Problem("spec.a", "one"), Problem("spec.b", "two")]
    outcome = first_look({"metadata": {}}, condition_types=("Ready",), problems=problems, pending_message="", now=NOW)
    assert outcome.conditions[0].message == "spec.a: one; spec.b: two"


def test_horizon_file_messages_are_bounded_whatever_the_file_quotes() -> None:
    url = "com.example/" + "u" * 100_000
    files = {"service.definition.json": f'{{"url": "{url}", "version": "1.0.0", "deployment": {{"services": {{}}}}}}'}
    with pytest.raises(HorizonFilesError) as raised:
        merge_with_spec(load_service_definition(files), {"url": "com.example.other"})
    assert raised.value.message.startswith('service.definition.json: url "com.example/uuu')
    assert raised.value.message.endswith('does not match spec.service.url "com.example.other"')
    assert len(raised.value.message) <= 4096


def test_unset_variables_are_named_up_to_ten() -> None:
    text = '{"url": "$A1 $A2 $A3 $A4 $A5 $A6 $A7 $A8 $A9 $A10 $A11 $A12 $A1"}'
    with pytest.raises(HorizonFilesError) as raised:
        load_service_definition({"service.definition.json": text})
    assert '"A10" at line 1' in raised.value.message
    assert '"A11"' not in raised.value.message
    assert "and 2 more" in raised.value.message


# --- the Exchange endpoint -------------------------------------------------------------------------------------


class FakeKube:
    """``get`` over a dict of (plural, name) -> object; every other call fails the test."""

    def __init__(self, objects: Mapping[tuple[str, str], dict[str, Any]]) -> None:
        self.objects = objects

    def get(self, resource: Resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        assert namespace == "ns", "read outside the resource's namespace"
        return self.objects.get((resource.plural, name))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _spec(ca_ref: dict[str, Any] | None = None) -> dict[str, Any]:
    tls = {"caRef": ca_ref} if ca_ref else {}
    return {"exchange": {"url": "https://e.example/v1", "org": "o", "credentialsSecretRef": {"name": "c"}, "tls": tls}}


CREDENTIALS = {"data": {"username": _b64(b"u"), "password": _b64(b"p")}}


@pytest.mark.parametrize(
    ("objects", "ca_ref", "reason", "fragment"),
    [
        ({("secrets", "c"): {"data": {"username": _b64(b"u"), "password": _b64(b"\xff\xfe")}}}, None,
         "ExchangeCredentialsNotFound", "secret c key username or password is not UTF-8 text"),
        ({("secrets", "c"): {"data": {"username": _b64(b"\x80"), "password": _b64(b"p")}}}, None,
         "ExchangeCredentialsNotFound", "is not UTF-8 text"),
        ({("secrets", "c"): CREDENTIALS}, {"name": "ca"}, "ExchangeTLSError",
         "configmap ca (spec.exchange.tls.caRef) does not exist"),
        ({("secrets", "c"): CREDENTIALS, ("configmaps", "ca"): {"data": {"other": "x"}}}, {"name": "ca"},
         "ExchangeTLSError", "configmap ca (spec.exchange.tls.caRef) has no key ca.crt"),
        ({("secrets", "c"): CREDENTIALS, ("secrets", "ca"): {"data": {"ca.crt": _b64(b"\xff\x00")}}},
         {"kind": "Secret", "name": "ca"}, "ExchangeTLSError", "secret ca (spec.exchange.tls.caRef) key ca.crt is not"),
        ({("secrets", "c"): CREDENTIALS}, {"kind": "Secret", "name": "ca", "key": "bundle"}, "ExchangeTLSError",
         "secret ca (spec.exchange.tls.caRef) does not exist"),
    ],
    ids=["password", "username", "configmap missing", "key missing", "secret not utf-8", "secret missing"],
)  # fmt: skip
def test_unusable_exchange_inputs_are_named(
    objects: Mapping[tuple[str, str], dict[str, Any]], ca_ref: dict[str, Any] | None, reason: str, fragment: str
) -> None:
    problem = exchange_endpoint(_spec(ca_ref), "ns", FakeKube(objects))  # type: ignore[arg-type]
    assert isinstance(problem, EndpointProblem)
    assert problem.reason == reason
    assert fragment in problem.message


def test_a_readable_ca_and_credentials_make_an_endpoint() -> None:
    objects = {("secrets", "c"): CREDENTIALS, ("configmaps", "ca"): {"data": {"ca.crt": "PEM"}}}
    endpoint = exchange_endpoint(_spec({"name": "ca"}), "ns", FakeKube(objects))  # type: ignore[arg-type]
    assert not isinstance(endpoint, EndpointProblem)
    assert (endpoint.username, endpoint.password, endpoint.ca_pem) == ("u", "p", "PEM")


def _never(_: object) -> Any:
    raise AssertionError("no client may be made without a usable endpoint")


def test_reconcile_and_finalize_report_a_missing_ca_without_calling_the_exchange() -> None:
    spec = {**_spec({"name": "ca"}), "imageRefs": [{"name": "i"}], "service": {"url": "u"}}
    body = {"metadata": {"name": "p", "namespace": "ns", "generation": 1}, "spec": spec}
    kube = FakeKube({("secrets", "c"): CREDENTIALS})
    outcome = publication.reconcile(body, now=NOW, kube=kube, exchange_factory=_never, registry_factory=_never)  # type: ignore[arg-type]
    published = next(c for c in outcome.conditions if c.type == "ServicePublished")
    assert (published.status, published.reason) == ("False", "ExchangeTLSError")
    assert "configmap ca" in published.message
    notes = publication.finalize(body, kube, _never)  # type: ignore[arg-type]
    assert [(n.type, n.reason) for n in notes] == [("Warning", "ExchangeTLSError")]


# --- signing keys ----------------------------------------------------------------------------------------------


def _certificate(key: rsa.RSAPrivateKey, *, not_after: datetime, ca: bool = False) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cn")])
    usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    built = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(not_after - timedelta(days=10)).not_valid_after(not_after)
        .add_extension(usage, critical=True).add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return built.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def private() -> tuple[str, rsa.RSAPrivateKey]:
    pem, _ = generate_signing_key(bits=2048, organization="o", common_name="cn", now=NOW)
    key = serialization.load_pem_private_key(pem.encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return pem, key


@pytest.mark.parametrize(
    ("not_after", "ca", "problem"),
    [(NOW - timedelta(seconds=1), False, "has expired"), (NOW + timedelta(days=1), True, "is a CA certificate")],
    ids=["expired", "ca"],
)
def test_a_certificate_the_agent_refuses_is_refused(
    private: tuple[str, rsa.RSAPrivateKey], not_after: datetime, ca: bool, problem: str
) -> None:
    pem, key = private
    certificate = _certificate(key, not_after=not_after, ca=ca)
    with pytest.raises(SigningKeyError, match=problem) as raised:
        load_signing_key(pem, certificate, now=NOW)
    assert raised.value.reason == "SigningKeyInvalid"
    if not ca:  # the same certificate was fine while it was valid
        assert load_signing_key(pem, certificate, now=not_after - timedelta(days=5)).certificate_pem == certificate


def test_generated_key_parameters_hzn_refuses_are_signing_key_errors() -> None:
    with pytest.raises(GeneratedKeyError) as raised:
        generate_signing_key(bits=2048, organization="o", common_name="cn", validity_days=3653)
    assert isinstance(raised.value, SigningKeyError)
    assert isinstance(raised.value, ValueError)  # what other callers catch
    assert raised.value.reason == "SigningKeyInvalid"
    assert "validityDays" in raised.value.message
