"""Pure parts of the Exchange client: service ids, comparisons, auth header, error mapping, env credentials."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from horizon_publisher.clients.exchange_http import ExchangeTransport, path_of
from horizon_publisher.clients.exchange_model import (
    SERVICE_EXACT,
    ExchangeConflict,
    ExchangeEndpoint,
    ExchangeError,
    ExchangeForbidden,
    ExchangeNotFound,
    ExchangeRejected,
    ExchangeServerError,
    ExchangeUnauthorized,
    covers,
    dockauth_id_from_message,
    expected_business_policy,
    expected_pattern,
    expected_service,
    form_exchange_id,
    service_id,
)
from horizon_publisher.clients.retry_after import retry_after_seconds as _retry_after_seconds
from horizon_publisher.sandbox.exchange.versions import service_id as emulator_service_id
from horizon_publisher.verify import credentials_from_env

PASSWORD = "pw-SECRET-4711"
ENDPOINT = ExchangeEndpoint("https://exchange.example/v1/", "myorg", "alice", PASSWORD)


@pytest.mark.parametrize(
    ("url", "version", "arch", "expected"),
    [
        (
            "https://github.com/open-horizon/examples/gps",
            "2.0.3",
            "amd64",
            "github.com-open-horizon-examples-gps_2.0.3_amd64",
        ),
        ("https://example.com/ns/svc", "1.0.0", "amd64", "example.com-ns-svc_1.0.0_amd64"),
        ("host:8080/x", "1", "arm", "host:8080-x_1_arm"),  # ':' survives, so does a port
        ("svc9920", "1.0", "arm64", "svc9920_1.0_arm64"),
        ("a$b!c*d,e;f/g?h@i&j~k=l%m", "1.0.0", "s390x", "a-b-c-d-e-f-g-h-i-j-k-l-m_1.0.0_s390x"),
        ("keep_._-+chars", "1.0.0", "amd64", "keep_._-+chars_1.0.0_amd64"),
        ("HTTPS://Upper.Example/x", "1.0.0", "amd64", "Upper.Example-x_1.0.0_amd64"),
        ("git+ssh://h/p", "1.0.0", "amd64", "h-p_1.0.0_amd64"),
        ("a://b://c", "1.0.0", "amd64", "b:--c_1.0.0_amd64"),  # only the first scheme goes
        ("://x", "1.0.0", "amd64", "x_1.0.0_amd64"),  # an empty scheme matches too
        ("https://h/x", "1.0.0-beta", "amd64", "h-x_1.0.0-beta_amd64"),  # version and arch untouched
    ],
)
def test_service_id_table(url: str, version: str, arch: str, expected: str) -> None:
    assert service_id(url, version, arch) == expected


@given(st.text(max_size=40), st.text(max_size=8), st.text(max_size=8))
def test_service_id_agrees_with_the_emulator_and_has_no_troublesome_chars(url: str, version: str, arch: str) -> None:
    formed = service_id(url, version, arch)
    assert formed == emulator_service_id(url, version, arch)
    url_part = formed[: len(formed) - len(f"_{version}_{arch}")]
    assert formed.endswith(f"_{version}_{arch}")
    assert not re.search(r"[$!*,;/?@&~=%]", url_part)


def test_form_exchange_id_keeps_a_scheme_like_prefix() -> None:
    assert form_exchange_id("pattern-gps/amd64 x@y") == "pattern-gps-amd64 x-y"
    assert form_exchange_id("https://x") == "https:--x"


@pytest.mark.parametrize(
    ("msg", "expected"),
    [
        ("dockauth 2 added", 2),
        ("dockauth 1,234 added", 1234),
        ("dockauth resource updated", None),  # a duplicate, or id 1
        ("dockauth 12 updated", None),
        ("something else", None),
    ],
)
def test_dockauth_id_from_message(msg: str, expected: int | None) -> None:
    assert dockauth_id_from_message(msg) == expected


@pytest.mark.parametrize(
    ("stored", "sent", "expected"),
    [
        ({"a": 1, "owner": "o", "lastUpdated": "t"}, {"a": 1}, True),  # extra stored fields are ignored
        ({"a": 1}, {"a": 2}, False),
        ({"a": 1}, {"a": None}, True),  # None = not sent
        ({}, {"a": 1}, False),
        ({"l": [1, 2]}, {"l": [1, 2]}, True),
        ({"l": [1, 2]}, {"l": [2, 1]}, False),
        ({"l": [1, 2, 3]}, {"l": [1, 2]}, False),
        ({"r": [{"url": "u", "version": "1", "versionRange": "1"}]}, {"r": [{"url": "u", "version": "1"}]}, True),
        ({"u": [{"defaultValue": "true"}]}, {"u": [{"defaultValue": True}]}, True),  # coerced into strings
        ({"u": [{"defaultValue": "5"}]}, {"u": [{"defaultValue": 5}]}, True),
        ({"u": [{"defaultValue": "5"}]}, {"u": [{"defaultValue": 6}]}, False),
        ({"public": False}, {"public": 0}, False),
        ({"n": 1}, {"n": True}, False),
        ({"v": 1.0}, {"v": 1}, True),
        ("x", {"a": 1}, False),
        ({"a": "x"}, {"a": ["x"]}, False),
    ],
)
def test_covers(stored: Any, sent: Any, expected: bool) -> None:
    assert covers(stored, sent) is expected


def test_expected_service_fills_the_exchange_defaults() -> None:
    body = {"label": "gps", "description": None, "matchHardware": None, "requiredServices": None, "userInput": None,
            "url": "u", "version": "1", "arch": "amd64", "sharable": "multiple", "deployment": "{}",
            "deploymentSignature": "c2ln"}  # fmt: skip
    stored = {"label": "gps", "description": "gps", "documentation": "", "public": False, "matchHardware": {},
              "requiredServices": [], "userInput": [], "url": "u", "version": "1", "arch": "amd64",
              "sharable": "multiple", "deployment": "{}", "deploymentSignature": "c2ln", "clusterDeployment": "",
              "clusterDeploymentSignature": "", "imageStore": {}, "owner": "myorg/alice"}  # fmt: skip
    assert covers(stored, expected_service(body), SERVICE_EXACT)
    # dropping a value we sent before is a difference, not "not sent"
    assert not covers({**stored, "matchHardware": {"usb": "1"}}, expected_service(body), SERVICE_EXACT)
    assert not covers({**stored, "documentation": "https://doc"}, expected_service(body), SERVICE_EXACT)


@pytest.mark.parametrize(
    ("stored", "sent", "expected"),
    [
        ({"m": {"a": "1", "b": "2"}}, {"m": {"a": "1"}}, False),  # a key we stopped sending
        ({"m": {"a": "1"}}, {"m": {"a": "1"}}, True),
        ({"m": {}}, {"m": {}}, True),
        ({"m": None}, {"m": {}}, True),
        ({"m": {"a": 1}}, {"m": {}}, False),
        ({"m": [{"name": "x", "defaultValue": "true"}]}, {"m": [{"name": "x", "defaultValue": True}]}, True),
        ({"m": [{"name": "x", "label": ""}]}, {"m": [{"name": "x"}]}, False),
        ({"m": {"a": {"b": [1]}}}, {"m": {"a": {"b": [1]}}}, True),
        ({"m": {"a": {"b": [1]}}}, {"m": {"a": {"b": [1, 2]}}}, False),
        ({"other": {"a": 1, "b": 2}}, {"other": {"a": 1}}, True),  # not exact: only what we send
    ],
)
def test_exact_keys_compare_whole_values(stored: Any, sent: Any, expected: bool) -> None:
    assert covers(stored, sent, frozenset({"m"})) is expected


def test_expected_pattern_and_policy_defaults() -> None:
    pattern = expected_pattern({"label": "p", "services": [{"serviceUrl": "u", "serviceVersions": []}]})
    assert pattern["description"] == "p"
    assert pattern["agreementProtocols"] == [{"name": "Basic"}]
    assert pattern["services"][0]["nodeHealth"] == {"missing_heartbeat_interval": 1800, "check_agreement_status": 1800}
    policy = expected_business_policy({"label": "b", "service": {"name": "u", "nodeHealth": {"x": 1}}})
    assert policy["service"]["nodeHealth"] == {"x": 1}
    assert (policy["constraints"], policy["properties"], policy["description"]) == ([], [], "b")


@pytest.mark.parametrize(
    ("username", "identity"),
    [
        ("alice", "myorg/alice"),
        ("other/alice", "other/alice"),
        ("apikey", "myorg/apikey"),
        ("iamapikey", "myorg/iamapikey"),
    ],
)
def test_basic_auth_identity(username: str, identity: str) -> None:
    endpoint = ExchangeEndpoint("https://x/v1", "myorg", username, "s3cret:with:colons")
    assert endpoint.identity == identity
    scheme, _, encoded = endpoint.authorization().partition(" ")
    assert (scheme, base64.b64decode(encoded).decode()) == ("Basic", f"{identity}:s3cret:with:colons")


def test_endpoint_repr_hides_the_password_and_base_url_drops_the_slash() -> None:
    assert PASSWORD not in repr(ENDPOINT)
    assert ENDPOINT.base_url == "https://exchange.example/v1"


def test_path_of_encodes_each_segment() -> None:
    assert (
        path_of("orgs", "myorg", "services", "host:8080-x_1.0.0_amd64")
        == "/orgs/myorg/services/host:8080-x_1.0.0_amd64"
    )
    assert path_of("orgs", "o", "patterns", "a b/c#d") == "/orgs/o/patterns/a%20b%2Fc%23d"


def _response(status: int, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response.headers.update(headers or {})
    return response


def _transport() -> ExchangeTransport:
    return ExchangeTransport(
        ENDPOINT, timeout=(1, 1), retries=0, backoff=0, session=requests.Session(), sleep=lambda _: None,
        max_retry_after=5,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("status", "body", "kind", "fragment"),
    [
        (400, {"code": "invalid-input", "msg": "version 'v1' is not valid version format."}, ExchangeRejected,
         "version 'v1' is not valid version format."),
        (401, {"code": "invalid-credentials", "msg": "invalid.credentials"}, ExchangeUnauthorized, "myorg/alice"),
        (403, {"code": "access-denied", "msg": "Access denied: 'myorg/bob'"}, ExchangeForbidden, "Access denied"),
        (403, {"code": "already-exists", "msg": "service 'x' already exists"}, ExchangeConflict, "already exists"),
        (404, {"code": "not-found", "msg": "service 'x' not found"}, ExchangeNotFound, "service 'x' not found"),
        (409, {"code": "already-exists", "msg": "org"}, ExchangeConflict, "conflict"),
        (500, {"code": "internal_error", "msg": "violates foreign key constraint"}, ExchangeNotFound, "parent"),
        (500, {"code": "internal_error", "msg": "boom"}, ExchangeServerError, "HTTP 500"),
        (502, b"<html>bad gateway</html>", ExchangeServerError, "bad gateway"),
        (429, {}, ExchangeServerError, "HTTP 429"),
        (415, b"Unsupported Content-Type", ExchangeError, "unexpected HTTP 415"),
    ],
)  # fmt: skip
def test_error_mapping(status: int, body: Any, kind: type[ExchangeError], fragment: str) -> None:
    error = _transport().error_for("PUT", "/orgs/myorg/services/x", _response(status, body), ())
    assert type(error) is kind
    assert error.status == status
    assert fragment in error.message
    assert error.retryable is (kind is ExchangeServerError)


def test_error_messages_mask_echoed_secrets() -> None:
    body = {"code": "invalid-input", "msg": f"bad token tok-ABCDEF-99 and {PASSWORD}"}
    error = _transport().error_for("POST", "/p", _response(400, body), ("tok-ABCDEF-99",))
    assert "tok-ABCDEF-99" not in error.message
    assert PASSWORD not in error.message
    assert "***" in error.message


@pytest.mark.parametrize(("header", "expected"), [("7", 7.0), ("0", 0.0), ("soon", None), ("-3", None)])
def test_retry_after_seconds(header: str, expected: float | None) -> None:
    assert _retry_after_seconds(header) == expected


def test_retry_after_http_date_is_in_the_past_or_future() -> None:
    seconds = _retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT")
    assert seconds is not None
    assert seconds < 0


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"HZN_EXCHANGE_USER_AUTH": "alice:pw:with:colons"}, ("alice", "pw:with:colons")),
        ({"HZN_EXCHANGE_USER_AUTH": "myorg/alice:pw"}, ("myorg/alice", "pw")),
        ({"HZN_EXCHANGE_USER_AUTH": "apikey:KEY"}, ("apikey", "KEY")),
        ({"HORIZON_PUBLISHER_EXCHANGE_USER": "bob", "HORIZON_PUBLISHER_EXCHANGE_PASSWORD": "pw"}, ("bob", "pw")),
        ({"HZN_EXCHANGE_USER_AUTH": "nocolon", "HORIZON_PUBLISHER_EXCHANGE_USER": "b",
          "HORIZON_PUBLISHER_EXCHANGE_PASSWORD": "p"}, ("b", "p")),
        ({"HZN_EXCHANGE_USER_AUTH": "alice:"}, None),
        ({"HORIZON_PUBLISHER_EXCHANGE_USER": "bob"}, None),
        ({}, None),
    ],
)  # fmt: skip
def test_credentials_from_env(environ: dict[str, str], expected: tuple[str, str] | None) -> None:
    assert credentials_from_env(environ) == expected
