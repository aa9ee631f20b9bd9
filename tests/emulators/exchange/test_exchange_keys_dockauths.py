"""Service keys (raw PEM, upsert, list of ids), pattern keys, dockauths (global ids, de-duplication, the
server's quirks) and the service policy, over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from exchange_harness import GPS_ID, NODE, ORG, Exchange, service_body

GPS = f"/orgs/{ORG}/services/example.com-gps_1.0.0_amd64"
PEM = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n-----END PUBLIC KEY-----\n"


def test_keys_are_raw_text_upserted_by_id(exchange: Exchange) -> None:
    exchange.create_service()
    assert exchange.call("GET", GPS + "/keys").status_code == 404
    assert exchange.call("GET", GPS + "/keys").json() == []
    put = exchange.call("PUT", GPS + "/keys/mykey.pem", data=PEM, headers={"Content-Type": "text/plain"})
    assert (put.status_code, put.json()) == (201, {"code": "ok", "msg": "key added or updated"})
    # hzn sends no Content-Type; a JSON body is stored literally
    exchange.call("PUT", GPS + "/keys/other.pem", data=b'{"key":"x"}')
    listed = exchange.call("GET", GPS + "/keys", auth=NODE)
    assert (listed.status_code, listed.json()) == (200, ["mykey.pem", "other.pem"])
    one = exchange.call("GET", GPS + "/keys/mykey.pem")
    assert (one.status_code, one.text) == (200, PEM)
    assert one.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert exchange.call("GET", GPS + "/keys/other.pem").text == '{"key":"x"}'
    exchange.call("PUT", GPS + "/keys/mykey.pem", data="NEW")
    assert exchange.call("GET", GPS + "/keys/mykey.pem").text == "NEW"
    assert exchange.call("GET", GPS + "/keys").json() == ["mykey.pem", "other.pem"]  # replaced, not added


def test_key_not_found_and_delete(exchange: Exchange) -> None:
    exchange.create_service()
    missing = exchange.call("GET", GPS + "/keys/none.pem")
    assert (missing.status_code, missing.text, missing.headers["Content-Type"].split(";")[0]) == (404, "", "text/plain")
    gone = exchange.call("DELETE", GPS + "/keys/none.pem")
    assert gone.json() == {"code": "not-found", "msg": f"key 'none.pem' for service '{GPS_ID}' not found"}
    nothing = exchange.call("DELETE", GPS + "/keys")
    assert nothing.json() == {"code": "not-found", "msg": f"no keys for service '{GPS_ID}' found"}
    exchange.call("PUT", GPS + "/keys/a.pem", data=PEM)
    exchange.call("PUT", GPS + "/keys/b.pem", data=PEM)
    deleted = exchange.call("DELETE", GPS + "/keys/a.pem")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert exchange.call("GET", GPS + "/keys").json() == ["b.pem"]
    assert exchange.call("DELETE", GPS + "/keys").status_code == 204
    assert exchange.call("GET", GPS + "/keys").status_code == 404


def test_keys_of_a_missing_service(exchange: Exchange) -> None:
    put = exchange.call("PUT", GPS + "/keys/k.pem", data=PEM)
    assert put.status_code == 500
    assert put.json()["code"] == "internal_error"
    assert put.json()["msg"].startswith(f"key 'k.pem' for service '{GPS_ID}' not inserted or updated: ")
    assert exchange.call("DELETE", GPS + "/keys/k.pem").json()["msg"] == f"service '{GPS_ID}' not found"
    assert exchange.call("GET", GPS + "/keys").json() == []


def test_pattern_keys(exchange: Exchange) -> None:
    exchange.create_service()
    pattern = {"label": "p", "services": [pattern_service()]}
    assert exchange.call("POST", f"/orgs/{ORG}/patterns/p1", json_body=pattern).status_code == 201
    assert exchange.call("PUT", f"/orgs/{ORG}/patterns/p1/keys/k.pem", data=PEM).status_code == 201
    assert exchange.call("GET", f"/orgs/{ORG}/deployment/patterns/p1/keys").json() == ["k.pem"]
    assert exchange.call("GET", f"/orgs/{ORG}/patterns/p1/keys/k.pem").text == PEM
    exchange.call("DELETE", f"/orgs/{ORG}/patterns/p1")
    assert exchange.call("GET", f"/orgs/{ORG}/patterns/p1/keys").status_code == 404


def pattern_service() -> dict[str, Any]:
    return {
        "serviceUrl": "https://example.com/gps",
        "serviceOrgid": ORG,
        "serviceArch": "amd64",
        "serviceVersions": [{"version": "1.0.0"}],
    }


def post_dockauth(exchange: Exchange, path: str, **body: str) -> tuple[int, str]:
    response = exchange.call("POST", path + "/dockauths", json_body=body)
    return response.status_code, response.json()["msg"]


def test_dockauth_ids_are_global_and_duplicates_only_touch_last_updated(exchange: Exchange) -> None:
    exchange.create_service()
    other = "/orgs/" + exchange.create_service(service_body(url="cam")).replace("/", "/services/")
    assert post_dockauth(exchange, GPS, registry="r.example:5000", username="robot", token="t1") == (
        201,
        "dockauth resource updated",  # the server's message when the new id is exactly 1
    )
    assert post_dockauth(exchange, other, registry="r.example:5000", username="robot", token="t1") == (
        201,
        "dockauth 2 added",  # one id counter for every service
    )
    first = exchange.call("GET", GPS + "/dockauths").json()
    assert post_dockauth(exchange, GPS, registry="r.example:5000", username="robot", token="t1") == (
        201,
        "dockauth resource updated",
    )
    touched = exchange.call("GET", GPS + "/dockauths").json()
    assert len(touched) == 1
    assert touched[0]["dockAuthId"] == first[0]["dockAuthId"] == 1
    assert touched[0]["lastUpdated"] > first[0]["lastUpdated"]
    # anything else is a new row: another token, another username, another registry
    assert post_dockauth(exchange, GPS, registry="r.example:5000", username="robot", token="t2") == (
        201,
        "dockauth 3 added",
    )
    assert post_dockauth(exchange, GPS, registry="r.example:5000", username="other", token="t2") == (
        201,
        "dockauth 4 added",
    )
    assert post_dockauth(exchange, GPS, registry="r.example", username="other", token="t2") == (201, "dockauth 5 added")
    rows = exchange.call("GET", GPS + "/dockauths", auth=NODE).json()
    assert [row["dockAuthId"] for row in rows] == [1, 3, 4, 5]
    assert set(rows[0]) == {"dockAuthId", "registry", "username", "token", "lastUpdated"}


def test_dockauth_username_defaults_to_token(exchange: Exchange) -> None:
    exchange.create_service()
    post_dockauth(exchange, GPS, registry="r", token="t")
    assert post_dockauth(exchange, GPS, registry="r", username="token", token="t") == (201, "dockauth resource updated")
    assert [row["username"] for row in exchange.call("GET", GPS + "/dockauths").json()] == ["token"]


def test_dockauth_by_id(exchange: Exchange) -> None:
    exchange.create_service()
    post_dockauth(exchange, GPS, registry="r", token="t")
    one = exchange.call("GET", GPS + "/dockauths/1")
    assert (one.status_code, one.json()["token"]) == (200, "t")
    missing = exchange.call("GET", GPS + "/dockauths/77")
    assert (missing.status_code, missing.json()) == (404, [])
    bad = exchange.call("GET", GPS + "/dockauths/abc")
    assert (bad.status_code, bad.json()) == (
        400,
        {"code": "invalid-input", "msg": "dockauthid must be an integer: {1}"},
    )
    put = exchange.call("PUT", GPS + "/dockauths/1", json_body={"registry": "r2", "token": "t2"})
    assert (put.status_code, put.json()) == (201, {"code": "ok", "msg": "dockauth 1 updated"})
    assert exchange.call("GET", GPS + "/dockauths/1").json()["registry"] == "r2"
    put_missing = exchange.call("PUT", GPS + "/dockauths/77", json_body={"registry": "r", "token": "t"})
    assert (put_missing.status_code, put_missing.json()) == (404, {"code": "ok", "msg": "dockauth 77 not found"})
    put_bad = exchange.call("PUT", GPS + "/dockauths/x1", json_body={"registry": "r", "token": "t"})
    assert put_bad.json()["msg"] == 'dockauthid must be an integer: For input string: "x1"'
    gone = exchange.call("DELETE", GPS + "/dockauths/77")
    assert gone.json() == {"code": "not-found", "msg": f"dockauths '77' for service '{GPS_ID}' not found"}
    assert exchange.call("DELETE", GPS + "/dockauths/1").status_code == 204
    assert exchange.call("GET", GPS + "/dockauths").status_code == 404
    nothing = exchange.call("DELETE", GPS + "/dockauths")
    assert nothing.json() == {"code": "not-found", "msg": f"no dockauths for service '{GPS_ID}' found"}


def test_dockauth_of_a_missing_service_consumes_an_id(exchange: Exchange) -> None:
    assert post_dockauth(exchange, GPS, registry="r", token="t")[0] == 500
    exchange.create_service()
    assert post_dockauth(exchange, GPS, registry="r", token="t") == (201, "dockauth 2 added")


def test_dockauth_ids_print_grouped(exchange: Exchange) -> None:
    exchange.create_service()
    exchange.store.data["nextDockAuthId"] = 1234
    assert post_dockauth(exchange, GPS, registry="r", token="t") == (201, "dockauth 1,234 added")


@pytest.mark.parametrize(
    ("body", "fragment"), [({"registry": "r"}, "requirement failed"), ({"registry": "r", "token": "t", "x": 1}, "x")]
)
def test_dockauth_body_validation(exchange: Exchange, body: dict[str, Any], fragment: str) -> None:
    exchange.create_service()
    response = exchange.call("POST", GPS + "/dockauths", json_body=body)
    assert response.status_code == 400
    assert fragment in response.json()["msg"]


def test_service_policy(exchange: Exchange) -> None:
    exchange.create_service()
    assert exchange.call("GET", GPS + "/policy").json() == {"code": "not-found", "msg": "not found"}
    policy = {"properties": [{"name": "openhorizon.service.arch", "value": "amd64"}], "constraints": ["a == b"]}
    put = exchange.call("PUT", GPS + "/policy", json_body=policy)
    assert (put.status_code, put.json()["msg"]) == (201, "policy added or updated")
    got = exchange.call("GET", GPS + "/policy").json()
    # an absent Option renders as null (Jackson's default for Scala's None)
    expected_properties = [{"name": "openhorizon.service.arch", "type": None, "value": "amd64"}]
    assert (got["label"], got["properties"], got["constraints"]) == ("", expected_properties, ["a == b"])
    bad = exchange.call("PUT", GPS + "/policy", json_body={"properties": [{"name": "p", "type": "text", "value": 1}]})
    assert bad.status_code == 400
    assert bad.json()["msg"].startswith("The properties.type value 'text' must be 1 of: string, int")
    assert exchange.call("DELETE", GPS + "/policy").status_code == 204
    assert exchange.call("DELETE", GPS + "/policy").json()["msg"] == f"policy for service '{GPS_ID}' not found"
    exchange.call("DELETE", GPS)
    assert exchange.call("PUT", GPS + "/policy", json_body=policy).status_code == 500
