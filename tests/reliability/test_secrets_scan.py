"""No secret value in any output: one end-to-end scenario set at debug level (the operator runs with -v),
every secret it plants or makes looked for in the operator log, every Event, every resource (status
included, read at several moments) and every /metrics scrape, raw and encoded.

Scenarios, in one private sandbox (8 s service-account tokens, so they rotate): an OpenShift image
(Rotating token), an IBM Cloud image (API key, then a second key), a generic htpasswd registry image
(dockerconfigjson password), a publication of each (two generated signing keys, one planted and then
replaced), an Exchange Secret with a wrong password and a generic Secret with a wrong password (error
paths), then every resource deleted. Secrets: the Exchange password, both IBM API keys, both registry
passwords, every service-account token the operator wrote, the three private keys and the replacement,
bearer tokens of both token realms and of IAM fetched with the same credentials, plus any JWT at all.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from horizon_publisher.sandbox.images import push_image
from horizon_publisher.sandbox.pki import ensure_pki
from horizon_publisher.sandbox.registry import free_port, start_registry, stop_process
from horizon_publisher.signing import generate_signing_key, load_signing_key
from tests.e2e.conftest import wait_for
from tests.e2e.publication_support import ROTATING, Publisher, publication, service_url
from tests.e2e.service_image_kube import GROUP, VERSION, secret_path
from tests.e2e.service_image_support import Cluster, cluster_with_operator, service_image, unique
from tests.reliability.secrets_scan_support import (
    JWT,
    Outputs,
    Planted,
    TokenCollector,
    independent_iam_token,
    independent_registry_token,
    leaks,
    scrape,
)

GENERIC_USER = "ci-pusher"


@dataclass
class Scan:
    planted: Planted
    outputs: Outputs
    facts: dict[str, Any]  # what the scenarios really did, so an empty scan cannot pass unnoticed


def _secret(cluster: Cluster, namespace: str, name: str, data: dict[str, str], kind: str = "Opaque") -> None:
    body = {"metadata": {"name": name}, "type": kind, "stringData": data}
    cluster.kube.create(f"/api/v1/namespaces/{namespace}/secrets", body)


def _configmap(cluster: Cluster, namespace: str, name: str, ca_file: str) -> None:
    body = {"metadata": {"name": name}, "data": {"ca.crt": Path(ca_file).read_text()}}
    cluster.kube.create(f"/api/v1/namespaces/{namespace}/configmaps", body)


def _snapshot(cluster: Cluster, outputs: Outputs, metrics_url: str) -> None:
    for plural in ("edgeserviceimages", "edgepublications"):
        outputs.resources += cluster.kube.list(f"/apis/{GROUP}/{VERSION}/{plural}")
    outputs.metrics.append(scrape(metrics_url))


def _images(cluster: Cluster, planted: Planted, registry_port: int) -> dict[str, Any]:
    """The three images Ready; returns their namespaces and what a publication needs."""
    ibm, host = cluster.sandbox.endpoints["ibmCloud"], f"127.0.0.1:{registry_port}"
    ca = cluster.sandbox.endpoints["registry"]["caFile"]
    os_ns, ibm_ns, gen_ns = cluster.namespace("sec-os"), cluster.namespace("sec-ibm"), cluster.namespace("sec-gen")
    project = unique("sec-os-images")
    cluster.apply(service_image("hello", os_ns, project, ROTATING))
    _secret(cluster, ibm_ns, "ibm-key", {"apikey": ibm["apiKey"]})
    _configmap(cluster, ibm_ns, "ibm-ca", ibm["caFile"])
    ibm_namespace = unique("sec-icr")
    ibm_spec = {
        "registry": {"openshift": None, "ibmCloud": {
            "host": ibm["host"], "namespace": ibm_namespace, "apiKeySecretRef": {"name": "ibm-key"},
            "endpoints": {"iamURL": ibm["iamURL"], "registryAPIURL": ibm["registryAPIURL"]},
            "tls": {"caRef": {"name": "ibm-ca"}}}},
    }  # fmt: skip
    cluster.apply(_without_openshift(service_image("hello", ibm_ns, "unused", ibm_spec)))
    auth = base64.b64encode(f"{GENERIC_USER}:{planted.values['generic registry password']}".encode()).decode()
    password = planted.values["generic registry password"]
    config = {"auths": {host: {"username": GENERIC_USER, "password": password, "auth": auth}}}
    _secret(cluster, gen_ns, "pull", {".dockerconfigjson": json.dumps(config)}, "kubernetes.io/dockerconfigjson")
    _configmap(cluster, gen_ns, "generic-ca", ca)
    generic = {"registry": {"openshift": None, "generic": {
        "host": host, "repositoryPrefix": "team", "credentialsSecretRef": {"name": "pull"},
        "tls": {"caRef": {"name": "generic-ca"}}}}}  # fmt: skip
    cluster.apply(_without_openshift(service_image("hello", gen_ns, "unused", generic)))

    cluster.wait_condition(os_ns, "hello", "CredentialsReady", "True")
    os_auth = cluster.credentials(os_ns, "hello-registry")
    cluster.push(os_auth, f"{project}/hello_amd64", "1.0.0", ca=cluster.ca_file(os_ns, "hello-registry-ca"))
    cluster.wait_condition(ibm_ns, "hello", "CredentialsReady", "True")
    push_image(ibm["registryURL"], f"{ibm_namespace}/hello_amd64", "1.0.0", credentials=("iamapikey", ibm["apiKey"]),
               verify=ibm["caFile"])  # fmt: skip
    push_image(f"https://{host}", "team/hello_amd64", "1.0.0", credentials=(GENERIC_USER, password), verify=ca)
    for namespace in (os_ns, ibm_ns, gen_ns):
        cluster.wait_condition(namespace, "hello", "Ready", "True", "Reconciled")
    return {"os": os_ns, "ibm": ibm_ns, "generic": gen_ns, "project": project, "icr namespace": ibm_namespace}


def _without_openshift(manifest: dict[str, Any]) -> dict[str, Any]:
    manifest["spec"]["registry"] = {k: v for k, v in manifest["spec"]["registry"].items() if v is not None}
    return manifest


def _key_data(private_pem: str, certificate_pem: str) -> dict[str, str]:
    return {"service.private.key": private_pem, "service.public.pem": certificate_pem}


def _publications(cluster: Cluster, publisher: Publisher, planted: Planted, where: dict[str, Any]) -> None:
    for key in ("os", "ibm", "generic"):
        publisher.prepare(where[key])
    planted_key = generate_signing_key(bits=2048, organization=publisher.org, common_name="planted")
    planted.add("planted signing key", planted_key[0])
    _secret(cluster, where["generic"], "pub-signing-key", _key_data(*planted_key))
    for key in ("os", "ibm", "generic"):
        cluster.apply(publication("pub", where[key], publisher.endpoints, url=service_url(f"sec-{key}")))
    wrong = {"username": publisher.endpoints["user"], "password": planted.values["wrong Exchange password"]}
    _secret(cluster, where["os"], "wrong-exchange", wrong)
    override = {"exchange": {"credentialsSecretRef": {"name": "wrong-exchange"}}}
    cluster.apply(publication("bad-pw", where["os"], publisher.endpoints, url=service_url("sec-bad"), spec=override))
    for key in ("os", "ibm", "generic"):
        publisher.wait_ready(where[key], "pub")
    publisher.wait_condition(where["os"], "bad-pw", "ServicePublished", "False", "ExchangeUnauthorized")
    for key in ("os", "ibm"):
        secret = cluster.kube.get(secret_path(where[key], "pub-signing-key")) or {}
        planted.add(f"generated signing key ({key})", base64.b64decode(secret["data"]["service.private.key"]).decode())


def _error_paths(cluster: Cluster, planted: Planted, where: dict[str, Any], host: str) -> None:
    wrong = planted.values["wrong registry password"]
    config = {"auths": {host: {"username": GENERIC_USER, "password": wrong}}}
    _secret(cluster, where["generic"], "wrong-pull", {".dockerconfigjson": json.dumps(config)},
            "kubernetes.io/dockerconfigjson")  # fmt: skip
    spec = {"registry": {"openshift": None, "generic": {"host": host, "repositoryPrefix": "team",
            "credentialsSecretRef": {"name": "wrong-pull"}, "tls": {"caRef": {"name": "generic-ca"}}}}}  # fmt: skip
    cluster.apply(_without_openshift(service_image("badpw", where["generic"], "unused", spec)))
    cluster.wait_condition(where["generic"], "badpw", "ImageResolved", "False", "Unauthorized")


def _rotations(
    cluster: Cluster, publisher: Publisher, planted: Planted, where: dict[str, Any], collector: TokenCollector
) -> dict[str, Any]:
    """IBM key replaced, signing key replaced, service-account tokens rotating by themselves."""
    second = cluster.sandbox.endpoints["ibmCloud"]["secondApiKey"]
    cluster.kube.merge_patch(secret_path(where["ibm"], "ibm-key"), {"stringData": {"apikey": second}})
    replacement = generate_signing_key(bits=2048, organization=publisher.org, common_name="replacement")
    planted.add("replacement signing key", replacement[0])
    data = {k: base64.b64encode(v.encode()).decode() for k, v in _key_data(*replacement).items()}
    cluster.kube.merge_patch(secret_path(where["generic"], "pub-signing-key"), {"data": data})
    wait_for(lambda: len(collector.tokens) >= 3, timeout=30, interval=0.5, what="two service-account token rotations")

    def ibm_rotated() -> bool:
        secret = cluster.kube.get(secret_path(where["ibm"], "hello-registry")) or {}
        return second in base64.b64decode(secret.get("data", {}).get(".dockerconfigjson", "")).decode()

    wait_for(ibm_rotated, timeout=30, what="the IBM output Secret holding the second key")
    new_id = load_signing_key(*replacement).key_id

    def resigned(resource: dict[str, Any]) -> bool:
        return bool((resource.get("status") or {}).get("signing", {}).get("keyId") == new_id)

    publisher.wait_until(where["generic"], "pub", resigned, f"signed with {new_id}", timeout=30)
    for key in ("os", "ibm", "generic"):
        publisher.wait_ready(where[key], "pub")
    return {"service-account tokens": len(collector.tokens), "new key id": new_id}


def _delete_everything(cluster: Cluster, where: dict[str, Any]) -> None:
    for key in ("os", "ibm", "generic"):
        cluster.sandbox.kubectl("delete", "epub", "--all", "-n", where[key], "--wait=false")
    for key in ("os", "ibm", "generic"):
        wait_for(lambda k=key: not _listed(cluster, where[k], "edgepublications"), timeout=60, what="publications gone")
        cluster.sandbox.kubectl("delete", "esi", "--all", "-n", where[key], "--wait=false")
    for key in ("os", "ibm", "generic"):
        wait_for(lambda k=key: not _listed(cluster, where[k], "edgeserviceimages"), timeout=60, what="images gone")


def _listed(cluster: Cluster, namespace: str, plural: str) -> list[dict[str, Any]]:
    return cluster.kube.list(f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}")


def _plant(planted: Planted, cluster: Cluster) -> None:
    endpoints = cluster.sandbox.endpoints
    planted.add("Exchange password", endpoints["exchange"]["password"], endpoints["exchange"]["user"])
    planted.add("IBM API key", endpoints["ibmCloud"]["apiKey"], "iamapikey")
    planted.add("second IBM API key", endpoints["ibmCloud"]["secondApiKey"], "iamapikey")
    planted.add("generic registry password", f"generic-pw-{secrets.token_hex(12)}", GENERIC_USER)
    planted.add("wrong registry password", f"wrong-registry-pw-{secrets.token_hex(12)}", GENERIC_USER)
    planted.add("wrong Exchange password", f"wrong-exchange-pw-{secrets.token_hex(12)}")


def _independent_tokens(cluster: Cluster, planted: Planted, where: dict[str, Any], collector: TokenCollector) -> None:
    registry, ibm = cluster.sandbox.endpoints["registry"], cluster.sandbox.endpoints["ibmCloud"]
    token = sorted(collector.tokens)[-1]
    planted.add("OpenShift registry bearer token", independent_registry_token(
        f"https://{registry['host']}", f"{where['project']}/hello_amd64", ("edge-publisher", token), registry["caFile"],
        registry["connectTo"]))  # fmt: skip
    icr = f"{where['icr namespace']}/hello_amd64"
    credentials = ("iamapikey", ibm["secondApiKey"])
    planted.add("ICR bearer token", independent_registry_token(ibm["registryURL"], icr, credentials, ibm["caFile"]))
    planted.add("IAM access token", independent_iam_token(ibm["iamURL"], ibm["secondApiKey"], ibm["caFile"]))


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scan]:
    state = tmp_path_factory.mktemp("secrets-scan")
    metrics_url = f"http://127.0.0.1:{free_port()}"
    extra = ("--metrics-address", metrics_url.removeprefix("http://"))
    with cluster_with_operator(state / "sandbox", max_token_seconds=8, extra_args=extra) as cluster:
        planted, outputs = Planted(), Outputs()
        _plant(planted, cluster)
        pki = ensure_pki(Path(cluster.sandbox.endpoints["registry"]["caFile"]).parent)
        users = {GENERIC_USER: planted.values["generic registry password"]}
        registry = start_registry(state / "generic-registry", pki, auth="htpasswd", htpasswd_users=users)
        publisher = Publisher(cluster)
        try:
            where = _images(cluster, planted, registry.port)
            collector = TokenCollector(cluster.kube, where["os"], "hello-registry", cluster.host)
            collector.start()
            try:
                _publications(cluster, publisher, planted, where)
                _error_paths(cluster, planted, where, f"127.0.0.1:{registry.port}")
                _snapshot(cluster, outputs, f"{metrics_url}/metrics")
                facts = _rotations(cluster, publisher, planted, where, collector)
                _snapshot(cluster, outputs, f"{metrics_url}/metrics")
                _independent_tokens(cluster, planted, where, collector)
                _delete_everything(cluster, where)
                collector.read()
            finally:
                collector.stop()
            for number, token in enumerate(sorted(collector.tokens)):
                planted.add(f"service-account token #{number}", token, "edge-publisher")
            outputs.metrics.append(scrape(f"{metrics_url}/metrics"))
            outputs.events = cluster.kube.list("/api/v1/events")
            outputs.log = cluster.operator.log()
            yield Scan(planted, outputs, facts)
        finally:
            publisher.close()
            stop_process(registry.pid)


def test_the_scenarios_ran_at_debug_level_and_touched_every_secret(scan: Scan) -> None:
    assert scan.facts["service-account tokens"] >= 3
    assert " DEBUG " in scan.outputs.log, "the operator did not log at debug level"
    assert len(scan.outputs.metrics) == 3
    assert all("horizon_publisher_" in m for m in scan.outputs.metrics)
    assert len(scan.outputs.resources) >= 8  # three images, four publications (and the failing image) twice
    reasons = {str(e.get("reason")) for e in scan.outputs.events}
    assert {"ExchangeUnauthorized", "Unauthorized", "DockAuthRotated", "KeyRetired", "Unpublished"} <= reasons
    assert len(scan.planted.values) >= 15, sorted(scan.planted.values)


@pytest.mark.parametrize("source", ["operator log", "events", "resources (status included)", "metrics"])
def test_no_planted_secret_in(scan: Scan, source: str) -> None:
    found = leaks(scan.planted, scan.outputs).get(source, [])
    assert found == [], f"{source} holds: {found}"


@pytest.mark.parametrize("source", ["operator log", "events", "resources (status included)", "metrics"])
def test_no_bearer_token_of_any_issuer_in(scan: Scan, source: str) -> None:
    text = scan.outputs.sources()[source]
    assert [match[:12] + "..." for match in JWT.findall(text)] == []


def test_the_scan_sees_every_form_a_leak_could_take(scan: Scan) -> None:
    """The detector itself: each planted value, written into an output in any encoding, is found."""
    label, value = "generated signing key (os)", scan.planted.values["generated signing key (os)"]
    user = next(iter(scan.planted.users))
    forms = {
        "raw": value,
        "base64": base64.b64encode(value.encode()).decode(),
        "user:secret": base64.b64encode(f"{user}:{value}".encode()).decode(),
        "one line of the key body": value.splitlines()[3],
        "JSON-escaped in an Event": json.dumps({"message": f"oops {value}"}),
    }
    for form, text in forms.items():
        outputs = Outputs(log=f"prefix {text} suffix" if form != "JSON-escaped in an Event" else "")
        if form == "JSON-escaped in an Event":
            outputs.events = [json.loads(text)]
        assert label in [found for labels in leaks(scan.planted, outputs).values() for found in labels], form
    tokens = [v for k, v in scan.planted.values.items() if "bearer token" in k or "IAM" in k]
    assert tokens
    assert all(JWT.fullmatch(token) for token in tokens), "the JWT pattern misses real tokens"
