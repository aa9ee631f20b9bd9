"""EdgeServiceImage on the OpenShift flavour, end to end: what the manual procedure makes, then Ready.

The operator runs as its own process (kopf, all namespaces, 2 s resync) against a private sandbox whose
registry route does not exist yet. A fresh resource must ask for the route, request the project, create
the service account and its ``edit`` binding, get a token, publish the ingress CA and a dockerconfigjson
Secret; an image pushed with exactly those credentials (through the route host) must then show up in
status with the registry's own digests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from horizon_publisher.sandbox.images import push_index
from horizon_publisher.sandbox.pki import ensure_pki
from horizon_publisher.sandbox.registry import start_registry, stop_process
from tests.e2e.service_image_kube import (
    configmap_path,
    namespace_path,
    parse_time,
    role_binding_path,
    secret_path,
    secret_value,
    service_account_path,
)
from tests.e2e.service_image_support import (
    DEFAULT_ROUTE,
    DOCKER_CONFIG_JSON,
    INGRESS_CA,
    OPENSHIFT_CONDITIONS,
    REGISTRY_CONFIG,
    SA_NAME_ANNOTATION,
    SA_TOKEN_TYPE,
    SETUP_CONDITIONS,
    Cluster,
    cluster_with_operator,
    condition,
    owned_by,
    owned_labels,
    service_image,
    unique,
)

RESOLVE = 20.0  # seconds from a push to the digest in status (contract: within the 2 s resync)
FOLLOW = 45.0  # seconds for a moved tag: pollIntervalSeconds is at least 30
EDIT = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster_with_operator(tmp_path_factory.mktemp("esi-openshift")) as running:
        # Precondition: the registry is not exposed yet, so asking for the route is the operator's job.
        config = running.kube.get(REGISTRY_CONFIG)
        assert config is not None
        assert config["spec"]["defaultRoute"] is False
        assert not running.kube.exists(DEFAULT_ROUTE)
        yield running


@dataclass(frozen=True)
class Fresh:
    namespace: str
    project: str
    name: str = "hello"
    account: str = "edge-publisher"


@pytest.fixture(scope="module")
def fresh(cluster: Cluster) -> Fresh:
    """The sample's shape with every default: Rotating token, amd64 + arm64, default output names."""
    target = Fresh(cluster.namespace("fresh"), unique("fresh-images"))
    cluster.apply(
        service_image(target.name, target.namespace, target.project, {"image": {"arches": ["amd64", "arm64"]}})
    )
    cluster.wait_condition(target.namespace, target.name, "CredentialsReady", "True")
    return target


def _expected_image(host: str, repository: str, tag: str, arch: str, digest: str) -> dict[str, str]:
    return {
        "arch": arch,
        "reference": f"{host}/{repository}:{tag}",
        "digest": digest,
        "pinnedReference": f"{host}/{repository}@{digest}",
    }


def _images(resource: dict[str, Any]) -> dict[str, dict[str, str]]:
    """status.images by arch, reduced to the fields the contract fixes."""
    keys = ("arch", "reference", "digest", "pinnedReference")
    return {i["arch"]: {k: i.get(k) for k in keys} for i in resource["status"].get("images") or []}


def test_registry_route_is_requested_and_its_host_recorded(cluster: Cluster, fresh: Fresh) -> None:
    config = cluster.kube.get(REGISTRY_CONFIG)
    assert config is not None
    assert config["spec"]["defaultRoute"] is True
    route = cluster.kube.get(DEFAULT_ROUTE)
    assert route is not None
    assert route["spec"]["host"] == cluster.host
    resource = cluster.esi(fresh.namespace, fresh.name)
    assert resource is not None
    assert resource["status"]["registry"]["host"] == cluster.host
    assert condition(resource, "RegistryRouteReady")["status"] == "True"


