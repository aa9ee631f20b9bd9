"""The OLM bundle (deploy/olm/) cross-checked against crds/, deploy/ and deploy/samples/, independently of
the generator (scripts/make_bundle.py), and the generator's output equal to what is committed."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from horizon_publisher.cli import build_parser
from tests.deploy.manifests import BASE, OVERLAYS, ROOT, bound_rules, find, render

JSON = dict[str, Any]
OLM = ROOT / "deploy" / "olm"
MANIFESTS = OLM / "bundle" / "manifests"
CSV_PATH = MANIFESTS / "horizon-publisher.clusterserviceversion.yaml"
CRD_FILES = sorted((ROOT / "crds").glob("*.yaml"))
CRDS = {yaml.safe_load(p.read_text())["spec"]["names"]["kind"]: yaml.safe_load(p.read_text()) for p in CRD_FILES}
SELECT = "urn:alm:descriptor:com.tectonic.ui:select:"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_bundle", ROOT / "scripts" / "make_bundle.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def csv() -> JSON:
    document = yaml.safe_load(CSV_PATH.read_text())
    assert isinstance(document, dict)
    return document


def schema(kind: str) -> JSON:
    return CRDS[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def node(kind: str, path: str) -> JSON:
    found = schema(kind)
    for part in path.split("."):
        found = found["properties"][part]
    return found


# ---- generated, committed, and not stale ---------------------------------------------------------


def test_committed_bundle_is_what_the_generator_makes() -> None:
    generator = load_generator()
    assert generator.stale(generator.bundle_files()) == [], "run: .venv/bin/python scripts/make_bundle.py"


def test_bundle_crds_are_byte_copies_of_crds() -> None:
    bundled = {p.read_text() for p in MANIFESTS.glob("*.yaml") if p != CSV_PATH}
    assert bundled == {p.read_text() for p in CRD_FILES}


# ---- the CSV against crds/, deploy/ and deploy/samples/ ----------------------------------------


def test_owned_crds_are_the_crds(csv: JSON) -> None:
    owned = {(c["name"], c["version"], c["kind"]) for c in csv["spec"]["customresourcedefinitions"]["owned"]}
    expected = {(c["metadata"]["name"], v["name"], kind) for kind, c in CRDS.items() for v in c["spec"]["versions"]}
    assert owned == expected
    for entry in csv["spec"]["customresourcedefinitions"]["owned"]:
        assert entry["displayName"]
        assert entry["description"]


def test_cluster_permissions_are_the_openshift_overlays_rbac(csv: JSON) -> None:
    install = csv["spec"]["install"]
    assert install["strategy"] == "deployment"
    assert "permissions" not in install["spec"]  # nothing namespaced: one ClusterRole set, as in the overlay
    [permissions] = install["spec"]["clusterPermissions"]
    assert permissions["rules"] == bound_rules(render(OVERLAYS["openshift"]))


def test_deployment_is_the_base_deployment(csv: JSON) -> None:
    [deployment] = csv["spec"]["install"]["spec"]["deployments"]
    base = find(render(BASE), "Deployment", deployment["name"])
    assert deployment["spec"] == base["spec"]
    assert (
        deployment["spec"]["template"]["spec"]["serviceAccountName"]
        == (csv["spec"]["install"]["spec"]["clusterPermissions"][0]["serviceAccountName"])
    )


def test_install_modes_claim_only_what_the_deployment_does(csv: JSON) -> None:
    """The Deployment passes no -n: it watches every namespace, so AllNamespaces is the only mode."""
    modes = {m["type"]: m["supported"] for m in csv["spec"]["installModes"]}
    assert modes == {"OwnNamespace": False, "SingleNamespace": False, "MultiNamespace": False, "AllNamespaces": True}
    [deployment] = csv["spec"]["install"]["spec"]["deployments"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert build_parser().parse_args(["run", *container["args"]]).namespace is None


def test_version_and_image_agree_everywhere(csv: JSON) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert csv["metadata"]["name"] == f"horizon-publisher.v{version}"
    assert csv["spec"]["version"] == version
    [deployment] = csv["spec"]["install"]["spec"]["deployments"]
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.endswith(f":{version}")
    assert csv["metadata"]["annotations"]["containerImage"] == image
    assert {"name": "operator", "image": image} in csv["spec"]["relatedImages"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", csv["spec"]["minKubeVersion"])


# ---- alm-examples ------------------------------------------------------------------------------


def sample_resources() -> list[JSON]:
    docs = [d for p in sorted((ROOT / "deploy" / "samples").glob("*.yaml")) for d in yaml.safe_load_all(p.read_text())]
    return [d for d in docs if isinstance(d, dict) and d.get("kind") in CRDS]


def test_alm_examples_are_the_samples(csv: JSON) -> None:
    examples = json.loads(csv["metadata"]["annotations"]["alm-examples"])
    expected = copy.deepcopy(sample_resources())
    for doc in expected:
        doc["metadata"].pop("namespace")
    assert examples == expected
    assert {e["kind"] for e in examples} == set(CRDS)


@pytest.fixture(scope="module")
def engine() -> Any:
    return pytest.importorskip("horizon_publisher.sandbox.kubeapi.schema")


def test_alm_examples_validate_against_the_crd_schemas(csv: JSON, engine: Any) -> None:
    """Pruning keeps every field and the schema + CEL rules admit each example, as the API server would."""
    for example in json.loads(csv["metadata"]["annotations"]["alm-examples"]):
        crd_schema = schema(example["kind"])
        pruned = copy.deepcopy(example)
        engine.prune(crd_schema, pruned)
        assert pruned == example, f"{example['metadata']['name']}: fields the schema would drop"
        engine.apply_defaults(crd_schema, pruned)
        assert [e.message for e in engine.validate(crd_schema, pruned, None)] == []


def test_schema_engine_rejects_a_broken_example(csv: JSON, engine: Any) -> None:
    example = json.loads(csv["metadata"]["annotations"]["alm-examples"])[0]
    example["spec"]["image"]["tag"] = {"not": "a string"}
    assert engine.validate(schema(example["kind"]), example, None)


# ---- descriptors -------------------------------------------------------------------------------


def descriptors(csv: JSON) -> list[tuple[str, str, JSON]]:
    return [(owned["kind"], section, d) for owned in csv["spec"]["customresourcedefinitions"]["owned"]
            for section in ("spec", "status") for d in owned[f"{section}Descriptors"]]  # fmt: skip


def test_every_descriptor_names_a_schema_field_and_fits_its_type(csv: JSON) -> None:
    for kind, section, descriptor in descriptors(csv):
        field = node(kind, f"{section}.{descriptor['path']}")
        assert descriptor["description"]
        assert descriptor["displayName"]
        for urn in descriptor["x-descriptors"]:
            if urn.startswith(SELECT):
                assert [u.removeprefix(SELECT) for u in descriptor["x-descriptors"]] == field["enum"]
            elif urn.endswith(":booleanSwitch"):
                assert field["type"] == "boolean"
            elif urn.endswith((":Secret", ":ConfigMap")):
                assert field["type"] == "string"
                assert re.search(r"(secret|configmap|ca|horizonfiles)", descriptor["path"].lower())


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_conditions_and_secret_references_have_descriptors(csv: JSON, kind: str) -> None:
    mine = [(s, d) for k, s, d in descriptors(csv) if k == kind]
    assert ("status", "conditions") in {(s, d["path"]) for s, d in mine if d["x-descriptors"] == [
        "urn:alm:descriptor:io.kubernetes.conditions"]}  # fmt: skip
    secret_refs = {f"{path}.name" for path in _paths(schema(kind)["properties"]["spec"]) if path.endswith("SecretRef")}
    described = {d["path"] for s, d in mine if s == "spec" and "urn:alm:descriptor:io.kubernetes:Secret" in
                 d["x-descriptors"]}  # fmt: skip
    assert secret_refs <= described


def _paths(schema_node: JSON, prefix: str = "") -> list[str]:
    found = []
    for name, child in schema_node.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        found += [path, *_paths(child, path)]
    return found


# ---- bundle metadata ---------------------------------------------------------------------------


def test_bundle_image_labels_equal_the_metadata_annotations() -> None:
    annotations = yaml.safe_load((OLM / "bundle" / "metadata" / "annotations.yaml").read_text())["annotations"]
    dockerfile = (OLM / "bundle.Dockerfile").read_text()
    labels = dict(re.findall(r"^LABEL (\S+)=(\S+)$", dockerfile, re.MULTILINE))
    assert labels == annotations
    assert annotations["operators.operatorframework.io.bundle.mediatype.v1"] == "registry+v1"
    assert annotations["operators.operatorframework.io.bundle.package.v1"] == "horizon-publisher"
    for source in re.findall(r"^COPY (\S+) ", dockerfile, re.MULTILINE):
        assert (OLM / source).is_dir()


def test_stale_check_notices_an_edit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generator = load_generator()
    files = generator.bundle_files()
    monkeypatch.setattr(generator, "OLM", tmp_path)
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    assert generator.stale(files) == []
    (tmp_path / "bundle/metadata/annotations.yaml").write_text("annotations: {}\n")
    (tmp_path / "bundle/manifests/extra.yaml").write_text("{}\n")
    assert generator.stale(files) == ["bundle/manifests/extra.yaml", "bundle/metadata/annotations.yaml"]
