"""The two CRDs and the samples: names, schema hygiene, status shape, printer columns, CEL rules.

The static checks read the YAML only. The validation checks run the sandbox's own schema engine
(``sandbox/kubeapi/schema.py`` + ``cel.py``): the same code that answers 422 to kubectl and kopf.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import re2
import yaml

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "deploy" / "samples").glob("*.yaml"))
GROUP = "edge.horizon.dev"
API_VERSION = f"{GROUP}/v1alpha1"
CORE_KINDS = {("v1", "Namespace"), ("v1", "Secret"), ("v1", "ConfigMap")}
# FieldValueDuplicate is allowed by the API server but drops the message (field.Duplicate has no detail).
CEL_REASONS = {"FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired"}
TYPES = {"object", "array", "string", "integer", "number", "boolean"}

JSON = dict[str, Any]


def load_crd(plural: str) -> JSON:
    crd = yaml.safe_load((ROOT / "crds" / f"{plural}.yaml").read_text())
    assert isinstance(crd, dict)
    return crd


CRDS = {kind: load_crd(plural) for kind, plural in [("EdgeServiceImage", "edgeserviceimages"),
                                                    ("EdgePublication", "edgepublications")]}


def schema_of(kind: str) -> JSON:
    schema = CRDS[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert isinstance(schema, dict)
    return schema


def walk(node: JSON, path: str = "") -> Iterator[tuple[str, JSON]]:
    """Every schema node with its dotted path; list items are `[]`, map values `{}`."""
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if "items" in node:
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


def node_at(schema: JSON, path: str) -> JSON:
    """The schema node of a dotted path such as `.spec.image.arches[]`."""
    node = schema
    for part in re.findall(r"\.([A-Za-z0-9_]+)|(\[\])", path):
        node = node["properties"][part[0]] if part[0] else node["items"]
    return node


def all_nodes() -> list[tuple[str, str, JSON]]:
    return [(kind, path, node) for kind in CRDS for path, node in walk(schema_of(kind))]


ALL_NODES = all_nodes()


# ---- names and versions --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("kind", "plural", "singular", "short_names"),
    [
        ("EdgeServiceImage", "edgeserviceimages", "edgeserviceimage", ["esi", "edgeimg"]),
        ("EdgePublication", "edgepublications", "edgepublication", ["epub", "edgepub"]),
    ],
)
def test_names_group_scope_version(kind: str, plural: str, singular: str, short_names: list[str]) -> None:
    crd = CRDS[kind]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == f"{plural}.{GROUP}"
    spec = crd["spec"]
    assert (spec["group"], spec["scope"]) == (GROUP, "Namespaced")
    assert spec["names"] == {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": singular,
                             "shortNames": short_names, "categories": ["horizon"]}
    [version] = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}


def test_short_names_are_unique_across_kinds() -> None:
    names = [n for crd in CRDS.values() for n in crd["spec"]["names"]["shortNames"]]
    assert len(names) == len(set(names))


# ---- schema hygiene: every node ------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "path", "node"), ALL_NODES, ids=[f"{k}{p}" for k, p, _ in ALL_NODES])
def test_every_node_is_typed_and_described(kind: str, path: str, node: JSON) -> None:
    if path == ".metadata":
        # The API server refuses anything but the type here (not even a description).
        assert node == {"type": "object"}
        return
    assert node.get("description", "").strip(), f"{kind}{path} has no description"
    typed = node.get("type") in TYPES
    assert typed or node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields")
    if node.get("type") == "array":
        assert "items" in node
    if "properties" in node or "additionalProperties" in node:
        assert node["type"] == "object"
        assert not ("properties" in node and "additionalProperties" in node)


SPEC_NODES = [(k, p, n) for k, p, n in ALL_NODES if p.startswith(".spec")]


@pytest.mark.parametrize(("kind", "path", "node"), SPEC_NODES, ids=[f"{k}{p}" for k, p, _ in SPEC_NODES])
def test_spec_strings_lists_and_maps_are_bounded(kind: str, path: str, node: JSON) -> None:
    """Bounds keep CEL cost estimates low and huge hostile specs out."""
    if node.get("type") == "string":
        assert "maxLength" in node or "enum" in node, f"{kind}{path}"
    if node.get("type") == "array":
        assert "maxItems" in node, f"{kind}{path}"
    if isinstance(node.get("additionalProperties"), dict):
        assert "maxProperties" in node, f"{kind}{path}"


PATTERN_NODES = [(k, p, n) for k, p, n in ALL_NODES if "pattern" in n]


@pytest.mark.parametrize(("kind", "path", "node"), PATTERN_NODES, ids=[f"{k}{p}" for k, p, _ in PATTERN_NODES])
def test_patterns_are_anchored_re2(kind: str, path: str, node: JSON) -> None:
    pattern = node["pattern"]
    assert pattern.startswith("^"), f"{kind}{path}"
    assert pattern.endswith("$"), f"{kind}{path}"
    re2.compile(pattern)  # the API server uses Go's RE2: no lookarounds, no backreferences


def value_problems(node: JSON, value: Any) -> list[str]:
    """A small checker for defaults: type, enum, pattern, bounds, nested defaults of objects."""
    kind = node.get("type")
    checks = {"string": str, "boolean": bool, "integer": int, "array": list, "object": dict}
    if kind in checks and not isinstance(value, checks[kind]):
        return [f"{value!r} is not {kind}"]
    problems = []
    if "enum" in node and value not in node["enum"]:
        problems.append(f"{value!r} not in enum")
    if "pattern" in node and not re.search(node["pattern"], value):
        problems.append(f"{value!r} does not match")
    if isinstance(value, int) and not node.get("minimum", value) <= value <= node.get("maximum", value):
        problems.append(f"{value!r} out of bounds")
    if kind == "array":
        problems += [p for item in value for p in value_problems(node["items"], item)]
    if kind == "object":
        problems += [p for k, v in value.items() for p in value_problems(node["properties"][k], v)]
    return problems


DEFAULT_NODES = [(k, p, n) for k, p, n in ALL_NODES if "default" in n]


@pytest.mark.parametrize(("kind", "path", "node"), DEFAULT_NODES, ids=[f"{k}{p}" for k, p, _ in DEFAULT_NODES])
def test_defaults_satisfy_their_own_schema(kind: str, path: str, node: JSON) -> None:
    assert not value_problems(node, node["default"]), f"{kind}{path}"
    assert not path.startswith(".status"), "status is the operator's; defaults there hide bugs"


RULE_NODES = [(k, p, n) for k, p, n in ALL_NODES if "x-kubernetes-validations" in n]


@pytest.mark.parametrize(("kind", "path", "node"), RULE_NODES, ids=[f"{k}{p}" for k, p, _ in RULE_NODES])
def test_cel_rules_have_message_reason_and_a_real_field_path(kind: str, path: str, node: JSON) -> None:
    for rule in node["x-kubernetes-validations"]:
        assert rule["rule"].strip()
        assert rule["message"].strip()
        assert rule.get("reason", "FieldValueInvalid") in CEL_REASONS
        if "fieldPath" in rule:
            node_at(node, rule["fieldPath"])  # KeyError when the path names no declared field


def test_preserve_unknown_fields_only_inside_free_form_values() -> None:
    allowed = re.compile(r"\.spec\.service\.deployment(\.services\{\})?$|\.value$")
    loose = [f"{k}{p}" for k, p, n in ALL_NODES if n.get("x-kubernetes-preserve-unknown-fields")]
    assert loose
    assert all(allowed.search(p) for p in loose), loose


# ---- status --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", CRDS)
def test_status_conditions_have_the_metav1_condition_shape(kind: str) -> None:
    status = schema_of(kind)["properties"]["status"]
    assert status["properties"]["observedGeneration"]["type"] == "integer"
    conditions = status["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    item = conditions["items"]
    assert set(item["required"]) >= {"type", "status", "lastTransitionTime", "reason"}
    fields = item["properties"]
    assert fields["status"]["enum"] == ["True", "False", "Unknown"]
    assert fields["lastTransitionTime"]["format"] == "date-time"
    assert fields["observedGeneration"]["type"] == "integer"
    assert {"message", "reason", "type"} <= set(fields)


@pytest.mark.parametrize(("kind", "path"), [
    ("EdgeServiceImage", ".status.registry.host"),
    ("EdgeServiceImage", ".status.credentials.tokenExpirationTime"),
    ("EdgeServiceImage", ".status.images[].pinnedReference"),
    ("EdgeServiceImage", ".status.retry.attempts"),
    ("EdgePublication", ".status.services[].id"),
    ("EdgePublication", ".status.services[].dockAuths[].id"),
    ("EdgePublication", ".status.signing.keyId"),
    ("EdgePublication", ".status.pattern.id"),
    ("EdgePublication", ".status.deploymentPolicy.id"),
])
def test_result_fields_are_declared_so_pruning_keeps_them(kind: str, path: str) -> None:
    assert node_at(schema_of(kind), path)["description"]


def test_no_status_field_could_hold_a_token() -> None:
    suspicious = re.compile(r"(token|password|apikey|privatekey)$", re.IGNORECASE)
    assert not [f"{k}{p}" for k, p, _ in ALL_NODES if p.startswith(".status") and suspicious.search(p)]


# ---- printer columns -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", CRDS)
def test_printer_columns_read_ready_and_resolve_to_declared_fields(kind: str) -> None:
    columns = CRDS[kind]["spec"]["versions"][0]["additionalPrinterColumns"]
    by_name = {c["name"]: c for c in columns}
    assert by_name["Ready"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    assert by_name["Reason"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].reason'
    assert by_name["Age"] == {**by_name["Age"], "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    assert len([c for c in columns if c.get("priority", 0) == 0]) >= 5  # Ready, Reason, Age + own ones
    for column in columns:
        if column["name"] != "Age":
            node = node_at(schema_of(kind), re.sub(r"\[\?\(.*?\)\]", "[]", column["jsonPath"]))
            assert node["type"] == column["type"], column


# ---- samples -------------------------------------------------------------------------------------

def sample_docs() -> list[tuple[str, JSON]]:
    return [(p.name, d) for p in SAMPLES for d in yaml.safe_load_all(p.read_text()) if d]


DOCS = sample_docs()


def objects(kind: str) -> dict[str, JSON]:
    return {d["metadata"]["name"]: d for _, d in DOCS if d["kind"] == kind}


def test_samples_start_with_the_demo_pair() -> None:
    kinds = [(d["kind"], d["metadata"]["name"]) for _, d in DOCS]
    assert kinds[:4] == [("Namespace", "horizon-demo"), ("EdgeServiceImage", "hello"),
                         ("Secret", "exchange-credentials"), ("EdgePublication", "hello")]
    assert "openshift" in objects("EdgeServiceImage")["hello"]["spec"]["registry"]


@pytest.mark.parametrize(("file", "doc"), DOCS, ids=[f"{f}:{d['metadata']['name']}" for f, d in DOCS])
def test_sample_is_a_kind_we_define_or_a_core_kind(file: str, doc: JSON) -> None:
    ours = doc["apiVersion"] == API_VERSION and doc["kind"] in CRDS
    assert ours or (doc["apiVersion"], doc["kind"]) in CORE_KINDS, file
    if doc["kind"] != "Namespace":
        assert doc["metadata"]["namespace"] == "horizon-demo"


def test_samples_cover_every_provider_and_both_publication_styles() -> None:
    providers = {next(iter(d["spec"]["registry"])) for d in objects("EdgeServiceImage").values()}
    assert providers == {"openshift", "ibmCloud", "generic"}
    pubs = objects("EdgePublication").values()
    assert any("pattern" in p["spec"] for p in pubs)
    assert any("deploymentPolicy" in p["spec"] for p in pubs)
    assert any("deployment" in p["spec"]["service"] for p in pubs)
    assert any("horizonFilesRef" in p["spec"]["service"] for p in pubs)


def test_sample_secrets_hold_only_marked_placeholders() -> None:
    for path in SAMPLES:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == "Secret"]
        if docs:
            assert "PLACEHOLDER" in path.read_text(), path.name
        for doc in docs:
            values = list(doc["stringData"].values())
            assert "data" not in doc, path.name
            assert any("REPLACE-ME" in v for v in values), path.name


def test_sample_dockerconfigjson_is_valid_for_its_registry() -> None:
    secret = objects("Secret")["registry-example-com"]
    auths = json.loads(secret["stringData"][".dockerconfigjson"])["auths"]
    host = objects("EdgeServiceImage")["sensor"]["spec"]["registry"]["generic"]["host"]
    entry = auths[host]
    assert base64.b64decode(entry["auth"]).decode() == f"{entry['username']}:{entry['password']}"


REFERENCES: list[tuple[str, str, Callable[[JSON], str | None]]] = [
    ("EdgePublication", "Secret", lambda s: s["exchange"]["credentialsSecretRef"]["name"]),
    ("EdgePublication", "ConfigMap", lambda s: s["service"].get("horizonFilesRef", {}).get("name")),
    ("EdgeServiceImage", "Secret", lambda s: s["registry"].get("ibmCloud", {}).get("apiKeySecretRef", {}).get("name")),
    ("EdgeServiceImage", "Secret",
     lambda s: s["registry"].get("generic", {}).get("credentialsSecretRef", {}).get("name")),
    ("EdgeServiceImage", "ConfigMap",
     lambda s: s["registry"].get("generic", {}).get("tls", {}).get("caRef", {}).get("name")),
]


@pytest.mark.parametrize(("owner", "target", "get"), REFERENCES)
def test_sample_references_resolve(owner: str, target: str, get: Callable[[JSON], str | None]) -> None:
    names = [n for n in (get(o["spec"]) for o in objects(owner).values()) if n]
    assert names
    assert set(names) <= set(objects(target)), names


def test_sample_publications_name_existing_images_and_signing_keys_are_generated_or_documented() -> None:
    images = objects("EdgeServiceImage")
    for name, pub in objects("EdgePublication").items():
        assert {r["name"] for r in pub["spec"]["imageRefs"]} <= set(images), name
        key = pub["spec"]["signing"]
        assert key["generateIfMissing"] or f"create secret generic {key['keySecretRef']['name']}" in \
            (ROOT / "deploy" / "samples" / "51-edgepublication-deployment-policy.yaml").read_text()


def expand(text: str, variables: dict[str, str]) -> str:
    """hzn's os.Expand over the file text ($VAR and ${VAR})."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: variables[m.group(1) or m.group(2)], text)


