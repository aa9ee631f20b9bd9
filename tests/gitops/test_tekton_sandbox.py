"""The Tekton example's steps, run for real against a sandbox with the operator: the pipeline's service account
(rbac.yaml, nothing more) reads the EdgeServiceImage, the authfile step turns the operator's Secret into the
authfile buildah would use, skopeo pushes with it (buildah cannot run here: it is the one substitution), the
wait step sees the operator resolve the pushed digest, and the publish task's steps apply the example
EdgePublication and wait until it is Ready.

The push goes to the registry's 127.0.0.1:PORT address (skopeo cannot map the route host to it, and the
registry's certificate names that address too): exactly the Task's PUSH_HOST case, where the authfile must
carry the Secret's entry under the host pushed to, because registry clients look credentials up by the
reference's host (the token endpoint's realm plays no part in that lookup).
"""

from __future__ import annotations

import base64
import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from horizon_publisher.sandbox.images import BuiltImage, build_image
from tests.e2e.publication_support import EXCHANGE_CA, EXCHANGE_SECRET, Publisher, service_url
from tests.e2e.service_image_kube import configmap_path, secret_path
from tests.e2e.service_image_support import Cluster, cluster_with_operator, condition, service_image, unique
from tests.gitops.tekton import EXAMPLE, StepContext, documents, run_step

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]
DOCS = documents()
BUILD = DOCS[("Task", "edge-image-build-push")]
PUBLISH = DOCS[("Task", "edge-publish")]
ACCOUNT = "edge-pipeline"
TAG = "1.0.0"


def rbac_for(namespace: str) -> str:
    """rbac.yaml moved to ``namespace`` (the OpenShift Pipelines SCC binding is not part of it)."""
    docs = []
    for doc in yaml.safe_load_all((EXAMPLE / "rbac.yaml").read_text()):
        doc["metadata"]["namespace"] = namespace
        for subject in doc.get("subjects", []):
            subject["namespace"] = namespace
        docs.append(doc)
    return yaml.safe_dump_all(docs)


def account_kubeconfig(cluster: Cluster, namespace: str, path: Path) -> Path:
    """A kubeconfig that is the pipeline's service account, as a pod's mounted token would be."""
    token = cluster.sandbox.kubectl("create", "token", ACCOUNT, "-n", namespace).stdout.strip()
    kubernetes = cluster.sandbox.endpoints["kubernetes"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sandbox", "cluster": {"server": kubernetes["url"],
                                                     "certificate-authority": kubernetes["caFile"]}}],
        "users": [{"name": ACCOUNT, "user": {"token": token}}],
        "contexts": [{"name": ACCOUNT, "context": {"cluster": "sandbox", "user": ACCOUNT, "namespace": namespace}}],
        "current-context": ACCOUNT,
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def oc_shim(directory: Path) -> Path:
    """`oc` for the scripts: every subcommand they use behaves the same in kubectl."""
    directory.mkdir()
    shim = directory / "oc"
    shim.write_text('#!/bin/sh\nexec kubectl "$@"\n')
    shim.chmod(0o755)
    return directory


def mount_as_workspace(data: dict[str, str], directory: Path, *, encoded: bool) -> Path:
    """What the kubelet does with a Secret or ConfigMap workspace: one file per key."""
    directory.mkdir()
    for key, value in data.items():
        (directory / key).write_bytes(base64.b64decode(value) if encoded else value.encode())
    return directory


def write_oci_layout(directory: Path, image: BuiltImage, tag: str) -> Path:
    """An OCI image layout holding ``image`` under ``tag`` (what buildah bud leaves before the push)."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for blob in image.blobs:
        (blobs / blob.digest.removeprefix("sha256:")).write_bytes(blob.data)
    (blobs / image.digest.removeprefix("sha256:")).write_bytes(image.manifest)
    (directory / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    descriptor = {"mediaType": image.media_type, "digest": image.digest, "size": len(image.manifest),
                  "annotations": {"org.opencontainers.image.ref.name": tag}}
    (directory / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [descriptor]}))
    return directory


def skopeo_copy(
    layout: Path, target: str, *, authfile: Path, cert_dir: Path, scratch: Path
) -> subprocess.CompletedProcess[str]:
    """The build-push step's `buildah push`, done by skopeo with the same authfile, CA directory and target."""
    policy = scratch / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    return subprocess.run(
        ["skopeo", "--policy", str(policy), "copy", "--quiet", "--authfile", str(authfile),
         "--dest-cert-dir", str(cert_dir), "--digestfile", str(scratch / "digest"),
         f"oci:{layout}:{TAG}", f"docker://{target}"],
        capture_output=True, text=True, timeout=60, check=False,
    )


def example_publication(exchange: JSON, url: str) -> JSON:
    """edgepublication.yaml pointed at the sandbox Exchange; one arch (the image has one), a quick key."""
    doc = copy.deepcopy(DOCS[("EdgePublication", "hello")])
    doc["spec"]["exchange"].update(url=exchange["url"], org=exchange["org"],
                                   credentialsSecretRef={"name": EXCHANGE_SECRET},
                                   tls={"caRef": {"kind": "ConfigMap", "name": EXCHANGE_CA}})
    doc["spec"]["service"].update(url=url, arches=["amd64"])
    doc["spec"]["signing"]["generatedKey"] = {"bits": 2048}
    return doc


def can_i(kubeconfig: Path, verb: str, resource: str) -> str:
    result = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "auth", "can-i", verb, resource],
                            capture_output=True, text=True, timeout=30, check=False)
    return result.stdout.strip()


