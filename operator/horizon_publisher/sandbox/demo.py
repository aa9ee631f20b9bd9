"""``horizon-publisher sandbox demo``: sandbox up, the operator running in it, the samples applied.

It leaves everything running (``sandbox down`` stops it, the operator included) and ends by showing
what a user sees: ``kubectl get`` of both kinds and every condition of every sample.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from horizon_publisher.clients.connect_to import parse_connect_to_list, session_with_connect_to
from horizon_publisher.desired.kube_objects import read_docker_config
from horizon_publisher.sandbox import manager, processes
from horizon_publisher.sandbox.images import push_image
from horizon_publisher.sandbox.layout import Flavor, StateDir
from horizon_publisher.sandbox.registry import free_port

DEFAULT_SAMPLES = Path(__file__).resolve().parents[3] / "deploy" / "samples"
OPERATOR = "operator"
KINDS = "edgeserviceimages,edgepublications"


def _kubectl(state: StateDir, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise manager.SandboxError("kubectl is not installed (scripts/setup.sh installs it)")
    return subprocess.run(
        [kubectl, "--kubeconfig", str(state.kubeconfig), *args],
        capture_output=True,
        text=True,
        check=False,
        input=input_text,
    )


# Hosts the samples name that the sandbox does not run: mapped to a closed local port, so the samples
# that use them end in RegistryUnreachable and nothing ever leaves 127.0.0.1.
OFFLINE_SAMPLE_HOSTS = ("quay.io:443", "registry.example.com:5000")


def operator_connect_to(endpoints: dict[str, Any]) -> str:
    """``HORIZON_PUBLISHER_CONNECT_TO`` for an operator in the sandbox: its services, and the samples' hosts
    that it does not run pointed at port 9 on 127.0.0.1, where nothing listens."""
    served = endpoints.get("connectTo") or endpoints["registry"]["connectTo"]
    return ",".join([served, *(f"{host}:127.0.0.1:9" for host in OFFLINE_SAMPLE_HOSTS)])


def for_the_sandbox(samples: Path, endpoints: dict[str, Any]) -> str:
    """The samples, pointed at the sandbox: the Exchange's URL, org, CA and the seeded user's password, and
    the IBM Cloud emulators (IAM and registry API URLs, their CA, the seeded API key)."""
    exchange, ibm = endpoints["exchange"], endpoints.get("ibmCloud")
    documents: list[dict[str, Any]] = []
    for path in sorted(samples.glob("*.yaml")):
        documents += [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    namespaces = {str(d["metadata"].get("namespace")) for d in documents if d.get("kind") == "EdgePublication"}
    ibm_namespaces: set[str] = set()
    for document in documents:
        kind, name = document.get("kind"), document["metadata"]["name"]
        if kind == "EdgePublication":
            spec = document["spec"]["exchange"]
            spec.update(url=exchange["url"], org=exchange["org"])
            spec["tls"] = {"caRef": {"kind": "ConfigMap", "name": "exchange-ca", "key": "ca.crt"}}
        elif kind == "Secret" and name == "exchange-credentials":
            document["stringData"] = {"username": exchange["user"], "password": exchange["password"]}
        elif kind == "Secret" and name == "ibmcloud-apikey" and ibm:
            document["stringData"] = {"apikey": ibm["apiKey"]}
        elif kind == "ConfigMap" and name == "registry-example-com-ca":
            document["data"] = {"ca.crt": Path(exchange["caFile"]).read_text()}  # the placeholder cannot load
        elif kind == "EdgeServiceImage" and ibm and "ibmCloud" in document["spec"]["registry"]:
            settings = document["spec"]["registry"]["ibmCloud"]
            settings["endpoints"] = {"iamURL": ibm["iamURL"], "registryAPIURL": ibm["registryAPIURL"]}
            settings["tls"] = {"caRef": {"kind": "ConfigMap", "name": "sandbox-ca", "key": "ca.crt"}}
            ibm_namespaces.add(str(document["metadata"]["namespace"]))
    ca = Path(exchange["caFile"]).read_text()
    documents += [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": {"ca.crt": ca}}
        for name, spaces in (("exchange-ca", namespaces), ("sandbox-ca", ibm_namespaces))
        for ns in sorted(spaces)
    ]
    return yaml.safe_dump_all(documents)


def verify_published(state: StateDir) -> str:
    """``horizon-publisher verify`` on what the sample publication published, as a user would run it."""
    exchange = json.loads(state.endpoints.read_text())["exchange"]
    publication = _wait_json(state, ["get", "epub", "hello", "-n", "horizon-demo"], lambda o: True)
    ids = [s["id"] for s in publication["status"].get("services") or []]
    env = {**os.environ, "HZN_EXCHANGE_USER_AUTH": f"{exchange['user']}:{exchange['password']}"}
    argv = [sys.executable, "-m", "horizon_publisher", "verify", "--exchange-url", exchange["url"],
            "--org", exchange["org"], "--ca-file", exchange["caFile"], *ids]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    return f"$ horizon-publisher verify {' '.join(ids)}\n{result.stdout}{result.stderr}"


def start_operator(state: StateDir) -> processes.Tracked:
    endpoints = json.loads(state.endpoints.read_text())
    env = {
        **os.environ,
        "KUBECONFIG": str(state.kubeconfig),
        "HORIZON_PUBLISHER_CONNECT_TO": operator_connect_to(endpoints),
        "HORIZON_PUBLISHER_RESYNC_SECONDS": "5",
    }
    liveness = f"http://127.0.0.1:{free_port()}/healthz"
    metrics = f"127.0.0.1:{free_port()}"
    print(f"operator metrics: http://{metrics}/metrics")
    argv = [sys.executable, "-m", "horizon_publisher", "run", "--liveness", liveness, "--metrics-address", metrics]
    return processes.start(state.root, OPERATOR, argv, env=env)


def wait_until_observed(state: StateDir, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Until the operator has written status for the current generation of every object."""
    deadline = time.monotonic() + timeout
    items: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        listing = _kubectl(state, "get", KINDS, "-A", "-o", "json")
        if listing.returncode == 0:
            items = json.loads(listing.stdout).get("items", [])
            if items and all(_observed(item) for item in items):
                return items
        time.sleep(0.3)
    raise manager.SandboxError(f"the operator did not report on every sample within {timeout:.0f} s")


