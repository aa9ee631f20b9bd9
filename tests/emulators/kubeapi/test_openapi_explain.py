"""``kubectl explain`` (kubectl 1.32, unmodified) against the emulator with the project's CRDs, and the
OpenAPI v3 documents it reads: GVK extensions, resolvable ``$ref``s, the structural-schema round trip."""

from __future__ import annotations

import copy
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from kubeapi_harness import CRDS, Client, widget_crd

from horizon_publisher.sandbox.kubeapi.api import ResourceType
from horizon_publisher.sandbox.kubeapi.certs import ServerCertificate
from horizon_publisher.sandbox.kubeapi.openapi import kind_schema
from horizon_publisher.sandbox.kubeapi.openapi_meta import API_VERSION_DESCRIPTION, OBJECT_META
from horizon_publisher.sandbox.kubeapi.runner import EmulatorThread

CRD_DIR = Path(__file__).resolve().parents[3] / "crds"
GVK = "x-kubernetes-group-version-kind"
Run = Callable[..., subprocess.CompletedProcess[str]]


def crd_schema(plural: str) -> dict[str, Any]:
    crd = yaml.safe_load((CRD_DIR / f"{plural}.yaml").read_text())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def field_schema(plural: str, path: str) -> dict[str, Any]:
    """The CRD schema node of ``spec.image`` (array fields: their items' properties are the children)."""
    node = crd_schema(plural)
    for name in path.split("."):
        node = (node.get("items") or node)["properties"][name]
    return node


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def explain_api(certificate: ServerCertificate) -> Iterator[EmulatorThread]:
    tls = (certificate.cert_file, certificate.key_file)
    with EmulatorThread(tls=tls, ca_file=certificate.ca_file) as api:
        client = Client(api.url, api.admin_token, verify=str(certificate.ca_file))
        for path in sorted(CRD_DIR.glob("*.yaml")):
            client.create(CRDS, yaml.safe_load(path.read_text()))
        yield api


@pytest.fixture(scope="module")
def http_tls(explain_api: EmulatorThread) -> Client:
    assert explain_api.ca_file is not None
    return Client(explain_api.url, explain_api.admin_token, verify=str(explain_api.ca_file))


@pytest.fixture(scope="module")
def run(explain_api: EmulatorThread, tmp_path_factory: pytest.TempPathFactory) -> Run:
    home = tmp_path_factory.mktemp("kubectl-home")
    config = explain_api.write_kubeconfig(home / "kubeconfig")
    env = {**os.environ, "KUBECONFIG": str(config), "HOME": str(home)}

    def kubectl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["kubectl", *args], capture_output=True, text=True, env=env, timeout=30, check=False)
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result

    return kubectl


def test_explain_kind_prints_header_crd_description_and_top_level_fields(run: Run) -> None:
    out = run("explain", "esi").stdout
    header = ["GROUP:      edge.horizon.dev", "KIND:       EdgeServiceImage", "VERSION:    v1alpha1"]
    assert out.splitlines()[:3] == header
    root = crd_schema("edgeserviceimages")
    assert words(root["description"]) in words(out)
    fields = [line for line in out.splitlines() if line.startswith("  ") and "\t" in line]
    assert fields == [
        "  apiVersion\t<string>",
        "  kind\t<string>",
        "  metadata\t<ObjectMeta>",
        "  spec\t<Object> -required-",
        "  status\t<Object>",
    ]
    # apiVersion/kind carry TypeMeta's standard text (as on a real server), not the CRD's shorter one
    assert words(API_VERSION_DESCRIPTION) in words(out)
    assert words(root["properties"]["spec"]["description"]) in words(out)


@pytest.mark.parametrize(
    ("argument", "plural", "path", "type_guess"),
    [
        ("esi.spec.registry.openshift.token.mode", "edgeserviceimages", "spec.registry.openshift.token.mode", "string"),
        ("edgeserviceimage.spec.image", "edgeserviceimages", "spec.image", "Object"),
        ("esi.spec.registry.openshift.role", "edgeserviceimages", "spec.registry.openshift.role", "string"),
        ("epub.status.conditions", "edgepublications", "status.conditions", "[]Object"),
        ("epub.status.conditions.status", "edgepublications", "status.conditions.status", "string"),
    ],
)
def test_explain_field_shows_type_enum_description_and_subfields(
    run: Run, argument: str, plural: str, path: str, type_guess: str
) -> None:
    out = run("explain", argument).stdout
    schema = field_schema(plural, path)
    assert f"FIELD: {path.rsplit('.', maxsplit=1)[-1]} <{type_guess}>" in out.splitlines()
    assert words(schema["description"]) in words(out)
    if "enum" in schema:  # the long view lists every value on its own line under ENUM:
        start = out.splitlines().index("ENUM:")
        assert out.splitlines()[start + 1 : start + 1 + len(schema["enum"])] == [f"    {v}" for v in schema["enum"]]
    children = (schema.get("items") or schema).get("properties", {})
    required = (schema.get("items") or schema).get("required", [])
    for name, child in children.items():
        marker = " -required-" if name in required else ""
        assert any(line.startswith(f"  {name}\t<") and line.endswith(marker) for line in out.splitlines()), name
        assert words(child["description"]) in words(out)


