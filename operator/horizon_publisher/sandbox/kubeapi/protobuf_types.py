"""Field tables for :mod:`.protobuf`: protobuf field number -> how it appears in the Kubernetes JSON.

Numbers, wire types and names come from the ``generated.proto`` files of k8s.io/api (core, authentication,
authorization, rbac /v1) and k8s.io/apimachinery (meta/v1, runtime); JSON names and omission rules from the
``json:`` tags of the matching Go ``types.go``.

Omission mirrors Go's ``encoding/json`` on the decoded struct. The Go protobuf encoder writes every
non-pointer scalar, even when zero, so a zero value of an ``omitempty`` field is dropped (``keep=False``).
Pointer fields (``*int64``, ``*bool``: present means set) and fields without ``omitempty`` keep zero
values (``keep=True``). Non-pointer nested messages are always written and always in the JSON
(``"spec": {}``), so a message on the wire is always kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    STRING = "string"
    INT = "int"  # int64/int32 varint, two's complement
    BOOL = "bool"
    TIME = "time"  # meta/v1 Time: RFC 3339 in UTC, None when zero (empty message)
    MESSAGE = "message"
    STRING_MAP = "map<string,string>"
    BYTES_MAP = "map<string,bytes>"  # values become base64 strings, as Go's JSON encodes []byte
    STRINGS_MAP = "map<string,ExtraValue>"  # ExtraValue {repeated string items = 1} is a []string in JSON


@dataclass(frozen=True)
class Field:
    json_name: str
    kind: Kind
    repeated: bool = False
    message: str = ""  # the table name, for Kind.MESSAGE
    keep: bool = False  # keep zero values: a pointer or a field without omitempty

    @property
    def length_delimited(self) -> bool:
        return self.kind not in (Kind.INT, Kind.BOOL)


Table = dict[int, Field]


def text(name: str, *, keep: bool = False) -> Field:
    return Field(name, Kind.STRING, keep=keep)


def texts(name: str) -> Field:
    return Field(name, Kind.STRING, repeated=True)


def integer(name: str, *, keep: bool = False) -> Field:
    return Field(name, Kind.INT, keep=keep)


def flag(name: str, *, keep: bool = False) -> Field:
    return Field(name, Kind.BOOL, keep=keep)


def time(name: str, *, keep: bool = False) -> Field:
    return Field(name, Kind.TIME, keep=keep)


def message(name: str, table: str) -> Field:
    return Field(name, Kind.MESSAGE, message=table)


def messages(name: str, table: str) -> Field:
    return Field(name, Kind.MESSAGE, repeated=True, message=table)


def mapping(name: str, kind: Kind) -> Field:
    return Field(name, kind)


METADATA = message("metadata", "ObjectMeta")

TABLES: dict[str, Table] = {
    # k8s.io/apimachinery/pkg/runtime
    "runtime.TypeMeta": {1: text("apiVersion"), 2: text("kind")},
    "Timestamp": {1: integer("seconds", keep=True), 2: integer("nanos", keep=True)},
    # k8s.io/apimachinery/pkg/apis/meta/v1 (managedFields, number 17, is not decoded)
    "ObjectMeta": {
        1: text("name"),
        2: text("generateName"),
        3: text("namespace"),
        4: text("selfLink"),
        5: text("uid"),
        6: text("resourceVersion"),
        7: integer("generation"),
        8: time("creationTimestamp"),
        9: time("deletionTimestamp", keep=True),
        10: integer("deletionGracePeriodSeconds", keep=True),
        11: mapping("labels", Kind.STRING_MAP),
        12: mapping("annotations", Kind.STRING_MAP),
        13: messages("ownerReferences", "OwnerReference"),
        14: texts("finalizers"),
    },
    "OwnerReference": {
        5: text("apiVersion", keep=True),
        1: text("kind", keep=True),
        3: text("name", keep=True),
        4: text("uid", keep=True),
        6: flag("controller", keep=True),
        7: flag("blockOwnerDeletion", keep=True),
    },
    "LabelSelector": {
        1: mapping("matchLabels", Kind.STRING_MAP),
        2: messages("matchExpressions", "SelectorRequirement"),
    },
    # LabelSelectorRequirement and FieldSelectorRequirement share one layout.
    "SelectorRequirement": {1: text("key", keep=True), 2: text("operator", keep=True), 3: texts("values")},
    "Preconditions": {1: text("uid", keep=True), 2: text("resourceVersion", keep=True)},
    "DeleteOptions": {
        1: integer("gracePeriodSeconds", keep=True),
        2: message("preconditions", "Preconditions"),
        3: flag("orphanDependents", keep=True),
        4: text("propagationPolicy", keep=True),
        5: texts("dryRun"),
        6: flag("ignoreStoreReadErrorWithClusterBreakingPotential", keep=True),
    },
    # k8s.io/api/core/v1
    "Namespace": {1: METADATA, 2: message("spec", "NamespaceSpec"), 3: message("status", "NamespaceStatus")},
    "NamespaceSpec": {1: texts("finalizers")},
    "NamespaceStatus": {1: text("phase"), 2: messages("conditions", "NamespaceCondition")},
    "NamespaceCondition": {
        1: text("type", keep=True),
        2: text("status", keep=True),
        4: time("lastTransitionTime"),
        5: text("reason"),
        6: text("message"),
    },
    "Secret": {
        1: METADATA,
        5: flag("immutable", keep=True),
        2: mapping("data", Kind.BYTES_MAP),
        4: mapping("stringData", Kind.STRING_MAP),
        3: text("type"),
    },
    "ConfigMap": {
        1: METADATA,
        4: flag("immutable", keep=True),
        2: mapping("data", Kind.STRING_MAP),
        3: mapping("binaryData", Kind.BYTES_MAP),
    },
    "ServiceAccount": {
        1: METADATA,
        2: messages("secrets", "ObjectReference"),
        3: messages("imagePullSecrets", "LocalObjectReference"),
        4: flag("automountServiceAccountToken", keep=True),
    },
    "ObjectReference": {
        1: text("kind"),
        2: text("namespace"),
        3: text("name"),
        4: text("uid"),
        5: text("apiVersion"),
        6: text("resourceVersion"),
        7: text("fieldPath"),
    },
    "LocalObjectReference": {1: text("name")},
    # k8s.io/api/authentication/v1 (TokenRequestSpec.attestations, number 5, is not decoded)
    "TokenRequest": {
        1: METADATA,
        2: message("spec", "TokenRequestSpec"),
        3: message("status", "TokenRequestStatus"),
    },
    "TokenRequestSpec": {
        1: texts("audiences"),
        4: integer("expirationSeconds", keep=True),
        3: message("boundObjectRef", "BoundObjectReference"),
    },
    "TokenRequestStatus": {1: text("token", keep=True), 2: time("expirationTimestamp", keep=True)},
    # The proto calls field 4 "uID"; the JSON tag is "uid".
    "BoundObjectReference": {1: text("kind"), 2: text("apiVersion"), 3: text("name"), 4: text("uid")},
    "SelfSubjectReview": {1: METADATA, 2: message("status", "SelfSubjectReviewStatus")},
    "SelfSubjectReviewStatus": {1: message("userInfo", "UserInfo")},
    "TokenReview": {1: METADATA, 2: message("spec", "TokenReviewSpec"), 3: message("status", "TokenReviewStatus")},
    "TokenReviewSpec": {1: text("token"), 2: texts("audiences")},
    "TokenReviewStatus": {
        1: flag("authenticated"),
        2: message("user", "UserInfo"),
        4: texts("audiences"),
        3: text("error"),
    },
    "ExtraValue": {1: texts("items")},
    "UserInfo": {
        1: text("username"),
        2: text("uid"),
        3: texts("groups"),
        4: mapping("extra", Kind.STRINGS_MAP),
    },
    # k8s.io/api/authorization/v1
    "SelfSubjectAccessReview": {
        1: METADATA,
        2: message("spec", "SelfSubjectAccessReviewSpec"),
        3: message("status", "SubjectAccessReviewStatus"),
    },
    "SelfSubjectAccessReviewSpec": {
        1: message("resourceAttributes", "ResourceAttributes"),
        2: message("nonResourceAttributes", "NonResourceAttributes"),
    },
    "SelfSubjectRulesReview": {
        1: METADATA,
        2: message("spec", "SelfSubjectRulesReviewSpec"),
        3: message("status", "SubjectRulesReviewStatus"),
    },
    "SelfSubjectRulesReviewSpec": {1: text("namespace")},
    "SubjectAccessReview": {
        1: METADATA,
        2: message("spec", "SubjectAccessReviewSpec"),
        3: message("status", "SubjectAccessReviewStatus"),
    },
    "LocalSubjectAccessReview": {
        1: METADATA,
        2: message("spec", "SubjectAccessReviewSpec"),
        3: message("status", "SubjectAccessReviewStatus"),
    },
    "SubjectAccessReviewSpec": {
        1: message("resourceAttributes", "ResourceAttributes"),
        2: message("nonResourceAttributes", "NonResourceAttributes"),
        3: text("user"),
        4: texts("groups"),
        5: mapping("extra", Kind.STRINGS_MAP),
        6: text("uid"),
    },
    "SubjectAccessReviewStatus": {
        1: flag("allowed", keep=True),
        4: flag("denied"),
        2: text("reason"),
        3: text("evaluationError"),
    },
    "SubjectRulesReviewStatus": {
        1: messages("resourceRules", "ResourceRule"),
        2: messages("nonResourceRules", "NonResourceRule"),
        3: flag("incomplete", keep=True),
        4: text("evaluationError"),
    },
    "ResourceRule": {1: texts("verbs"), 2: texts("apiGroups"), 3: texts("resources"), 4: texts("resourceNames")},
    "NonResourceRule": {1: texts("verbs"), 2: texts("nonResourceURLs")},
    "ResourceAttributes": {
        1: text("namespace"),
        2: text("verb"),
        3: text("group"),
        4: text("version"),
        5: text("resource"),
        6: text("subresource"),
        7: text("name"),
        8: message("fieldSelector", "SelectorAttributes"),
        9: message("labelSelector", "SelectorAttributes"),
    },
    "NonResourceAttributes": {1: text("path"), 2: text("verb")},
    # FieldSelectorAttributes and LabelSelectorAttributes share one layout.
    "SelectorAttributes": {1: text("rawSelector"), 2: messages("requirements", "SelectorRequirement")},
    # k8s.io/api/rbac/v1
    "Role": {1: METADATA, 2: messages("rules", "PolicyRule")},
    "RoleBinding": {1: METADATA, 2: messages("subjects", "Subject"), 3: message("roleRef", "RoleRef")},
    "ClusterRole": {
        1: METADATA,
        2: messages("rules", "PolicyRule"),
        3: message("aggregationRule", "AggregationRule"),
    },
    "ClusterRoleBinding": {1: METADATA, 2: messages("subjects", "Subject"), 3: message("roleRef", "RoleRef")},
    "PolicyRule": {
        1: texts("verbs"),
        2: texts("apiGroups"),
        3: texts("resources"),
        4: texts("resourceNames"),
        5: texts("nonResourceURLs"),
    },
    "Subject": {1: text("kind", keep=True), 2: text("apiGroup"), 3: text("name", keep=True), 4: text("namespace")},
    "RoleRef": {1: text("apiGroup", keep=True), 2: text("kind", keep=True), 3: text("name", keep=True)},
    "AggregationRule": {1: messages("clusterRoleSelectors", "LabelSelector")},
}

# (apiVersion, kind) of a request body -> its table. DeleteOptions is accepted with any apiVersion: the
# real server registers it in every group version.
TOP_LEVEL: dict[tuple[str, str], str] = {
    **{("v1", kind): kind for kind in ("Namespace", "Secret", "ConfigMap", "ServiceAccount")},
    **{("authentication.k8s.io/v1", kind): kind for kind in ("TokenRequest", "TokenReview", "SelfSubjectReview")},
    **{
        ("authorization.k8s.io/v1", kind): kind
        for kind in (
            "SelfSubjectAccessReview",
            "SelfSubjectRulesReview",
            "SubjectAccessReview",
            "LocalSubjectAccessReview",
        )
    },
    **{
        ("rbac.authorization.k8s.io/v1", kind): kind
        for kind in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
    },
}
ANY_VERSION_KINDS = ("DeleteOptions",)
