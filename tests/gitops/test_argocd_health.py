"""The Argo CD health checks in deploy/argocd/: every health_test.yaml case, run in real Lua interpreters the
way Argo CD runs argocd-cm scripts (tests/gitops/argocd_lua.py), random objects that must never break them,
the reason table against what the docs and the operator's code can write, and the generated snippets."""

from __future__ import annotations

import ast
import copy
import re
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from horizon_publisher import horizon_files, signing
from horizon_publisher.clients import ibmcloud, registry_model
from horizon_publisher.clients.exchange_model import ExchangeError
from horizon_publisher.desired import deployment
from tests.gitops import argocd_snippets
from tests.gitops.argocd_lua import (
    DIALECTS,
    INVALID_HEALTH_STATUS,
    VALID_STATUSES,
    HealthStatus,
    LuaScriptError,
    load_object,
    run_health,
)

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ROOT / "deploy" / "argocd" / "edge.horizon.dev"
KINDS = argocd_snippets.KINDS
RECONCILE = ROOT / "operator" / "horizon_publisher" / "reconcile"
WAITING = "Waiting for the operator to observe generation "
JSON = dict[str, Any]


def script(kind: str) -> str:
    return (CHECKS / kind / "health.lua").read_text()


def test_cases(kind: str) -> list[tuple[str, HealthStatus]]:
    spec = yaml.safe_load((CHECKS / kind / "health_test.yaml").read_text())
    assert list(spec) == ["tests"]
    cases = []
    for test in spec["tests"]:
        assert set(test) == {"healthStatus", "inputPath"}
        assert set(test["healthStatus"]) <= {"status", "message"}
        cases.append((test["inputPath"], HealthStatus(test["healthStatus"]["status"],
                                                      test["healthStatus"].get("message", ""))))
    return cases


test_cases.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test
CASES = [(kind, path, expected) for kind in KINDS for path, expected in test_cases(kind)]


# ---- health_test.yaml, exactly as Argo CD's own runner reads it ------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("kind", "input_path", "expected"), CASES, ids=[f"{k}/{p}" for k, p, _ in CASES])
def test_health_test_yaml_case(kind: str, input_path: str, expected: HealthStatus, dialect: str) -> None:
    obj = load_object(CHECKS / kind / input_path)
    assert run_health(script(kind), obj, dialect) == expected


@pytest.mark.parametrize("kind", KINDS)
def test_cases_cover_every_health_and_every_testdata_file(kind: str) -> None:
    cases = test_cases(kind)
    paths = [path for path, _ in cases]
    assert len(cases) >= 8
    assert len(set(paths)) == len(paths)
    assert sorted(paths) == sorted(f"testdata/{f.name}" for f in (CHECKS / kind / "testdata").glob("*.yaml"))
    assert {expected.status for _, expected in cases} == {"Healthy", "Progressing", "Degraded", "Suspended"}


@pytest.fixture(scope="module")
def engine() -> Any:
    return pytest.importorskip("horizon_publisher.sandbox.kubeapi.schema")


@pytest.mark.parametrize(("kind", "input_path"), [(k, p) for k, p, _ in CASES], ids=[f"{k}/{p}" for k, p, _ in CASES])
def test_testdata_is_shaped_like_what_the_operator_writes(engine: Any, kind: str, input_path: str) -> None:
    """Every field is declared in the CRD (nothing pruned) and the object validates, status included."""
    obj = load_object(CHECKS / kind / input_path)
    assert (obj["apiVersion"], obj["kind"]) == ("edge.horizon.dev/v1alpha1", kind)
    crd = yaml.safe_load((ROOT / "crds" / f"{kind.lower()}s.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    pruned = copy.deepcopy(obj)
    engine.prune(schema, pruned)
    assert pruned == obj
    assert [f"{e.field}: {e.message}" for e in engine.validate(schema, obj, None)] == []


# ---- the emulation is strict where Argo CD is ------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("body", "error"), [
    ('return {status = string.lower("Healthy")}', "string"),
    ('return {status = math.floor(1) and "Healthy"}', "math"),
    ('local s = "Healthy"; return {status = s:lower()}', "index"),
    ("while true do end", "time budget"),
    ("return 1", "expect table output"),
    ("return {}", "cannot unmarshal array"),
    ('return {status = "Healthy", message = 3}', "cannot unmarshal"),
])
def test_argocd_environment_refuses_what_argocd_refuses(body: str, error: str, dialect: str) -> None:
    with pytest.raises(LuaScriptError, match=error):
        run_health(body, {}, dialect)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_argocd_environment_reads_results_like_argocd(dialect: str) -> None:
    assert run_health('return {status = "Fine"}', {}, dialect) == HealthStatus("Unknown", INVALID_HEALTH_STATUS)
    assert run_health('return {Status = "Healthy"}', {}, dialect) == HealthStatus("Healthy")
    # null list items are skipped (decodeValue appends nothing), integral numbers print without ".0"
    converted = run_health('return {status = "Healthy", message = obj.a[2] .. obj.b}', {"a": [None, "x", "y"], "b": 1},
                           dialect)
    assert converted == HealthStatus("Healthy", "y1")


