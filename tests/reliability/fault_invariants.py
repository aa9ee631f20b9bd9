"""What must hold once a fault cleared and a publication is Ready again, read from the real Exchange (not
through the proxy): exactly the desired service (one per arch), exactly the current key, exactly one
dockauth holding the current token, the pattern and deployment policy with the key, signatures that
``horizon-publisher verify`` accepts, a status that agrees with all of it, no secret in status or Events;
and after deletion, nothing of it left. Each check returns problems as text (never a secret's value).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from horizon_publisher.signing import load_signing_key
from tests.e2e.publication_support import Publisher, ReadyImage, epub_path, status_services
from tests.e2e.service_image_kube import Token, secret_path
from tests.e2e.service_image_support import describe_conditions
from tests.reliability.fault_cluster import FaultyCluster
from tests.reliability.fault_matrix import UPDATED, Names, Scenario

# Seconds for a deleted publication to unpublish and lose its finalizer. kopf runs the delete handler
# only once the resync timer exited; a timer busy at that moment is checked again after
# settings.background.cancellation_polling (60 s by default), hence more than a minute.
GONE_BOUND = 75.0


def services_with_url(publisher: Publisher, url: str) -> list[str]:
    """``org/id`` of every service of the org with this url, as the sandbox user lists them."""
    endpoints = publisher.endpoints
    response = requests.get(
        f"{endpoints['url']}/orgs/{publisher.org}/services",
        params={"url": url},
        auth=(f"{publisher.org}/{endpoints['user']}", endpoints["password"]),
        verify=endpoints["caFile"],
        timeout=30,
    )
    if response.status_code == 404:
        return []
    response.raise_for_status()
    return sorted(response.json().get("services") or {})


def _check(problems: list[str], what: str, probe: Callable[[], object]) -> None:
    """Run one probe; an exception is a problem named after ``what`` (its text carries no secret)."""
    try:
        probe()
    except AssertionError as error:
        problems.append(f"{what}: {error}")
    except Exception as error:  # any failure to read is a finding, reported by kind only
        problems.append(f"{what}: {type(error).__name__}")


def _key_id(fc: FaultyCluster, namespace: str, name: str) -> str:
    secret = fc.cluster.kube.get(secret_path(namespace, f"{name}-signing-key"))
    assert secret is not None, "the signing key Secret is missing"
    private, public = (
        base64.b64decode(secret["data"][k]).decode() for k in ("service.private.key", "service.public.pem")
    )
    return load_signing_key(private, public).key_id


def exchange_problems(
    fc: FaultyCluster, scenario: Scenario, names: Names, image: ReadyImage, resource: Mapping[str, Any]
) -> list[str]:
    publisher, exchange, org, sid = fc.publisher, fc.publisher.exchange, names.org, names.sid
    metadata, status = resource["metadata"], resource.get("status") or {}
    problems: list[str] = []
    key_id = str((status.get("signing") or {}).get("keyId"))

    def conditions() -> None:
        assert all(c.get("status") == "True" for c in status.get("conditions") or []), describe_conditions(resource)

    def services() -> None:
        assert services_with_url(publisher, names.url) == [f"{org}/{sid}"], "not exactly the desired service"
        assert [s.get("id") for s in status_services(resource).values()] == [sid], "status.services"

    def keys() -> None:
        assert key_id == _key_id(fc, metadata["namespace"], metadata["name"]), "status keyId is not the Secret's key"
        assert exchange.get_service_keys(sid) == [key_id], f"service keys {exchange.get_service_keys(sid)}"
        assert (status.get("signing") or {}).get("publishedKeyIds") == [key_id], "status publishedKeyIds"

    def dockauths() -> None:
        rows = publisher.dockauths(sid)
        assert len(rows) == 1, f"{len(rows)} dockauths"
        assert (rows[0].registry, rows[0].username) == (fc.cluster.host, image.auth.username), "dockauth registry/user"
        assert rows[0].token == image.auth.token, "the dockauth does not hold the current token"
        in_status = [d.get("id") for d in status_services(resource)["amd64"].get("dockAuths") or []]
        assert in_status == [rows[0].id], f"status dockAuths {in_status} != Exchange [{rows[0].id}]"

    def pattern_and_policy() -> None:
        pattern = exchange.get_pattern(names.pattern)
        assert pattern is not None, "pattern missing"
        assert exchange.get_pattern_keys(names.pattern) == [key_id], "pattern keys"
        assert (status.get("pattern") or {}).get("id") == f"{org}/{names.pattern}", "status.pattern"
        assert exchange.get_business_policy(names.policy) is not None, "deployment policy missing"
        assert (status.get("deploymentPolicy") or {}).get("id") == f"{org}/{names.policy}", "status.deploymentPolicy"

    def updated() -> None:
        if scenario.update is None:
            return
        stored = {
            "service": exchange.get_service(sid),
            "pattern": exchange.get_pattern(names.pattern),
            "deploymentPolicy": exchange.get_business_policy(names.policy),
        }[scenario.update[0]]
        assert (stored or {}).get(scenario.update[1]) == UPDATED, f"the update of {scenario.update} did not land"

    def signatures() -> None:
        result = publisher.verify([sid])
        assert result.returncode == 0, f"verify exited {result.returncode}: {result.stdout.strip()[-200:]}"

    def no_secrets() -> None:
        secrets = [image.auth.token, publisher.password]
        places = {
            "status": json.dumps(fc.cluster.kube.get(epub_path(metadata["namespace"], metadata["name"])) or {}),
            "events": json.dumps(fc.cluster.events(metadata["namespace"], metadata["name"])),
        }
        leaks = [f"{s!r} in {w}" for s in secrets for w, text in places.items() if s.reveal() in text]
        assert not leaks, leaks

    for what, probe in (
        ("conditions", conditions),
        ("services", services),
        ("keys", keys),
        ("dockauths", dockauths),
        ("pattern/policy", pattern_and_policy),
        ("update", updated),
        ("verify", signatures),
        ("secrets", no_secrets),
    ):
        _check(problems, what, probe)
    return problems


def removal_problems(fc: FaultyCluster, namespace: str, name: str, names: Names) -> list[str]:
    """Delete the publication (deletionPolicy Delete): it goes, and takes all it published with it."""
    path = epub_path(namespace, name)
    problems: list[str] = []
    if fc.cluster.kube.get(path) is None:
        return problems
    fc.cluster.kube.delete(path)
    deadline = time.monotonic() + GONE_BOUND
    while fc.cluster.kube.get(path) is not None:
        if time.monotonic() > deadline:
            return [f"still present {GONE_BOUND:.0f} s after delete"]
        time.sleep(0.5)

    def nothing_left() -> None:
        exchange = fc.publisher.exchange
        assert services_with_url(fc.publisher, names.url) == [], "services left after delete"
        assert exchange.get_pattern(names.pattern) is None, "pattern left after delete"
        assert exchange.get_business_policy(names.policy) is None, "deployment policy left after delete"

    _check(problems, "after delete", nothing_left)
    return problems


def secrets_in(text: str, secrets: list[Token]) -> list[str]:
    return [repr(secret) for secret in secrets if secret.reveal() in text]
