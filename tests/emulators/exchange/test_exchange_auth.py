"""Authentication (401 bodies, API keys, iamapikey, nodes and agbots) and authorization (roles, ownership,
visibility) over real HTTP."""

from __future__ import annotations

import base64

import pytest
from exchange_harness import (
    ADMIN,
    AGBOT,
    ALICE,
    ALICE_API_KEY,
    BOB,
    CAROL,
    GPS_ID,
    HUB_ADMIN,
    NODE,
    ORG,
    OTHER_ORG,
    ROOT,
    Exchange,
    seeded_store,
    service_body,
)

BAD_CREDS = {"code": "invalid-credentials", "msg": "invalid.credentials"}


def basic(raw: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({}, BAD_CREDS),
        (basic("myorg/alice:wrong"), BAD_CREDS),
        (basic("myorg/alice"), BAD_CREDS),  # no colon: an empty password
        (basic("alice:alice-password"), BAD_CREDS),  # no org
        ({"Authorization": "Bearer abc"}, BAD_CREDS),
        ({"Authorization": "Basic !!!"}, BAD_CREDS),
        (basic("myorg/apikey:" + "b" * 64), BAD_CREDS),
        (basic("myorg/nobody:pw"), {"code": "invalid-credentials", "msg": "unauthorized"}),
        (basic("nosuchorg/alice:alice-password"), {"code": "invalid-credentials", "msg": "unauthorized"}),
        (basic("myorg/node1:wrong"), BAD_CREDS),
    ],
)
def test_bad_credentials_are_401(exchange: Exchange, headers: dict[str, str], body: dict[str, str]) -> None:
    for path in (f"/orgs/{ORG}/services", "/no/such/route"):  # authentication comes before routing
        response = exchange.call("GET", path, auth=None, headers=headers)
        assert response.status_code == 401
        assert response.json() == body
        assert "WWW-Authenticate" not in response.headers


def test_unauthenticated_endpoints(exchange: Exchange) -> None:
    version = exchange.call("GET", "/admin/version", auth=None)
    assert (version.status_code, version.text) == (200, "2.154.0\n")
    assert version.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert exchange.call("GET", "/test", auth=None).json() == {"result": "OK"}
    assert exchange.call("GET", "/admin/status", auth=None).status_code == 401


def test_standard_headers_on_every_answer(exchange: Exchange) -> None:
    for response in (exchange.call("GET", "/admin/version", auth=None), exchange.call("GET", "/x", auth=None)):
        assert response.headers["Cache-Control"] == "max-age=0, must-revalidate, no-cache, no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "Strict-Transport-Security" in response.headers


def test_api_key_acts_as_its_user(exchange: Exchange) -> None:
    exchange.create_service(auth=("myorg/apikey", ALICE_API_KEY))
    assert exchange.call("GET", f"/orgs/{GPS_ID.replace('/', '/services/')}").json()["services"][GPS_ID]["owner"] == (
        "myorg/alice"
    )
    # the key belongs to myorg only
    assert exchange.call("GET", f"/orgs/{ORG}", auth=("otherorg/apikey", ALICE_API_KEY)).status_code == 401


def test_iamapikey_is_accepted_as_ieam_does(exchange: Exchange) -> None:
    response = exchange.call("GET", f"/orgs/{ORG}/users/iamapikey", auth=("myorg/iamapikey", ALICE_API_KEY))
    assert response.status_code == 200
    assert list(response.json()["users"]) == ["myorg/alice"]


def test_iamapikey_refused_like_open_source_2_154() -> None:
    with Exchange(seeded_store(), accept_iamapikey=False) as exchange:
        response = exchange.call("GET", f"/orgs/{ORG}", auth=("myorg/iamapikey", ALICE_API_KEY))
        assert response.status_code == 401
        assert response.json()["code"] == "invalid-credentials"
        assert exchange.call("GET", f"/orgs/{ORG}", auth=("myorg/apikey", ALICE_API_KEY)).status_code == 200


def denied(who: str, access: str, target: str) -> dict[str, str]:
    return {"code": "access-denied", "msg": f"Access denied: '{who}' does not have authorization: {access} {target}"}


def test_nodes_and_agbots_read_but_never_write(exchange: Exchange) -> None:
    resource = exchange.create_service()
    path = "/orgs/" + resource.replace("/", "/services/")
    for identity in (NODE, AGBOT):
        assert exchange.call("GET", path, auth=identity).status_code == 200
        put = exchange.call("PUT", path, auth=identity, json_body=service_body())
        assert (put.status_code, put.json()) == (403, denied(identity[0], "WRITE_ALL_SERVICES", f"service={resource}"))
        post = exchange.call("POST", f"/orgs/{ORG}/services", auth=identity, json_body=service_body(version="2"))
        assert (post.status_code, post.json()) == (403, denied(identity[0], "CREATE_SERVICES", f"service={ORG}/"))


def test_only_owner_admin_or_root_write_a_service(exchange: Exchange) -> None:
    resource = exchange.create_service()
    path = "/orgs/" + resource.replace("/", "/services/")
    put = exchange.call("PUT", path, auth=BOB, json_body=service_body())
    assert (put.status_code, put.json()) == (403, denied("myorg/bob", "WRITE_ALL_SERVICES", f"service={resource}"))
    for writer in (ALICE, ADMIN, ROOT):
        assert exchange.call("PUT", path, auth=writer, json_body=service_body()).status_code == 201
    # the keys and dockauths of the service follow the service's owner
    assert exchange.call("PUT", path + "/keys/k.pem", auth=BOB, data="PEM").status_code == 403
    dockauth = {"registry": "r", "token": "t"}
    assert exchange.call("POST", path + "/dockauths", auth=BOB, json_body=dockauth).status_code == 403
    assert exchange.call("DELETE", path, auth=BOB).status_code == 403