def test_project_is_requested_and_labelled(cluster: Cluster, fresh: Fresh) -> None:
    namespace = cluster.kube.get(namespace_path(fresh.project))
    assert namespace is not None, f"project {fresh.project} was not created"
    assert owned_labels(fresh.namespace, fresh.name).items() <= (namespace["metadata"].get("labels") or {}).items()
    # Only a ProjectRequest (oc new-project) records who asked for the project.
    assert "openshift.io/requester" in (namespace["metadata"].get("annotations") or {})
    resource = cluster.esi(fresh.namespace, fresh.name)
    assert resource is not None
    assert resource["status"]["registry"]["namespace"] == fresh.project
    assert resource["status"]["registry"]["namespaceCreated"] is True
    assert condition(resource, "ProjectReady")["status"] == "True"


def test_service_account_is_bound_to_edit_as_oc_policy_does(cluster: Cluster, fresh: Fresh) -> None:
    labels = owned_labels(fresh.namespace, fresh.name)
    account = cluster.kube.get(service_account_path(fresh.project, fresh.account))
    assert account is not None
    assert labels.items() <= (account["metadata"].get("labels") or {}).items()
    binding = cluster.kube.get(role_binding_path(fresh.project, f"horizon-publisher-{fresh.account}"))
    assert binding is not None
    assert binding["roleRef"] == EDIT
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": fresh.account, "namespace": fresh.project}]
    assert labels.items() <= (binding["metadata"].get("labels") or {}).items()


def test_rotating_token_is_recorded_by_its_times_never_by_value(cluster: Cluster, fresh: Fresh) -> None:
    auth = cluster.credentials(fresh.namespace, f"{fresh.name}-registry")
    claims = auth.token.claims()
    issued, expires = claims.get("iat"), claims.get("exp")
    assert isinstance(issued, int), "a Rotating token is a bound TokenRequest JWT (iat/exp)"
    assert isinstance(expires, int)
    resource = cluster.esi(fresh.namespace, fresh.name)
    assert resource is not None
    assert condition(resource, "TokenReady")["status"] == "True"
    credentials = resource["status"]["credentials"]
    assert abs(parse_time(credentials["tokenExpirationTime"]).timestamp() - expires) <= 1
    lifetime = expires - issued
    renewal = parse_time(credentials["tokenRenewalTime"]).timestamp()
    assert abs(renewal - (issued + lifetime * 2 / 3)) <= lifetime * 0.05, "renewal at about 2/3 of the lifetime"
    # Where the credentials are: by name only.
    assert credentials["secretName"] == f"{fresh.name}-registry"
    assert credentials["caConfigMapName"] == f"{fresh.name}-registry-ca"
    token = auth.token.reveal()
    in_status = token in json.dumps(resource)
    in_events = any(token in json.dumps(event) for event in cluster.events(fresh.namespace, fresh.name))
    in_log = token in cluster.operator.log()
    assert not in_status, "the token is in the EdgeServiceImage"
    assert not in_events, "the token is in an Event"
    assert not in_log, "the token is in the operator log"


def test_ca_config_map_holds_the_ingress_ca(cluster: Cluster, fresh: Fresh) -> None:
    resource = cluster.esi(fresh.namespace, fresh.name)
    configmap = cluster.kube.get(configmap_path(fresh.namespace, f"{fresh.name}-registry-ca"))
    ingress = cluster.kube.get(INGRESS_CA)
    assert resource is not None
    assert configmap is not None
    assert ingress is not None
    assert configmap["data"]["ca.crt"] == ingress["data"]["ca-bundle.crt"]
    assert owned_by(configmap, resource)
    assert condition(resource, "CATrusted")["status"] == "True"


def test_credentials_secret_authenticates_as_the_service_account(cluster: Cluster, fresh: Fresh) -> None:
    resource = cluster.esi(fresh.namespace, fresh.name)
    secret = cluster.kube.get(secret_path(fresh.namespace, f"{fresh.name}-registry"))
    assert resource is not None
    assert secret is not None
    secret_type, owned = secret.get("type"), owned_by(secret, resource)
    assert secret_type == DOCKER_CONFIG_JSON
    assert owned, "the credentials Secret has no ownerReference to its EdgeServiceImage"
    auth = cluster.credentials(fresh.namespace, f"{fresh.name}-registry")
    assert auth.username == fresh.account
    assert auth.auth_matches, "auth is not base64(username:password)"
    assert cluster.kube.review(auth.token) == (True, f"system:serviceaccount:{fresh.project}:{fresh.account}")
    assert condition(resource, "CredentialsReady")["status"] == "True"


