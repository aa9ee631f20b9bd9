"""ICR ``/api/v1/namespaces``: authentication, the Account header, creation, ownership and names."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.emulators.ibmcloud.conftest import ALICE, ALICE_KEY, BOB, BOB_KEY, IbmCloud

from horizon_publisher.sandbox.ibmcloud import is_valid_namespace_name


def test_put_creates_then_answers_200_for_the_same_account(ibmcloud: IbmCloud) -> None:
    token = ibmcloud.token(ALICE_KEY)

    created = ibmcloud.call("PUT", "/api/v1/namespaces/edge-team", token=token, account=ALICE.account_id)
    again = ibmcloud.call("PUT", "/api/v1/namespaces/edge-team", token=token, account=ALICE.account_id)

    assert (created.status_code, created.json()) == (201, {"namespace": "edge-team"})
    assert (again.status_code, again.json()) == (200, {"namespace": "edge-team"})
    listed = ibmcloud.call("GET", "/api/v1/namespaces", token=token, account=ALICE.account_id)
    assert listed.json() == ["edge-team"]


def test_namespace_owned_by_another_account_is_refused(ibmcloud: IbmCloud) -> None:
    alice = ibmcloud.token(ALICE_KEY)
    ibmcloud.call("PUT", "/api/v1/namespaces/shared-name", token=alice, account=ALICE.account_id)

    response = ibmcloud.call(
        "PUT", "/api/v1/namespaces/shared-name", token=ibmcloud.token(BOB_KEY), account=BOB.account_id
    )

    assert response.status_code == 409
    assert set(response.json()) >= {"code", "message"}
    bob_sees = ibmcloud.call("GET", "/api/v1/namespaces", token=ibmcloud.token(BOB_KEY), account=BOB.account_id)
    assert bob_sees.json() == []


def test_preexisting_namespace_of_another_account(ibmcloud_factory: Any) -> None:
    cloud = ibmcloud_factory(namespaces={"taken-by-bob": BOB.account_id})

    response = cloud.call(
        "PUT", "/api/v1/namespaces/taken-by-bob", token=cloud.token(ALICE_KEY), account=ALICE.account_id
    )

    assert response.status_code == 409


def test_namespace_list_and_details_are_per_account(ibmcloud: IbmCloud) -> None:
    alice, bob = ibmcloud.token(ALICE_KEY), ibmcloud.token(BOB_KEY)
    for name in ("zeta", "alpha"):
        ibmcloud.call("PUT", f"/api/v1/namespaces/{name}-ns", token=alice, account=ALICE.account_id)
    ibmcloud.call("PUT", "/api/v1/namespaces/bobs-ns", token=bob, account=BOB.account_id)

    assert ibmcloud.call("GET", "/api/v1/namespaces", token=alice, account=ALICE.account_id).json() == [
        "alpha-ns",
        "zeta-ns",
    ]
    details = ibmcloud.call("GET", "/api/v1/namespaces/details", token=bob, account=BOB.account_id).json()
    assert [(d["name"], d["account"]) for d in details] == [("bobs-ns", BOB.account_id)]


def test_namespace_details_carry_the_resource_group(ibmcloud: IbmCloud) -> None:
    token = ibmcloud.token(ALICE_KEY)
    response = ibmcloud.call(
        "PUT",
        "/api/v1/namespaces/grouped",
        token=token,
        account=ALICE.account_id,
        extra_headers={"X-Auth-Resource-Group": "rg-1"},
    )
    assert response.status_code == 201

    details = ibmcloud.call("GET", "/api/v1/namespaces/details", token=token, account=ALICE.account_id).json()
    assert details[0]["resource_group"] == "rg-1"


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("abcd", True),
        ("a" * 30, True),
        ("1team", True),
        ("my_team-2", True),
        ("abc", False),
        ("a" * 31, False),
        ("Team", False),
        ("-team", False),
        ("team-", False),
        ("team_", False),
        ("te.am", False),
        ("tëam", False),
    ],
)
def test_put_validates_the_name(ibmcloud: IbmCloud, name: str, valid: bool) -> None:
    response = ibmcloud.call(
        "PUT", f"/api/v1/namespaces/{name}", token=ibmcloud.token(ALICE_KEY), account=ALICE.account_id
    )

    assert response.status_code == (201 if valid else 400)
    if not valid:
        assert "4-30 characters" in response.json()["message"]


@pytest.mark.parametrize(
    ("token_kind", "account", "status"),
    [
        ("none", ALICE.account_id, 401),
        ("garbage", ALICE.account_id, 401),
        ("forged", ALICE.account_id, 401),
        ("valid", None, 400),
        ("valid", "", 400),
        ("valid", BOB.account_id, 400),
    ],
)
def test_auth_and_account_header_are_enforced(
    ibmcloud: IbmCloud, token_kind: str, account: str | None, status: int
) -> None:
    real = ibmcloud.token(ALICE_KEY)
    header, payload, signature = real.split(".")
    token = {
        "none": None,
        "garbage": "not-a-jwt",
        "forged": f"{header}.{payload}.{signature[::-1]}",
        "valid": real,
    }[token_kind]

    for method, path in (
        ("PUT", "/api/v1/namespaces/guarded"),
        ("GET", "/api/v1/namespaces"),
        ("GET", "/api/v1/images"),
    ):
        response = ibmcloud.call(method, path, token=token, account=account)
        assert response.status_code == status, (method, path)
        assert set(response.json()) >= {"code", "message"}
    owner_view = ibmcloud.call("GET", "/api/v1/namespaces", token=real, account=ALICE.account_id)
    assert owner_view.json() == []  # nothing was created by the refused PUTs


def test_expired_token_gets_401_then_a_fresh_exchange_works(ibmcloud: IbmCloud) -> None:
    token = ibmcloud.token(ALICE_KEY)
    ibmcloud.clock.now += 3599
    assert ibmcloud.call("GET", "/api/v1/namespaces", token=token, account=ALICE.account_id).status_code == 200

    ibmcloud.clock.now += 1
    expired = ibmcloud.call("PUT", "/api/v1/namespaces/late-team", token=token, account=ALICE.account_id)

    assert expired.status_code == 401
    fresh = ibmcloud.token(ALICE_KEY)
    assert (
        ibmcloud.call("PUT", "/api/v1/namespaces/late-team", token=fresh, account=ALICE.account_id).status_code == 201
    )


_REFERENCE_RULE = re.compile(r"^[a-z0-9][a-z0-9_-]{2,28}[a-z0-9]$")


@given(st.text(alphabet="abcxyz019_-AZ.é/ ", max_size=34))
def test_validator_matches_the_documented_rule(name: str) -> None:
    expected = (
        4 <= len(name) <= 30
        and all(c in "abcdefghijklmnopqrstuvwxyz0123456789_-" for c in name)
        and name[0].isalnum()
        and name[-1].isalnum()
    )
    assert is_valid_namespace_name(name) is expected


@given(st.from_regex(_REFERENCE_RULE, fullmatch=True))
def test_every_documented_name_is_accepted(name: str) -> None:
    assert is_valid_namespace_name(name)


@given(st.text(min_size=1, max_size=40).filter(lambda s: "\n" in s or s != s.strip() or not s.isascii()))
def test_names_with_whitespace_or_non_ascii_are_rejected(name: str) -> None:
    assert not is_valid_namespace_name(name)
