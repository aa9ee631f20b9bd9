"""Every kustomization renders, every object validates against the Kubernetes 1.32 schemas (strict: no
unknown fields), and the Deployment is what kopf and OpenShift's restricted-v2 SCC need."""

from __future__ import annotations

import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from horizon_publisher.cli import build_parser
from tests.deploy.manifests import (
    BASE,
    DEPLOY,
    OPERATOR_NAME,
    OPERATOR_NAMESPACE,
    OVERLAYS,
    ROOT,
    find,
    kustomizations,
    relative_to,
    render,
)

JSON = dict[str, Any]
KUBERNETES_VERSION = "1.32.0"
IMAGE = "quay.io/horizon-publisher/operator"
MONITORING = DEPLOY / "components" / "monitoring"
# Kinds whose schema is a CRD of someone else's (the Prometheus Operator's), not in kubernetes-validate.
FOREIGN_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}
# restricted-v2 SCC and the "restricted" Pod Security Standard: the volume types they allow.
RESTRICTED_VOLUMES = {"configMap", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected",
                      "secret"}  # fmt: skip


def with_monitoring(overlay: Path, tmp_path: Path) -> list[JSON]:
    """The overlay plus the monitoring component, as a user's own kustomization would combine them."""
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [relative_to(overlay, tmp_path)], "components": [relative_to(MONITORING, tmp_path)],
    }))  # fmt: skip
    return render(tmp_path)


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[JSON]]:
    return {str(path.relative_to(ROOT)): render(path) for path in kustomizations()}


def deployment(objects: list[JSON]) -> JSON:
    return find(objects, "Deployment", OPERATOR_NAME)


def container(objects: list[JSON]) -> JSON:
    containers = deployment(objects)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]  # type: ignore[no-any-return]


# ---- rendering and schemas ---------------------------------------------------------------------


def test_every_kustomization_is_found_and_renders(rendered: dict[str, list[JSON]]) -> None:
    assert {"crds", "deploy/base", "deploy/overlays/kubernetes", "deploy/overlays/openshift"} <= set(rendered)
    assert all(rendered.values())


def validate(obj: JSON) -> list[str]:
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{obj['kind']}/{obj['metadata']['name']}: {error.message} at {list(error.path)}"]
    return []


def test_every_rendered_object_validates_against_kubernetes_1_32(
    rendered: dict[str, list[JSON]], tmp_path: Path
) -> None:
    objects = [o for objs in rendered.values() for o in objs]
    if MONITORING.is_dir():
        objects += with_monitoring(OVERLAYS["openshift"], tmp_path)
    problems, foreign = [], set()
    for obj in objects:
        try:
            problems += validate(obj)
        except kubernetes_validate.SchemaNotFoundError:
            foreign.add((obj["apiVersion"], obj["kind"]))
    assert problems == []
    assert foreign <= FOREIGN_KINDS


@pytest.mark.parametrize(("change", "expected"), [
    (lambda d: d["spec"].__setitem__("replica", 1), "Additional properties"),
    (lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__("ports", [{"containerPort": "x"}]),
     "is not of type"),
    (lambda d: d["spec"].pop("selector"), "'selector' is a required property"),
])  # fmt: skip
def test_the_schema_check_catches_mistakes(change: Any, expected: str) -> None:
    broken = deployment(render(BASE))
    change(broken)
    assert expected in " ".join(validate(broken))


def test_namespaced_objects_live_in_the_operator_namespace(rendered: dict[str, list[JSON]]) -> None:
    for name in ("deploy/base", "deploy/overlays/kubernetes", "deploy/overlays/openshift"):
        for obj in rendered[name]:
            if obj["kind"] in ("ServiceAccount", "Deployment", "Service"):
                assert obj["metadata"]["namespace"] == OPERATOR_NAMESPACE
        find(rendered[name], "Namespace", OPERATOR_NAMESPACE)
        assert {o["metadata"]["name"] for o in rendered[name] if o["kind"] == "CustomResourceDefinition"} == {
            "edgeserviceimages.edge.horizon.dev",
            "edgepublications.edge.horizon.dev",
        }


def test_bindings_name_the_service_account_the_deployment_runs_as(rendered: dict[str, list[JSON]]) -> None:
    for name in ("deploy/overlays/kubernetes", "deploy/overlays/openshift"):
        objects = rendered[name]
        account = deployment(objects)["spec"]["template"]["spec"]["serviceAccountName"]
        find(objects, "ServiceAccount", account)
        for binding in (o for o in objects if o["kind"] == "ClusterRoleBinding"):
            assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": OPERATOR_NAMESPACE}]
            find(objects, "ClusterRole", binding["roleRef"]["name"])


# ---- the Deployment ----------------------------------------------------------------------------


def run_arguments(objects: list[JSON]) -> Any:
    """The container's args as ``horizon-publisher run`` parses them (the image's entrypoint)."""
    return build_parser().parse_args(["run", *container(objects).get("args", [])])