def test_sample_horizon_files_agree_with_the_publication() -> None:
    pub = objects("EdgePublication")["weather"]["spec"]
    files = objects("ConfigMap")[pub["service"]["horizonFilesRef"]["name"]]["data"]
    hzn = json.loads(files["hzn.json"])
    variables = {"HZN_ORG_ID": hzn["HZN_ORG_ID"], **hzn["MetadataVars"], "ARCH": "amd64"}
    definition = json.loads(expand(files["service.definition.json"], variables))
    assert (definition["url"], definition["org"]) == (pub["service"]["url"], pub["exchange"]["org"])
    image = objects("EdgeServiceImage")["weather"]["spec"]
    assert image["image"]["name"] in definition["deployment"]["services"]
    assert definition["deployment"]["services"]["weather"]["image"].startswith(
        f"{image['registry']['ibmCloud']['host']}/{image['registry']['ibmCloud']['namespace']}/weather_amd64:")


# ---- patterns, table-driven ----------------------------------------------------------------------

PATTERN_CASES = [
    ("EdgeServiceImage", ".spec.image.name", "hello", True),
    ("EdgeServiceImage", ".spec.image.name", "my_service.v2", True),
    ("EdgeServiceImage", ".spec.image.name", "Hello", False),
    ("EdgeServiceImage", ".spec.image.name", "a__b", False),
    ("EdgeServiceImage", ".spec.image.name", "team/hello", False),
    ("EdgeServiceImage", ".spec.image.tag", "1.2.3", True),
    ("EdgeServiceImage", ".spec.image.tag", "1.2.3@sha256:" + "a" * 64, False),
    ("EdgeServiceImage", ".spec.image.tag", ".hidden", False),
    ("EdgeServiceImage", ".spec.registry.openshift.project", "edge-images", True),
    ("EdgeServiceImage", ".spec.registry.openshift.project", "Edge_Images", False),
    ("EdgeServiceImage", ".spec.registry.ibmCloud.host", "us.icr.io", True),
    ("EdgeServiceImage", ".spec.registry.ibmCloud.host", "icr.io", True),
    ("EdgeServiceImage", ".spec.registry.ibmCloud.host", "private.jp2.icr.io", True),
    ("EdgeServiceImage", ".spec.registry.ibmCloud.host", "evil.example.com", False),
    ("EdgeServiceImage", ".spec.registry.ibmCloud.namespace", "my-ns_1", True),
    ("EdgeServiceImage", ".spec.registry.ibmCloud.namespace", "ns", False),
    ("EdgeServiceImage", ".spec.registry.generic.host", "registry.example.com:5000", True),
    ("EdgeServiceImage", ".spec.registry.generic.host", "127.0.0.1:41234", True),
    ("EdgeServiceImage", ".spec.registry.generic.host", "[::1]:5000", True),
    ("EdgeServiceImage", ".spec.registry.generic.host", "https://registry.example.com", False),
    ("EdgeServiceImage", ".spec.registry.generic.host", "registry.example.com/path", False),
    ("EdgeServiceImage", ".spec.image.source.reference", "quay.io/team/svc_{arch}:1.0", True),
    ("EdgeServiceImage", ".spec.image.source.reference", "nginx@sha256:" + "0" * 64, True),
    ("EdgeServiceImage", ".spec.image.source.reference", "reg:5000/a/b:t@sha256:" + "f" * 64, True),
    ("EdgeServiceImage", ".spec.image.source.reference", "reg:5000/a/b", False),
    ("EdgeServiceImage", ".spec.image.source.reference", "quay.io/team/svc:1.0; rm -rf /", False),
    ("EdgePublication", ".spec.exchange.url", "https://exchange.example.com/edge-exchange/v1", True),
    ("EdgePublication", ".spec.exchange.url", "ftp://exchange.example.com", False),
    ("EdgePublication", ".spec.exchange.url", "https://exchange.example.com/v1?x=1", False),
    ("EdgePublication", ".spec.exchange.org", "e2edev@somecomp.com", True),
    ("EdgePublication", ".spec.exchange.org", "../root", False),
    ("EdgePublication", ".spec.exchange.org", "my org", False),
    ("EdgePublication", ".spec.service.url", "https://github.com/open-horizon/examples/gps", True),
    ("EdgePublication", ".spec.service.url", "com.example.hello", True),
    ("EdgePublication", ".spec.service.url", "svc?id=1#x", False),
    ("EdgePublication", ".spec.service.url", "svc/..", False),
    ("EdgePublication", ".spec.service.version", "1.0.0", True),
    ("EdgePublication", ".spec.service.version", "2", True),
    ("EdgePublication", ".spec.service.version", "1.0.0-beta", False),
    ("EdgePublication", ".spec.service.version", "v1", False),
    ("EdgePublication", ".spec.service.requiredServices[].versionRange", "[1.0.0,INFINITY)", True),
    ("EdgePublication", ".spec.service.requiredServices[].versionRange", "(1,2.0]", True),
    ("EdgePublication", ".spec.service.requiredServices[].versionRange", "[1.0.0,", False),
    ("EdgePublication", ".spec.service.userInput[].name", "HW_WHO", True),
    ("EdgePublication", ".spec.service.userInput[].name", "HW-WHO", False),
]