# ---- the reason table ------------------------------------------------------------------------------------------


def reason_table(kind: str) -> dict[str, str]:
    """HEALTH_BY_REASON of the script; every line of it must parse, so nothing hides from this test."""
    body = script(kind).split("local HEALTH_BY_REASON = {\n", 1)[1].split("\n}\n", 1)[0]
    table: dict[str, str] = {}
    for line in body.splitlines():
        if not line.strip() or line.strip().startswith("--"):
            continue
        found = re.fullmatch(r'  ([A-Z][A-Za-z]+) = "(Degraded|Progressing)",(?: +-- .+)?', line)
        assert found, f"{kind}: unreadable table line {line!r}"
        assert found[1] not in table, f"{kind}: {found[1]} twice"
        table[found[1]] = found[2]
    return table


def documented_reasons(kind: str) -> set[str]:
    """Reasons named in the Conditions table of ``kind`` in docs/crd-reference.md (third column)."""
    doc = (ROOT / "docs" / "crd-reference.md").read_text()
    section = doc.split(f"\n## {kind}\n", 1)[1].split("\n## ", 1)[0]
    conditions = section.split("\n### Conditions\n", 1)[1].split("\n### ", 1)[0]
    reasons = set()
    for row in conditions.splitlines():
        cells = row.split("|")
        if len(cells) > 3 and cells[1].strip().startswith("`"):
            reasons |= set(re.findall(r"`([A-Z][A-Za-z]+)`", cells[3]))
    return reasons


# Where a reason literal stands: the argument index per callee (failed("Type", "Reason", ...), ...).
REASON_ARGUMENT = {"failed": 1, "waiting": 1, "Condition": 2, "_Missing": 0}


def code_reasons(files: list[str]) -> set[str]:
    """Reasons in reconcile code: literal (or module constant) arguments in REASON_ARGUMENT, `reason = ...`."""
    reasons: set[str] = set()
    for name in files:
        tree = ast.parse((RECONCILE / name).read_text())
        constants = {
            target.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            values: list[ast.expr] = []
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                position = REASON_ARGUMENT.get(node.func.id)
                if position is not None and len(node.args) > position:
                    values.append(node.args[position])
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "reason" for t in node.targets):
                values.append(node.value)
            reasons |= {leaf for value in values for leaf in constant_outcomes(value, constants)}
    return reasons


def constant_outcomes(value: ast.expr, constants: dict[str, str]) -> set[str]:
    """The strings an expression can evaluate to (``"A" if test else B``: "A" and B's value, not the test's)."""
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return {value.value}
    if isinstance(value, ast.Name) and value.id in constants:
        return {constants[value.id]}
    if isinstance(value, ast.IfExp):
        return constant_outcomes(value.body, constants) | constant_outcomes(value.orelse, constants)
    return set()


def exchange_reasons() -> set[str]:
    classes, reasons = [ExchangeError], set()
    while classes:
        cls = classes.pop()
        reasons.add(cls.reason)
        classes += cls.__subclasses__()
    return reasons