def test_pipeline_steps_push_and_publish_against_the_sandbox(tmp_path: Path) -> None:
    with cluster_with_operator(tmp_path / "sandbox") as cluster:
        namespace, project = cluster.namespace("tekton"), unique("tekton-images")
        cluster.sandbox.kubectl("apply", "-f", "-", input_text=rbac_for(namespace))
        cluster.apply(service_image("hello", namespace, project))
        kubeconfig = account_kubeconfig(cluster, namespace, tmp_path / "kubeconfig")
        registry = cluster.sandbox.endpoints["registry"]
        context = StepContext(
            params={"IMAGE": "hello", "WAIT_TIMEOUT": "60s", "PUSH_HOST": registry["address"]},
            workspaces={"source": tmp_path / "source"},
            results=tmp_path / "results",
            volumes={"auth": tmp_path / "auth"},
            env={"PATH": f"{oc_shim(tmp_path / 'bin')}:/usr/bin:/bin", "KUBECONFIG": str(kubeconfig)},
        )
        context.volumes["auth"].mkdir()

        run_step(BUILD, "read-target", context, tmp_path)
        results = {name: (context.results / name).read_text() for name in
                   ("REGISTRY_HOST", "REGISTRY_NAMESPACE", "IMAGE_NAME", "TAG", "ARCHES")}
        assert results == {"REGISTRY_HOST": registry["host"], "REGISTRY_NAMESPACE": project, "IMAGE_NAME": "hello",
                           "TAG": TAG, "ARCHES": "amd64"}

        secret = cluster.kube.get(secret_path(namespace, "hello-registry"))
        configmap = cluster.kube.get(configmap_path(namespace, "hello-registry-ca"))
        assert secret is not None
        assert configmap is not None
        context.workspaces["registry-credentials"] = mount_as_workspace(secret["data"], tmp_path / "creds",
                                                                        encoded=True)
        context.workspaces["registry-ca"] = mount_as_workspace(configmap["data"], tmp_path / "ca", encoded=False)
        run_step(BUILD, "write-authfile", context, tmp_path)
        authfile = context.volumes["auth"] / "auth.json"
        auths = json.loads(authfile.read_text())["auths"]
        assert sorted(auths) == sorted([registry["host"], registry["address"]])
        assert auths[registry["address"]] == auths[registry["host"]]
        assert authfile.stat().st_mode & 0o077 == 0

        built = build_image(f"{project}/hello_amd64", TAG, arch="amd64")
        layout = write_oci_layout(tmp_path / "layout", built, TAG)
        target = f"{registry['address']}/{results['REGISTRY_NAMESPACE']}/{results['IMAGE_NAME']}_amd64:{TAG}"
        ca_dir = context.workspaces["registry-ca"]
        # The Secret as it is, keyed by the route host only: nothing to send to the address, so the push fails.
        as_written = context.workspaces["registry-credentials"] / ".dockerconfigjson"
        refused = skopeo_copy(layout, target, authfile=as_written, cert_dir=ca_dir, scratch=tmp_path)
        assert refused.returncode != 0
        assert "HTTP 401" in refused.stderr
        pushing = skopeo_copy(layout, target, authfile=authfile, cert_dir=ca_dir, scratch=tmp_path)
        assert pushing.returncode == 0, f"skopeo copy to {target}: {pushing.stderr}"
        pushed = (tmp_path / "digest").read_text().strip()
        assert pushed == built.digest
        (context.results / "DIGESTS").write_text(f"amd64={pushed}")  # as build-push writes it

        run_step(BUILD, "wait-resolved", context, tmp_path)
        image = cluster.esi(namespace, "hello")
        assert image is not None
        [resolved] = image["status"]["images"]
        assert (resolved["arch"], resolved["digest"]) == ("amd64", pushed)
        # what the publication signs names the route host, not the host pushed to
        assert resolved["reference"] == f"{registry['host']}/{project}/hello_amd64:{TAG}"

        publisher = Publisher(cluster)
        try:
            publisher.prepare(namespace)
            manifest = context.workspaces["source"] / "deploy" / "edgepublication.yaml"
            manifest.parent.mkdir(parents=True)
            manifest.write_text(yaml.safe_dump(example_publication(publisher.endpoints, service_url("tekton"))))
            publish = StepContext(params={"PUBLICATION": "deploy/edgepublication.yaml", "NAME": "hello",
                                          "TIMEOUT": "60s"},
                                  workspaces={"source": context.workspaces["source"]},
                                  results=tmp_path / "publish-results", env=context.env)
            run_step(PUBLISH, "apply", publish, tmp_path)
            run_step(PUBLISH, "wait-ready", publish, tmp_path)
            publication = publisher.get(namespace, "hello")
        finally:
            publisher.close()
        assert publication is not None
        assert condition(publication, "Ready")["status"] == "True"
        [service] = publication["status"]["services"]
        assert [i["digest"] for i in service["images"]] == [pushed]

        # Least privilege, asked of the API server as the service account.
        assert can_i(kubeconfig, "get", "secrets") == "no"
        assert can_i(kubeconfig, "delete", "edgepublications.edge.horizon.dev") == "no"
        assert can_i(kubeconfig, "patch", "edgeserviceimages.edge.horizon.dev") == "no"
        assert can_i(kubeconfig, "patch", "edgepublications.edge.horizon.dev") == "yes"