def type_guess(schema: dict[str, Any]) -> str:
    if "items" in schema:
        return "[]" + type_guess(schema["items"])
    if isinstance(schema.get("additionalProperties"), dict):
        return "map[string]" + type_guess(schema["additionalProperties"])
    return "Object" if schema.get("type", "object") == "object" else str(schema["type"])


def recursive_lines(schema: dict[str, Any], level: int) -> list[str]:
    """What ``--recursive`` prints for the fields under ``schema``, derived from the CRD itself."""
    lines = []
    for name, child in sorted(schema.get("properties", {}).items()):
        marker = " -required-" if name in schema.get("required", []) else ""
        lines.append(f"{'  ' * level}{name}\t<{type_guess(child)}>{marker}")
        if "enum" in child:
            values = ", ".join(child["enum"][:4]) + (", ...." if len(child["enum"]) > 4 else "")
            lines.append(f"{'  ' * level}enum: {values}")
        lines += recursive_lines(child, level + 1)
    for nested in (schema.get("items"), schema.get("additionalProperties")):
        if isinstance(nested, dict):
            lines += recursive_lines(nested, level)
    return lines


@pytest.mark.parametrize(
    ("argument", "plural", "path"),
    [("edgeserviceimage.spec", "edgeserviceimages", "spec"), ("epub.status", "edgepublications", "status")],
)
def test_explain_recursive_lists_every_field_of_the_crd(run: Run, argument: str, plural: str, path: str) -> None:
    out = run("explain", argument, "--recursive").stdout.splitlines()
    listed = [line for line in out[out.index("FIELDS:") + 1 :] if line.strip()]
    assert listed == recursive_lines(field_schema(plural, path), 1)


def test_explain_follows_refs_into_object_meta(run: Run) -> None:
    out = run("explain", "esi.metadata.ownerReferences").stdout.splitlines()
    assert "FIELD: ownerReferences <[]OwnerReference>" in out
    assert "  uid\t<string> -required-" in out
    recursive = run("explain", "epub", "--recursive").stdout.splitlines()
    assert "  metadata\t<ObjectMeta>" in recursive
    assert "    creationTimestamp\t<string>" in recursive  # Time resolves to a string, as on a real server
    assert "      fieldsV1\t<FieldsV1>" in recursive


def test_explain_unknown_field_is_the_real_error(run: Run) -> None:
    result = run("explain", "esi.spec.nope", check=False)
    assert result.returncode != 0
    assert 'field "nope" does not exist' in result.stderr


def test_v3_documents_are_self_contained_and_carry_each_gvk_once(http_tls: Client) -> None:
    index = http_tls.read("/openapi/v3")["paths"]
    document = http_tls.read(index["apis/edge.horizon.dev/v1alpha1"]["serverRelativeURL"])
    schemas = document["components"]["schemas"]
    refs = [value for value in walk(document) if isinstance(value, str) and value.startswith("#/")]
    assert refs
    assert all(ref.removeprefix("#/components/schemas/") in schemas for ref in refs)
    for operations in document["paths"].values():
        gvk = operations["patch"][GVK]
        carriers = [name for name, schema in schemas.items() if gvk in schema.get(GVK, [])]
        assert carriers == [f"dev.horizon.edge.v1alpha1.{gvk['kind']}"]
        # unchanged: kubectl must keep sending JSON merge patches and server-side fieldValidation
        assert "application/strategic-merge-patch+json" not in operations["patch"]["requestBody"]["content"]
        assert operations["patch"]["parameters"][0]["name"] == "fieldValidation"
    image = schemas["dev.horizon.edge.v1alpha1.EdgeServiceImage"]
    assert image["properties"]["metadata"]["allOf"] == [{"$ref": f"#/components/schemas/{OBJECT_META}"}]
    assert schemas["dev.horizon.edge.v1alpha1.EdgeServiceImageList"][GVK][0]["kind"] == "EdgeServiceImageList"
    assert "components" not in index  # the index stays an index
    core = http_tls.read(index["api/v1"]["serverRelativeURL"])
    assert core["components"]["schemas"] == {}  # built-in kinds publish no schema (documented gap)


def walk(value: Any) -> Iterator[Any]:
    yield value
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        yield from walk(child)


