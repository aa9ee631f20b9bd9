"""IAM ``POST /identity/token``: the API-key grant over real HTTP."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.emulators.ibmcloud.conftest import ALICE, ALICE_KEY, BOB, BOB_KEY, START, IbmCloud

from horizon_publisher.sandbox.openshift import jwt


def _claims(token: str) -> dict[str, Any]:
    """Decode the payload as a client would (no signature check), to read ``account.bss``."""
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def test_user_key_exchange_returns_the_documented_fields(ibmcloud: IbmCloud, signing_key: rsa.RSAPrivateKey) -> None:
    response = ibmcloud.exchange(ALICE_KEY)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {
        "access_token",
        "refresh_token",
        "token_type",
        "expires_in",
        "expiration",
        "scope",
        "ims_user_id",
    }
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["expiration"] == int(START) + 3600
    assert body["scope"] == "ibm openid"
    assert body["ims_user_id"] == ALICE.ims_user_id
    claims = jwt.verify(body["access_token"], signing_key.public_key())  # really RS256 by the configured key
    assert claims["exp"] == body["expiration"]
    assert claims["iat"] == int(START)


@pytest.mark.parametrize(("key", "identity"), [(ALICE_KEY, ALICE), (BOB_KEY, BOB)])
def test_account_and_iam_id_are_readable_from_the_token(ibmcloud: IbmCloud, key: str, identity: Any) -> None:
    claims = _claims(ibmcloud.token(key))

    assert claims["account"]["bss"] == identity.account_id
    assert claims["iam_id"] == identity.iam_id


def test_service_id_key_has_no_ims_user_id(ibmcloud: IbmCloud) -> None:
    assert "ims_user_id" not in ibmcloud.exchange(BOB_KEY).json()


def test_expiration_follows_the_injected_clock(ibmcloud: IbmCloud) -> None:
    ibmcloud.clock.now = START + 1000.7

    assert ibmcloud.exchange(ALICE_KEY).json()["expiration"] == int(START) + 1000 + 3600


def test_expires_in_is_configurable(ibmcloud_factory: Any) -> None:
    short = ibmcloud_factory(expires_in=600)

    body = short.exchange(ALICE_KEY).json()
    assert (body["expires_in"], body["expiration"]) == (600, int(START) + 600)


@pytest.mark.parametrize(
    ("api_key", "grant_type", "code", "message_part"),
    [
        (
            "not-a-known-key",
            "urn:ibm:params:oauth:grant-type:apikey",
            "BXNIM0415E",
            "Provided API key could not be found",
        ),
        (ALICE_KEY + "x", "urn:ibm:params:oauth:grant-type:apikey", "BXNIM0415E", "could not be found"),
        (None, "urn:ibm:params:oauth:grant-type:apikey", "BXNIM0109E", "apikey"),
        ("", "urn:ibm:params:oauth:grant-type:apikey", "BXNIM0109E", "apikey"),
        (ALICE_KEY, None, "BXNIM0109E", "grant_type"),
        (ALICE_KEY, "password", "BXNIM0103E", "grant type"),
    ],
)
def test_bad_requests_answer_400_with_the_iam_error_body(
    ibmcloud: IbmCloud, api_key: str | None, grant_type: str | None, code: str, message_part: str
) -> None:
    response = ibmcloud.exchange(api_key, grant_type)

    assert response.status_code == 400
    body = response.json()
    assert body["errorCode"] == code
    assert message_part in body["errorMessage"]
    assert body["context"]["requestId"]
    assert "access_token" not in body
    if api_key:
        assert api_key not in response.text  # never echo a secret back


def test_each_exchange_issues_a_distinct_token(ibmcloud: IbmCloud) -> None:
    assert ibmcloud.token(ALICE_KEY) != ibmcloud.token(ALICE_KEY)