COPY_ONLY = {"SourceNotFound", "DigestMismatch", "PlatformMismatch", "CopyFailed"}
# A publication's registry check turns Unauthorized/Forbidden into CredentialsRejected (publication_steps).
PULL_CHECK = set(typing.get_args(registry_model.Reason)) - COPY_ONLY - {"Unauthorized", "Forbidden"}
OPERATOR_REASONS = {
    "EdgeServiceImage": (
        code_reasons(["service_image.py", "openshift_image.py", "openshift_token.py", "generic_image.py",
                      "ibmcloud_image.py", "image_copy.py", "first_look.py", "steps.py"])
        | set(typing.get_args(registry_model.Reason)) | set(typing.get_args(ibmcloud.Reason))
    ),
    "EdgePublication": (
        code_reasons(["publication.py", "publication_steps.py", "first_look.py", "steps.py"])
        | exchange_reasons() | PULL_CHECK
        | {signing.SIGNING_KEY_INVALID, horizon_files.NOT_FOUND, horizon_files.INVALID, deployment.INVALID_DEPLOYMENT}
    ),
}
# Ready reasons the scripts handle before the table: Suspended (spec.suspend), and True reasons.
NOT_FAILURES = {"Suspended", "Reconciled"}


@pytest.mark.parametrize("kind", KINDS)
def test_every_documented_reason_is_classified(kind: str) -> None:
    missing = documented_reasons(kind) - set(reason_table(kind)) - NOT_FAILURES
    assert not missing, f"{kind}: add to HEALTH_BY_REASON: {sorted(missing)}"


@pytest.mark.parametrize("kind", KINDS)
def test_every_reason_the_operator_code_writes_is_classified(kind: str) -> None:
    true_reasons = {"Created", "Adopted", "Exists", "Bound", "TokenIssued", "RouteAdmitted", "CAFound",
                    "SecretWritten", "Anonymous", "Copied", "UpToDate", "Resolved", "ImagesResolved", "Signed",
                    "Published", "Verified"}
    found = OPERATOR_REASONS[kind] - true_reasons - NOT_FAILURES
    assert len(found) > 15, "the code scan found too little: did the reconcile modules move?"
    missing = found - set(reason_table(kind))
    assert not missing, f"{kind}: add to HEALTH_BY_REASON: {sorted(missing)}"


@pytest.mark.parametrize(("kind", "reason"), [(k, r) for k in KINDS for r in reason_table(k)])
def test_each_listed_reason_gives_its_health(kind: str, reason: str) -> None:
    obj = load_object(CHECKS / kind / "testdata" / "healthy.yaml")
    ready = obj["status"]["conditions"][0]
    ready.update(status="False", reason=reason, message=f"Step: {reason} happened")
    assert run_health(script(kind), obj) == HealthStatus(reason_table(kind)[reason], f"Step: {reason} happened")


def test_scripts_share_everything_but_the_table() -> None:
    """Both kinds follow the same conventions: a fix to one must reach the other."""
    rests = {kind: script(kind).split("local HEALTH_BY_REASON = {\n", 1)[1].split("\n}\n", 1)[1] for kind in KINDS}
    assert len(set(rests.values())) == 1


# ---- generated snippets ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "render"), [(argocd_snippets.CM_PATCH, argocd_snippets.cm_patch),
                                              (argocd_snippets.CR_PATCH, argocd_snippets.cr_patch)])
def test_snippets_are_generated_from_the_scripts(path: Path, render: typing.Callable[[], str]) -> None:
    assert path.read_text() == render(), "run: .venv/bin/python -m tests.gitops.argocd_snippets"


def test_snippets_embed_the_scripts_verbatim() -> None:
    cm = yaml.safe_load(argocd_snippets.CM_PATCH.read_text())
    assert (cm["kind"], cm["metadata"]["name"]) == ("ConfigMap", "argocd-cm")
    assert cm["data"] == {argocd_snippets.cm_key(kind): script(kind) for kind in KINDS}
    cr = yaml.safe_load(argocd_snippets.CR_PATCH.read_text())
    assert cr["kind"] == "ArgoCD"
    assert cr["spec"]["resourceHealthChecks"] == [
        {"group": "edge.horizon.dev", "kind": kind, "check": script(kind)} for kind in KINDS
    ]


# ---- random objects --------------------------------------------------------------------------------------------

