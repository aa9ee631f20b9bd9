"""authentication.k8s.io and authorization.k8s.io review APIs: create-only virtual resources.

TokenReview, SelfSubjectReview, SubjectAccessReview, SelfSubjectAccessReview,
LocalSubjectAccessReview and SelfSubjectRulesReview, answered by the RBAC evaluator and the
service-account token authenticator (``kubectl auth can-i``, ``kubectl auth whoami`` and the
registry's token endpoint use them).
"""

from __future__ import annotations

from collections.abc import Callable

from horizon_publisher.sandbox.kubeapi.api import (
    JSON,
    ApiError,
    Cluster,
    ResourceType,
    SpecialRequest,
    UserInfo,
)
from horizon_publisher.sandbox.kubeapi.errors import field_error, invalid
from horizon_publisher.sandbox.openshift.rbac import (
    Attributes,
    NonResourceAttributes,
    PolicyRule,
    ResourceAttributes,
)
from horizon_publisher.sandbox.openshift.rbac_cluster import RbacAuthorizer
from horizon_publisher.sandbox.openshift.runtime import ensure_registered
from horizon_publisher.sandbox.openshift.sa_tokens import ReviewOutcome

AUTHN = "authentication.k8s.io"
AUTHZ = "authorization.k8s.io"
CREATE_ONLY = ("create",)
# (token, audiences) -> outcome; the token authenticator's ``review``.
TokenReviewer = Callable[[str, tuple[str, ...]], ReviewOutcome]

REVIEW_TYPES = (
    ResourceType(AUTHN, "v1", "tokenreviews", "TokenReview", False, "tokenreview", CREATE_ONLY),
    ResourceType(AUTHN, "v1", "selfsubjectreviews", "SelfSubjectReview", False, "selfsubjectreview", CREATE_ONLY),
    ResourceType(AUTHZ, "v1", "subjectaccessreviews", "SubjectAccessReview", False, "subjectaccessreview", CREATE_ONLY),
    ResourceType(
        AUTHZ,
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        False,
        "selfsubjectaccessreview",
        CREATE_ONLY,
    ),
    ResourceType(
        AUTHZ,
        "v1",
        "localsubjectaccessreviews",
        "LocalSubjectAccessReview",
        True,
        "localsubjectaccessreview",
        CREATE_ONLY,
    ),
    ResourceType(
        AUTHZ,
        "v1",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
        False,
        "selfsubjectrulesreview",
        CREATE_ONLY,
    ),
)


def user_info_json(user: UserInfo) -> JSON:
    out: JSON = {"username": user.username, "groups": list(user.groups)}
    if user.uid:
        out["uid"] = user.uid
    if user.extra:
        out["extra"] = {k: list(v) for k, v in user.extra.items()}
    return out


def _response(request: SpecialRequest, spec: JSON, status: JSON) -> tuple[int, JSON]:
    body = request.body or {}
    metadata = dict(body.get("metadata") or {})
    metadata.setdefault("creationTimestamp", None)
    if request.namespace:
        metadata["namespace"] = request.namespace
    resource = request.resource
    return 201, {
        "kind": resource.kind,
        "apiVersion": resource.group_version,
        "metadata": metadata,
        "spec": spec,
        "status": status,
    }


def _attributes(kind: str, spec: JSON, *, needs_subject: bool) -> Attributes:
    resource_attrs, url_attrs = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    causes: list[JSON] = []
    if resource_attrs and url_attrs:
        causes.append(
            field_error(
                "spec.nonResourceAttributes",
                'Invalid value: "": cannot be specified in combination with resourceAttributes',
            )
        )
    if not resource_attrs and not url_attrs:
        causes.append(
            field_error(
                "spec.resourceAttributes",
                'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified',
            )
        )
    if needs_subject and not spec.get("user") and not spec.get("groups"):
        causes.append(field_error("spec.user", 'Invalid value: "": at least one of user or group must be specified'))
    if causes:
        raise invalid(AUTHZ, kind, "", causes)
    if url_attrs:
        return NonResourceAttributes(str(url_attrs.get("verb", "")), str(url_attrs.get("path", "")))
    assert isinstance(resource_attrs, dict)
    return ResourceAttributes(
        verb=str(resource_attrs.get("verb", "")),
        group=str(resource_attrs.get("group", "")),
        resource=str(resource_attrs.get("resource", "")),
        subresource=str(resource_attrs.get("subresource", "")),
        namespace=str(resource_attrs.get("namespace", "")),
        name=str(resource_attrs.get("name", "")),
    )


