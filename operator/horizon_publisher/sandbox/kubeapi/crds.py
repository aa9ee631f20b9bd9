"""CustomResourceDefinitions: validation, defaulting, status, and the resource types they serve.

Custom-resource validation goes through the schema helper's module (``schema.py``); :func:`schema_module`
is the one place that tolerates its absence.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from .api import ALL_VERBS, JSON, ApiError, ResourceType
from .errors import bad_request, field_error, invalid, invalid_value
from .meta import clone, now_rfc3339

CRD_GROUP = "apiextensions.k8s.io"
CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"

_schema: Any = None


def schema_module() -> Any:
    """``horizon_publisher.sandbox.kubeapi.schema``, or None while it does not exist yet."""
    global _schema  # noqa: PLW0603 - imported once, lazily
    if _schema is None:
        try:
            _schema = importlib.import_module("horizon_publisher.sandbox.kubeapi.schema")
        except ImportError:
            return None
    return _schema


def check_custom_object(
    resource: ResourceType, obj: JSON, old: JSON | None, causes: list[JSON], *, strict: bool = False
) -> None:
    """Prune, default and validate ``obj`` against its schema (in place); raise 422 with ``causes`` added.

    ``strict`` (``fieldValidation=Strict``, what kubectl sends): a pruned field is a 400 instead.
    """
    module = schema_module()
    if resource.schema is not None and module is not None:
        before = clone(obj) if strict else None
        module.prune(resource.schema, obj)
        unknown = [] if before is None else removed_paths(before, obj)
        if unknown:
            listed = ", ".join(f'unknown field "{path}"' for path in unknown)
            raise bad_request(
                f'{resource.kind} in version "{resource.version}" cannot be handled as a {resource.kind}: '
                f"strict decoding error: {listed}"
            )
        module.apply_defaults(resource.schema, obj)
        errors = module.validate(resource.schema, obj, old)
        if errors:
            name = (obj.get("metadata") or {}).get("name", "")
            error: ApiError = module.invalid_error(resource.group, resource.kind, name, errors)
            causes = causes + list((error.details or {}).get("causes", []))
    if causes:
        name = (obj.get("metadata") or {}).get("name", "")
        raise invalid(resource.group, resource.kind, name, causes)


def removed_paths(before: Any, after: Any, path: str = "") -> list[str]:
    """Dotted paths present in ``before`` and gone from ``after`` (what pruning dropped)."""
    if isinstance(before, dict) and isinstance(after, dict):
        found: list[str] = []
        for key, value in before.items():
            child = f"{path}.{key}" if path else key
            found += removed_paths(value, after[key], child) if key in after else [child]
        return found
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            p for i, (b, a) in enumerate(zip(before, after, strict=True)) for p in removed_paths(b, a, f"{path}[{i}]")
        ]
    return []


_VERSION = re.compile(r"v(\d+)(?:(alpha|beta)(\d+))?")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Kubernetes' version order: GA > beta > alpha, higher numbers first; others last, alphabetically."""
    match = _VERSION.fullmatch(version)
    if match is None:
        return (0, 0, 0, version)
    stability = {"alpha": 1, "beta": 2, None: 3}[match.group(2)]
    return (stability, int(match.group(1)), int(match.group(3) or 0), "")


def preferred_version(versions: list[str]) -> str:
    return max(versions, key=lambda v: (version_priority(v)[:3], [-ord(c) for c in version_priority(v)[3]]))


def _names_causes(spec: JSON) -> list[JSON]:
    names = spec.get("names")
    if not isinstance(names, dict):
        return [field_error("spec.names", "Required value", "FieldValueRequired")]
    causes = []
    for key in ("plural", "kind"):
        if not names.get(key):
            causes.append(field_error(f"spec.names.{key}", "Required value", "FieldValueRequired"))
    plural = names.get("plural") or ""
    if plural and not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", plural):
        causes.append(field_error("spec.names.plural", invalid_value(plural, "a lowercase RFC 1123 label")))
    return causes