def test_v3_index_hash_changes_when_a_crd_schema_changes(http_tls: Client) -> None:
    crd = http_tls.create(CRDS, widget_crd())
    before = http_tls.read("/openapi/v3")["paths"]["apis/example.com/v1"]["serverRelativeURL"]
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["description"] = "changed"
    http_tls.ok(http_tls.put(f"{CRDS}/widgets.example.com", crd), 200)
    after = http_tls.read("/openapi/v3")["paths"]["apis/example.com/v1"]["serverRelativeURL"]
    assert before != after
    spec = http_tls.read(after)["components"]["schemas"]["com.example.v1.Widget"]["properties"]["spec"]
    assert spec["description"] == "changed"


def test_kubectl_apply_parses_the_document_and_still_merge_patches_crs(run: Run, tmp_path: Path) -> None:
    """kubectl's kube-openapi parser must accept the document: a parse error logs 'path does not exist'."""
    sample = yaml.safe_load((CRD_DIR.parent / "deploy/samples/10-edgeserviceimage-openshift.yaml").read_text())
    sample["metadata"]["namespace"] = "default"
    manifest = tmp_path / "esi.yaml"
    manifest.write_text(yaml.safe_dump(sample))
    run("apply", "-f", str(manifest))
    sample["metadata"]["labels"] = {"changed": "yes"}
    manifest.write_text(yaml.safe_dump(sample))
    result = run("apply", "-f", str(manifest), "-v=5")
    assert "configured" in result.stdout
    assert "OpenAPI V3 path does not support strategic merge patch - group: edge.horizon.dev" in result.stderr
    assert "does not exist for OpenAPI V3" not in result.stderr


def resource(schema: dict[str, Any]) -> ResourceType:
    return ResourceType("example.com", "v1", "things", "Thing", True, "thing", schema=schema)


@pytest.mark.parametrize(
    ("field", "published"),
    [
        # Go drops zero values and keys the structural schema does not know
        ({"type": "string", "example": "x", "x-kubernetes-preserve-unknown-fields": False}, {"type": "string"}),
        ({"type": "integer", "minimum": 0, "default": 0, "nullable": False},
         {"type": "integer", "minimum": 0, "default": 0}),
        # int-or-string is unfolded into anyOf, or prepended to allOf when anyOf is taken
        ({"x-kubernetes-int-or-string": True},
         {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}),
        ({"x-kubernetes-int-or-string": True, "anyOf": [{"maximum": 3}]},
         {"x-kubernetes-int-or-string": True, "anyOf": [{"maximum": 3}],
          "allOf": [{"anyOf": [{"type": "integer"}, {"type": "string"}]}]}),
        ({"type": "string", "x-kubernetes-validations": [{"rule": "self != ''", "messageExpression": ""}]},
         {"type": "string", "x-kubernetes-validations": [{"rule": "self != ''"}]}),
    ],
)  # fmt: skip
def test_structural_round_trip_of_a_field(field: dict[str, Any], published: dict[str, Any]) -> None:
    schema = {"type": "object", "properties": {"field": field}}
    original = copy.deepcopy(schema)
    assert kind_schema(resource(schema))["properties"]["field"] == published
    assert schema == original  # the stored CRD schema is never modified


def test_embedded_resources_gain_type_and_object_meta() -> None:
    template_schema = {"type": "object", "x-kubernetes-embedded-resource": True, "required": ["kind"],
                       "x-kubernetes-preserve-unknown-fields": True}  # fmt: skip
    schema: dict[str, Any] = {"type": "object", "properties": {"template": template_schema}}
    template = kind_schema(resource(schema))["properties"]["template"]
    assert set(template["properties"]) == {"apiVersion", "kind", "metadata"}
    assert template["required"] == ["kind", "apiVersion"]
    assert template["properties"]["apiVersion"]["description"].startswith("apiVersion defines")
    assert schema["properties"]["template"]["required"] == ["kind"]


SCALARS = st.sampled_from(
    [{"type": "string"}, {"type": "integer", "minimum": 0}, {"type": "boolean", "default": False}]
)
SCHEMAS = st.recursive(
    SCALARS | st.fixed_dictionaries({"x-kubernetes-int-or-string": st.just(True)}),
    lambda inner: (
        st.fixed_dictionaries(
            {"type": st.just("object"), "properties": st.dictionaries(st.text(min_size=1), inner, max_size=3)}
        )
        | st.fixed_dictionaries({"type": st.just("array"), "items": inner, "example": st.just([])})
    ),
    max_leaves=8,
)


@given(SCHEMAS)
def test_publishing_is_idempotent_and_keeps_only_structural_keys(spec: dict[str, Any]) -> None:
    once = kind_schema(resource({"type": "object", "properties": {"spec": spec}}))
    twice = kind_schema(resource({k: v for k, v in once.items() if k != GVK}))
    assert twice == once
    assert not any(isinstance(node, dict) and "example" in node for node in walk(once))
