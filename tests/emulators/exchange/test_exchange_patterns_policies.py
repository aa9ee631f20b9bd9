"""Patterns and deployment (business) policies over real HTTP: reference checks, shapes, status codes."""

from __future__ import annotations

from typing import Any

import pytest
from exchange_harness import ADMIN, ALICE, BOB, CAROL, NODE, ORG, ROOT, Exchange, service_body

PATTERNS = f"/orgs/{ORG}/patterns"
POLICIES = f"/orgs/{ORG}/business/policies"
GPS_URL = "https://example.com/gps"


def pattern(versions: tuple[str, ...] = ("1.0.0",), arch: str = "amd64", **extra: Any) -> dict[str, Any]:
    service = {
        "serviceUrl": GPS_URL,
        "serviceOrgid": ORG,
        "serviceArch": arch,
        "serviceVersions": [{"version": v} for v in versions],
    }
    return {"label": "gps pattern", "services": [service], **extra}


def policy(versions: tuple[str, ...] = ("1.0.0",), arch: str = "amd64", **extra: Any) -> dict[str, Any]:
    service = {"name": GPS_URL, "org": ORG, "arch": arch, "serviceVersions": [{"version": v} for v in versions]}
    return {"label": "gps policy", "service": service, **extra}


def test_pattern_lifecycle_and_shape(exchange: Exchange) -> None:
    exchange.create_service()
    assert exchange.call("GET", PATTERNS).json() == {"patterns": {}, "lastIndex": 0}
    created = exchange.call("POST", f"{PATTERNS}/p1", json_body=pattern())
    assert (created.status_code, created.json()) == (201, {"code": "ok", "msg": f"pattern '{ORG}/p1' created"})
    got = exchange.call("GET", f"{PATTERNS}/p1", auth=NODE)
    assert got.status_code == 200
    shown = got.json()["patterns"][f"{ORG}/p1"]
    assert list(shown) == [
        "owner", "label", "description", "public", "services", "userInput", "secretBinding",
        "agreementProtocols", "lastUpdated", "clusterNamespace",
    ]  # fmt: skip
    assert (shown["owner"], shown["description"], shown["public"]) == ("myorg/alice", "gps pattern", False)
    assert shown["agreementProtocols"] == [{"name": "Basic"}]
    assert shown["services"][0]["nodeHealth"] == {"missing_heartbeat_interval": 1800, "check_agreement_status": 1800}
    assert shown["clusterNamespace"] == ""
    again = exchange.call("POST", f"{PATTERNS}/p1", json_body=pattern())
    assert (again.status_code, again.json()["code"]) == (403, "already-exists")
    assert again.json()["msg"].startswith(f"pattern '{ORG}/p1' already exists: ")
    put = exchange.call("PUT", f"/orgs/{ORG}/deployment/patterns/p1", auth=ADMIN, json_body=pattern(description="d"))
    assert (put.status_code, put.json()["msg"]) == (201, "pattern updated")
    assert exchange.call("GET", f"{PATTERNS}/p1").json()["patterns"][f"{ORG}/p1"]["owner"] == "myorg/admin"
    assert exchange.call("DELETE", f"{PATTERNS}/p1").status_code == 403  # alice no longer owns it
    assert exchange.call("DELETE", f"{PATTERNS}/p1", auth=ADMIN).status_code == 204
    missing = exchange.call("GET", f"{PATTERNS}/p1")
    assert (missing.status_code, missing.json()) == (404, {"patterns": {}, "lastIndex": 0})
    assert exchange.call("DELETE", f"{PATTERNS}/p1", auth=ADMIN).json()["msg"] == f"pattern '{ORG}/p1' not found"