@pytest.mark.parametrize(("kind", "path", "value", "ok"), PATTERN_CASES)
def test_field_patterns(kind: str, path: str, value: str, ok: bool) -> None:
    node = node_at(schema_of(kind), path)
    assert (re2.search(node["pattern"], value) is not None) is ok


# ---- validation with the sandbox's schema engine -------------------------------------------------

@pytest.fixture(scope="module")
def engine() -> Any:
    return pytest.importorskip("horizon_publisher.sandbox.kubeapi.schema")


def sample(kind: str, name: str) -> JSON:
    return copy.deepcopy(objects(kind)[name])


def at(obj: JSON, path: str) -> Any:
    for part in path.split("."):
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj


def put(path: str, value: Any) -> Callable[[JSON], None]:
    parent, _, leaf = path.rpartition(".")
    return lambda obj: at(obj, parent).__setitem__(leaf, copy.deepcopy(value))


def drop(path: str) -> Callable[[JSON], None]:
    parent, _, leaf = path.rpartition(".")
    return lambda obj: at(obj, parent).pop(leaf)


def chain(*steps: Callable[[JSON], None]) -> Callable[[JSON], None]:
    return lambda obj: [step(obj) for step in steps] and None


def admitted(engine: Any, kind: str, obj: JSON, old: JSON | None = None) -> list[str]:
    """Prune, default and validate as the API server does on create (old None) or update."""
    schema = schema_of(kind)
    for body in (obj, old):
        if body is not None:
            engine.prune(schema, body)
            engine.apply_defaults(schema, body)
    return [f"{e.field}: {e.message}" for e in engine.validate(schema, obj, old)]


