"""A pure RBAC evaluator with the semantics of Kubernetes' ``plugin/pkg/auth/authorizer/rbac``.

Objects are plain JSON dicts (``rbac.authorization.k8s.io/v1``); the store is reached through
:class:`RbacSource` so the evaluator can be tested without a cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from horizon_publisher.sandbox.kubeapi.api import UserInfo

JSON = dict[str, Any]
RBAC_GROUP = "rbac.authorization.k8s.io"
MASTERS_GROUP = "system:masters"
SA_USER_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class PolicyRule:
    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    @staticmethod
    def from_json(rule: JSON) -> PolicyRule:
        return PolicyRule(
            verbs=tuple(rule.get("verbs") or ()),
            api_groups=tuple(rule.get("apiGroups") or ()),
            resources=tuple(rule.get("resources") or ()),
            resource_names=tuple(rule.get("resourceNames") or ()),
            non_resource_urls=tuple(rule.get("nonResourceURLs") or ()),
        )

    def to_json(self) -> JSON:
        out: JSON = {"verbs": list(self.verbs)}
        if self.api_groups or self.resources:
            out["apiGroups"] = list(self.api_groups)
            out["resources"] = list(self.resources)
        if self.resource_names:
            out["resourceNames"] = list(self.resource_names)
        if self.non_resource_urls:
            out["nonResourceURLs"] = list(self.non_resource_urls)
        return out

    def compact_string(self) -> str:
        """Go's ``rbacv1helpers.CompactString``.

        For example ``{APIGroups:[""], Resources:["secrets"], Verbs:["create"]}``.
        """
        fields: list[str] = []
        for label, values in (
            ("APIGroups", self.api_groups),
            ("Resources", self.resources),
            ("ResourceNames", self.resource_names),
            ("NonResourceURLs", self.non_resource_urls),
            ("Verbs", self.verbs),
        ):
            if values:
                fields.append(f"{label}:{go_quote_list(values)}")
        return "{" + ", ".join(fields) + "}"


def go_quote_list(values: Iterable[str]) -> str:
    """Go's ``%q`` of a ``[]string``: ``["a" "b"]``."""
    return "[" + " ".join(f'"{v}"' for v in values) + "]"


def rule(verbs: Sequence[str], groups: Sequence[str], resources: Sequence[str], names: Sequence[str] = ()) -> JSON:
    """A rule as JSON, for writing bootstrap roles compactly."""
    out: JSON = {"verbs": list(verbs), "apiGroups": list(groups), "resources": list(resources)}
    if names:
        out["resourceNames"] = list(names)
    return out


def url_rule(verbs: Sequence[str], urls: Sequence[str]) -> JSON:
    return {"verbs": list(verbs), "nonResourceURLs": list(urls)}


@dataclass(frozen=True)
class ResourceAttributes:
    verb: str
    group: str
    resource: str
    subresource: str = ""
    namespace: str = ""
    name: str = ""


@dataclass(frozen=True)
class NonResourceAttributes:
    verb: str
    path: str


Attributes = ResourceAttributes | NonResourceAttributes


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


class RbacSource(Protocol):
    """Read access to the RBAC objects (a cluster, or fixed lists in tests)."""

    def cluster_role_bindings(self) -> list[JSON]: ...

    def role_bindings(self, namespace: str) -> list[JSON]: ...

    def cluster_role(self, name: str) -> JSON | None: ...

    def role(self, namespace: str, name: str) -> JSON | None: ...


# ---------------------------------------------------------------- matching a request


def _verb_matches(rule: PolicyRule, verb: str) -> bool:
    return "*" in rule.verbs or verb in rule.verbs


def _group_matches(rule: PolicyRule, group: str) -> bool:
    return "*" in rule.api_groups or group in rule.api_groups


def _resource_matches(rule: PolicyRule, resource: str, subresource: str) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for candidate in rule.resources:
        if candidate in ("*", combined):
            return True
        if subresource and candidate == f"*/{subresource}":
            return True
    return False


def _name_matches(rule: PolicyRule, name: str) -> bool:
    return not rule.resource_names or name in rule.resource_names


def _url_matches(rule_urls: Iterable[str], path: str) -> bool:
    for candidate in rule_urls:
        if candidate in ("*", path):
            return True
        if candidate.endswith("*") and path.startswith(candidate.rstrip("*")):
            return True
    return False


