"""``sandbox up|status|down``: files written, services answering (IBM Cloud too), everything stopped by PID.

One sandbox (kubernetes flavor) serves the whole module; the last test stops it, restarts it and stops it
again, so keep that test last.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from horizon_publisher.clients.connect_to import parse_connect_to_list, session_with_connect_to
from horizon_publisher.sandbox import manager, processes
from horizon_publisher.sandbox.images import RegistryError, push_image, push_index
from tests.e2e.conftest import Sandbox, start_sandbox

APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"
IBM_CLOUD_KEYS = {
    "host",
    "secondApiKey",
    "iamURL",
    "registryAPIURL",
    "registryURL",
    "registryAddress",
    "connectTo",
    "caFile",
    "apiKey",
    "accountId",
    "otherAccountNamespace",
    "tokenRealm",
}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    state_dir = tmp_path_factory.mktemp("lifecycle")
    try:
        yield start_sandbox(state_dir, flavor="kubernetes")
    finally:
        manager.down(state_dir, out=lambda _: None)


def test_files_and_endpoints(sandbox: Sandbox) -> None:
    endpoints, state = sandbox.endpoints, sandbox.state_dir
    for key in ("kubernetes", "registry", "exchange", "ibmCloud", "connectTo"):
        assert endpoints[key]
    for key in ("url", "org", "user", "password"):
        assert endpoints["exchange"][key]
    assert endpoints["registry"]["host"].endswith(".apps.sandbox.horizon.test")
    assert Path(endpoints["registry"]["caFile"]).is_file()
    for private in ("kubeconfig", "admin-token", "endpoints.json", "ibmcloud/seed.json"):
        assert (state / private).stat().st_mode & 0o077 == 0, private  # each holds a credential

    ibm = endpoints["ibmCloud"]
    assert set(ibm) == IBM_CLOUD_KEYS
    assert ibm["host"] == "us.icr.io"
    assert ibm["otherAccountNamespace"] == "taken-by-other"
    assert ibm["registryURL"] == f"https://{ibm['registryAddress']}"
    assert ibm["connectTo"] == f"us.icr.io:443:{ibm['registryAddress']}"
    assert ibm["tokenRealm"] == f"{ibm['iamURL']}/oauth/token"
    assert ibm["iamURL"] == ibm["registryAPIURL"]
    seed = json.loads((state / "ibmcloud" / "seed.json").read_text())
    assert (seed["apiKey"], seed["accountId"]) == (ibm["apiKey"], ibm["accountId"])

    mappings = {(entry.host, entry.port): entry for entry in parse_connect_to_list(endpoints["connectTo"])}
    assert set(mappings) == {
        (endpoints["registry"]["host"], 443),
        ("us.icr.io", 443),
        ("iam.cloud.ibm.com", 443),
    }
    assert str(mappings["us.icr.io", 443]) == ibm["connectTo"]
    assert str(mappings[endpoints["registry"]["host"], 443]) == endpoints["registry"]["connectTo"]


def test_kubernetes_registry_and_exchange_answer(sandbox: Sandbox) -> None:
    endpoints = sandbox.endpoints
    ca = endpoints["kubernetes"]["caFile"]
    version = requests.get(f"{endpoints['kubernetes']['url']}/version", verify=ca, timeout=5)
    assert version.json()["major"] == "1"
    anonymous = requests.get(f"{endpoints['kubernetes']['url']}/api/v1/namespaces", verify=ca, timeout=5)
    assert anonymous.status_code == 401
    admin = {"Authorization": f"Bearer {(sandbox.state_dir / 'admin-token').read_text().strip()}"}
    assert requests.get(f"{endpoints['kubernetes']['url']}/api/v1/namespaces", verify=ca, headers=admin, timeout=5).ok
    # The registry answers under TLS with the sandbox CA and asks for a bearer token from our realm.
    challenge = requests.get(f"{endpoints['registry']['url']}/v2/", verify=endpoints["registry"]["caFile"], timeout=5)
    assert challenge.status_code == 401
    assert endpoints["registry"]["tokenRealm"] in challenge.headers["WWW-Authenticate"]
    # The Exchange answers over TLS and knows the seeded user.
    exchange = endpoints["exchange"]
    user = (f"{exchange['org']}/{exchange['user']}", exchange["password"])
    assert requests.get(f"{exchange['url']}/admin/version", verify=exchange["caFile"], timeout=5).ok
    orgs = requests.get(f"{exchange['url']}/orgs/{exchange['org']}", auth=user, verify=exchange["caFile"], timeout=5)
    assert orgs.ok, orgs.text
    wrong = requests.get(
        f"{exchange['url']}/orgs/{exchange['org']}", auth=(user[0], "nope"), verify=exchange["caFile"], timeout=5
    )
    assert wrong.status_code == 401


def test_kubernetes_flavor_serves_no_openshift_groups(sandbox: Sandbox) -> None:
    groups = sandbox.kubectl("api-versions").stdout.split()
    assert "v1" in groups
    assert "edge.horizon.dev/v1alpha1" in groups
    assert not [g for g in groups if "openshift.io" in g]


# --- IBM Cloud: IAM, the registry API and the ICR registry --------------------------------------------------


def _iam_token(ibm: dict[str, Any], api_key: str, session: requests.Session | None = None) -> requests.Response:
    post = (session or requests).post
    url = f"{ibm['iamURL']}/identity/token" if session is None else "https://iam.cloud.ibm.com/identity/token"
    form = {"grant_type": APIKEY_GRANT, "apikey": api_key}
    return post(url, data=form, headers={"Accept": "application/json"}, verify=ibm["caFile"], timeout=10)


def _registry_api(ibm: dict[str, Any], method: str, path: str, **kwargs: Any) -> requests.Response:
    token = _iam_token(ibm, ibm["apiKey"]).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Account": ibm["accountId"], "Accept": "application/json"}
    url = f"{ibm['registryAPIURL']}{path}"
    return requests.request(method, url, headers=headers, verify=ibm["caFile"], timeout=10, **kwargs)


def _connect_to_session(sandbox: Sandbox) -> requests.Session:
    return session_with_connect_to(parse_connect_to_list(sandbox.endpoints["connectTo"]))


def test_iam_exchanges_the_seeded_key_over_tls(sandbox: Sandbox) -> None:
    ibm = sandbox.endpoints["ibmCloud"]
    direct = _iam_token(ibm, ibm["apiKey"])
    assert direct.status_code == 200, direct.text
    assert direct.json()["token_type"] == "Bearer"
    with _connect_to_session(sandbox) as session:  # iam.cloud.ibm.com, checked against the certificate
        by_name = _iam_token(ibm, ibm["apiKey"], session)
        assert by_name.status_code == 200, by_name.text
        wrong = _iam_token(ibm, "not-the-key", session)
    assert (wrong.status_code, wrong.json()["errorCode"]) == (400, "BXNIM0415E")


def test_push_to_icr_with_iamapikey_then_list(sandbox: Sandbox) -> None:
    ibm = sandbox.endpoints["ibmCloud"]
    assert _registry_api(ibm, "PUT", "/api/v1/namespaces/e2e-push").status_code == 201
    credentials = ("iamapikey", ibm["apiKey"])
    with _connect_to_session(sandbox) as session:  # https://us.icr.io, as image references name it
        single = push_image(
            "https://us.icr.io",
            "e2e-push/app_amd64",
            "1.0",
            credentials=credentials,
            verify=ibm["caFile"],
            session=session,
        )
    multi = push_index(ibm["registryURL"], "e2e-push/app", "2.0", credentials=credentials, verify=ibm["caFile"])

    listed = _registry_api(ibm, "GET", "/api/v1/images", params={"namespace": "e2e-push"})
    assert listed.status_code == 200, listed.text
    by_tag = {tag: image for image in listed.json() for tag in image["RepoTags"]}
    assert set(by_tag) == {"us.icr.io/e2e-push/app_amd64:1.0", "us.icr.io/e2e-push/app:2.0"}
    assert by_tag["us.icr.io/e2e-push/app_amd64:1.0"]["RepoDigests"] == [f"us.icr.io/e2e-push/app_amd64@{single}"]
    assert by_tag["us.icr.io/e2e-push/app:2.0"]["Id"] == multi.index


def test_wrong_api_key_gets_401_at_the_token_endpoint(sandbox: Sandbox) -> None:
    ibm = sandbox.endpoints["ibmCloud"]
    params = {"service": "registry", "scope": "repository:e2e-push/app:pull"}
    for auth in (("iamapikey", "not-the-key"), ("iambearer", ibm["apiKey"])):
        response = requests.get(ibm["tokenRealm"], params=params, auth=auth, verify=ibm["caFile"], timeout=10)
        assert response.status_code == 401
    with pytest.raises(RegistryError) as refused:
        push_image(ibm["registryURL"], "e2e-x/app", "1", credentials=("iamapikey", "nope"), verify=ibm["caFile"])
    assert refused.value.status == 401
    assert "nope" not in str(refused.value)


@pytest.mark.parametrize("namespace", ["taken-by-other", "nobody-made-it"])
def test_push_outside_the_accounts_namespaces_is_denied(sandbox: Sandbox, namespace: str) -> None:
    ibm = sandbox.endpoints["ibmCloud"]
    credentials = ("iamapikey", ibm["apiKey"])
    with pytest.raises(RegistryError) as denied:
        push_image(ibm["registryURL"], f"{namespace}/app", "1.0", credentials=credentials, verify=ibm["caFile"])
    assert denied.value.status == 401
    storage = sandbox.state_dir / "icr-registry" / "storage" / "docker" / "registry" / "v2" / "repositories"
    assert not (storage / namespace).exists()
    if namespace == "taken-by-other":
        assert _registry_api(ibm, "PUT", f"/api/v1/namespaces/{namespace}").status_code == 409


def test_icr_tokens_do_not_open_the_openshift_registry(sandbox: Sandbox) -> None:
    ibm, openshift = sandbox.endpoints["ibmCloud"], sandbox.endpoints["registry"]
    assert _registry_api(ibm, "PUT", "/api/v1/namespaces/e2e-isolated").status_code in (200, 201)
    params = {"service": "registry", "scope": "repository:e2e-isolated/app:pull"}
    token = requests.get(
        ibm["tokenRealm"], params=params, auth=("iamapikey", ibm["apiKey"]), verify=ibm["caFile"], timeout=10
    ).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{ibm['registryURL']}/v2/", headers=bearer, verify=ibm["caFile"], timeout=10).ok
    other = requests.get(f"{openshift['url']}/v2/", headers=bearer, verify=openshift["caFile"], timeout=10)
    assert other.status_code == 401  # another service (audience) and issuer


# --- keep last: stops the module's sandbox ------------------------------------------------------------------


def test_status_down_and_restart_keep_the_ibm_cloud_state(sandbox: Sandbox) -> None:
    state = sandbox.state_dir
    lines: list[str] = []
    ibm = sandbox.endpoints["ibmCloud"]
    assert _registry_api(ibm, "PUT", "/api/v1/namespaces/kept-across").status_code == 201
    push_image(
        ibm["registryURL"], "kept-across/app", "1", credentials=("iamapikey", ibm["apiKey"]), verify=ibm["caFile"]
    )
    assert manager.status(state, out=lines.append) == 0
    assert sum("running, pid" in line for line in lines) == len(manager.SERVICES) == 6
    assert manager.up(state, out=lines.append) == 0
    assert "already up" in lines[-1]

    _down_stops_every_pid(state)
    manager.up(state, out=lambda _: None)
    try:
        again = json.loads((state / "endpoints.json").read_text())["ibmCloud"]
        assert (again["apiKey"], again["accountId"]) == (ibm["apiKey"], ibm["accountId"])
        assert "kept-across" in _registry_api(again, "GET", "/api/v1/namespaces").json()
        listed = _registry_api(again, "GET", "/api/v1/images", params={"namespace": "kept-across"}).json()
        assert [image["RepoTags"] for image in listed] == [["us.icr.io/kept-across/app:1"]]
    finally:
        _down_stops_every_pid(state)


def _down_stops_every_pid(state: Path) -> None:
    lines: list[str] = []
    pids = {name: tracked.pid for name, tracked in processes.load(state).items()}
    assert set(pids) == set(manager.SERVICES)
    manager.down(state, out=lines.append)
    assert lines[-1].startswith("stopped:")
    for name, pid in pids.items():
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), name
    assert manager.status(state, out=lines.append) == 1
    assert json.loads((state / "pids.json").read_text()) == {}


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