def cel_compile_problems(schema: JSON) -> list[str]:
    for module in ("cel", "cel_check"):
        found = getattr(pytest.importorskip(f"horizon_publisher.sandbox.kubeapi.{module}"), "compile_problems", None)
        if found is not None:
            return list(found(schema))
    raise AssertionError("no compile_problems in the sandbox's CEL modules")


@pytest.mark.parametrize("kind", CRDS)
def test_crds_are_structural_and_their_rules_compile(engine: Any, kind: str) -> None:
    assert engine.structural_problems(schema_of(kind)) == []
    assert cel_compile_problems(schema_of(kind)) == []


OURS = [(f, d) for f, d in DOCS if d["kind"] in CRDS]


@pytest.mark.parametrize(("file", "doc"), OURS, ids=[f for f, _ in OURS])
def test_samples_validate_and_every_sample_field_is_declared(engine: Any, file: str, doc: JSON) -> None:
    pruned = copy.deepcopy(doc)
    engine.prune(schema_of(doc["kind"]), pruned)
    assert pruned == doc, f"{file}: fields the schema would drop"
    assert admitted(engine, doc["kind"], copy.deepcopy(doc)) == []


@pytest.mark.parametrize(("path", "expected"), [
    ("spec.registry.openshift.adoptExistingNamespace", False),
    ("spec.registry.openshift.serviceAccountName", "edge-publisher"),
    ("spec.registry.openshift.role", "edit"),
    ("spec.registry.openshift.ensureDefaultRoute", True),
    ("spec.registry.openshift.token.mode", "Rotating"),
    ("spec.registry.openshift.token.expirationSeconds", 86400),
    ("spec.image.arches", ["amd64"]),
    ("spec.image.layout", "PerArchRepository"),
    ("spec.image.followTag", True),
    ("spec.image.pollIntervalSeconds", 300),
    ("spec.deletionPolicy", "Delete"),
    ("spec.suspend", False),
])
def test_minimal_image_gets_its_defaults(engine: Any, path: str, expected: Any) -> None:
    obj = {"apiVersion": API_VERSION, "kind": "EdgeServiceImage", "metadata": {"name": "x", "namespace": "n"},
           "spec": {"registry": {"openshift": {"project": "p1"}}, "image": {"name": "x", "tag": "1"}}}
    assert admitted(engine, "EdgeServiceImage", obj) == []
    assert at(obj, path) == expected