def test_pushed_images_resolve_to_the_registry_digests(cluster: Cluster, fresh: Fresh) -> None:
    namespace, name, project, host = fresh.namespace, fresh.name, fresh.project, cluster.host
    waiting = cluster.wait_condition(namespace, name, "ImageResolved", "False", "ImageNotFound")
    assert [c["type"] for c in waiting["status"]["conditions"]] == list(OPENSHIFT_CONDITIONS)
    assert {c: condition(waiting, c)["status"] for c in SETUP_CONDITIONS} == dict.fromkeys(SETUP_CONDITIONS, "True")
    assert f"{host}/{project}/hello_amd64:1.0.0" in condition(waiting, "ImageResolved")["message"]
    assert condition(waiting, "Ready")["status"] == "False"

    # Push as a pipeline would: the operator's Secret for credentials, its ConfigMap for trust.
    auth = cluster.credentials(namespace, f"{name}-registry")
    ca = cluster.ca_file(namespace, f"{name}-registry-ca")
    cluster.push(auth, f"{project}/hello_amd64", "1.0.0", arch="amd64", ca=ca)
    arm64 = f"{host}/{project}/hello_arm64:1.0.0"
    cluster.wait_until(
        namespace,
        name,
        lambda r: arm64 in condition(r, "ImageResolved").get("message", ""),
        "ImageNotFound naming the arm64 reference",
        timeout=RESOLVE,
    )
    cluster.push(auth, f"{project}/hello_arm64", "1.0.0", arch="arm64", ca=ca)

    ready = cluster.wait_condition(namespace, name, "Ready", "True", "Reconciled", timeout=RESOLVE)
    digests = {arch: cluster.resolve(auth, f"{project}/hello_{arch}", "1.0.0", ca=ca) for arch in ("amd64", "arm64")}
    assert _images(ready) == {
        arch: _expected_image(host, f"{project}/hello_{arch}", "1.0.0", arch, digest)
        for arch, digest in digests.items()
    }
    assert ready["status"]["resolvedCount"] == 2
    assert ready["status"]["observedGeneration"] == ready["metadata"]["generation"]
    assert condition(ready, "ImageResolved")["status"] == "True"

    waited = cluster.sandbox.kubectl(
        "wait", "--for=condition=Ready", f"esi/{name}", "-n", namespace, "--timeout=20s", check=False
    )
    assert waited.returncode == 0, waited.stderr
    header, row = cluster.sandbox.kubectl("get", "esi", name, "-n", namespace).stdout.splitlines()
    columns = dict(zip(header.split(), row.split(), strict=True))
    assert (columns["READY"], columns["REASON"], columns["HOST"], columns["DIGESTS"]) == (
        "True",
        "Reconciled",
        host,
        "2",
    )


