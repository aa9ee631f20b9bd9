"""``ExchangeClient.find_services``: every arch of one service version in one read, as a publication's
resync reads them (``GET /orgs/{org}/services?url=&version=``)."""

from __future__ import annotations

from exchange_harness import ALICE, BOB, ORG, Exchange, service_body

from horizon_publisher.clients.exchange import ExchangeClient
from horizon_publisher.clients.exchange_model import ExchangeEndpoint

URL = "https://example.com/gps"


def _client(exchange: Exchange, user: tuple[str, str] = ALICE) -> ExchangeClient:
    return ExchangeClient(ExchangeEndpoint(exchange.base, ORG, user[0].split("/")[1], user[1]))


def _publish(exchange: Exchange, user: tuple[str, str], **fields: str) -> None:
    response = exchange.call("POST", f"/orgs/{ORG}/services", auth=user, json_body=service_body(**fields))
    assert response.status_code == 201, response.text


def test_every_arch_of_the_version_and_nothing_else(exchange: Exchange) -> None:
    for arch in ("amd64", "arm64"):
        _publish(exchange, ALICE, url=URL, version="1.0.0", arch=arch)
    _publish(exchange, ALICE, url=URL, version="1.1.0", arch="amd64")  # another version
    _publish(exchange, ALICE, url=f"{URL}-other", version="1.0.0", arch="amd64")  # another url
    with _client(exchange) as client:
        found = client.find_services(URL, "1.0.0")
    assert sorted(found) == ["example.com-gps_1.0.0_amd64", "example.com-gps_1.0.0_arm64"]
    assert {s["arch"] for s in found.values()} == {"amd64", "arm64"}
    assert all(s["version"] == "1.0.0" for s in found.values())


def test_none_is_an_empty_map(exchange: Exchange) -> None:
    with _client(exchange) as client:
        assert client.find_services(URL, "9.9.9") == {}


def test_a_private_service_of_another_user_is_not_seen(exchange: Exchange) -> None:
    _publish(exchange, BOB, url=URL, version="1.0.0", arch="amd64")
    with _client(exchange) as client:  # alice, a standard user, sees her own and public services only
        assert client.find_services(URL, "1.0.0") == {}