def _version_causes(spec: JSON) -> list[JSON]:
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        return [field_error("spec.versions", "Invalid value: must have exactly one version marked as storage version")]
    causes: list[JSON] = []
    if sum(1 for v in versions if isinstance(v, dict) and v.get("storage")) != 1:
        causes.append(
            field_error("spec.versions", "Invalid value: must have exactly one version marked as storage version")
        )
    module = schema_module()
    for index, version in enumerate(versions):
        if not isinstance(version, dict) or not version.get("name"):
            causes.append(field_error(f"spec.versions[{index}].name", "Required value", "FieldValueRequired"))
            continue
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        path = f"spec.versions[{index}].schema.openAPIV3Schema"
        if not isinstance(schema, dict):
            causes.append(field_error(path, "Required value: schemas are required", "FieldValueRequired"))
        elif module is not None:
            causes += [_schema_cause(index, problem) for problem in module.structural_problems(schema)]
            if not causes and hasattr(module, "compile_problems"):  # CEL rules only compile on a sound schema
                causes += [_schema_cause(index, problem) for problem in module.compile_problems(schema)]
    return causes


def _schema_cause(index: int, problem: str) -> JSON:
    """``openAPIV3Schema.properties[spec]...: Invalid value: ...`` -> a cause on ``spec.versions[i].schema...``."""
    where, _, message = problem.partition(": ")
    if not message:
        where, message = "openAPIV3Schema", problem
    return field_error(f"spec.versions[{index}].schema.{where}", message)


def prepare_crd(obj: JSON, old: JSON | None) -> list[JSON]:
    """Default, validate and set the status a CRD has once established (accepted names, conditions)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [field_error("spec", "Required value", "FieldValueRequired")]
    causes = _names_causes(spec) + _version_causes(spec)
    group, names = spec.get("group") or "", spec.get("names") or {}
    if not group or "." not in group:
        causes.append(field_error("spec.group", invalid_value(group, "should be a domain with at least one dot")))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(
            field_error(
                "spec.scope",
                'Unsupported value: supported values: "Cluster", "Namespaced"',
                "FieldValueNotSupported",
            )
        )
    name = obj["metadata"].get("name", "")
    if names.get("plural") and group and name != f"{names['plural']}.{group}":
        causes.append(field_error("metadata.name", invalid_value(name, 'must be spec.names.plural+"."+spec.group')))
    if old is not None and (old.get("spec") or {}).get("scope") != spec.get("scope"):
        causes.append(field_error("spec.scope", invalid_value(spec.get("scope"), "field is immutable")))
    if causes:
        return causes
    if isinstance(names, dict):
        names.setdefault("singular", str(names.get("kind", "")).lower())
        names.setdefault("listKind", f"{names.get('kind')}List")
    spec.setdefault("conversion", {"strategy": "None"})
    _set_status(obj, old)
    return []


def _set_status(obj: JSON, old: JSON | None) -> None:
    previous = {c.get("type"): c for c in ((old or {}).get("status") or {}).get("conditions") or []}
    now = now_rfc3339()

    def condition(kind: str, reason: str, message: str) -> JSON:
        since = previous.get(kind, {}).get("lastTransitionTime", now)
        return {
            "type": kind,
            "status": "True",
            "lastTransitionTime": since,
            "reason": reason,
            "message": message,
        }

    storage = next(v["name"] for v in obj["spec"]["versions"] if v.get("storage"))
    stored = list(((old or {}).get("status") or {}).get("storedVersions") or [])
    obj["status"] = {
        "acceptedNames": dict(obj["spec"]["names"]),
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "storedVersions": stored + ([storage] if storage not in stored else []),
    }


def crd_types(crd: JSON) -> list[ResourceType]:
    """The resource types a stored CRD serves, one per served version."""
    spec, names = crd["spec"], crd["spec"]["names"]
    types = []
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        types.append(
            ResourceType(
                group=spec["group"],
                version=version["name"],
                plural=names["plural"],
                kind=names["kind"],
                namespaced=spec["scope"] == "Namespaced",
                singular=names.get("singular") or names["kind"].lower(),
                verbs=ALL_VERBS,
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=tuple(s for s in ("status",) if s in subresources),
                schema=(version.get("schema") or {}).get("openAPIV3Schema"),
                printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
            )
        )
    return types
