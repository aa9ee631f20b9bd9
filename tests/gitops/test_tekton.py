"""The Tekton example (deploy/examples/tekton/): its structure as Tekton validates it, its agreement with the
operator (Secret and ConfigMap names and keys, the EdgePublication schema), least-privilege RBAC for exactly the
``oc`` commands its scripts run, and its steps run for real against a sandbox (test_tekton_sandbox.py)."""

from __future__ import annotations

import copy
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from horizon_publisher.desired import kube_objects
from tests.gitops.tekton import EXAMPLE, ROOT, documents, references, step_texts

JSON = dict[str, Any]
DOCS = documents()
TASKS = {name: doc for (kind, name), doc in DOCS.items() if kind == "Task"}
[PIPELINE] = [doc for (kind, _), doc in DOCS.items() if kind == "Pipeline"]
[RUN] = [doc for (kind, _), doc in DOCS.items() if kind == "PipelineRun"]
[PUBLICATION] = [doc for (kind, _), doc in DOCS.items() if kind == "EdgePublication"]
SAMPLE_IMAGE = yaml.safe_load((ROOT / "deploy" / "samples" / "10-edgeserviceimage-openshift.yaml").read_text())
CRDS = {p.stem: yaml.safe_load(p.read_text()) for p in (ROOT / "crds").glob("*.yaml")}
# Verbs an oc command needs on the resource it names (kubectl's own requests).
OC_VERBS = {"get": {"get"}, "wait": {"get", "list", "watch"}, "apply": {"get", "create", "patch"}}


def declared(task: JSON, section: str) -> set[str]:
    return {item["name"] for item in task["spec"].get(section, [])}


def run_params() -> dict[str, str]:
    return {p["name"]: p["value"] for p in RUN["spec"]["params"]}


# ---- every manifest --------------------------------------------------------------------------------------------


def test_the_example_has_every_piece() -> None:
    kinds = sorted(kind for kind, _ in DOCS)
    assert kinds == sorted(["Task", "Task", "Task", "Pipeline", "PipelineRun", "EdgePublication", "ServiceAccount",
                            "Role", "RoleBinding", "RoleBinding"])
    assert (EXAMPLE / "README.md").is_file()
    for (kind, _), doc in DOCS.items():
        if kind in ("Task", "Pipeline", "PipelineRun"):
            assert doc["apiVersion"] == "tekton.dev/v1"


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_uses_exactly_what_it_declares(name: str) -> None:
    task = TASKS[name]
    used: dict[str, set[str]] = {"params": set(), "workspaces": set(), "results": set()}
    for step in task["spec"]["steps"]:
        assert step["script"].startswith("#!"), f"{step['name']}: no #! line"
        for scope, rest in references("\n".join(step_texts(step))):
            assert scope in used, f"{step['name']}: $({scope}.{rest}) has no meaning in a Task"
            used[scope].add(rest if scope == "params" else rest.removesuffix(".path"))
            if scope != "params":
                assert rest.endswith(".path"), f"$({scope}.{rest})"
    assert used["params"] == declared(task, "params")
    assert used["workspaces"] == declared(task, "workspaces")
    assert used["results"] == declared(task, "results")  # every result is written by some step
    volumes = {v["name"] for v in task["spec"].get("volumes", [])}
    mounted = {m["name"] for step in task["spec"]["steps"] for m in step.get("volumeMounts", [])}
    assert mounted == volumes


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_scripts_parse(name: str, tmp_path: Path) -> None:
    for step in TASKS[name]["spec"]["steps"]:
        script = re.sub(r"\$\((params|workspaces|results)\.[^)]+\)", "/x", step["script"])
        interpreter = script.splitlines()[0]
        if interpreter.endswith("python3"):
            compile(script, step["name"], "exec")
        else:
            shell = "sh" if interpreter == "#!/bin/sh" else "bash"
            assert subprocess.run([shell, "-n"], input=script, text=True, check=False).returncode == 0, step["name"]


def test_pipeline_wiring() -> None:
    spec = PIPELINE["spec"]
    params, workspaces = declared(PIPELINE, "params"), declared(PIPELINE, "workspaces")
    names = [t["name"] for t in spec["tasks"]]
    assert len(names) == len(set(names))
    used_params: set[str] = set()
    for task in spec["tasks"]:
        target = TASKS[task["taskRef"]["name"]]
        assert set(task.get("runAfter", [])) <= set(names) - {task["name"]}
        given = {p["name"] for p in task.get("params", [])}
        required = {p["name"] for p in target["spec"].get("params", []) if "default" not in p}
        assert required <= given <= declared(target, "params"), task["name"]
        for param in task.get("params", []):
            for scope, rest in references(param["value"]):
                assert scope == "params"
                assert rest in params
                used_params.add(rest)
        bound = {w["name"]: w["workspace"] for w in task.get("workspaces", [])}
        assert set(bound) == declared(target, "workspaces"), task["name"]
        assert set(bound.values()) <= workspaces
    assert used_params == params
    for result in spec["results"]:
        [(scope, rest)] = references(result["value"])
        task_name, _, result_name = rest.partition(".results.")
        assert scope == "tasks"
        assert task_name in names
        target = TASKS[next(t for t in spec["tasks"] if t["name"] == task_name)["taskRef"]["name"]]
        assert result_name in declared(target, "results")
    # the order the scripts rely on: sources, then the push, then the publication that signs its digests
    order = {t["name"]: set(t.get("runAfter", [])) for t in spec["tasks"]}
    assert order == {"fetch-source": set(), "build-push": {"fetch-source"}, "publish": {"build-push"}}