def _observed(item: dict[str, Any]) -> bool:
    status = item.get("status") or {}
    return bool(status.get("conditions")) and status.get("observedGeneration") == item["metadata"].get("generation")


def push_sample_images(state: StateDir, namespace: str = "horizon-demo", name: str = "hello") -> None:
    """What a pipeline would do: push with the credentials the operator wrote, then see it Ready."""
    image = _wait_json(state, ["get", "esi", name, "-n", namespace], lambda o: _condition(o, "CredentialsReady"))
    host = image["status"]["registry"]["host"]
    secret = json.loads(
        _kubectl(
            state, "get", "secret", image["status"]["credentials"]["secretName"], "-n", namespace, "-o", "json"
        ).stdout
    )
    credentials = read_docker_config(secret, host)
    assert credentials is not None
    endpoints = json.loads(state.endpoints.read_text())
    session = session_with_connect_to(parse_connect_to_list(operator_connect_to(endpoints)))
    project, spec = image["status"]["registry"]["namespace"], image["spec"]["image"]
    for arch in spec["arches"]:
        repository = f"{project}/{spec['name']}_{arch}"
        digest = push_image(
            f"https://{host}",
            repository,
            spec["tag"],
            arch=arch,
            credentials=credentials,
            verify=endpoints["registry"]["caFile"],
            session=session,
        )
        print(f"pushed {host}/{repository}:{spec['tag']} -> {digest} (with the operator's credentials)")
    _wait_json(state, ["get", "esi", name, "-n", namespace], lambda o: _condition(o, "Ready"), timeout=60)


def _condition(obj: dict[str, Any], condition_type: str) -> bool:
    return any(
        c.get("type") == condition_type and c.get("status") == "True"
        for c in (obj.get("status") or {}).get("conditions") or []
    )


def _wait_json(state: StateDir, args: list[str], predicate: Any, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = _kubectl(state, *args, "-o", "json")
        if result.returncode == 0 and predicate(obj := json.loads(result.stdout)):
            return obj  # type: ignore[no-any-return]
        time.sleep(0.5)
    raise manager.SandboxError(f"timed out waiting for kubectl {' '.join(args)}")


def demo(state_dir: Path, *, flavor: Flavor = "openshift", samples: Path | None = None) -> int:
    state = StateDir(state_dir.resolve())
    manager.up(state.root, flavor=flavor)
    if not any(processes.is_running(t) for n, t in processes.load(state.root).items() if n == OPERATOR):
        start_operator(state)
    manifests = for_the_sandbox(samples or DEFAULT_SAMPLES, json.loads(state.endpoints.read_text()))
    applied = _kubectl(state, "apply", "-f", "-", input_text=manifests)
    print(applied.stdout + applied.stderr, end="")
    if applied.returncode != 0:
        return applied.returncode
    wait_until_observed(state)
    push_sample_images(state, name="weather")  # IBM Cloud: works on either flavour
    if flavor == "openshift":
        push_sample_images(state)
        _wait_json(state, ["get", "epub", "hello", "-n", "horizon-demo"], lambda o: _condition(o, "Ready"), timeout=90)
    items = wait_until_observed(state)
    print(_kubectl(state, "get", KINDS, "-A").stdout)
    for item in items:
        meta = item["metadata"]
        print(f"{item['kind']} {meta['namespace']}/{meta['name']} (generation {meta.get('generation')}):")
        for condition in item["status"]["conditions"]:
            print(f"  {condition['type']:30} {condition['status']:8} {condition['reason']:14} {condition['message']}")
    if flavor == "openshift":
        print(verify_published(state))
    print(f"\nexport KUBECONFIG={state.kubeconfig}   # then: kubectl get {KINDS} -A")
    print(f"stop everything: {Path(sys.argv[0]).name} sandbox down --state-dir {state_dir}")
    return 0
