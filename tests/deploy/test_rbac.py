"""Least privilege, proved both ways: every call the operator (and kopf) makes is allowed by the rendered
RBAC of each overlay that needs it, and every verb/resource/name a rule grants is needed by some call.

The call list is tests/deploy/rbac_calls.py; the first tests keep it equal to what the code really does.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import kopf
import pytest
import yaml

import horizon_publisher.handlers  # noqa: F401  (registers the kopf handlers)
from horizon_publisher.runner import configure
from tests.deploy.code_calls import (
    Call,
    Need,
    all_calls,
    grep_count,
    imported_resources,
    kube_methods,
    resource_constants,
    source_files,
)
from tests.deploy.manifests import BASE, OVERLAYS, ROOT, bound_rules, render
from tests.deploy.rbac_calls import CALLS, METHOD_VERBS, NOT_GRANTED_WHY

JSON = dict[str, Any]
OPENSHIFT_GROUPS = {"route.openshift.io", "imageregistry.operator.openshift.io", "project.openshift.io"}


@pytest.fixture(scope="module")
def rules() -> dict[str, list[JSON]]:
    return {overlay: bound_rules(render(path)) for overlay, path in OVERLAYS.items()}


# ---- the call table is what the code does ---------------------------------------------------------


def test_every_kube_method_has_a_verb() -> None:
    assert kube_methods() == set(METHOD_VERBS)


def test_the_ast_scan_sees_every_call_a_regex_sees() -> None:
    calls = all_calls()
    assert len(calls) == grep_count() > 30


def test_call_table_equals_the_code() -> None:
    found = {(c.function, c.method, c.argument) for c in all_calls()}
    assert sorted(found - set(CALLS)) == [], "calls missing from tests/deploy/rbac_calls.py"
    assert sorted(set(CALLS) - found) == [], "calls listed in rbac_calls.py that the code no longer makes"


def test_call_table_resources_exist_and_constant_arguments_agree() -> None:
    constants = resource_constants()
    for (function, _method, argument), uses in CALLS.items():
        assert set(uses) <= set(constants), function
        if argument in constants:
            assert set(uses) == {argument}, f"{function}: {argument} is a constant"


@pytest.mark.parametrize("path", source_files(), ids=lambda p: p.name)
def test_modules_use_only_the_resources_the_table_lists(path: Any) -> None:
    """A Resource imported for a new call (even through a variable) must reach the table."""
    relative = str(path.relative_to(ROOT / "operator" / "horizon_publisher"))
    listed = {r for (function, _m, _a), uses in CALLS.items() if function.startswith(relative + ":") for r in uses}
    if any(c.function.startswith(relative + ":") for c in all_calls()):  # clients/kube.py defines, never calls
        assert imported_resources(path) <= listed


# ---- what each overlay needs -----------------------------------------------------------------------


def call_needs(call: Call, resource_name: str) -> Iterator[Need]:
    resource = resource_constants()[resource_name]
    verb = METHOD_VERBS[call.method]
    if verb is None:
        return
    plural = f"{resource.plural}/token" if call.method == "request_token" else resource.plural
    yield Need(verb, resource.group, plural, call.name)
    if call.method == "create" and resource_name == "ROLE_BINDINGS":
        # Binding a ClusterRole needs `bind` on it: each role spec.registry.openshift.role allows.
        for role in role_enum():
            yield Need("bind", "rbac.authorization.k8s.io", "clusterroles", role)


def role_enum() -> list[str]:
    crd = yaml.safe_load((ROOT / "crds" / "edgeserviceimages.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    role = schema["properties"]["spec"]["properties"]["registry"]["properties"]["openshift"]["properties"]["role"]
    return list(role["enum"])


def kopf_needs() -> set[Need]:
    """kopf lists, watches and patches every kind it handles (finalizer, state annotations), patches
    status through the subresource, and posts core/v1 Events unless posting is off."""
    registry = kopf.get_default_registry()
    selectors = {
        (str(h.selector.group), str(h.selector.plural or h.selector.any_name))
        for sub in (registry._changing, registry._spawning, registry._watching, registry._indexing)
        for h in sub.get_all_handlers()
        if h.selector is not None
    }
    needs = set()
    for group, plural in selectors:
        needs |= {Need(v, group, plural) for v in ("list", "watch", "patch")}
        needs.add(Need("patch", group, f"{plural}/status"))
    settings = kopf.OperatorSettings()
    configure(settings)
    assert settings.scanning.disabled, "scanning on would need cluster-wide CRD and namespace list/watch"
    if settings.posting.enabled:
        needs.add(Need("create", "", "events"))
    return needs


def needs_for(overlay: str) -> set[Need]:
    needs = kopf_needs()
    for call in all_calls():
        for resource_name, overlays in CALLS[(call.function, call.method, call.argument)].items():
            if overlay in overlays:
                needs |= set(call_needs(call, resource_name))
    return needs


def allows(rule: JSON, need: Need) -> bool:
    return (
        need.verb in rule.get("verbs", [])
        and need.group in rule.get("apiGroups", [])
        and need.resource in rule.get("resources", [])
        and (not rule.get("resourceNames") or need.name in rule["resourceNames"])
    )


def grants(rule: JSON) -> Iterator[Need]:
    names = rule.get("resourceNames") or [None]
    for verb, group, resource, name in itertools.product(rule["verbs"], rule["apiGroups"], rule["resources"], names):
        yield Need(verb, group, resource, name)


def used(grant: Need, needs: set[Need]) -> bool:
    """A grant is used when a call needs exactly it: a rule for any name needs a call on any name."""
    return grant in needs or (grant.name is not None and Need(grant.verb, grant.group, grant.resource) in needs)


# ---- the checks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_every_call_is_allowed(rules: dict[str, list[JSON]], overlay: str) -> None:
    missing = sorted(n for n in needs_for(overlay) if not any(allows(r, n) for r in rules[overlay]))
    assert missing == [], f"{overlay}: calls no rule allows"


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_every_granted_permission_is_used(rules: dict[str, list[JSON]], overlay: str) -> None:
    needs = needs_for(overlay)
    unused = sorted({g for r in rules[overlay] for g in grants(r) if not used(g, needs)})
    assert unused == [], f"{overlay}: permissions no call needs"


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_no_wildcards_or_escalation_verbs(rules: dict[str, list[JSON]], overlay: str) -> None:
    for rule in rules[overlay]:
        assert "*" not in rule["verbs"] + rule["apiGroups"] + rule["resources"]
        assert not {"escalate", "impersonate"} & set(rule["verbs"])
        assert "nonResourceURLs" not in rule
        if "bind" in rule["verbs"]:
            assert rule.get("resourceNames"), "bind must name the roles"


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_secrets_are_never_listed_or_watched(rules: dict[str, list[JSON]], overlay: str) -> None:
    for rule in rules[overlay]:
        if "secrets" in rule["resources"]:
            assert not {"list", "watch"} & set(rule["verbs"])


def test_openshift_rules_stay_out_of_the_base() -> None:
    base = bound_rules(render(BASE))
    assert not {g for r in base for g in r["apiGroups"]} & OPENSHIFT_GROUPS
    assert bound_rules(render(OVERLAYS["kubernetes"])) == base


def test_no_custom_host_permission(rules: dict[str, list[JSON]]) -> None:
    """The operator never sets spec.host on a Route, so routes/custom-host is never requested."""
    assert not any("routes/custom-host" in r["resources"] for rs in rules.values() for r in rs)


@pytest.mark.parametrize("key", sorted(NOT_GRANTED_WHY))
def test_paths_left_ungranted_are_denied(rules: dict[str, list[JSON]], key: tuple[str, str, str]) -> None:
    function, method, resource_name = key
    assert CALLS[(function, method, resource_name)] == {resource_name: frozenset()}
    call = next(c for c in all_calls() if (c.function, c.method, c.argument) == key)
    for overlay_rules in rules.values():
        assert not any(allows(r, n) for r in overlay_rules for n in call_needs(call, resource_name))


def test_every_rule_has_a_comment_saying_why() -> None:
    for path in [BASE / "cluster_role.yaml", OVERLAYS["openshift"] / "cluster_role_openshift.yaml"]:
        lines = path.read_text().splitlines()
        starts = [i for i, line in enumerate(lines) if line.startswith("  - apiGroups:")]
        assert starts
        for i in starts:
            assert lines[i - 1].strip().startswith("#"), f"{path.name}:{i + 1}: rule without a comment"
