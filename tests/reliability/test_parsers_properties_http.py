"""Properties of the parsers of what servers send: Exchange error bodies, token answers, WWW-Authenticate
(the rest, and what tests/unit already proves, is in test_parsers_properties.py)."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import time

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from horizon_publisher.clients.exchange_http import ExchangeTransport
from horizon_publisher.clients.exchange_model import ExchangeEndpoint, ExchangeError
from horizon_publisher.clients.registry_auth_client import Challenge, parse_challenges, parse_token_answer
from tests.reliability.test_parsers_properties import SETTINGS, json_values

# --- Exchange error bodies -----------------------------------------------------------------------------------

PASSWORD = "Exch4ngePassw0rd-XYZ"
DOCKAUTH_TOKEN = "dockauth-token-1234567890"
ENDPOINT = ExchangeEndpoint("https://exchange.example/v1", "myorg", "publisher", PASSWORD)
REASONS = {400: "ExchangeRejected", 401: "ExchangeUnauthorized", 404: "ExchangeNotFound", 409: "ExchangeConflict"}


def _response(status: int, body: bytes, content_type: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body  # what the server sent, byte for byte
    response.headers["Content-Type"] = content_type
    return response


def _transport() -> ExchangeTransport:
    return ExchangeTransport(
        ENDPOINT, timeout=(1.0, 1.0), retries=0, backoff=0.0, session=None, sleep=lambda _: None, max_retry_after=1.0
    )


echoes = st.sampled_from([PASSWORD, DOCKAUTH_TOKEN, f"password={PASSWORD}", f'"token": "{DOCKAUTH_TOKEN}"', ""])
messages = st.builds(lambda a, echo, b: a + echo + b, st.text(max_size=40), echoes, st.text(max_size=400))
bodies = st.one_of(
    st.builds(lambda code, msg: {"code": code, "msg": msg}, st.none() | st.text(max_size=12), messages),
    json_values,
    st.binary(max_size=300),
    messages,
)


@SETTINGS
@given(st.integers(min_value=100, max_value=599), bodies, st.sampled_from(["application/json", "text/plain", ""]))
def test_error_bodies_map_to_a_bounded_error_without_credentials(status: int, body: object, content_type: str) -> None:
    raw = body if isinstance(body, bytes) else (json.dumps(body) if not isinstance(body, str) else body).encode()
    transport = _transport()
    try:
        error = transport.error_for("PUT", "/orgs/myorg/services/x", _response(status, raw, content_type),
                                    (DOCKAUTH_TOKEN,))  # fmt: skip
    finally:
        transport.close()
    assert isinstance(error, ExchangeError)
    assert error.status == status
    assert len(error.message) <= 300 + 120, len(error.message)
    assert PASSWORD not in error.message
    assert DOCKAUTH_TOKEN not in error.message
    assert error.reason == REASONS.get(status, error.reason)
    assert error.retryable == (status == 429 or (status >= 500 and error.reason == "ExchangeServerError"))


def test_an_echoed_basic_credential_is_masked_too() -> None:
    basic = ENDPOINT.authorization().split(" ", 1)[1]
    transport = _transport()
    try:
        body = json.dumps({"code": "invalid-credentials", "msg": f"bad credentials: Basic {basic}"}).encode()
        error = transport.error_for("GET", "/orgs/myorg", _response(401, body, "application/json"), ())
        error_400 = transport.error_for("GET", "/x", _response(400, body, "application/json"), ())
    finally:
        transport.close()
    assert basic not in error.message
    assert basic not in error_400.message
    assert base64.b64decode(basic).decode().endswith(PASSWORD)


@SETTINGS
@given(json_values, st.text(min_size=8, max_size=40))
def test_token_answers_raise_only_value_error_and_never_quote_the_token(body: object, token: str) -> None:
    for answer in (body, {"token": body}, {"access_token": token, "expires_in": body}):
        try:
            parsed = parse_token_answer(answer)
        except ValueError as error:
            refused = str(error)
        else:
            refused = ""
        assert token not in refused
        if refused:
            continue
        assert parsed.token
        assert 0 < parsed.expires_in < 1e9
        assert token not in repr(parsed)


# --- WWW-Authenticate ---------------------------------------------------------------------------------------


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def serialise(challenges: list[Challenge]) -> str:
    parts = []
    for challenge in challenges:
        if challenge.token68 is not None:
            parts.append(f"{challenge.scheme} {challenge.token68}")
        elif challenge.params:
            parts.append(f"{challenge.scheme} " + ", ".join(f"{k}={_quote(v)}" for k, v in challenge.params.items()))
        else:
            parts.append(challenge.scheme)
    return ", ".join(parts)


header_text = st.text(alphabet='BbEeaArRsic=,"\\ \t/:.-_~+x0', max_size=60)
real_headers = st.sampled_from([
    'Bearer realm="https://auth.example/token",service="registry",scope="repository:p/n:pull,push"',
    "Bearer realm=https://auth.example/token,service=registry",
    'Basic realm="Registry Realm"',
    "Negotiate abc==, Basic realm=x",
    'bearer realm="x", error="invalid_token", error_description="The access token expired"',
])  # fmt: skip


@SETTINGS
@given(header_text | real_headers)
def test_serialising_what_was_parsed_parses_the_same(header: str) -> None:
    try:
        parsed = parse_challenges(header)
    except ValueError:
        return
    again = parse_challenges(serialise(parsed))
    assert [(c.scheme, dict(c.params), c.token68) for c in again] == [
        (c.scheme, dict(c.params), c.token68) for c in parsed
    ]


@SETTINGS
@given(real_headers)
def test_scheme_and_parameter_names_are_case_insensitive(header: str) -> None:
    def shout(text: str) -> str:  # upper-case everything outside quotes: schemes and names, not values
        return "".join(part if i % 2 else part.upper() for i, part in enumerate(re.split(r'("[^"]*")', text)))

    assert [(c.scheme.lower(), sorted(c.params)) for c in parse_challenges(shout(header))] == [
        (c.scheme.lower(), sorted(c.params)) for c in parse_challenges(header)
    ]


@SETTINGS
@given(header_text, st.from_regex(r"[A-Za-z0-9]{12,20}", fullmatch=True))
def test_errors_never_quote_the_header(header: str, secret: str) -> None:
    for text in (f"{secret} {header}", f"{header}{secret}\x00", f'Bearer {secret}="{header}'):
        try:
            parse_challenges(text)
        except ValueError as error:
            refused = str(error)
        else:
            refused = ""
        assert secret not in refused


@pytest.mark.parametrize(
    "header",
    ['Bearer realm="' + "a" * 100_000, ", " * 50_000, "Bearer " + "a=b, " * 20_000, "Basic " + "\\" * 50_000],
    ids=["unterminated quote", "only commas", "many params", "backslashes"],
)
def test_hostile_sizes_parse_in_linear_time(header: str) -> None:
    started = time.monotonic()
    with contextlib.suppress(ValueError):
        parse_challenges(header)
    assert time.monotonic() - started < 2.0