class Reviews:
    """The special handlers; :meth:`install` registers the types and the handlers."""

    def __init__(self, cluster: Cluster, authorizer: RbacAuthorizer, review_token: TokenReviewer) -> None:
        self._cluster = cluster
        self._authz = authorizer
        self._review_token = review_token

    def install(self) -> None:
        handlers = {
            "tokenreviews": self.token_review,
            "selfsubjectreviews": self.self_subject_review,
            "subjectaccessreviews": self.subject_access_review,
            "selfsubjectaccessreviews": self.self_subject_access_review,
            "localsubjectaccessreviews": self.local_subject_access_review,
            "selfsubjectrulesreviews": self.self_subject_rules_review,
        }
        for resource in REVIEW_TYPES:
            ensure_registered(self._cluster, resource)
            self._cluster.add_special(resource.key, None, "create", handlers[resource.plural])

    def token_review(self, request: SpecialRequest) -> tuple[int, JSON]:
        spec = dict((request.body or {}).get("spec") or {})
        token = spec.get("token")
        if not isinstance(token, str) or not token:
            raise invalid(AUTHN, "TokenReview", "", [field_error("spec.token", "Required value", "FieldValueRequired")])
        outcome = self._review_token(token, tuple(spec.get("audiences") or ()))
        if outcome.user is None:
            status: JSON = {"user": {}, "error": f"[invalid bearer token, {outcome.error}]"}
        else:
            status = {
                "authenticated": True,
                "user": user_info_json(outcome.user),
                "audiences": list(outcome.audiences),
            }
        return _response(request, spec, status)

    def self_subject_review(self, request: SpecialRequest) -> tuple[int, JSON]:
        return _response(request, {}, {"userInfo": user_info_json(request.user)})

    def _decide(self, request: SpecialRequest, user: UserInfo, attrs: Attributes, spec: JSON) -> tuple[int, JSON]:
        decision = self._authz.decide(user, attrs)
        status: JSON = {"allowed": decision.allowed}
        if decision.reason:
            status["reason"] = decision.reason
        return _response(request, spec, status)

    def subject_access_review(self, request: SpecialRequest) -> tuple[int, JSON]:
        spec = dict((request.body or {}).get("spec") or {})
        attrs = _attributes("SubjectAccessReview", spec, needs_subject=True)
        extra = {k: tuple(v) for k, v in (spec.get("extra") or {}).items()}
        user = UserInfo(str(spec.get("user", "")), str(spec.get("uid", "")), tuple(spec.get("groups") or ()), extra)
        return self._decide(request, user, attrs, spec)

    def self_subject_access_review(self, request: SpecialRequest) -> tuple[int, JSON]:
        spec = dict((request.body or {}).get("spec") or {})
        return self._decide(
            request, request.user, _attributes("SelfSubjectAccessReview", spec, needs_subject=False), spec
        )

    def local_subject_access_review(self, request: SpecialRequest) -> tuple[int, JSON]:
        spec = dict((request.body or {}).get("spec") or {})
        attrs = _attributes("LocalSubjectAccessReview", spec, needs_subject=True)
        namespace = request.namespace or ""
        if isinstance(attrs, NonResourceAttributes):
            raise invalid(
                AUTHZ,
                "LocalSubjectAccessReview",
                "",
                [field_error("spec.nonResourceAttributes", 'Invalid value: "": disallowed on this kind of request')],
            )
        if attrs.namespace and attrs.namespace != namespace:
            raise invalid(
                AUTHZ,
                "LocalSubjectAccessReview",
                "",
                [
                    field_error(
                        "spec.resourceAttributes.namespace",
                        f'Invalid value: "{attrs.namespace}": must match metadata.namespace',
                    )
                ],
            )
        attrs = ResourceAttributes(attrs.verb, attrs.group, attrs.resource, attrs.subresource, namespace, attrs.name)
        extra = {k: tuple(v) for k, v in (spec.get("extra") or {}).items()}
        user = UserInfo(str(spec.get("user", "")), str(spec.get("uid", "")), tuple(spec.get("groups") or ()), extra)
        return self._decide(request, user, attrs, spec)

    def self_subject_rules_review(self, request: SpecialRequest) -> tuple[int, JSON]:
        spec = dict((request.body or {}).get("spec") or {})
        namespace = str(spec.get("namespace", ""))
        if not namespace:
            raise ApiError(400, "BadRequest", "no namespace on request")
        rules = self._authz.rules(request.user, namespace)
        resource_rules = [_rule_json(r) for r in rules if not r.non_resource_urls]
        url_rules = [
            {"verbs": list(r.verbs), "nonResourceURLs": list(r.non_resource_urls)} for r in rules if r.non_resource_urls
        ]
        status = {"resourceRules": resource_rules, "nonResourceRules": url_rules, "incomplete": False}
        return _response(request, spec, status)


def _rule_json(rule: PolicyRule) -> JSON:
    out: JSON = {
        "verbs": list(rule.verbs),
        "apiGroups": list(rule.api_groups),
        "resources": list(rule.resources),
    }
    if rule.resource_names:
        out["resourceNames"] = list(rule.resource_names)
    return out