@pytest.mark.parametrize(("path", "expected"), [
    ("spec.exchange.credentialsSecretRef.usernameKey", "username"),
    ("spec.exchange.credentialsSecretRef.passwordKey", "password"),
    ("spec.signing.keySecretRef.privateKeyKey", "service.private.key"),
    ("spec.signing.keySecretRef.publicKeyKey", "service.public.pem"),
    ("spec.signing.generateIfMissing", False),
    ("spec.registryCredentials", {"publish": True, "verify": True}),
    ("spec.deletionPolicy", "Delete"),
])
def test_minimal_publication_gets_its_defaults(engine: Any, path: str, expected: Any) -> None:
    obj = {"apiVersion": API_VERSION, "kind": "EdgePublication", "metadata": {"name": "x", "namespace": "n"},
           "spec": {"exchange": {"url": "https://e.example.com/v1", "org": "o",
                                 "credentialsSecretRef": {"name": "c"}},
                    "imageRefs": [{"name": "x"}], "signing": {"keySecretRef": {"name": "k"}},
                    "service": {"url": "s", "version": "1.0.0", "deployment": {"services": {"x": {}}}}}}
    assert admitted(engine, "EdgePublication", obj) == []
    assert at(obj, path) == expected


# (id, kind, sample, change, field of the error, text in the message)
CREATE_CASES: list[tuple[str, str, str, Callable[[JSON], None], str, str]] = [
    ("two-providers", "EdgeServiceImage", "hello",
     put("spec.registry.generic", {"host": "r.example.com"}), "spec.registry", "exactly one registry provider"),
    ("no-provider", "EdgeServiceImage", "hello", put("spec.registry", {}), "spec.registry",
     "exactly one registry provider"),
    ("reserved-project", "EdgeServiceImage", "hello", put("spec.registry.openshift.project", "openshift-x"),
     "spec.registry.openshift.project", "are reserved"),
    ("short-rotating-token", "EdgeServiceImage", "hello",
     put("spec.registry.openshift.token.expirationSeconds", 599),
     "spec.registry.openshift.token.expirationSeconds", "expirationSeconds >= 600"),
    ("ca-and-insecure", "EdgeServiceImage", "sensor", put("spec.registry.generic.tls.insecureSkipTLSVerify", True),
     "spec.registry.generic.tls.caRef", "mutually exclusive"),
    ("arch-placeholder-with-index", "EdgeServiceImage", "sensor",
     put("spec.image.source.reference", "quay.io/x/s_{arch}:1"), "spec.image.source.reference",
     "needs layout PerArchRepository"),
    ("long-name", "EdgeServiceImage", "hello", put("metadata.name", "x" * 64), "", "at most 63 characters"),
    ("deployment-and-files", "EdgePublication", "hello", put("spec.service.horizonFilesRef", {"name": "f"}),
     "spec.service", "exactly one of deployment or horizonFilesRef"),
    ("neither-deployment-nor-files", "EdgePublication", "hello", drop("spec.service.deployment"),
     "spec.service", "exactly one of deployment or horizonFilesRef"),
    ("inline-without-version", "EdgePublication", "hello", drop("spec.service.version"),
     "spec.service.version", "version is required"),
    ("version-and-range", "EdgePublication", "hello",
     put("spec.service.requiredServices", [{"url": "dep", "version": "1.0.0", "versionRange": "[1.0.0,2.0.0)"}]),
     "spec.service.requiredServices[0]", "exactly one of version or versionRange"),
    ("container-filled-twice", "EdgePublication", "hello",
     put("spec.imageRefs", [{"name": "hello", "containers": ["a", "b"]}, {"name": "weather", "containers": ["b"]}]),
     "spec.imageRefs", "only one image"),
    ("builtin-service-property", "EdgePublication", "weather",
     put("spec.servicePolicy.properties", [{"name": "openhorizon.service.url", "value": "x"}]),
     "spec.servicePolicy.properties[0].name", "set by the operator"),
    ("key-params-without-generation", "EdgePublication", "weather", put("spec.signing.generatedKey", {"bits": 2048}),
     "spec.signing.generatedKey", "needs generateIfMissing=true"),
    ("exchange-ca-and-insecure", "EdgePublication", "hello",
     put("spec.exchange.tls", {"caRef": {"name": "ca"}, "insecureSkipTLSVerify": True}),
     "spec.exchange.tls.caRef", "mutually exclusive"),
]