def test_a_standard_user_cannot_see_another_users_private_service(exchange: Exchange) -> None:
    resource = exchange.create_service()
    path = "/orgs/" + resource.replace("/", "/services/")
    hidden = exchange.call("GET", path, auth=BOB)
    assert (hidden.status_code, hidden.json()) == (404, {"code": "not-found", "msg": f"service '{resource}' not found"})
    assert exchange.call("GET", f"/orgs/{ORG}/services", auth=BOB).status_code == 404
    assert exchange.call("GET", path, auth=ADMIN).status_code == 200  # an org admin sees everything in the org
    assert exchange.call("GET", path + "/keys", auth=BOB).status_code == 404  # keys are not filtered: none yet
    exchange.call("PATCH", path, json_body={"public": True})
    assert exchange.call("GET", path, auth=BOB).status_code == 200


def test_other_orgs(exchange: Exchange) -> None:
    resource = exchange.create_service()
    path = "/orgs/" + resource.replace("/", "/services/")
    assert exchange.call("GET", path, auth=CAROL).json() == denied(
        "otherorg/carol", "READ_OTHER_ORGS", f"service={resource}"
    )
    absent = exchange.call("GET", f"/orgs/{ORG}/services/nope_1_amd64", auth=CAROL)
    assert (absent.status_code, absent.json()["msg"]) == (404, f"resource '{ORG}/nope_1_amd64' not found")
    post = exchange.call("POST", f"/orgs/{ORG}/services", auth=CAROL, json_body=service_body(version="3"))
    assert post.json() == denied("otherorg/carol", "CREATE_IN_OTHER_ORGS", f"service={ORG}/")
    exchange.call("PATCH", path, json_body={"public": True})
    assert exchange.call("GET", path, auth=CAROL).status_code == 200  # public services cross orgs
    # root creates anywhere
    assert exchange.call("POST", f"/orgs/{OTHER_ORG}/services", auth=ROOT, json_body=service_body()).status_code == 201


def test_hub_admin_cannot_touch_services(exchange: Exchange) -> None:
    post = exchange.call("POST", f"/orgs/{ORG}/services", auth=HUB_ADMIN, json_body=service_body())
    assert post.json() == denied("root/hubby", "CREATE", f"service={ORG}/")
    assert exchange.call("GET", f"/orgs/{ORG}", auth=HUB_ADMIN).status_code == 200  # but may read orgs


def test_status_needs_a_user(exchange: Exchange) -> None:
    status = exchange.call("GET", "/admin/status", auth=ALICE)
    assert status.status_code == 200
    assert status.json()["msg"] == "Exchange server operating normally"
    assert exchange.call("GET", "/admin/status", auth=NODE).json() == denied("myorg/node1", "STATUS", "action=")
    assert exchange.call("GET", f"/orgs/{ORG}/status", auth=NODE).status_code == 200


def test_org_endpoint(exchange: Exchange) -> None:
    org = exchange.call("GET", f"/orgs/{ORG}")
    assert org.status_code == 200
    assert set(org.json()["orgs"]) == {ORG}
    assert org.json()["orgs"][ORG]["orgType"] == ""
    assert exchange.call("GET", f"/orgs/{ORG}?attribute=orgType").json() == {"attribute": "orgType", "value": ""}
    assert exchange.call("GET", f"/orgs/{ORG}", auth=CAROL).status_code == 403
    assert exchange.call("GET", "/orgs/ghost", auth=ROOT).json() == {"orgs": {}, "lastIndex": 0}
    created = exchange.call("POST", "/orgs/neworg", auth=ROOT, json_body={"label": "n", "description": "d"})
    assert (created.status_code, created.json()["msg"]) == (201, "org 'neworg' created")
    again = exchange.call("POST", "/orgs/neworg", auth=ROOT, json_body={"label": "n", "description": "d"})
    assert (again.status_code, again.json()["code"]) == (409, "already-exists")


def test_users_and_api_keys_over_http(exchange: Exchange) -> None:
    created = exchange.call(
        "POST", f"/orgs/{ORG}/users/dave", auth=ADMIN, json_body={"password": "dave-pw", "admin": False, "email": ""}
    )
    assert created.status_code == 201
    assert (
        exchange.call("POST", f"/orgs/{ORG}/users/erin", auth=ALICE, json_body={"password": "x", "email": ""}).json()[
            "code"
        ]
        == "access-denied"
    )
    key = exchange.call("POST", f"/orgs/{ORG}/users/dave/apikeys", auth=("myorg/dave", "dave-pw"), json_body={})
    assert key.status_code == 201
    assert key.json()["owner"] == "myorg/dave"
    assert len(key.json()["value"]) == 64
    me = exchange.call("GET", f"/orgs/{ORG}/users/apikey", auth=("myorg/apikey", key.json()["value"]))
    assert list(me.json()["users"]) == ["myorg/dave"]
    assert me.json()["users"]["myorg/dave"]["password"] == "***************"
    assert exchange.call("POST", f"/orgs/{ORG}/users/dave/apikeys", auth=BOB, json_body={}).status_code == 403