def test_multi_arch_index_with_a_long_lived_token(cluster: Cluster) -> None:
    """LongLived token Secret, least-privilege role, custom names, one multi-arch index."""
    namespace, project, host = cluster.namespace("multi"), unique("multi-images"), cluster.host
    spec = {
        "registry": {
            "openshift": {
                "serviceAccountName": "pipeline",
                "role": "system:image-builder",
                "token": {"mode": "LongLived"},
            }
        },
        "image": {"name": "multi", "arches": ["amd64", "arm64"], "layout": "MultiArchIndex"},
        "output": {"credentialsSecretName": "multi-push", "caConfigMapName": "multi-ca"},
    }
    cluster.apply(service_image("multi", namespace, project, spec))
    waiting = cluster.wait_condition(namespace, "multi", "ImageResolved", "False", "ImageNotFound")
    assert f"{host}/{project}/multi:1.0.0" in condition(waiting, "ImageResolved")["message"]

    token_secret = cluster.kube.get(secret_path(project, "pipeline-horizon-token"))
    assert token_secret is not None
    assert token_secret.get("type") == SA_TOKEN_TYPE
    assert (token_secret["metadata"].get("annotations") or {}).get(SA_NAME_ANNOTATION) == "pipeline"
    assert owned_labels(namespace, "multi").items() <= (token_secret["metadata"].get("labels") or {}).items()
    auth = cluster.credentials(namespace, "multi-push")
    same_token = auth.token == secret_value(token_secret, "token")
    assert same_token, "the credentials Secret does not carry the LongLived Secret's token"
    assert auth.username == "pipeline"
    assert "tokenExpirationTime" not in waiting["status"].get("credentials", {})
    binding = cluster.kube.get(role_binding_path(project, "horizon-publisher-pipeline"))
    assert binding is not None
    assert binding["roleRef"] == {**EDIT, "name": "system:image-builder"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "pipeline", "namespace": project}]
    for default_name in ("multi-registry", "multi-registry-ca"):  # the output names were overridden
        assert not cluster.kube.exists(secret_path(namespace, default_name))
        assert not cluster.kube.exists(configmap_path(namespace, default_name))

    ca = cluster.ca_file(namespace, "multi-ca")
    pushed = cluster.push_index(auth, f"{project}/multi", "1.0.0", ("amd64", "arm64"), ca=ca)
    ready = cluster.wait_condition(namespace, "multi", "Ready", "True", "Reconciled", timeout=RESOLVE)
    assert cluster.resolve(auth, f"{project}/multi", "1.0.0", ca=ca) == pushed.index
    assert ready["status"]["indexDigest"] == pushed.index
    reference = f"{host}/{project}/multi:1.0.0"
    assert _images(ready) == {
        arch: {"arch": arch, "reference": reference, "digest": d, "pinnedReference": f"{host}/{project}/multi@{d}"}
        for arch, d in pushed.per_arch.items()
    }
    assert ready["status"]["resolvedCount"] == 2


def test_follow_tag_reports_a_moved_tag(cluster: Cluster) -> None:
    namespace, project = cluster.namespace("follow"), unique("follow-images")
    spec = {"image": {"name": "moving", "followTag": True, "pollIntervalSeconds": 30}}
    cluster.apply(service_image("moving", namespace, project, spec))
    cluster.wait_condition(namespace, "moving", "CredentialsReady", "True")
    auth = cluster.credentials(namespace, "moving-registry")
    ca = cluster.ca_file(namespace, "moving-registry-ca")
    first = cluster.push(auth, f"{project}/moving_amd64", "1.0.0", ca=ca)
    resolved = cluster.wait_condition(namespace, "moving", "Ready", "True", "Reconciled", timeout=RESOLVE)
    assert _images(resolved)["amd64"]["digest"] == first

    # The same tag, another image (a Docker manifest instead of an OCI one): another digest.
    moved = cluster.push(auth, f"{project}/moving_amd64", "1.0.0", ca=ca, media="docker")
    assert moved != first
    assert cluster.resolve(auth, f"{project}/moving_amd64", "1.0.0", ca=ca) == moved
    followed = cluster.wait_until(
        namespace, "moving", lambda r: _images(r).get("amd64", {}).get("digest") == moved, "the moved digest", FOLLOW
    )
    assert _images(followed)["amd64"]["pinnedReference"] == f"{cluster.host}/{project}/moving_amd64@{moved}"
    assert condition(followed, "Ready")["status"] == "True"