@pytest.mark.parametrize("case", CREATE_CASES, ids=[c[0] for c in CREATE_CASES])
def test_cel_rule_rejects_bad_object(engine: Any, case: tuple[str, str, str, Callable[[JSON], None], str, str]) -> None:
    _, kind, name, change, field, text = case
    obj = sample(kind, name)
    change(obj)
    errors = admitted(engine, kind, obj)
    assert any(text in e and e.startswith(f"{field}: " if field else "") for e in errors), errors


# (id, kind, sample, change to the new object, text of the expected error or None when allowed)
UPDATE_CASES: list[tuple[str, str, str, Callable[[JSON], None], str | None]] = [
    ("provider-switch", "EdgeServiceImage", "hello",
     chain(drop("spec.registry.openshift"), put("spec.registry.generic", {"host": "r.example.com"})),
     "registry provider is immutable"),
    ("project", "EdgeServiceImage", "hello", put("spec.registry.openshift.project", "other"), "project is immutable"),
    ("ibm-host", "EdgeServiceImage", "weather", put("spec.registry.ibmCloud.host", "de.icr.io"), "host is immutable"),
    ("ibm-namespace", "EdgeServiceImage", "weather", put("spec.registry.ibmCloud.namespace", "other-ns"),
     "namespace is immutable"),
    ("image-name", "EdgeServiceImage", "hello", put("spec.image.name", "other"), "image name is immutable"),
    ("tag-may-move", "EdgeServiceImage", "hello", put("spec.image.tag", "1.0.1"), None),
    ("token-mode-may-change", "EdgeServiceImage", "hello",
     put("spec.registry.openshift.token.mode", "LongLived"), None),
    ("generic-host-may-change", "EdgeServiceImage", "sensor", put("spec.registry.generic.host", "r2.example.com"),
     None),
    ("exchange-org", "EdgePublication", "hello", put("spec.exchange.org", "other"), "exchange org is immutable"),
    ("service-url", "EdgePublication", "hello", put("spec.service.url", "com.example.other"),
     "service url is immutable"),
    ("version-may-change", "EdgePublication", "hello", put("spec.service.version", "1.0.1"), None),
    ("exchange-url-may-change", "EdgePublication", "hello", put("spec.exchange.url", "https://new.example.com/v1"),
     None),
]