def rule_allows(rule: PolicyRule, attrs: Attributes) -> bool:
    if isinstance(attrs, NonResourceAttributes):
        return _verb_matches(rule, attrs.verb) and _url_matches(rule.non_resource_urls, attrs.path)
    return (
        _verb_matches(rule, attrs.verb)
        and _group_matches(rule, attrs.group)
        and _resource_matches(rule, attrs.resource, attrs.subresource)
        and _name_matches(rule, attrs.name)
    )


# ---------------------------------------------------------------- subjects and bindings


def _subject_applies(subject: JSON, user: UserInfo, binding_namespace: str) -> bool:
    kind = subject.get("kind")
    name = subject.get("name", "")
    if kind == "User":
        return bool(user.username == name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        # A RoleBinding's ServiceAccount subject without a namespace means the binding's own.
        namespace = subject.get("namespace") or binding_namespace
        return bool(namespace) and user.username == f"{SA_USER_PREFIX}{namespace}:{name}"
    return False


def describe_subject(subject: JSON, binding_namespace: str) -> str:
    kind = subject.get("kind", "")
    name = subject.get("name", "")
    if kind == "ServiceAccount":
        return f'ServiceAccount "{name}/{subject.get("namespace") or binding_namespace}"'
    return f'{kind} "{name}"'


@dataclass(frozen=True)
class _AppliedBinding:
    description: str  # how the allow reason names the binding
    rules: tuple[PolicyRule, ...]


def _role_rules(source: RbacSource, role_ref: JSON, namespace: str) -> tuple[PolicyRule, ...] | None:
    kind = role_ref.get("kind")
    name = role_ref.get("name", "")
    if kind == "ClusterRole":
        role = source.cluster_role(name)
    elif kind == "Role" and namespace:
        role = source.role(namespace, name)
    else:
        return None
    if role is None:
        return None
    return tuple(PolicyRule.from_json(r) for r in role.get("rules") or ())


def _applied_bindings(source: RbacSource, user: UserInfo, namespace: str) -> Iterator[_AppliedBinding]:
    for binding in source.cluster_role_bindings():
        for subject in binding.get("subjects") or ():
            if _subject_applies(subject, user, ""):
                rules = _role_rules(source, binding.get("roleRef") or {}, "")
                if rules is not None:
                    yield _AppliedBinding(
                        f'ClusterRoleBinding "{binding["metadata"]["name"]}" of '
                        f'{binding["roleRef"]["kind"]} "{binding["roleRef"]["name"]}" to '
                        f"{describe_subject(subject, '')}",
                        rules,
                    )
                break
    if not namespace:
        return
    for binding in source.role_bindings(namespace):
        for subject in binding.get("subjects") or ():
            if _subject_applies(subject, user, namespace):
                rules = _role_rules(source, binding.get("roleRef") or {}, namespace)
                if rules is not None:
                    yield _AppliedBinding(
                        f'RoleBinding "{binding["metadata"]["name"]}/{namespace}" of '
                        f'{binding["roleRef"]["kind"]} "{binding["roleRef"]["name"]}" to '
                        f"{describe_subject(subject, namespace)}",
                        rules,
                    )
                break


def authorize(source: RbacSource, user: UserInfo, attrs: Attributes) -> Decision:
    """Allow iff some binding that applies to ``user`` grants a rule matching ``attrs``."""
    if MASTERS_GROUP in user.groups:
        return Decision(True, "")  # the privileged-group authorizer runs before RBAC
    namespace = attrs.namespace if isinstance(attrs, ResourceAttributes) else ""
    for applied in _applied_bindings(source, user, namespace):
        if any(rule_allows(r, attrs) for r in applied.rules):
            return Decision(True, f"RBAC: allowed by {applied.description}")
    return Decision(False, "")


def rules_for(source: RbacSource, user: UserInfo, namespace: str) -> list[PolicyRule]:
    """Every rule ``user`` holds in ``namespace`` (cluster-wide ones included)."""
    if MASTERS_GROUP in user.groups:
        return [
            PolicyRule(verbs=("*",), api_groups=("*",), resources=("*",)),
            PolicyRule(("*",), non_resource_urls=("*",)),
        ]
    return [r for applied in _applied_bindings(source, user, namespace) for r in applied.rules]


# ---------------------------------------------------------------- escalation: do the owner's rules cover?


def _atoms(servant: PolicyRule) -> Iterator[PolicyRule]:
    """Split a rule into single-verb, single-resource (and single-name) rules, as ``Covers`` does."""
    for verb in servant.verbs:
        for url in servant.non_resource_urls:
            yield PolicyRule((verb,), non_resource_urls=(url,))
        for group in servant.api_groups:
            for resource in servant.resources:
                if servant.resource_names:
                    for name in servant.resource_names:
                        yield PolicyRule((verb,), (group,), (resource,), (name,))
                else:
                    yield PolicyRule((verb,), (group,), (resource,))


def _owner_covers_atom(owner: PolicyRule, atom: PolicyRule) -> bool:
    verb = atom.verbs[0]
    if "*" not in owner.verbs and verb not in owner.verbs:
        return False
    if atom.non_resource_urls:
        return _url_matches(owner.non_resource_urls, atom.non_resource_urls[0])
    group, resource = atom.api_groups[0], atom.resources[0]
    if "*" not in owner.api_groups and group not in owner.api_groups:
        return False
    any_parent = "/" in resource and f"*/{resource.split('/', 1)[1]}" in owner.resources
    if "*" not in owner.resources and resource not in owner.resources and not any_parent:
        return False
    if not owner.resource_names:
        return True
    return bool(atom.resource_names) and atom.resource_names[0] in owner.resource_names


def missing_rules(owner_rules: Sequence[PolicyRule], servant_rules: Iterable[PolicyRule]) -> list[PolicyRule]:
    """The atomic servant rules no owner rule covers, compacted by verb (Go's ``CompactRules``)."""
    missing: list[PolicyRule] = []
    for servant in servant_rules:
        for atom in _atoms(servant):
            if not any(_owner_covers_atom(owner, atom) for owner in owner_rules) and atom not in missing:
                missing.append(atom)
    merged: dict[tuple[str, str, tuple[str, ...]], list[str]] = {}
    urls: list[PolicyRule] = []
    for atom in missing:
        if atom.non_resource_urls:
            urls.append(atom)
            continue
        key = (atom.api_groups[0], atom.resources[0], atom.resource_names)
        merged.setdefault(key, []).append(atom.verbs[0])
    compacted = [PolicyRule(tuple(v), (g,), (r,), names) for (g, r, names), v in merged.items()]
    return compacted + urls


def escalation_message(user: UserInfo, missing: Sequence[PolicyRule]) -> str:
    described = sorted({m.compact_string() for m in missing})
    return (
        f'user "{user.username}" (groups={go_quote_list(user.groups)}) is attempting to grant RBAC '
        "permissions not currently held:\n" + "\n".join(described)
    )


def service_account_of(username: str) -> tuple[str, str] | None:
    """``system:serviceaccount:NS:NAME`` -> (NS, NAME)."""
    if not username.startswith(SA_USER_PREFIX):
        return None
    parts = username[len(SA_USER_PREFIX) :].split(":")
    if len(parts) != 2 or not all(parts):
        return None
    return parts[0], parts[1]


class StaticRbacSource:
    """An :class:`RbacSource` over fixed object lists (unit tests, previews)."""

    def __init__(self, objects: Iterable[JSON]) -> None:
        self._objects = list(objects)

    def _of_kind(self, kind: str) -> Iterator[JSON]:
        return (o for o in self._objects if o.get("kind") == kind)

    def cluster_role_bindings(self) -> list[JSON]:
        return list(self._of_kind("ClusterRoleBinding"))

    def role_bindings(self, namespace: str) -> list[JSON]:
        return [o for o in self._of_kind("RoleBinding") if o["metadata"].get("namespace") == namespace]

    def cluster_role(self, name: str) -> JSON | None:
        return next((o for o in self._of_kind("ClusterRole") if o["metadata"]["name"] == name), None)

    def role(self, namespace: str, name: str) -> JSON | None:
        return next(
            (
                o
                for o in self._of_kind("Role")
                if o["metadata"]["name"] == name and o["metadata"].get("namespace") == namespace
            ),
            None,
        )
