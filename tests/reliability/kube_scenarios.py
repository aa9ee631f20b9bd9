"""One EdgeServiceImage + EdgePublication pair per scenario, created against a private sandbox whose operator
a test faults or kills, and the invariants the pair must end with.

- :class:`Env`: the sandbox, the operator process, the test's API and Exchange views, the fault endpoint.
- :class:`Pair`: the names of one scenario (its own namespace, project and service url, so scenarios run
  side by side); :func:`create_pair` applies both resources, :func:`push_when_credentialed` pushes the image
  with the operator's own credentials as soon as they exist (as a pipeline would).
- :func:`invariants`: what must hold once the operator recovered; a list of problems (empty: all good).
"""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from horizon_publisher.desired import kube_objects
from horizon_publisher.sandbox import manager
from horizon_publisher.signing import load_signing_key
from tests.e2e.conftest import start_sandbox, wait_for
from tests.e2e.publication_support import LONG_LIVED, Publisher, epub_path, publication, service_url, sid_of
from tests.e2e.service_image_kube import Kube, docker_auths, secret_path
from tests.e2e.service_image_support import Cluster, condition, describe_conditions, service_image, unique
from tests.reliability.kube_support import Faults, OperatorProcess

NAME = "hello"
ACCOUNT = "edge-publisher"
READY_BOUND = 60.0  # seconds: a scenario that is not Ready this long after its fault cleared did not recover


@dataclass
class Env:
    operator: OperatorProcess
    cluster: Cluster
    publisher: Publisher
    faults: Faults

    @property
    def kube(self) -> Kube:
        return self.cluster.kube


@contextlib.contextmanager
def sandbox_env(state_dir: Path) -> Iterator[Env]:
    """A private sandbox and an operator watching all of it; everything stopped afterwards."""
    sandbox = start_sandbox(state_dir)
    try:
        operator = OperatorProcess.configure(sandbox)
        operator.start()
        kube = Kube(sandbox)
        (state_dir / "scratch").mkdir()
        cluster = Cluster(sandbox, operator.running, kube, state_dir / "scratch")
        publisher, faults = Publisher(cluster), Faults.of(sandbox)
        try:
            yield Env(operator, cluster, publisher, faults)
        finally:
            with contextlib.suppress(Exception):
                faults.clear_all()
            faults.close()
            publisher.close()
            kube.close()
            operator.stop()
    finally:
        manager.down(state_dir, out=lambda _: None)


@dataclass(frozen=True)
class Pair:
    namespace: str
    project: str
    url: str

    @property
    def sid(self) -> str:
        return sid_of(self.url, "amd64")


def new_pair(env: Env, prefix: str) -> Pair:
    """Names of its own, the namespace made, the Exchange credentials Secret and CA in it."""
    pair = Pair(env.cluster.namespace(prefix), unique(f"{prefix}-img"), service_url(prefix))
    env.publisher.prepare(pair.namespace)
    return pair


def create_pair(env: Env, pair: Pair) -> None:
    env.cluster.apply(service_image(NAME, pair.namespace, pair.project, LONG_LIVED))
    env.cluster.apply(publication(NAME, pair.namespace, env.publisher.endpoints, url=pair.url))


def push_when_credentialed(env: Env, pair: Pair, timeout: float = READY_BOUND) -> str:
    """Wait for the operator's credentials Secret and CA, then push ``hello:1.0.0``; the digest."""

    def credentials() -> bool:
        secret = env.kube.get(secret_path(pair.namespace, f"{NAME}-registry"))
        return secret is not None and env.cluster.host in docker_auths(secret)

    wait_for(credentials, timeout=timeout, interval=0.2, what=f"{pair.namespace}: registry credentials")
    wait_for(
        lambda: env.kube.exists(f"/api/v1/namespaces/{pair.namespace}/configmaps/{NAME}-registry-ca"),
        timeout=timeout,
        what=f"{pair.namespace}: registry CA",
    )
    auth = env.cluster.credentials(pair.namespace, f"{NAME}-registry")
    ca = env.cluster.ca_file(pair.namespace, f"{NAME}-registry-ca")
    return env.cluster.push(auth, f"{pair.project}/{NAME}_amd64", "1.0.0", ca=ca)


def both_ready(env: Env, pair: Pair) -> bool:
    image = env.cluster.esi(pair.namespace, NAME)
    published = env.publisher.get(pair.namespace, NAME)
    return all(
        condition(resource, "Ready").get("status") == "True" for resource in (image, published) if resource
    ) and bool(image and published)


