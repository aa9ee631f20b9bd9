"""The pure RBAC evaluator: rule matching, subjects, allow reasons, escalation coverage."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from horizon_publisher.sandbox.kubeapi.api import UserInfo
from horizon_publisher.sandbox.openshift.rbac import (
    NonResourceAttributes,
    PolicyRule,
    ResourceAttributes,
    StaticRbacSource,
    authorize,
    escalation_message,
    missing_rules,
    rule_allows,
    rules_for,
    service_account_of,
)
from horizon_publisher.sandbox.openshift.rbac_roles import (
    KUBERNETES_CLUSTER_ROLE_BINDINGS,
    KUBERNETES_CLUSTER_ROLES,
    OPENSHIFT_CLUSTER_ROLE_BINDINGS,
    OPENSHIFT_CLUSTER_ROLES,
    aggregate_cluster_roles,
    binding,
    group,
    service_account,
    user,
)

R = ResourceAttributes


@pytest.mark.parametrize(
    ("rule", "attrs", "allowed"),
    [
        (PolicyRule(("*",), ("*",), ("*",)), R("delete", "apps", "deployments", "", "p", "x"), True),
        (PolicyRule(("get",), ("",), ("secrets",)), R("get", "", "secrets", "", "p", "s"), True),
        (PolicyRule(("get",), ("",), ("secrets",)), R("list", "", "secrets", "", "p"), False),
        (PolicyRule(("get",), ("",), ("secrets",)), R("get", "apps", "secrets", "", "p"), False),
        (PolicyRule(("get",), ("",), ("secrets",)), R("get", "", "configmaps", "", "p"), False),
        # subresources are distinct resources
        (
            PolicyRule(("get",), ("image.openshift.io",), ("imagestreams/layers",)),
            R("get", "image.openshift.io", "imagestreams", "layers", "p", "n"),
            True,
        ),
        (
            PolicyRule(("get",), ("image.openshift.io",), ("imagestreams/layers",)),
            R("get", "image.openshift.io", "imagestreams", "", "p", "n"),
            False,
        ),
        (
            PolicyRule(("get",), ("image.openshift.io",), ("imagestreams",)),
            R("get", "image.openshift.io", "imagestreams", "layers", "p", "n"),
            False,
        ),
        (PolicyRule(("update",), ("apps",), ("*/scale",)), R("update", "apps", "deployments", "scale", "p", "d"), True),
        (PolicyRule(("update",), ("apps",), ("*/scale",)), R("update", "apps", "deployments", "", "p", "d"), False),
        # resourceNames narrow a rule, and never match a request without a name
        (PolicyRule(("get",), ("",), ("configmaps",), ("a",)), R("get", "", "configmaps", "", "p", "a"), True),
        (PolicyRule(("get",), ("",), ("configmaps",), ("a",)), R("get", "", "configmaps", "", "p", "b"), False),
        (PolicyRule(("list",), ("",), ("configmaps",), ("a",)), R("list", "", "configmaps", "", "p"), False),
        # non-resource URLs: exact, trailing-* prefix, and no cross-matching with resource rules
        (PolicyRule(("get",), non_resource_urls=("/healthz",)), NonResourceAttributes("get", "/healthz"), True),
        (PolicyRule(("get",), non_resource_urls=("/apis/*",)), NonResourceAttributes("get", "/apis/x/v1"), True),
        (PolicyRule(("get",), non_resource_urls=("/apis",)), NonResourceAttributes("get", "/apis/x"), False),
        (PolicyRule(("get",), non_resource_urls=("/version",)), NonResourceAttributes("post", "/version"), False),
        (PolicyRule(("*",), ("*",), ("*",)), NonResourceAttributes("get", "/healthz"), False),
    ],
)
def test_rule_matching(rule: PolicyRule, attrs: ResourceAttributes | NonResourceAttributes, allowed: bool) -> None:
    assert rule_allows(rule, attrs) is allowed


def _role(name: str, *rules: PolicyRule) -> dict:
    return {"kind": "ClusterRole", "metadata": {"name": name}, "rules": [r.to_json() for r in rules]}


SECRETS_RW = PolicyRule(("get", "create"), ("",), ("secrets",))
ALICE = UserInfo("alice", groups=("devs", "system:authenticated"))
ROBOT = UserInfo(
    "system:serviceaccount:p:robot",
    groups=("system:serviceaccounts", "system:serviceaccounts:p", "system:authenticated"),
)


@pytest.mark.parametrize(
    ("subject", "requester", "namespace", "allowed"),
    [
        (user("alice"), ALICE, "p", True),
        (user("alice"), ROBOT, "p", False),
        (group("devs"), ALICE, "p", True),
        (group("system:serviceaccounts:p"), ROBOT, "p", True),
        (service_account("p", "robot"), ROBOT, "p", True),
        ({"kind": "ServiceAccount", "name": "robot"}, ROBOT, "p", True),  # namespace defaults to the binding's
        (service_account("q", "robot"), ROBOT, "p", False),
        (user("alice"), ALICE, "q", False),  # a RoleBinding grants only in its own namespace
    ],
)
def test_role_binding_subjects(subject: dict, requester: UserInfo, namespace: str, allowed: bool) -> None:
    source = StaticRbacSource(
        [_role("secret-writer", SECRETS_RW), binding("RoleBinding", "b", "secret-writer", [subject], "p")]
    )
    decision = authorize(source, requester, R("create", "", "secrets", "", namespace, ""))
    assert decision.allowed is allowed


def test_allow_reasons_name_the_binding_like_the_real_rbac_authorizer() -> None:
    source = StaticRbacSource(
        [
            _role("edit", SECRETS_RW),
            binding("RoleBinding", "edit", "edit", [service_account("p", "robot")], "p"),
            binding("ClusterRoleBinding", "everyone", "edit", [group("system:authenticated")]),
        ]
    )
    assert authorize(source, ROBOT, R("get", "", "secrets", "", "q")).reason == (
        'RBAC: allowed by ClusterRoleBinding "everyone" of ClusterRole "edit" to Group "system:authenticated"'
    )
    source = StaticRbacSource(
        [_role("edit", SECRETS_RW), binding("RoleBinding", "edit", "edit", [service_account("p", "robot")], "p")]
    )
    assert authorize(source, ROBOT, R("get", "", "secrets", "", "p")).reason == (
        'RBAC: allowed by RoleBinding "edit/p" of ClusterRole "edit" to ServiceAccount "robot/p"'
    )
    assert authorize(source, ROBOT, R("delete", "", "secrets", "", "p")).allowed is False


def test_binding_to_missing_role_grants_nothing_and_masters_bypass() -> None:
    source = StaticRbacSource([binding("ClusterRoleBinding", "b", "ghost", [user("alice")])])
    assert not authorize(source, ALICE, R("get", "", "secrets", "", "p")).allowed
    admin = UserInfo("system:admin", groups=("system:masters",))
    assert authorize(source, admin, R("delete", "", "namespaces", "", "", "x")).allowed


def _openshift_source(*extra: dict) -> StaticRbacSource:
    roles = [dict(r) for r in KUBERNETES_CLUSTER_ROLES + OPENSHIFT_CLUSTER_ROLES]
    aggregated = aggregate_cluster_roles(roles)
    for role in roles:
        if role["metadata"]["name"] in aggregated:
            role["rules"] = aggregated[role["metadata"]["name"]]
    return StaticRbacSource([*roles, *KUBERNETES_CLUSTER_ROLE_BINDINGS, *OPENSHIFT_CLUSTER_ROLE_BINDINGS, *extra])


IMAGE = "image.openshift.io"


@pytest.mark.parametrize(
    ("role", "attrs", "allowed"),
    [
        ("edit", R("create", "", "secrets", "", "p"), True),
        ("edit", R("create", "", "secrets", "", "other"), False),
        ("edit", R("get", IMAGE, "imagestreams", "layers", "p", "app"), True),
        ("edit", R("update", IMAGE, "imagestreams", "layers", "p", "app"), True),
        ("edit", R("create", IMAGE, "imagestreams", "", "p", "app"), True),
        ("edit", R("create", "", "serviceaccounts", "token", "p", "robot"), True),
        ("edit", R("create", "rbac.authorization.k8s.io", "rolebindings", "", "p"), False),
        ("admin", R("create", "rbac.authorization.k8s.io", "rolebindings", "", "p"), True),
        ("admin", R("update", IMAGE, "imagestreams", "layers", "p", "app"), True),
        ("view", R("get", "", "configmaps", "", "p"), True),
        ("view", R("get", "", "secrets", "", "p"), False),
        ("view", R("get", IMAGE, "imagestreams", "layers", "p", "app"), False),
        ("system:image-builder", R("get", IMAGE, "imagestreams", "layers", "p", "app"), True),
        ("system:image-builder", R("update", IMAGE, "imagestreams", "layers", "p", "app"), True),
        ("system:image-builder", R("create", IMAGE, "imagestreams", "", "p", "app"), True),
        ("system:image-builder", R("delete", IMAGE, "imagestreams", "", "p", "app"), False),
        ("system:image-pusher", R("update", IMAGE, "imagestreams", "layers", "p", "app"), True),
        ("system:image-pusher", R("create", IMAGE, "imagestreams", "", "p", "app"), False),
        ("system:image-puller", R("get", IMAGE, "imagestreams", "layers", "p", "app"), True),
        ("system:image-puller", R("update", IMAGE, "imagestreams", "layers", "p", "app"), False),
        ("system:image-puller", R("create", IMAGE, "imagestreams", "", "p", "app"), False),
    ],
)
def test_bootstrap_roles_grant_what_the_registry_checks(role: str, attrs: ResourceAttributes, allowed: bool) -> None:
    robot = binding("RoleBinding", "r", role, [service_account("p", "robot")], "p")
    assert authorize(_openshift_source(robot), ROBOT, attrs).allowed is allowed


def test_self_provisioner_only_for_oauth_users_and_basic_user_for_everyone() -> None:
    source = _openshift_source()
    oauth_user = UserInfo("alice", groups=("system:authenticated:oauth", "system:authenticated"))
    create_project = R("create", "project.openshift.io", "projectrequests")
    assert authorize(source, oauth_user, create_project).allowed
    assert not authorize(source, ROBOT, create_project).allowed
    ssar = R("create", "authorization.k8s.io", "selfsubjectaccessreviews")
    ssr = R("create", "authentication.k8s.io", "selfsubjectreviews")
    assert authorize(source, ROBOT, ssar).allowed
    assert authorize(source, ROBOT, ssr).allowed
    assert authorize(source, ROBOT, NonResourceAttributes("get", "/apis/route.openshift.io/v1")).allowed


def test_aggregation_reaches_a_fixpoint_through_chained_roles() -> None:
    roles = [
        {
            "metadata": {"name": "top"},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"to-top": "true"}}]},
        },
        {
            "metadata": {"name": "mid", "labels": {"to-top": "true"}},
            "aggregationRule": {
                "clusterRoleSelectors": [{"matchExpressions": [{"key": "to-mid", "operator": "Exists"}]}]
            },
        },
        {"metadata": {"name": "leaf", "labels": {"to-mid": "x"}}, "rules": [SECRETS_RW.to_json()]},
        {
            "metadata": {"name": "unrelated", "labels": {"other": "true"}},
            "rules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
        },
    ]
    assert aggregate_cluster_roles(roles) == {"top": [SECRETS_RW.to_json()], "mid": [SECRETS_RW.to_json()]}


def test_escalation_message_lists_missing_rights_compacted_like_kubernetes() -> None:
    owner = [PolicyRule(("get",), ("",), ("secrets",))]
    wanted = [PolicyRule(("get", "create", "delete"), ("",), ("secrets", "configmaps"))]
    missing = missing_rules(owner, wanted)
    assert escalation_message(ROBOT, missing) == (
        'user "system:serviceaccount:p:robot" (groups=["system:serviceaccounts" "system:serviceaccounts:p" '
        '"system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n'
        '{APIGroups:[""], Resources:["configmaps"], Verbs:["get" "create" "delete"]}\n'
        '{APIGroups:[""], Resources:["secrets"], Verbs:["create" "delete"]}'
    )


@pytest.mark.parametrize(
    ("owner", "servant", "covered"),
    [
        (PolicyRule(("*",), ("*",), ("*",)), PolicyRule(("get",), ("apps",), ("deployments",)), True),
        (PolicyRule(("get",), ("apps",), ("deployments",)), PolicyRule(("get",), ("*",), ("deployments",)), False),
        (PolicyRule(("get",), ("apps",), ("*/scale",)), PolicyRule(("get",), ("apps",), ("deployments/scale",)), True),
        (PolicyRule(("get",), ("",), ("cm",), ("a",)), PolicyRule(("get",), ("",), ("cm",)), False),
        (PolicyRule(("get",), ("",), ("cm",)), PolicyRule(("get",), ("",), ("cm",), ("a",)), True),
        (
            PolicyRule(("get",), non_resource_urls=("/apis/*",)),
            PolicyRule(("get",), non_resource_urls=("/apis/v1",)),
            True,
        ),
        (
            PolicyRule(("get",), non_resource_urls=("/apis",)),
            PolicyRule(("get",), non_resource_urls=("/apis/*",)),
            False,
        ),
    ],
)
def test_coverage(owner: PolicyRule, servant: PolicyRule, covered: bool) -> None:
    assert (missing_rules([owner], [servant]) == []) is covered


def test_rules_for_collects_cluster_and_namespace_rules() -> None:
    source = _openshift_source(binding("RoleBinding", "r", "system:image-puller", [service_account("p", "robot")], "p"))
    in_p = rules_for(source, ROBOT, "p")
    in_q = rules_for(source, ROBOT, "q")
    assert PolicyRule(("get",), (IMAGE, ""), ("imagestreams/layers",)) in in_p
    assert PolicyRule(("get",), (IMAGE, ""), ("imagestreams/layers",)) not in in_q


def test_service_account_username_parsing() -> None:
    assert service_account_of("system:serviceaccount:p:robot") == ("p", "robot")
    assert service_account_of("system:serviceaccount:p") is None
    assert service_account_of("alice") is None


_names = st.sampled_from(["", "apps", "image.openshift.io", "*"])
_resources = st.sampled_from(["secrets", "imagestreams", "imagestreams/layers", "deployments/scale", "*", "*/scale"])
_verbs = st.sampled_from(["get", "list", "create", "update", "*"])
_rules = st.builds(
    PolicyRule,
    verbs=st.lists(_verbs, min_size=1, max_size=3).map(tuple),
    api_groups=st.lists(_names, min_size=1, max_size=2).map(tuple),
    resources=st.lists(_resources, min_size=1, max_size=2).map(tuple),
    resource_names=st.lists(st.sampled_from(["a", "b"]), max_size=2).map(tuple),
)


@given(st.lists(_rules, min_size=1, max_size=4))
def test_anyone_covers_their_own_rules(rules: list[PolicyRule]) -> None:
    assert missing_rules(rules, rules) == []


@given(st.lists(_rules, min_size=1, max_size=4), _rules)
def test_covered_concrete_requests_are_allowed(owner: list[PolicyRule], servant: PolicyRule) -> None:
    """If the owner covers a rule, the owner is allowed every concrete request that rule allows."""
    if missing_rules(owner, [servant]):
        return
    for verb in servant.verbs:
        for group_name in servant.api_groups:
            for resource in servant.resources:
                if "*" in (verb, group_name) or "*" in resource:
                    continue
                base, _, sub = resource.partition("/")
                for name in servant.resource_names or ("x",):
                    attrs = R(verb, group_name, base, sub, "p", name)
                    assert any(rule_allows(r, attrs) for r in owner)