@pytest.mark.parametrize(("kind", "name", "change", "text"), [c[1:] for c in UPDATE_CASES],
                         ids=[c[0] for c in UPDATE_CASES])
def test_transition_rules_on_update(engine: Any, kind: str, name: str, change: Callable[[JSON], None],
                                    text: str | None) -> None:
    old, new = sample(kind, name), sample(kind, name)
    change(new)
    errors = admitted(engine, kind, new, old)
    assert any(text in e for e in errors) if text else errors == [], errors
    if text:  # the same object is fine on create: only the transition is refused
        assert not any(text in e for e in admitted(engine, kind, sample(kind, name)))


def test_every_cel_rule_has_a_case() -> None:
    messages = {r["message"] for _, _, n in RULE_NODES for r in n["x-kubernetes-validations"]}
    texts = [c[-1] for c in CREATE_CASES] + [c[-1] for c in UPDATE_CASES if c[-1]]
    assert [m for m in messages if not any(t in m for t in texts)] == []


# (id, kind, sample, change, field of the error): what the schema alone refuses
SCHEMA_CASES: list[tuple[str, str, str, Callable[[JSON], None], str]] = [
    ("unknown-arch", "EdgeServiceImage", "hello", put("spec.image.arches", ["amd64", "mips"]), "spec.image.arches[1]"),
    ("duplicate-arch", "EdgeServiceImage", "hello", put("spec.image.arches", ["amd64", "amd64"]),
     "spec.image.arches[1]"),
    ("uppercase-image", "EdgeServiceImage", "hello", put("spec.image.name", "Hello"), "spec.image.name"),
    ("tag-with-digest", "EdgeServiceImage", "hello", put("spec.image.tag", "1.0@sha256:" + "a" * 64),
     "spec.image.tag"),
    ("project-not-dns", "EdgeServiceImage", "hello", put("spec.registry.openshift.project", "My_Project"),
     "spec.registry.openshift.project"),
    ("unknown-role", "EdgeServiceImage", "hello", put("spec.registry.openshift.role", "admin"),
     "spec.registry.openshift.role"),
    ("huge-expiration", "EdgeServiceImage", "hello",
     put("spec.registry.openshift.token.expirationSeconds", 2**32 + 1),
     "spec.registry.openshift.token.expirationSeconds"),
    ("no-image", "EdgeServiceImage", "hello", drop("spec.image"), "spec.image"),
    ("prerelease-version", "EdgePublication", "hello", put("spec.service.version", "1.0.0-beta"),
     "spec.service.version"),
    ("bad-sharable", "EdgePublication", "hello", put("spec.service.sharable", "shared"), "spec.service.sharable"),
    ("bad-deletion-policy", "EdgePublication", "hello", put("spec.deletionPolicy", "Retain"), "spec.deletionPolicy"),
    ("duplicate-image-ref", "EdgePublication", "hello", put("spec.imageRefs", [{"name": "a"}, {"name": "a"}]),
     "spec.imageRefs[1]"),
    ("no-image-refs", "EdgePublication", "hello", put("spec.imageRefs", []), "spec.imageRefs"),
    ("org-injection", "EdgePublication", "hello", put("spec.exchange.org", "org/../admin"), "spec.exchange.org"),
    ("empty-deployment", "EdgePublication", "hello", put("spec.service.deployment", {"services": {}}),
     "spec.service.deployment.services"),
]


