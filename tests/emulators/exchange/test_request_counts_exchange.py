"""The Exchange emulator's request counters (/_sandbox/requests): templates, Basic users, 401s, no secrets."""

from __future__ import annotations

from typing import Any

import requests
from exchange_harness import ALICE, ORG, Exchange, service_body

SERVICE = f"/orgs/{ORG}/services/example.com-gps_1.0.0_amd64"
TEMPLATE = "/orgs/{org}/services/{service}"


def counts_response(exchange: Exchange, method: str = "GET") -> requests.Response:
    return requests.request(method, f"{exchange.server.url}/_sandbox/requests", timeout=10)


def counts(exchange: Exchange) -> list[dict[str, Any]]:
    response = counts_response(exchange)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["requests"]
    return rows


def test_get_put_and_a_401_are_counted_by_template_and_user(exchange: Exchange) -> None:
    exchange.create_service()
    assert counts_response(exchange, "DELETE").json() == {"requests": []}
    assert exchange.call("GET", SERVICE).status_code == 200
    assert exchange.call("PUT", SERVICE, json_body=service_body(label="again")).status_code == 201
    assert exchange.call("GET", SERVICE, auth=(ALICE[0], "wrong-password")).status_code == 401
    assert exchange.call("GET", "/admin/version", auth=None).status_code == 200
    response = counts_response(exchange)
    assert response.json() == {
        "requests": [
            {"user": "anonymous", "method": "GET", "target": "/admin/version", "count": 1},
            {"user": ALICE[0], "method": "GET", "target": TEMPLATE, "count": 2},
            {"user": ALICE[0], "method": "PUT", "target": TEMPLATE, "count": 1},
        ]
    }
    assert ALICE[1] not in response.text
    assert "wrong-password" not in response.text


def test_the_endpoint_needs_no_auth_is_not_counted_and_refuses_other_methods(exchange: Exchange) -> None:
    assert exchange.call("GET", "/nothing/here").status_code == 404
    assert requests.get(f"{exchange.server.url}/elsewhere", timeout=10).status_code == 404
    assert counts_response(exchange, "POST").status_code == 405
    assert counts(exchange) == [
        {"user": "anonymous", "method": "GET", "target": "/{other}", "count": 1},
        {"user": ALICE[0], "method": "GET", "target": "/{other}/{other}", "count": 1},
    ]
    counts_response(exchange, "DELETE")
    assert counts(exchange) == []