def test_existing_namespace_is_not_taken_over_without_consent(cluster: Cluster) -> None:
    namespace, project = cluster.namespace("adopt"), cluster.namespace("someone-elses")
    cluster.apply(service_image("adopt", namespace, project))
    refused = cluster.wait_condition(namespace, "adopt", "ProjectReady", "False", "NamespaceNotOwned")
    assert project in condition(refused, "ProjectReady")["message"]
    assert (condition(refused, "Ready")["status"], condition(refused, "Ready")["reason"]) == (
        "False",
        "NamespaceNotOwned",
    )
    for path in (
        service_account_path(project, "edge-publisher"),
        role_binding_path(project, "horizon-publisher-edge-publisher"),
        secret_path(namespace, "adopt-registry"),
    ):
        assert not cluster.kube.exists(path), f"{path} was created in a namespace the operator does not own"
    untouched = cluster.kube.get(namespace_path(project))
    assert untouched is not None
    assert "app.kubernetes.io/managed-by" not in (untouched["metadata"].get("labels") or {})

    # The flag alone is not consent: the namespace's side must label it for this namespace.
    cluster.apply(
        service_image("adopt", namespace, project, {"registry": {"openshift": {"adoptExistingNamespace": True}}})
    )
    still = cluster.wait_until(
        namespace,
        "adopt",
        lambda r: "adoptable-by" in condition(r, "ProjectReady").get("message", ""),
        "a refusal that says how to consent",
    )
    assert condition(still, "ProjectReady")["reason"] == "NamespaceNotOwned"
    assert not cluster.kube.exists(service_account_path(project, "edge-publisher"))
    # Consent given: the same namespace is used.
    cluster.kube.merge_patch(
        namespace_path(project), {"metadata": {"labels": {"edge.horizon.dev/adoptable-by": namespace}}}
    )
    adopted = cluster.wait_condition(namespace, "adopt", "CredentialsReady", "True")
    assert condition(adopted, "ProjectReady")["status"] == "True"
    assert adopted["status"]["registry"]["namespaceCreated"] is False
    assert cluster.kube.exists(service_account_path(project, "edge-publisher"))


def test_an_image_copied_from_another_registry_lands_in_the_project(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """spec.image.source with the OpenShift provider: pushed with the service account's token, which the
    registry's RBAC check must accept for the project the operator made (a second real registry is the
    source, htpasswd and TLS)."""
    pki = ensure_pki(Path(cluster.sandbox.endpoints["registry"]["caFile"]).parent)
    user, password = "mirror-reader", "openshift-copy-source-pw"
    directory = tmp_path_factory.mktemp("copy-source")
    source = start_registry(directory, pki, auth="htpasswd", htpasswd_users={user: password})
    try:
        host, ca = f"127.0.0.1:{source.port}", str(pki.ca_cert)
        pushed = push_index(f"https://{host}", "vendor/probe", "4.2", arches=("amd64", "arm64"),
                            credentials=(user, password), verify=ca)  # fmt: skip
        namespace, project = cluster.namespace("copy-ocp"), unique("copy-ocp-images")
        config = json.dumps({"auths": {host: {"username": user, "password": password}}})
        cluster.kube.create(
            f"/api/v1/namespaces/{namespace}/secrets",
            {
                "metadata": {"name": "vendor-pull"},
                "type": DOCKER_CONFIG_JSON,
                "stringData": {".dockerconfigjson": config},
            },
        )
        cluster.kube.create(
            f"/api/v1/namespaces/{namespace}/configmaps",
            {"metadata": {"name": "vendor-ca"}, "data": {"ca.crt": pki.ca_cert.read_text()}},
        )
        source_spec = {
            "reference": f"{host}/vendor/probe:4.2",
            "credentialsSecretRef": {"name": "vendor-pull"},
            "tls": {"caRef": {"name": "vendor-ca"}},
        }
        image = {"name": "probe", "tag": "4.2", "arches": ["amd64", "arm64"], "source": source_spec}
        cluster.apply(service_image("probe", namespace, project, {"image": image}))
        ready = cluster.wait_condition(namespace, "probe", "Ready", "True", "Reconciled", timeout=60)
        status = ready["status"]
        assert {i["arch"]: i["digest"] for i in status["images"]} == pushed.per_arch
        assert [i["reference"] for i in status["images"]] == [
            f"{cluster.host}/{project}/probe_{arch}:4.2" for arch in ("amd64", "arm64")
        ]
        assert [c["type"] for c in status["conditions"]] == [*OPENSHIFT_CONDITIONS[:-1], "ImageCopied", "ImageResolved"]
        assert condition(ready, "ImageCopied")["reason"] in ("Copied", "UpToDate")
        assert password not in json.dumps(ready) + cluster.operator.log()
    finally:
        stop_process(source.pid)
