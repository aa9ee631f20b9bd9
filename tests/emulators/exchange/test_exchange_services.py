"""Services over real HTTP: ids, status codes, shapes, validation, requiredServices, lists, PATCH, errors."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from exchange_harness import ADMIN, ALICE, BOB, GPS_ID, ORG, Exchange, service_body

SERVICES = f"/orgs/{ORG}/services"
GPS_PATH = f"{SERVICES}/example.com-gps_1.0.0_amd64"
INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6}|\.\d{9})?Z")


def test_create_then_get_shape(exchange: Exchange) -> None:
    created = exchange.call("POST", SERVICES, json_body=service_body(description=None, documentation=None))
    assert (created.status_code, created.json()) == (201, {"code": "ok", "msg": f"service '{GPS_ID}' created"})
    got = exchange.call("GET", GPS_PATH)
    assert got.status_code == 200
    assert set(got.json()) == {"services", "lastIndex"}
    assert got.json()["lastIndex"] == 0
    service = got.json()["services"][GPS_ID]
    assert list(service) == sorted(service)  # the server's alphabetical field order
    assert service["owner"] == "myorg/alice"
    assert service["organization"] == ORG
    assert service["description"] == "gps"  # defaults to the label
    assert service["documentation"] == ""
    assert (service["matchHardware"], service["imageStore"], service["requiredServices"], service["userInput"]) == (
        {},
        {},
        [],
        [],
    )
    assert INSTANT.fullmatch(service["lastUpdated"])
    assert service["deployment"] == service_body()["deployment"]  # the string, byte for byte


def test_duplicate_post_is_403_already_exists_whoever_owns_it(exchange: Exchange) -> None:
    exchange.create_service()
    for caller in (ALICE, BOB):
        again = exchange.call("POST", SERVICES, auth=caller, json_body=service_body())
        assert again.status_code == 403
        assert again.json()["code"] == "already-exists"
        assert again.json()["msg"].startswith(f"service '{GPS_ID}' already exists: ")


def test_put_never_creates(exchange: Exchange) -> None:
    missing = exchange.call("PUT", GPS_PATH, json_body=service_body())
    assert (missing.status_code, missing.json()) == (404, {"code": "not-found", "msg": f"service '{GPS_ID}' not found"})
    assert exchange.call("GET", GPS_PATH).status_code == 404


def test_put_replaces_and_takes_ownership(exchange: Exchange) -> None:
    exchange.create_service()
    before = exchange.call("GET", GPS_PATH).json()["services"][GPS_ID]
    put = exchange.call("PUT", GPS_PATH, auth=ADMIN, json_body=service_body(label="renamed"))
    assert (put.status_code, put.json()) == (201, {"code": "ok", "msg": "service updated"})
    after = exchange.call("GET", GPS_PATH, auth=ADMIN).json()["services"][GPS_ID]
    assert (after["label"], after["owner"]) == ("renamed", "myorg/admin")
    assert after["lastUpdated"] > before["lastUpdated"]


def test_put_body_must_reproduce_the_id(exchange: Exchange) -> None:
    exchange.create_service()
    response = exchange.call("PUT", GPS_PATH, json_body=service_body(version="1.0.1"))
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid-input",
        "msg": "the service id specified in the URL does not match the url, version, and arch in the body.",
    }


def test_delete_is_204_and_cascades(exchange: Exchange) -> None:
    exchange.create_service()
    exchange.call("PUT", GPS_PATH + "/keys/k.pem", data="PEM")
    exchange.call("POST", GPS_PATH + "/dockauths", json_body={"registry": "r", "token": "t"})
    exchange.call("PUT", GPS_PATH + "/policy", json_body={"properties": []})
    deleted = exchange.call("DELETE", GPS_PATH)
    assert (deleted.status_code, deleted.content) == (204, b"")
    again = exchange.call("DELETE", GPS_PATH)
    assert (again.status_code, again.json()["msg"]) == (404, f"service '{GPS_ID}' not found")
    exchange.create_service()
    assert exchange.call("GET", GPS_PATH + "/keys").json() == []
    assert exchange.call("GET", GPS_PATH + "/dockauths").json() == []
    assert exchange.call("GET", GPS_PATH + "/policy").status_code == 404


def test_empty_list_is_404_with_the_normal_shape(exchange: Exchange) -> None:
    response = exchange.call("GET", SERVICES)
    assert (response.status_code, response.json()) == (404, {"services": {}, "lastIndex": 0})


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"gps_1.0.0_amd64", "gps_1.0.0_arm64", "cam_2.0.0_amd64"}),
        ("?arch=arm64", {"gps_1.0.0_arm64"}),
        ("?url=cam", {"cam_2.0.0_amd64"}),
        ("?url=g%25", {"gps_1.0.0_amd64", "gps_1.0.0_arm64"}),
        ("?version=2.0.0", {"cam_2.0.0_amd64"}),
        ("?owner=myorg/admin", {"cam_2.0.0_amd64"}),
        ("?owner=myorg/a%25", {"gps_1.0.0_amd64", "gps_1.0.0_arm64", "cam_2.0.0_amd64"}),
        ("?public=true", {"cam_2.0.0_amd64"}),
        ("?public=no", {"gps_1.0.0_amd64", "gps_1.0.0_arm64"}),
        ("?nodetype=cluster", {"gps_1.0.0_arm64"}),
        ("?nodetype=device", {"gps_1.0.0_amd64", "cam_2.0.0_amd64"}),
        ("?requiredurl=gps", {"cam_2.0.0_amd64"}),
        ("?arch=s390x", set()),
    ],
)
def test_list_filters(exchange: Exchange, query: str, expected: set[str]) -> None:
    exchange.create_service(service_body(url="gps"))
    cluster = "{}"
    exchange.create_service(
        service_body(url="gps", arch="arm64", deployment="", clusterDeployment=cluster, clusterDeploymentSignature="s")
    )
    required = [{"url": "gps", "org": ORG, "version": "1.0.0", "arch": "amd64"}]
    exchange.create_service(service_body(url="cam", version="2.0.0", public=True, requiredServices=required), ADMIN)
    response = exchange.call("GET", SERVICES + query, auth=ADMIN)
    assert {name.split("/", 1)[1] for name in response.json()["services"]} == expected
    assert response.status_code == (200 if expected else 404)


@pytest.mark.parametrize(
    ("query", "msg"),
    [
        ("?public=maybe", "public, not a valid 32-bit signed integer value"),
        ("?version=1.%25", "version '1.%' is not valid version format."),
        ("?nodetype=edge", "the 'nodetype' url parameter must have one of these values: device, cluster"),
    ],
)
def test_list_filter_validation(exchange: Exchange, query: str, msg: str) -> None:
    response = exchange.call("GET", SERVICES + query)
    assert (response.status_code, response.json()) == (400, {"code": "invalid-input", "msg": msg})


@pytest.mark.parametrize(
    ("overrides", "msg"),
    [
        ({"documentation": "example.com/doc"}, "the 'documentation' field is not valid URL format."),
        ({"version": "1.0.0-beta"}, "version '1.0.0-beta' is not valid version format."),
        ({"version": "v1"}, "version 'v1' is not valid version format."),
        ({"arch": ""}, "arch can not be empty."),
        ({"sharable": "Singleton"}, "invalid value 'Singleton' for the sharable attribute."),
        ({"deploymentSignature": ""}, "this service definition is not signed."),
        ({"clusterDeployment": "{}", "clusterDeploymentSignature": None}, "this service definition is not signed."),
        (
            {"requiredServices": [{"url": "base", "org": ORG, "arch": "amd64"}]},
            "required service 'base' does not contain a versionRange",
        ),
        (
            {"requiredServices": [{"url": "base", "org": ORG, "version": "1", "arch": "arm64"}]},
            "required service 'base' has arch 'arm64', which is different than this service's arch 'amd64'",
        ),
        (
            {"requiredServices": [{"url": "base", "org": ORG, "version": "1.0.0", "arch": "amd64"}]},
            "service 'myorg/example.com-gps_1.0.0_amd64' not created: the following required service does not "
            "exist in the exchange: org= myorg, url= base, version= Some(1.0.0), arch= amd64",
        ),
        (
            {"requiredServices": [{"url": "base", "org": ORG, "versionRange": "[1,2)", "arch": "amd64"}]},
            "service 'myorg/example.com-gps_1.0.0_amd64' not created: the following required service does not "
            "exist in the exchange: org= myorg, url= base, version= None, arch= amd64",
        ),
    ],
)
def test_create_validation(exchange: Exchange, overrides: dict[str, Any], msg: str) -> None:
    response = exchange.call("POST", SERVICES, json_body=service_body(**overrides))
    assert (response.status_code, response.json()) == (400, {"code": "invalid-input", "msg": msg})
    assert exchange.call("GET", SERVICES).status_code == 404  # nothing written


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"label": None}, "problem: requirement failed"),
        ({"sharable": None}, "problem: requirement failed"),
        ({"jsonFormats": "x"}, 'Unrecognized field "jsonFormats"'),
        ({"deployment": {"services": {}}}, "Cannot deserialize value of type `java.lang.String` from Object"),
        ({"userInput": [{"name": "a", "defaultValue": {"x": 1}}]}, "java.lang.String"),
        ({"requiredServices": {"url": "x"}}, "scala.collection.immutable.List"),
    ],
)
def test_bodies_jackson_refuses(exchange: Exchange, overrides: dict[str, Any], fragment: str) -> None:
    body = {key: value for key, value in service_body(**overrides).items() if not (key == "label" and value is None)}
    response = exchange.call("POST", SERVICES, json_body=body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid-input"
    assert fragment in response.json()["msg"]


def test_jackson_coercions_are_accepted(exchange: Exchange) -> None:
    body = service_body(version=1, public="true", userInput=[{"name": "n", "defaultValue": 5}])
    del body["description"], body["documentation"]
    assert exchange.call("POST", SERVICES, json_body=body).status_code == 201
    service = exchange.call("GET", f"{SERVICES}/example.com-gps_1_amd64").json()["services"][
        f"{ORG}/example.com-gps_1_amd64"
    ]
    assert (service["version"], service["public"], service["userInput"]) == (
        "1",
        True,
        [{"name": "n", "defaultValue": "5"}],
    )


@pytest.mark.parametrize(
    ("data", "content_type", "status", "expected"),
    [
        ("{not json", "application/json", 400, "invalid-input"),
        ("", "application/json", 400, "Request entity expected but not supplied"),
        (json.dumps(service_body()), "text/plain", 415, "The request's Content-Type is not supported"),
        ("[1,2]", "application/json", 400, "invalid-input"),
        ("null", "application/json", 400, "invalid-input"),
    ],
)
def test_unparseable_bodies(exchange: Exchange, data: str, content_type: str, status: int, expected: str) -> None:
    response = exchange.call("POST", SERVICES, data=data.encode(), headers={"Content-Type": content_type})
    assert response.status_code == status
    assert expected in response.text


def test_required_services_ranges(exchange: Exchange) -> None:
    exchange.create_service(service_body(url="base", version="1.5.0"))
    for version_range, ok in (("1.0.0", True), ("[1.0.0,2.0.0)", True), ("[2.0.0,3.0.0)", False), ("(1.5.0,2)", False)):
        ref = {"url": "base", "org": ORG, "versionRange": version_range, "arch": "amd64"}
        body = service_body(url=f"top-{len(version_range)}-{ok}", requiredServices=[ref])
        assert exchange.call("POST", SERVICES, json_body=body).status_code == (201 if ok else 400), version_range
    ref = {"url": "base", "org": ORG, "version": "1.0.0", "arch": "amd64"}
    exchange.create_service(service_body(url="top", requiredServices=[ref]))
    shown = exchange.call("GET", f"{SERVICES}/top_1.0.0_amd64").json()["services"][f"{ORG}/top_1.0.0_amd64"]
    assert shown["requiredServices"] == [{**ref, "versionRange": "1.0.0"}]
    bad = exchange.call(
        "PUT",
        f"{SERVICES}/top_1.0.0_amd64",
        json_body=service_body(url="top", requiredServices=[{**ref, "version": "9"}]),
    )
    assert bad.json()["msg"].startswith(f"service '{ORG}/top_1.0.0_amd64' not updated: the following required service")


def test_get_attribute(exchange: Exchange) -> None:
    exchange.create_service()
    assert exchange.call("GET", GPS_PATH + "?attribute=deploymentSignature").json() == {
        "attribute": "deploymentSignature",
        "value": "c2lnbmF0dXJl",
    }
    assert exchange.call("GET", GPS_PATH + "?attribute=PUBLIC").json() == {"attribute": "PUBLIC", "value": "false"}
    assert "services" in exchange.call("GET", GPS_PATH + "?attribute=nonsense").json()  # unknown: the whole service


@pytest.mark.parametrize(
    ("patch", "status", "msg"),
    [
        ({"label": "x", "description": "ignored"}, 201, f"attribute 'label' of service '{GPS_ID}' updated"),
        ({"sharable": "multiple"}, 201, f"attribute 'sharable' of service '{GPS_ID}' updated"),
        ({"sharable": "lots"}, 400, "invalid value 'lots' for the sharable attribute."),
        ({"version": "2.0.0"}, 400, "patching attributes 'url', 'version', and 'arch' are not allowed"),
        ({"clusterDeployment": "{}"}, 400, "no valid service attribute specified"),
    ],
)
def test_patch_one_attribute(exchange: Exchange, patch: dict[str, Any], status: int, msg: str) -> None:
    exchange.create_service()
    response = exchange.call("PATCH", GPS_PATH, json_body=patch)
    assert response.status_code == status
    assert response.json()["msg"].startswith(msg)
    if status == 201:
        service = exchange.call("GET", GPS_PATH).json()["services"][GPS_ID]
        key = next(iter(patch))
        assert service[key] == patch[key]
        assert service["description"] == "GPS service"  # only the first attribute applies


def test_routes_and_methods(exchange: Exchange) -> None:
    unknown = exchange.call("GET", "/orgs/myorg/gadgets")
    assert (unknown.status_code, unknown.json()) == (404, {"code": "not-found", "msg": "unrecognized route"})
    wrong = exchange.call("POST", GPS_PATH + "/keys")
    assert wrong.status_code == 405
    assert wrong.headers["Content-Type"].startswith("text/plain")
    assert exchange.call("GET", f"/catalog/{ORG}/services").json() == {"services": {}, "lastIndex": 0}