def wait_both_ready(env: Env, pair: Pair, timeout: float = READY_BOUND) -> float:
    """Poll until both resources are Ready; the time.time() it was first seen (AssertionError on timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if both_ready(env, pair):
            return time.time()
        time.sleep(0.2)
    image = describe_conditions(env.cluster.esi(pair.namespace, NAME))
    published = describe_conditions(env.publisher.get(pair.namespace, NAME))
    raise AssertionError(f"{pair.namespace}: not Ready after {timeout} s; image: {image}; publication: {published}")


# --- invariants -------------------------------------------------------------------------------------


def _owned(env: Env, path: str, pair: Pair) -> list[str]:
    """Names of the objects at ``path`` (a collection) labelled as made for ``pair``'s resources."""
    owner = kube_objects.Owner(pair.namespace, NAME, "")
    selector = ",".join(f"{key}={value}" for key, value in owner.labels().items())
    return sorted(item["metadata"]["name"] for item in env.kube.list(f"{path}?labelSelector={selector}"))


def _exchange_services(env: Env, url: str) -> list[str]:
    """Ids of every service in the org with ``url`` (the Exchange's own listing, not the operator's view)."""
    endpoints = env.publisher.endpoints
    response = requests.get(
        f"{endpoints['url'].rstrip('/')}/orgs/{endpoints['org']}/services",
        params={"url": url},
        auth=(f"{endpoints['org']}/{endpoints['user']}", endpoints["password"]),
        verify=endpoints["caFile"],
        timeout=10,
    )
    if response.status_code == 404:
        return []
    response.raise_for_status()
    return sorted(key.split("/", 1)[1] for key in response.json().get("services") or {})


def invariants(env: Env, pair: Pair) -> list[str]:
    """Every problem with ``pair`` once recovered: Ready, no duplicates, the Exchange holds exactly what is
    desired (one service, our one key, one dockauth with the current token), the signature verifies."""
    problems: list[str] = []
    image, published = env.cluster.esi(pair.namespace, NAME), env.publisher.get(pair.namespace, NAME)
    for kind, resource in (("EdgeServiceImage", image), ("EdgePublication", published)):
        if condition(resource, "Ready").get("status") != "True":
            problems.append(f"{kind} not Ready: {describe_conditions(resource)}")
    expected = {
        f"/api/v1/namespaces/{pair.namespace}/secrets": [f"{NAME}-registry", f"{NAME}-signing-key"],
        f"/api/v1/namespaces/{pair.namespace}/configmaps": [f"{NAME}-registry-ca"],
        f"/api/v1/namespaces/{pair.project}/serviceaccounts": [ACCOUNT],
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{pair.project}/rolebindings": [
            kube_objects.role_binding_name(ACCOUNT)
        ],
        f"/api/v1/namespaces/{pair.project}/secrets": [kube_objects.token_secret_name(ACCOUNT)],
        "/api/v1/namespaces": [pair.project],
    }
    for path, names in expected.items():
        found = _owned(env, path, pair)
        if found != sorted(names):
            problems.append(f"objects at {path}: {found}, expected {sorted(names)}")
    services = _exchange_services(env, pair.url)
    if services != [pair.sid]:
        problems.append(f"Exchange services with url {pair.url}: {services}, expected [{pair.sid}]")
        return problems
    problems += _exchange_contents(env, pair, published or {})
    result = env.publisher.verify([pair.sid])
    if result.returncode != 0:
        problems.append(f"verify exited {result.returncode}: {result.stdout.strip()} {result.stderr.strip()[-300:]}")
    return problems


def _exchange_contents(env: Env, pair: Pair, published: dict[str, Any]) -> list[str]:
    problems = []
    secret = env.kube.get(secret_path(pair.namespace, f"{NAME}-signing-key")) or {}
    data = secret.get("data") or {}
    key = load_signing_key(*(base64.b64decode(data[k]).decode() for k in ("service.private.key", "service.public.pem")))
    status_key = ((published.get("status") or {}).get("signing") or {}).get("keyId")
    keys = env.publisher.exchange.get_service_keys(pair.sid)
    if keys != [key.key_id] or status_key != key.key_id:
        problems.append(f"keys on {pair.sid}: {keys}, status {status_key}; the signing Secret's is {key.key_id}")
    current = env.cluster.credentials(pair.namespace, f"{NAME}-registry")
    rows = env.publisher.dockauths(pair.sid)
    if [(d.registry, d.username, d.token) for d in rows] != [(env.cluster.host, current.username, current.token)]:
        problems.append(f"dockauths on {pair.sid}: {len(rows)} rows {[(d.id, d.registry, d.username) for d in rows]}")
    recorded = [
        d["id"] for s in (published.get("status") or {}).get("services") or [] for d in s.get("dockAuths") or []
    ]
    if recorded != [d.id for d in rows]:
        problems.append(f"status dockAuths {recorded} != the Exchange's {[d.id for d in rows]}")
    return problems


def publication_exists(env: Env, pair: Pair) -> bool:
    return env.kube.exists(epub_path(pair.namespace, NAME))