@pytest.mark.parametrize(
    ("body", "msg"),
    [
        (pattern(versions=("1.0.1",)), "pattern 'myorg/p' not created: the following referenced service does not exist "
         "in the exchange: org= myorg, url= https://example.com/gps, version= 1.0.1, arch= amd64"),
        (pattern(arch="*"), "pattern 'myorg/p' not created: the following referenced service does not exist "
         "in the exchange: org= myorg, url= https://example.com/gps, version= 1.0.0, arch= *"),  # no wildcard
        ({"label": "x", "services": []}, "No services were found in the pattern or the services field was left empty"),
        (pattern(versions=()), "no versions specified for service 'myorg', 'https://example.com/gps', 'amd64'"),
        (pattern(versions=("1.x",)), "version '1.x' is not valid version format."),
        (pattern(public=True), "pattern 'myorg/p' not created: only IBM patterns can be made public"),
        (
            pattern(userInput=[{"serviceOrgid": ORG, "serviceUrl": GPS_URL, "serviceVersionRange": "[1.0.0,1.0.0]",
                                "inputs": []}]),
            "pattern 'myorg/p' not created: the following referenced service does not exist in the exchange: "
            "org= myorg, url= https://example.com/gps, version= [1.0.0,1.0.0], arch= ",  # the Option.toString slip
        ),
    ],
)  # fmt: skip
def test_pattern_validation(exchange: Exchange, body: dict[str, Any], msg: str) -> None:
    exchange.create_service()
    response = exchange.call("POST", f"{PATTERNS}/p", json_body=body)
    assert (response.status_code, response.json()) == (400, {"code": "invalid-input", "msg": msg})
    assert exchange.call("GET", PATTERNS).status_code == 404


def test_pattern_user_input_with_a_range_resolves(exchange: Exchange) -> None:
    exchange.create_service()
    entry = {
        "serviceOrgid": ORG,
        "serviceUrl": GPS_URL,
        "serviceVersionRange": "[1.0.0,2.0.0)",
        "inputs": [{"name": "a", "value": 1}],
    }
    assert exchange.call("POST", f"{PATTERNS}/p", json_body=pattern(userInput=[entry])).status_code == 201


def test_pattern_put_never_creates(exchange: Exchange) -> None:
    exchange.create_service()
    response = exchange.call("PUT", f"{PATTERNS}/ghost", json_body=pattern())
    assert (response.status_code, response.json()) == (
        404,
        {"code": "not-found", "msg": f"pattern '{ORG}/ghost' not found"},
    )


def test_pattern_list_filters(exchange: Exchange) -> None:
    exchange.create_service()
    exchange.call("POST", f"{PATTERNS}/alpha", json_body=pattern())
    exchange.call("POST", f"{PATTERNS}/beta", auth=ADMIN, json_body=pattern(label="b"))

    def names(query: str) -> set[str]:
        return set(exchange.call("GET", PATTERNS + query).json()["patterns"])

    assert names("") == {f"{ORG}/alpha", f"{ORG}/beta"}
    assert names("?owner=myorg/admin") == {f"{ORG}/beta"}
    assert names("?idfilter=myorg/al%25") == {f"{ORG}/alpha"}
    assert names("?label=b") == {f"{ORG}/beta"}


def test_public_patterns_need_an_ibm_org(exchange: Exchange) -> None:
    exchange.call("POST", "/orgs/IBM", auth=ROOT, json_body={"label": "IBM", "description": "d", "orgType": "IBM"})
    ibm_service = service_body(public=True)
    assert exchange.call("POST", "/orgs/IBM/services", auth=ROOT, json_body=ibm_service).status_code == 201
    body = pattern(public=True)
    body["services"][0]["serviceOrgid"] = "IBM"
    assert exchange.call("POST", "/orgs/IBM/patterns/pub", auth=ROOT, json_body=body).status_code == 201
    assert exchange.call("GET", "/orgs/IBM/patterns/pub", auth=CAROL).status_code == 200  # public: any org reads