@pytest.mark.parametrize(("kind", "name", "change", "field"), [c[1:] for c in SCHEMA_CASES],
                         ids=[c[0] for c in SCHEMA_CASES])
def test_schema_rejects_bad_input(engine: Any, kind: str, name: str, change: Callable[[JSON], None],
                                  field: str) -> None:
    obj = sample(kind, name)
    change(obj)
    errors = admitted(engine, kind, obj)
    assert any(e.startswith(f"{field}: ") for e in errors), errors


# ---- the reference doc stays true ----------------------------------------------------------------

COLLAPSED = re.compile(r"^spec\.(?:.*\.)?(tls|nodeHealth)(?=\.)|^spec\.(pattern|deploymentPolicy)\.userInput(?=\[)")


@pytest.mark.parametrize("kind", CRDS)
def test_reference_doc_lists_every_field(kind: str) -> None:
    doc = (ROOT / "docs" / "crd-reference.md").read_text()
    missing = []
    for schema_path, _ in walk(schema_of(kind)):
        path = schema_path.lstrip(".").replace("{}", ".<key>")
        if not path.startswith(("spec.", "status.")) or path.endswith("[]") or path.startswith("status.conditions"):
            continue
        collapsed = COLLAPSED.match(path)
        name = path[collapsed.end():].lstrip(".") if collapsed else path.split(".", 1)[1]
        if f"`{name}`" not in doc:
            missing.append(path)
    assert missing == []