def test_pipelinerun_fills_the_pipeline() -> None:
    spec = RUN["spec"]
    assert spec["pipelineRef"]["name"] == PIPELINE["metadata"]["name"]
    required = {p["name"] for p in PIPELINE["spec"]["params"] if "default" not in p}
    assert required <= set(run_params()) <= declared(PIPELINE, "params")
    assert {w["name"] for w in spec["workspaces"]} == declared(PIPELINE, "workspaces")
    account = DOCS[("ServiceAccount", "edge-pipeline")]["metadata"]["name"]
    assert spec["taskRunTemplate"]["serviceAccountName"] == account


# ---- agreement with the operator -------------------------------------------------------------------------------


def test_registry_workspaces_are_what_the_operator_writes_for_the_image() -> None:
    """The Secret and ConfigMap bound in the run are the ones the operator writes for EdgeServiceImage IMAGE."""
    image = SAMPLE_IMAGE
    assert (run_params()["IMAGE"], RUN["metadata"]["namespace"]) == (image["metadata"]["name"],
                                                                     image["metadata"]["namespace"])
    bindings = {w["name"]: w for w in RUN["spec"]["workspaces"]}
    name, spec = image["metadata"]["name"], image["spec"]
    secret_name = kube_objects.credentials_secret_name(name, spec)
    assert bindings["registry-credentials"]["secret"] == {"secretName": secret_name}
    assert bindings["registry-ca"]["configMap"] == {"name": kube_objects.ca_config_map_name(name, spec)}


def test_the_authfile_step_reads_the_key_the_operator_writes() -> None:
    owner = kube_objects.Owner("ns", "hello", "uid")
    secret = kube_objects.credentials_secret("hello-registry", owner, "registry.example", "user", "token")
    [key] = secret["data"]
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    task = TASKS["edge-image-build-push"]
    [step] = [s for s in task["spec"]["steps"] if s["name"] == "write-authfile"]
    assert f'"$(workspaces.registry-credentials.path)/{key}"' in step["script"]
    [ca_step] = [s for s in task["spec"]["steps"] if s["name"] == "build-push"]
    cert_dir = {e["name"]: e["value"] for e in ca_step["env"]}["CERT_DIR"]
    assert cert_dir == "$(workspaces.registry-ca.path)"  # buildah --cert-dir reads *.crt: the ConfigMap's ca.crt
    assert kube_objects.ca_config_map("hello-registry-ca", owner, "PEM")["data"] == {"ca.crt": "PEM"}


@pytest.fixture(scope="module")
def engine() -> Any:
    return pytest.importorskip("horizon_publisher.sandbox.kubeapi.schema")


def test_example_publication_validates_and_signs_the_pipeline_image(engine: Any) -> None:
    schema = CRDS["edgepublications"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    body = copy.deepcopy(PUBLICATION)
    engine.prune(schema, body)
    assert body == PUBLICATION, "fields the schema would drop"
    engine.apply_defaults(schema, body)
    assert [f"{e.field}: {e.message}" for e in engine.validate(schema, body, None)] == []
    assert run_params()["PUBLICATION_NAME"] == PUBLICATION["metadata"]["name"]
    assert "namespace" not in PUBLICATION["metadata"]  # it lands in the pipeline's namespace
    assert [ref["name"] for ref in PUBLICATION["spec"]["imageRefs"]] == [run_params()["IMAGE"]]
    assert set(PUBLICATION["spec"]["service"]["arches"]) <= set(SAMPLE_IMAGE["spec"]["image"]["arches"])


# ---- RBAC: exactly what the oc commands need -------------------------------------------------------------------


def oc_commands() -> Iterator[tuple[str, str]]:
    """(verb, resource plural) of every oc command in every step script."""
    plural = {crd["spec"]["names"]["singular"]: crd["spec"]["names"]["plural"] for crd in CRDS.values()}
    for task in TASKS.values():
        for step in task["spec"]["steps"]:
            script = step["script"].replace("\\\n", " ")
            for verb, rest in re.findall(r"\boc ([a-z-]+)\b(.*)", script):
                assert verb in OC_VERBS, f"{step['name']}: oc {verb} is not accounted for"
                if verb == "apply":
                    # what it applies: the publication manifest of the sources
                    assert "PUBLICATION" in rest
                    yield verb, plural[PUBLICATION["kind"].lower()]
                    continue
                named = re.search(r'"?(edge[a-z]+)(?:/|"? )', rest)
                assert named, f"{step['name']}: which resource does `oc {verb}{rest}` touch?"
                yield verb, plural[named[1]]


def test_role_grants_exactly_what_the_scripts_need() -> None:
    needed: dict[str, set[str]] = {}
    for verb, resource in oc_commands():
        needed.setdefault(resource, set()).update(OC_VERBS[verb])
    assert set(needed) == {"edgeserviceimages", "edgepublications"}
    granted: dict[str, set[str]] = {}
    for rule in DOCS[("Role", "edge-pipeline")]["rules"]:
        assert rule["apiGroups"] == ["edge.horizon.dev"]
        assert "resourceNames" not in rule or rule["resourceNames"]
        for resource in rule["resources"]:
            granted.setdefault(resource, set()).update(rule["verbs"])
    assert granted == needed


def test_bindings_tie_the_service_account_to_its_roles() -> None:
    account = DOCS[("ServiceAccount", "edge-pipeline")]["metadata"]
    subject = {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    own = DOCS[("RoleBinding", "edge-pipeline")]
    assert own["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "edge-pipeline"}
    scc = DOCS[("RoleBinding", "edge-pipeline-scc")]
    assert scc["roleRef"]["name"] == "pipelines-scc-clusterrole"
    for binding in (own, scc, DOCS[("Role", "edge-pipeline")]):
        assert binding["metadata"]["namespace"] == account["namespace"] == RUN["metadata"]["namespace"]
    assert own["subjects"] == scc["subjects"] == [subject]