def test_policy_lifecycle_and_shape(exchange: Exchange) -> None:
    exchange.create_service()
    assert exchange.call("GET", POLICIES).json() == {"businessPolicy": {}, "lastIndex": 0}
    body = policy(properties=[{"name": "p", "value": 1}], constraints=["purpose == gps"])
    created = exchange.call("POST", f"{POLICIES}/pol", json_body=body)
    assert (created.status_code, created.json()) == (201, {"code": "ok", "msg": f"business policy '{ORG}/pol' created"})
    got = exchange.call("GET", f"/orgs/{ORG}/deployment/policies/pol")
    shown = got.json()["businessPolicy"][f"{ORG}/pol"]
    assert list(shown) == sorted(shown)
    assert shown["owner"] == "myorg/alice"
    assert shown["service"]["nodeHealth"] == {"missing_heartbeat_interval": 1800, "check_agreement_status": 1800}
    assert shown["service"]["serviceVersions"] == [{"version": "1.0.0", "priority": None, "upgradePolicy": None}]
    assert shown["constraints"] == ["purpose == gps"]
    assert shown["created"] == shown["lastUpdated"]
    again = exchange.call("POST", f"{POLICIES}/pol", json_body=body)
    assert (again.status_code, again.json()["code"]) == (403, "already-exists")
    put = exchange.call("PUT", f"{POLICIES}/pol", auth=ADMIN, json_body=policy(label="renamed"))
    assert (put.status_code, put.json()["msg"]) == (201, "business policy updated")
    after = exchange.call("GET", f"{POLICIES}/pol").json()["businessPolicy"][f"{ORG}/pol"]
    assert (after["label"], after["owner"], after["created"]) == ("renamed", "myorg/alice", shown["created"])
    assert after["lastUpdated"] > shown["lastUpdated"]
    assert exchange.call("DELETE", f"{POLICIES}/pol", auth=BOB).status_code == 403
    assert exchange.call("DELETE", f"{POLICIES}/pol").status_code == 204
    assert exchange.call("DELETE", f"{POLICIES}/pol").json()["msg"] == f"business policy '{ORG}/pol' not found"
    gone = exchange.call("GET", f"{POLICIES}/pol")
    assert (gone.status_code, gone.json()) == (404, {"businessPolicy": {}, "lastIndex": 0})


@pytest.mark.parametrize(
    ("body", "status", "msg"),
    [
        (policy(versions=("2.0.0",)), 400, "business policy 'myorg/pol' not created: the following referenced service "
         "does not exist in the exchange: org= myorg, url= https://example.com/gps, version= 2.0.0, arch= amd64"),
        (policy(arch="arm64"), 400, "business policy 'myorg/pol' not created: the following referenced service "
         "does not exist in the exchange: org= myorg, url= https://example.com/gps, version= 1.0.0, arch= arm64"),
        (policy(versions=("1.0",)), 400, "business policy 'myorg/pol' not created: the following referenced service "
         "does not exist in the exchange: org= myorg, url= https://example.com/gps, version= 1.0, arch= amd64"),
        (policy(versions=()), 400, "no versions specified for service"),
        (policy(arch="*"), 201, "business policy 'myorg/pol' created"),
        (policy(arch=""), 201, "business policy 'myorg/pol' created"),
        ({"label": "x", "service": {"name": GPS_URL, "org": ORG, "serviceVersions": []}}, 400,
         "Cannot construct instance of `org.openhorizon.exchangeapi.route.deploymentpolicy."
         "PostPutBusinessPolicyRequest`, problem: requirement failed"),
    ],
)  # fmt: skip
def test_policy_reference_checks(exchange: Exchange, body: dict[str, Any], status: int, msg: str) -> None:
    exchange.create_service()
    response = exchange.call("POST", f"{POLICIES}/pol", json_body=body)
    assert (response.status_code, response.json()["msg"]) == (status, msg)


def test_policy_put_never_creates_and_checks_references_first(exchange: Exchange) -> None:
    exchange.create_service()
    missing = exchange.call("PUT", f"{POLICIES}/ghost", json_body=policy())
    assert (missing.status_code, missing.json()["msg"]) == (404, f"business policy '{ORG}/ghost' not found")
    bad_ref = exchange.call("PUT", f"{POLICIES}/ghost", json_body=policy(versions=("9.9.9",)))
    assert bad_ref.status_code == 400
    assert bad_ref.json()["msg"].startswith(f"business policy '{ORG}/ghost' not updated: ")


def test_policies_are_private_to_their_org(exchange: Exchange) -> None:
    exchange.create_service()
    exchange.call("POST", f"{POLICIES}/pol", json_body=policy())
    assert exchange.call("GET", f"{POLICIES}/pol", auth=BOB).status_code == 200  # any user of the org
    assert exchange.call("GET", f"{POLICIES}/pol", auth=CAROL).json()["code"] == "access-denied"
    absent = exchange.call("GET", f"{POLICIES}/nope", auth=CAROL)
    assert (absent.status_code, absent.json()["msg"]) == (404, f"resource '{ORG}/nope' not found")
    listed = exchange.call("GET", POLICIES, auth=ALICE)
    assert set(listed.json()["businessPolicy"]) == {f"{ORG}/pol"}
