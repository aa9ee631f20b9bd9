"""Validation of custom resources against their CRD schema, as kube-apiserver applies it.

The emulator runs, per write: ``prune`` -> ``apply_defaults`` -> ``validate`` and answers
``invalid_error(...)`` (a 422) when ``validate`` returns errors. At CRD creation it refuses a
schema with ``structural_problems`` or ``compile_problems`` (each ``"<path>: <message>"``, the
path rooted at ``openAPIV3Schema``).

``validate`` is, in the server's order: OpenAPI value validation (kube-openapi wording, see
``schema_values.py``), nested embedded-resource type meta, ``x-kubernetes-list-type`` set/map
uniqueness (``FieldValueDuplicate``), then the CEL rules (``schema_cel.py``). As in
``customResourceStrategy.Validate``, the CEL rules are skipped when any earlier error is of a
blocking kind (Required, NotSupported, TooLong, TooMany, TypeInvalid -- a bad ``format`` counts,
being a TypeInvalid), and one error says so: ``<nil>: Invalid value: null: some validation rules
were not checked because the object was invalid; correct the existing errors to complete
validation``. On update (``old`` given) errors in unchanged parts are ratcheted away, as with
the CRDValidationRatcheting feature (on by default since 1.30).

Gaps (what the real API server does that this does not):
- CEL: no static type checking beyond field existence and known names (``1 + 'a'`` compiles and
  fails at run time; a rule not returning bool is caught only when it runs), no cost estimation
  or runtime cost budget (no "estimated rule cost exceeds budget"), compile messages carry the
  position of the offending name but not cel-go's source excerpt.
- CEL language: cel-python has no optional syntax (``self.?field``, ``optional.of()``,
  ``[?x]``); ``oldSelf.hasValue()/value()/orValue()`` work. No three-argument ``map(x, p, f)``,
  no ``sets``/``ip``/``cidr``/``format``/``quote``/``reverse``/``lists.range`` libraries,
  ``isSorted``/``sum``/``min``/``max`` accept any comparable list. Lists are compared in order
  even for ``x-kubernetes-list-type: set/map`` (cel-go compares those as sets/maps).
  Property names are escaped (``foo-bar`` -> ``foo__dash__bar``) but map keys are not.
- Formats: creditcard is not checked; email, hostname, uri and duration are approximations of
  Go's parsers. Go's quirk of truncating a non-integral ``maximum`` against integer values and
  the "Maximum boundary value must be of type integer" error are not reproduced.
- Metadata: ``metadata`` of embedded resources is not validated (name format, labels...);
  the root object's metadata is the emulator's business.
- Structural completeness (properties referenced only in anyOf/allOf must exist in the
  structural spine) and the CRD-level status-subresource root-field rule are not checked.
- Ratcheted rule failures are dropped silently; the real server returns them as warnings
  (``Warning`` headers).
- Ratcheting of list items follows the simple rule "an item or field equal to its correlated
  old value is not re-validated"; kube-openapi's finer correlation of ``allOf``/``anyOf`` is not
  reproduced (their errors are never ratcheted here either).
- Error order follows schema property order; Go's map iteration order is random anyway.
- cel-python quirks worked around in cel.py (``has()`` yielding a Python bool, ``list.min()``
  parsed as a macro); a runtime error inside an operand of ``||``/``&&`` is absorbed as in
  cel-go only where cel-python's transpiler wraps the operand (true for the usual forms).
"""

from __future__ import annotations

from typing import Any

from .api import JSON
from .cel_check import compile_problems
from .schema_cel import rule_errors
from .schema_defaults import apply_defaults, prune
from .schema_errors import (
    DUPLICATE,
    FORBIDDEN,
    INVALID,
    NIL_PATH,
    NOT_SUPPORTED,
    REQUIRED,
    TOO_LONG,
    TOO_MANY,
    TYPE_INVALID,
    FieldError,
    invalid,
    invalid_error,
    required,
)
from .schema_structural import structural_problems
from .schema_values import MISSING, ValueValidator, child_path, list_type_errors

__all__ = [
    "DUPLICATE",
    "FORBIDDEN",
    "INVALID",
    "NOT_SUPPORTED",
    "REQUIRED",
    "TOO_LONG",
    "TOO_MANY",
    "TYPE_INVALID",
    "FieldError",
    "apply_defaults",
    "compile_problems",
    "invalid_error",
    "prune",
    "structural_problems",
    "validate",
]

_BLOCKING = frozenset({NOT_SUPPORTED, REQUIRED, TOO_LONG, TOO_MANY, TYPE_INVALID})
SKIPPED_RULES_MESSAGE = (
    "some validation rules were not checked because the object was invalid; "
    "correct the existing errors to complete validation"
)


def validate(schema: JSON, obj: JSON, old: JSON | None) -> list[FieldError]:
    """Every reason the API server would refuse ``obj`` (``old``: the stored object on update)."""
    errors = ValueValidator(ratchet=old is not None).node(schema, obj, "", MISSING if old is None else old)
    errors += _embedded_resource_errors(schema, obj, "", root=True)
    errors += list_type_errors(schema, obj)
    if any(error.reason in _BLOCKING for error in errors):
        errors.append(invalid(NIL_PATH, None, SKIPPED_RULES_MESSAGE))
    else:
        errors += rule_errors(schema, obj, old)
    return errors


def _embedded_resource_errors(schema: JSON, value: Any, path: str, *, root: bool = False) -> list[FieldError]:
    """Type meta of objects nested as ``x-kubernetes-embedded-resource`` (the root's is checked upstream)."""
    errors: list[FieldError] = []
    if isinstance(value, dict):
        if schema.get("x-kubernetes-embedded-resource") and not root:
            errors += _type_meta_errors(value, path)
        properties: JSON = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if isinstance(properties.get(key), dict):
                errors += _embedded_resource_errors(properties[key], item, child_path(path, key))
            elif isinstance(extra, dict):
                errors += _embedded_resource_errors(extra, item, f"{path}[{key}]")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            errors += _embedded_resource_errors(schema["items"], item, f"{path}[{index}]")
    return errors


def _type_meta_errors(value: JSON, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for key in ("apiVersion", "kind"):
        where = child_path(path, key)
        if key not in value:
            errors.append(required(where))
        elif not isinstance(value[key], str):
            errors.append(invalid(where, value[key], "must be a string"))
        elif not value[key]:
            errors.append(invalid(where, value[key], "must not be empty"))
    return errors
