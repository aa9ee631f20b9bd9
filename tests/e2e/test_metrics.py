"""Prometheus metrics end to end: a private sandbox and ``horizon-publisher run --metrics-address
127.0.0.1:PORT``; one EdgeServiceImage (rotating token, two arches) pushed and Ready, one EdgePublication
Ready; then ``/metrics`` is scraped as Prometheus would and must show the reconciles, the Exchange and
registry calls, the Ready gauge, the published services and the token expiry, and no secret at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from horizon_publisher.sandbox.registry import free_port
from tests.e2e.conftest import wait_for
from tests.e2e.publication_support import ROTATING, ImageWanted, Publisher, publication, ready_images, service_url
from tests.e2e.service_image_kube import Token
from tests.e2e.service_image_support import cluster_with_operator

PREFIX = "horizon_publisher_"
ARCHES = ("amd64", "arm64")


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Scrape:
    text: str
    samples: list[Sample]

    def find(self, metric: str, /, **labels: str) -> list[Sample]:
        return [s for s in self.samples if s.name == PREFIX + metric and labels.items() <= s.labels.items()]

    def total(self, metric: str, /, **labels: str) -> float:
        return sum(s.value for s in self.find(metric, **labels))


def scrape(url: str) -> Scrape:
    with requests.Session() as session:
        session.trust_env = False  # no proxy between us and 127.0.0.1
        response = session.get(url, timeout=5)
    response.raise_for_status()
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = [
        Sample(sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    ]
    return Scrape(response.text, samples)


@dataclass(frozen=True)
class Published:
    url: str
    scrape: Scrape
    image_namespace: str
    publication_namespace: str
    token_expiration: str
    secrets: dict[str, Token]  # what must never show, by what it is


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    address = f"127.0.0.1:{free_port()}"
    state_dir: Path = tmp_path_factory.mktemp("metrics")
    with cluster_with_operator(state_dir, extra_args=("--metrics-address", address)) as cluster:
        publisher = Publisher(cluster)
        try:
            image = ready_images(cluster, [ImageWanted("metrics", ARCHES, spec=ROTATING)])["metrics"]
            publisher.prepare(image.namespace)
            manifest = publication(
                "hello", image.namespace, publisher.endpoints, url=service_url("metrics"), arches=ARCHES
            )
            cluster.apply(manifest)
            publisher.wait_ready(image.namespace, "hello")
            url = f"http://{address}/metrics"

            def settled() -> Scrape | None:  # the counters move just before kopf patches the status
                seen = scrape(url)
                ready = [seen.total("resources", kind=k, ready="True") for k in ("EdgeServiceImage", "EdgePublication")]
                return seen if ready == [1, 1] else None

            seen: Scrape = wait_for(settled, timeout=10, what="both resources counted Ready in /metrics")
            esi = cluster.esi(image.namespace, image.name) or {}
            yield Published(
                url=url,
                scrape=seen,
                image_namespace=image.namespace,
                publication_namespace=image.namespace,
                token_expiration=esi["status"]["credentials"]["tokenExpirationTime"],
                secrets={
                    "Exchange password": publisher.password,
                    "service-account token (the registry password)": image.auth.token,
                },
            )
        finally:
            publisher.close()


@pytest.mark.parametrize("kind", ["EdgeServiceImage", "EdgePublication"])
def test_reconciles_counted_ready_and_timed(published: Published, kind: str) -> None:
    scrape = published.scrape
    assert scrape.total("reconcile_total", kind=kind, result="ready") >= 1
    assert scrape.total("reconcile_duration_seconds_count", kind=kind) >= scrape.total("reconcile_total", kind=kind)
    assert scrape.total("resources", kind=kind, ready="True") == 1
    assert scrape.total("resources", kind=kind, ready="False") == 0


@pytest.mark.parametrize(
    ("method", "endpoint"),
    [
        ("POST", "/orgs/{org}/services"),  # a new service is POSTed to the collection
        ("POST", "/orgs/{org}/services/{service}/dockauths"),
        ("PUT", "/orgs/{org}/services/{service}/keys/{key}"),
    ],
)
def test_exchange_requests_by_template_with_2xx(published: Published, method: str, endpoint: str) -> None:
    rows = published.scrape.find("exchange_requests_total", method=method, endpoint=endpoint)
    assert sum(r.value for r in rows if r.labels["code"].startswith("2")) >= len(ARCHES), rows
    assert published.scrape.total("exchange_request_duration_seconds_count", method=method, endpoint=endpoint) >= 1


def test_every_exchange_endpoint_is_a_template(published: Published) -> None:
    endpoints = {s.labels["endpoint"] for s in published.scrape.find("exchange_requests_total")}
    assert endpoints, "no Exchange request counted"
    assert not any(ch.isdigit() for e in endpoints for ch in e), endpoints
    assert all(part.startswith("{") or part.isalpha() for e in endpoints for part in e.strip("/").split("/"))


def test_registry_requests_by_operation(published: Published) -> None:
    scrape = published.scrape
    resolved = sum(
        scrape.total("registry_requests_total", operation=op, code="200") for op in ("manifest_get", "manifest_head")
    )
    assert resolved >= len(ARCHES)
    assert scrape.total("registry_requests_total", operation="token", code="200") >= 1
    assert scrape.total("registry_request_duration_seconds_count", operation="token") >= 1


def test_published_services_equal_the_arches(published: Published) -> None:
    rows = published.scrape.find("published_services", namespace=published.publication_namespace, name="hello")
    assert [r.value for r in rows] == [len(ARCHES)]


def test_rotating_token_expiry_is_exported(published: Published) -> None:
    rows = published.scrape.find(
        "token_expiry_timestamp_seconds", namespace=published.image_namespace, name="hello", kind="EdgeServiceImage"
    )
    assert [(r.labels["token"], r.value) for r in rows] == [
        ("serviceaccount", datetime.fromisoformat(published.token_expiration).timestamp())
    ]


def test_no_secret_and_no_url_in_the_scrape(published: Published) -> None:
    leaks = [what for what, secret in published.secrets.items() if secret.reveal() in published.scrape.text]
    assert not leaks, f"in /metrics: {leaks}"
    values = {v for s in published.scrape.samples for v in s.labels.values()}
    assert not [v for v in values if "://" in v or "@" in v], "a URL or user@host in a label"


def test_process_metrics_come_along(published: Published) -> None:
    memory = [s.value for s in published.scrape.samples if s.name == "process_resident_memory_bytes"]
    assert len(memory) == 1
    assert memory[0] > 0