ALL_REASONS = sorted({r for kind in KINDS for r in reason_table(kind)} | NOT_FAILURES | {"InvalidSpec"})
small_text = st.text(max_size=12)
junk = st.one_of(st.none(), small_text, st.integers(), st.booleans(), st.lists(small_text, max_size=2))


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any] = junk) -> st.SearchStrategy[Any]:
    """Well-formed values three times in four, so that the deep branches are reached; junk otherwise."""
    # sampled_from picks uniformly (st.integers would favour its bounds, i.e. the junk).
    return st.sampled_from((good, good, good, bad)).flatmap(lambda chosen: chosen)


# Bounded: above 1e14 Lua 5.1 prints numbers in exponent form and gopher-lua does not (see argocd_lua Gaps).
# Small ones mostly, so that observed == generation comes up often.
generations = mostly(st.integers(0, 3), st.one_of(st.integers(-(10**12), 10**12), st.floats(-1e12, 1e12), st.none(),
                                                   small_text, st.booleans(), st.lists(st.integers(), max_size=2)))
condition_fields = {
    "type": mostly(st.sampled_from(["Ready", "Ready", "ImageResolved", "Signed"])),
    "status": mostly(st.sampled_from(["True", "False", "Unknown"])),
    "reason": mostly(st.sampled_from(ALL_REASONS)),
    "message": mostly(small_text),
    "observedGeneration": generations,
}
conditions = st.lists(
    mostly(st.fixed_dictionaries(condition_fields),
           st.one_of(junk, st.fixed_dictionaries({}, optional=condition_fields))),
    min_size=1,
    max_size=4,
)
odd_conditions: st.SearchStrategy[Any] = st.one_of(
    junk, st.just([]), st.dictionaries(small_text, small_text, max_size=2)
)
statuses = mostly(st.fixed_dictionaries(
    {"conditions": mostly(conditions, odd_conditions)}, optional={"observedGeneration": generations}
))
objects = st.fixed_dictionaries({
    "apiVersion": st.just("edge.horizon.dev/v1alpha1"),
    "metadata": mostly(st.fixed_dictionaries({"name": st.just("x")}, optional={"generation": generations})),
    "spec": mostly(st.fixed_dictionaries({}, optional={"suspend": mostly(st.booleans())})),
    "status": statuses,
})


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def first_ready(obj: JSON) -> JSON | None:
    status = obj["status"] if isinstance(obj["status"], dict) else {}
    listed = status.get("conditions")
    for condition in listed if isinstance(listed, list) else []:
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            return condition
    return None


def observed(obj: JSON, ready: JSON) -> Any:
    status = obj["status"]
    if is_number(status.get("observedGeneration")):
        return status["observedGeneration"]
    return ready.get("observedGeneration") if is_number(ready.get("observedGeneration")) else None


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(KINDS), obj=objects)
def test_random_objects_never_break_the_script(kind: str, obj: JSON) -> None:
    """No error, a valid status, both Lua dialects agree, and the branches hold for any input."""
    obj = {**obj, "kind": kind}
    results = {dialect: run_health(script(kind), obj, dialect) for dialect in DIALECTS}
    result = results["lua51"]
    assert results["lua54"] == result
    assert result.status in VALID_STATUSES
    assert result.message != INVALID_HEALTH_STATUS
    generation = obj["metadata"].get("generation") if isinstance(obj["metadata"], dict) else None
    ready = first_ready(obj)
    seen = observed(obj, ready) if ready is not None else None
    if ready is None or seen is None or (is_number(generation) and seen < generation):
        assert result.status == "Progressing"
        assert result.message.startswith(WAITING) == is_number(generation)
        return
    message = ready.get("message")
    suspended = isinstance(obj["spec"], dict) and obj["spec"].get("suspend") is True
    if ready.get("status") == "False" and ready.get("reason") == "InvalidSpec":
        assert result.status == "Degraded"
    elif suspended:
        assert result.status == "Suspended"
    elif ready.get("status") == "True":
        assert result == HealthStatus("Healthy", message if isinstance(message, str) else "")
    elif ready.get("status") == "False":
        assert result.status in {"Degraded", "Progressing"}
    else:
        assert result.status == "Progressing"