def test_one_replica_recreated_never_two_operators() -> None:
    spec = deployment(render(BASE))["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}


def test_probes_hit_kopfs_health_endpoint_on_the_port_it_listens_on() -> None:
    objects = render(BASE)
    liveness = urlsplit(run_arguments(objects).liveness)
    ports = {p["name"]: p["containerPort"] for p in container(objects)["ports"]}
    for probe in ("livenessProbe", "readinessProbe"):
        get = container(objects)[probe]["httpGet"]
        assert (get["path"], ports[get["port"]]) == (liveness.path, liveness.port)
    assert liveness.hostname == "0.0.0.0"  # noqa: S104  (the kubelet probes the pod IP)


def test_metrics_port_is_named_metrics_and_is_where_the_operator_serves() -> None:
    objects = render(BASE)
    ports = {p["name"]: p["containerPort"] for p in container(objects)["ports"]}
    assert ports["metrics"] == 9090
    address = getattr(run_arguments(objects), "metrics_address", None)
    assert address is not None, "horizon-publisher run has no --metrics-address"
    assert address.rsplit(":", 1)[1] == "9090"


def test_monitoring_component_selects_the_operator_pod(tmp_path: Path) -> None:
    if not MONITORING.is_dir():
        pytest.skip("deploy/components/monitoring is not there yet")
    objects = with_monitoring(OVERLAYS["openshift"], tmp_path)
    pod_labels = deployment(objects)["spec"]["template"]["metadata"]["labels"]
    port_names = {p["name"] for p in container(objects)["ports"]}
    for service in (o for o in objects if o["kind"] == "Service"):
        assert service["spec"]["selector"].items() <= pod_labels.items()
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names


def test_resync_interval_is_set_from_the_environment() -> None:
    env = {e["name"]: e["value"] for e in container(render(BASE))["env"]}
    assert int(env["HORIZON_PUBLISHER_RESYNC_SECONDS"]) > 0


def test_requests_fit_within_limits() -> None:
    resources = container(render(BASE))["resources"]
    assert set(resources) == {"requests", "limits"}
    assert parse_quantity(resources["requests"]["memory"]) <= parse_quantity(resources["limits"]["memory"])
    assert parse_quantity(resources["requests"]["cpu"]) <= parse_quantity(resources["limits"]["cpu"])


def parse_quantity(text: str) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def test_image_is_the_released_version_and_can_be_overridden(tmp_path: Path) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert container(render(BASE))["image"] == f"{IMAGE}:{version}"
    # What `kustomize edit set image quay.io/horizon-publisher/operator=...` writes into a kustomization.
    digest = "sha256:" + "0" * 64
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "resources": [relative_to(OVERLAYS["openshift"], tmp_path)],
        "images": [{"name": IMAGE, "newName": "registry.example.com/team/horizon-publisher", "digest": digest}],
    }))  # fmt: skip
    assert container(render(tmp_path))["image"] == f"registry.example.com/team/horizon-publisher@{digest}"


# ---- security ----------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_pod_meets_the_restricted_standard(overlay: str) -> None:
    objects = render(OVERLAYS[overlay])
    pod = deployment(objects)["spec"]["template"]["spec"]
    context = container(objects)["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert not context.get("privileged")
    assert not {"hostNetwork", "hostPID", "hostIPC"} & {k for k, v in pod.items() if v}
    for volume in pod.get("volumes", []):
        assert set(volume) - {"name"} <= RESTRICTED_VOLUMES
    assert not any("hostPort" in p for p in container(objects)["ports"])
    labels = find(objects, "Namespace", OPERATOR_NAMESPACE)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize(("overlay", "uid"), [("openshift", None), ("kubernetes", 1001)])
def test_uid_is_left_to_openshift_and_fixed_elsewhere(overlay: str, uid: int | None) -> None:
    """restricted-v2 assigns a UID from the project's range: a fixed runAsUser would be refused."""
    objects = render(OVERLAYS[overlay])
    pod = deployment(objects)["spec"]["template"]["spec"]["securityContext"]
    assert pod.get("runAsUser") == uid
    assert pod.get("runAsGroup") == uid
    assert "runAsUser" not in container(objects)["securityContext"]


def test_tmp_is_writable_for_the_private_ca_files() -> None:
    """registry_auth_client uses tempfile.mkdtemp: /tmp must be an emptyDir on a read-only root."""
    objects = render(BASE)
    pod = deployment(objects)["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in container(objects)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]  # noqa: S108  (the path under test)
    assert "tempfile" in (ROOT / "operator/horizon_publisher/clients/registry_auth_client.py").read_text()


def test_readme_style_commands_name_real_paths() -> None:
    """The Install text's `kubectl apply -k` paths exist (they are what the lead puts in the docs)."""
    for command in ("kubectl apply -k deploy/overlays/openshift", "kubectl apply -k deploy/overlays/kubernetes"):
        assert (ROOT / shlex.split(command)[-1] / "kustomization.yaml").is_file()


def test_another_namespace_is_one_line_in_a_users_overlay(tmp_path: Path) -> None:
    """`namespace: X` moves the Namespace, ServiceAccount, Deployment and the bindings' subjects together."""
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump({"resources": [relative_to(OVERLAYS["openshift"], tmp_path)], "namespace": "edge-operators"})
    )
    objects = render(tmp_path)
    find(objects, "Namespace", "edge-operators")
    assert deployment(objects)["metadata"]["namespace"] == "edge-operators"
    assert find(objects, "ServiceAccount", OPERATOR_NAME)["metadata"]["namespace"] == "edge-operators"
    for binding in (o for o in objects if o["kind"] == "ClusterRoleBinding"):
        assert [s["namespace"] for s in binding["subjects"]] == ["edge-operators"]
